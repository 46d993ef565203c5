//! TRex STL (stateless) profiles: one stream per frame kind, the field
//! engine walking the subscriber and the ports as the pcap does.
//!
//! Stateless TRex cannot react to what it receives, so it cannot learn
//! the pool4 address and port platd picks for a flow; the FD.io CSIT
//! methodology says as much for NAT44ED and uses ASTF there. The IPv4
//! (direction 1) streams of the bidirectional scenarios therefore walk
//! the pool4 ports `pool4_binding` assumes: only those platd actually
//! bound pass, so for a faithful bidirectional run use the ASTF profile or
//! plat-bench, which learns the bindings from the translated frames.

use std::fmt::Write;
use std::net::IpAddr;

use plat_core::wire::{ethernet, ipv6, proto};

use crate::emit::{banner, commented, py_bytes};
use crate::frames::{self, Macs, L4};
use crate::{ports, Ports, Scenario, Traffic, ICMP_MIX, IMIX, POOL4, SERVER4, SUBSCRIBER_BASE};
use crate::{APPLIANCE_OUTSIDE_MAC, FIRST_SRC_PORT, TESTER_OUTSIDE_MAC};

/// Offset of the subscriber's 32 bits (bytes 4..8 of the source address).
const SUB_OFF: usize = ethernet::HEADER_LEN + 8 + 4;
/// Offset of the L4 header in an IPv6 frame.
const L4_OFF: usize = ethernet::HEADER_LEN + ipv6::HEADER_LEN;
/// The echo identifier the ICMP stream starts from (walks down).
const ICMP_IDENT0: u16 = 0xfff0;

/// One stream of a profile.
struct Stream {
    frame: Vec<u8>,
    vm: String,
    /// Relative rate (TRex's `-m` scales it).
    pps: u64,
    /// 0 = the IPv6 (client) port, 1 = the IPv4 (server) port.
    direction: u8,
}

/// The field engine for a UDP or TCP stream from the subscribers.
fn walk(sc: &Scenario, l4_type: &str) -> String {
    let sub_base = u32::from_be_bytes(SUBSCRIBER_BASE.octets()[4..8].try_into().unwrap_or([0; 4]));
    let mut vm = format!(
        "vm.var(name=\"sub\", min_value=0, max_value={}, size=4, op=\"inc\")\n\
         vm.write(fv_name=\"sub\", pkt_offset={SUB_OFF}, add_val=0x{sub_base:x})\n",
        sc.subscribers - 1
    );
    match sc.ports {
        Ports::Sequential => {
            let _ = write!(
                vm,
                "vm.var(name=\"port\", min_value={}, max_value={}, size=2, op=\"inc\")\n\
                 vm.write(fv_name=\"port\", pkt_offset={L4_OFF})\n",
                FIRST_SRC_PORT,
                FIRST_SRC_PORT + sc.ports_per_subscriber - 1,
            );
        }
        Ports::Rfc4814 => {
            let (s0, s1) = (ports::SRC_PORTS.start(), ports::SRC_PORTS.end());
            let (d0, d1) = (ports::DST_PORTS.start(), ports::DST_PORTS.end());
            let seed = ports::SEED as u32;
            let _ = write!(
                vm,
                "# RFC 4814 4.5: pseudorandom source ports in {s0}..{s1}, destination ports\n\
                 # in {d0}..{d1}. TRex's repeatable random variable draws them from a fixed\n\
                 # seed (the same sequence every run, {flows} values before it repeats); it\n\
                 # is not the pcap's permutation, so two flows of a subscriber may share a\n\
                 # source port here. For the exact flows, replay NAME.pcap.\n\
                 vm.repeatable_random_var(fv_name=\"sport\", size=2, min_value={s0}, max_value={s1}, limit={flows}, seed={seed})\n\
                 vm.repeatable_random_var(fv_name=\"dport\", size=2, min_value={d0}, max_value={d1}, limit={flows}, seed={seed2})\n\
                 vm.write(fv_name=\"sport\", pkt_offset={L4_OFF})\n\
                 vm.write(fv_name=\"dport\", pkt_offset={dp})\n",
                flows = sc.flows(),
                seed2 = seed ^ 0x5555,
                dp = L4_OFF + 2,
            );
        }
    }
    let _ = writeln!(
        vm,
        "# L4 checksums over IPv6 cannot be left stale: let the NIC fill them.\n\
         vm.fix_chksum_hw(l3_offset={}, l4_offset={L4_OFF}, l4_type=CTRexVmInsFixHwCs.{l4_type})",
        ethernet::HEADER_LEN
    );
    vm
}

/// The ICMPv6 stream: NICs do not fill ICMPv6 checksums, so the field
/// engine walks the subscriber up and the echo identifier down in step,
/// which leaves the ones'-complement sum, and so the checksum, unchanged.
fn icmp_stream(sc: &Scenario, pps: u64) -> Stream {
    let mut buf = [0u8; 2048];
    let f = sc.flow(0);
    let len = frames::write(
        &mut buf,
        64,
        macs_in(),
        IpAddr::V6(f.src),
        IpAddr::V6(f.dst),
        64,
        L4::EchoRequest {
            ident: ICMP_IDENT0,
            seq: 1,
        },
    );
    let sub_base = u32::from_be_bytes(SUBSCRIBER_BASE.octets()[4..8].try_into().unwrap_or([0; 4]));
    let last = sc.subscribers - 1;
    let vm = format!(
        "vm.var(name=\"sub\", min_value=0, max_value={last}, size=4, op=\"inc\")\n\
         vm.var(name=\"ident\", min_value={lo}, max_value={ICMP_IDENT0}, size=2, op=\"dec\")\n\
         vm.write(fv_name=\"sub\", pkt_offset={SUB_OFF}, add_val=0x{sub_base:x})\n\
         vm.write(fv_name=\"ident\", pkt_offset={id})\n",
        lo = u32::from(ICMP_IDENT0) - last.min(u32::from(ICMP_IDENT0)),
        id = L4_OFF + 4,
    );
    Stream {
        frame: buf[..len].to_vec(),
        vm,
        pps,
        direction: 0,
    }
}

fn macs_in() -> Macs {
    Macs {
        dst: crate::APPLIANCE_INSIDE_MAC,
        src: crate::TESTER_MAC,
    }
}

/// Frame `n` of the scenario resized to `len` (IMIX streams).
fn first_frame(sc: &Scenario, n: u64, len: Option<usize>) -> Vec<u8> {
    let mut buf = [0u8; 2048];
    let f = sc.flow(n);
    let l4 = sc.l4_of(&f);
    let len = frames::write(
        &mut buf,
        len.unwrap_or_else(|| sc.frame_len_of(n)),
        macs_in(),
        IpAddr::V6(f.src),
        IpAddr::V6(f.dst),
        64,
        l4,
    );
    buf[..len].to_vec()
}

/// The server's answers on the IPv4 port, walking the pool4 ports.
fn reverse_stream(sc: &Scenario, len: usize, pps: u64) -> Stream {
    let mut buf = [0u8; 2048];
    let f = sc.flow(0);
    let len = frames::write(
        &mut buf,
        len - 20,
        Macs {
            dst: APPLIANCE_OUTSIDE_MAC,
            src: TESTER_OUTSIDE_MAC,
        },
        IpAddr::V4(SERVER4),
        IpAddr::V4(POOL4),
        64,
        L4::Udp {
            src: f.dst_port,
            dst: 1024,
        },
    );
    let l4 = ethernet::HEADER_LEN + 20;
    let last = 1024 + sc.flows().min(64_512) - 1;
    let vm = format!(
        "# {POOL4} ports 1024..{last}: the bindings pool4_binding assumes.\n\
         vm.var(name=\"pport\", min_value=1024, max_value={last}, size=2, op=\"inc\")\n\
         vm.write(fv_name=\"pport\", pkt_offset={dp})\n\
         vm.fix_chksum_hw(l3_offset={l3}, l4_offset={l4}, l4_type=CTRexVmInsFixHwCs.L4_TYPE_UDP)\n",
        dp = l4 + 2,
        l3 = ethernet::HEADER_LEN,
    );
    Stream {
        frame: buf[..len].to_vec(),
        vm,
        pps,
        direction: 1,
    }
}

fn streams(sc: &Scenario) -> Vec<Stream> {
    let udp = |len: Option<usize>, pps| Stream {
        frame: first_frame(sc, 0, len),
        vm: walk(sc, "L4_TYPE_UDP"),
        pps,
        direction: 0,
    };
    let mut out = match sc.traffic {
        Traffic::Udp => vec![udp(None, 1)],
        Traffic::Imix => IMIX.iter().map(|&(len, w)| udp(Some(len), w)).collect(),
        Traffic::Tcp => vec![Stream {
            frame: first_frame(sc, 0, None),
            vm: walk(sc, "L4_TYPE_TCP"),
            pps: 1,
            direction: 0,
        }],
        Traffic::IcmpMix => ICMP_MIX
            .iter()
            .map(|&(p, w)| match p {
                proto::ICMPV6 => icmp_stream(sc, w),
                proto::TCP => Stream {
                    frame: first_frame(sc, first_of(sc, p), None),
                    vm: walk(sc, "L4_TYPE_TCP"),
                    pps: w,
                    direction: 0,
                },
                _ => Stream {
                    pps: w,
                    ..udp(None, w)
                },
            })
            .collect(),
    };
    if sc.bidirectional && sc.traffic != Traffic::Tcp {
        let back: Vec<Stream> = out
            .iter()
            .map(|s| reverse_stream(sc, s.frame.len(), s.pps))
            .collect();
        out.extend(back);
    }
    out
}

/// The first flow of protocol `p`.
fn first_of(sc: &Scenario, p: u8) -> u64 {
    (0..sc.flows())
        .find(|&n| sc.flow(n).proto == p)
        .unwrap_or(0)
}

/// The scenario as a TRex STL profile.
pub fn profile(sc: &Scenario) -> String {
    let mut s = commented("#", &banner(sc, "trex"));
    s.push_str(&commented(
        "#",
        &format!(
            "Subscribers {}.. (one /64 each) to {} ({SERVER4} in the RFC 6052 /96).\n\
             Rates are relative: scale them with TRex's -m.",
            sc.subscriber(0),
            sc.destination()
        ),
    ));
    if sc.traffic == Traffic::Tcp {
        s.push_str(&commented(
            "#",
            "Stateless TRex sends only the SYNs here (a new binding each); the whole\n\
             connection (RFC 9693) needs the ASTF profile.",
        ));
    }
    s.push_str("from trex_stl_lib.api import *\n\n\nclass STLS1(object):\n");
    let streams = streams(sc);
    for (i, st) in streams.iter().enumerate() {
        let _ = write!(
            s,
            "    def stream{i}(self):\n        base = bytes([{}])\n        vm = STLVM()\n",
            py_bytes(&st.frame)
        );
        for line in st.vm.lines() {
            let _ = writeln!(s, "        {line}");
        }
        let _ = writeln!(
            s,
            "        return STLStream(packet=STLPktBuilder(pkt=Ether(base), vm=vm), mode=STLTXCont(pps={}))\n",
            st.pps
        );
    }
    s.push_str("    def get_streams(self, direction=0, **kwargs):\n");
    for d in [0u8, 1] {
        let ids: Vec<String> = streams
            .iter()
            .enumerate()
            .filter(|(_, st)| st.direction == d)
            .map(|(i, _)| format!("self.stream{i}()"))
            .collect();
        if !ids.is_empty() {
            let _ = writeln!(
                s,
                "        if direction == {d}:\n            return [{}]",
                ids.join(", ")
            );
        }
    }
    s.push_str("        return []\n\n\ndef register():\n    return STLS1()\n");
    s
}
