//! Load scenarios, defined once: each is a set of flows that the repo's
//! own load runs replay as a pcap through `net_pcap`, and that operators
//! with a hardware tester run as a TRex STL profile or a pktgen-dpdk Lua
//! script emitted from the same definition.

use std::io::{self, Write};
use std::net::{Ipv4Addr, Ipv6Addr};

use plat_core::wire::{checksum, ethernet, ipv6, proto, udp};

pub mod pcap;

/// The NAT64 prefix the scenarios (and the lab) use: a network-specific
/// prefix, since RFC 6052 3.1 keeps documentation addresses off
/// 64:ff9b::/96.
pub const LAB_PREFIX: Ipv6Addr = Ipv6Addr::new(0x2001, 0xdb8, 0x64, 0, 0, 0, 0, 0);
/// The IPv4 server every flow goes to.
pub const SERVER4: Ipv4Addr = Ipv4Addr::new(203, 0, 113, 2);
/// Subscribers are /64s under this /48 (a phone or CPE gets a /64).
pub const SUBSCRIBER_BASE: Ipv6Addr = Ipv6Addr::new(0x2001, 0xdb8, 0x100, 0, 0, 0, 0, 1);
/// MAC the generated frames come from.
pub const TESTER_MAC: [u8; 6] = [0x02, 0x00, 0x00, 0x00, 0x00, 0x01];
/// MAC the generated frames go to (the appliance's inside port, set with
/// `inside.mac` in platd's config for replays).
pub const APPLIANCE_INSIDE_MAC: [u8; 6] = [0x02, 0x00, 0x00, 0x00, 0x00, 0xa6];
/// First source port of every subscriber.
pub const FIRST_SRC_PORT: u16 = 10_000;

/// Ethernet + IPv6 + UDP headers.
const UDP6_HEADERS: usize = ethernet::HEADER_LEN + 40 + 8;

/// A named load: IPv6 UDP flows from many subscribers to one server.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Scenario {
    /// Name used on the command line.
    pub name: &'static str,
    /// What it measures.
    pub about: &'static str,
    /// Number of subscribers (each its own /64).
    pub subscribers: u32,
    /// Flows (source ports) per subscriber.
    pub ports_per_subscriber: u16,
    /// Ethernet frame size without FCS.
    pub frame_len: usize,
    /// Destination UDP port on the server.
    pub dst_port: u16,
}

/// Every scenario the repo knows.
pub const SCENARIOS: &[Scenario] = &[
    Scenario {
        name: "udp64-1m",
        about:
            "1,000,000 established IPv6 UDP flows, 64-byte frames (15,625 subscribers x 64 ports)",
        subscribers: 15_625,
        ports_per_subscriber: 64,
        frame_len: 64,
        dst_port: 7,
    },
    Scenario {
        name: "udp-new-flows",
        about: "10,000,000 IPv6 UDP flows, 64-byte frames (156,250 subscribers x 64 ports): \
                replayed once, every frame opens a new session (RFC 9693 connection \
                establishment load)",
        subscribers: 156_250,
        ports_per_subscriber: 64,
        frame_len: 64,
        dst_port: 7,
    },
    Scenario {
        name: "udp64-1k",
        about: "1,000 IPv6 UDP flows, 64-byte frames (100 subscribers x 10 ports)",
        subscribers: 100,
        ports_per_subscriber: 10,
        frame_len: 64,
        dst_port: 7,
    },
];

/// Looks a scenario up by name.
pub fn scenario(name: &str) -> Option<&'static Scenario> {
    SCENARIOS.iter().find(|s| s.name == name)
}

/// `prefix` with `v4` embedded as RFC 6052 2.2 does for a /96.
fn embed96(prefix: Ipv6Addr, v4: Ipv4Addr) -> Ipv6Addr {
    let mut o = prefix.octets();
    o[12..].copy_from_slice(&v4.octets());
    Ipv6Addr::from(o)
}

impl Scenario {
    /// Number of flows (= frames in one pass).
    pub fn flows(&self) -> u64 {
        u64::from(self.subscribers) * u64::from(self.ports_per_subscriber)
    }

    /// Source address of subscriber `i`: `2001:db8:100:i::1` style, one /64
    /// per subscriber (i in the 4th and 3rd groups).
    pub fn subscriber(&self, i: u32) -> Ipv6Addr {
        let mut o = SUBSCRIBER_BASE.octets();
        let net = u32::from_be_bytes([o[4], o[5], o[6], o[7]]) + i;
        o[4..8].copy_from_slice(&net.to_be_bytes());
        Ipv6Addr::from(o)
    }

    /// The destination every flow uses.
    pub fn destination(&self) -> Ipv6Addr {
        embed96(LAB_PREFIX, SERVER4)
    }

    /// Writes flow `n`'s frame into `buf` (at least `frame_len` bytes);
    /// flows go subscriber-major so one pass touches every flow once.
    pub fn frame(&self, n: u64, buf: &mut [u8]) -> usize {
        let sub = (n / u64::from(self.ports_per_subscriber)) as u32;
        let port = FIRST_SRC_PORT + (n % u64::from(self.ports_per_subscriber)) as u16;
        let len = self.frame_len.max(UDP6_HEADERS);
        let frame = &mut buf[..len];
        frame.fill(0);
        ethernet::Repr {
            dst: APPLIANCE_INSIDE_MAC,
            src: TESTER_MAC,
            vlan_tci: None,
            ethertype: ethernet::ethertype::IPV6,
        }
        .emit(frame);
        let (src, dst) = (self.subscriber(sub), self.destination());
        let l4_len = len - ethernet::HEADER_LEN - 40;
        ipv6::Repr {
            src,
            dst,
            next_header: proto::UDP,
            hop_limit: 64,
            traffic_class: 0,
            flow_label: 0,
            payload_len: l4_len,
        }
        .emit(&mut frame[ethernet::HEADER_LEN..ethernet::HEADER_LEN + 40]);
        let l4 = &mut frame[ethernet::HEADER_LEN + 40..];
        udp::Repr {
            src_port: port,
            dst_port: self.dst_port,
            len: l4_len as u16,
            checksum: 0,
        }
        .emit(l4);
        for (i, b) in l4[8..].iter_mut().enumerate() {
            *b = i as u8;
        }
        let sum = checksum::add(
            checksum::pseudo_v6(&src.octets(), &dst.octets(), proto::UDP, l4_len as u32),
            checksum::sum(l4),
        );
        let c = checksum::finish(sum);
        // RFC 768: a computed zero is sent as all ones.
        udp::Packet::new_unchecked(&mut *l4).set_checksum(if c == 0 { 0xffff } else { c });
        len
    }

    /// Writes one pass over every flow as a pcap.
    pub fn write_pcap<W: Write>(&self, out: W) -> io::Result<()> {
        let mut w = pcap::Writer::new(out)?;
        let mut buf = [0u8; 2048];
        for n in 0..self.flows() {
            let len = self.frame(n, &mut buf);
            w.packet(&buf[..len])?;
        }
        w.finish()
    }

    /// The same load as a TRex STL profile: the field engine walks the
    /// subscriber and the source port as the pcap does.
    pub fn trex_profile(&self) -> String {
        let mut first = [0u8; 2048];
        let len = self.frame(0, &mut first);
        let hex: Vec<String> = first[..len].iter().map(|b| format!("0x{b:02x}")).collect();
        let sub_off = ethernet::HEADER_LEN + 8 + 4;
        let port_off = UDP6_HEADERS - 8;
        format!(
            r#"# plat scenario {name}: {about}
# Emitted by `plat-scenarios trex {name}`; do not edit, edit pktgen-scenarios.
from trex_stl_lib.api import *

class STLS1(object):
    def create_stream(self):
        base = bytes([{bytes}])
        vm = STLVM()
        vm.var(name="sub", min_value=0, max_value={max_sub}, size=4, op="inc")
        vm.var(name="port", min_value={p0}, max_value={p1}, size=2, op="inc")
        vm.write(fv_name="sub", pkt_offset={sub_off}, add_val=0x{sub_base:x})
        vm.write(fv_name="port", pkt_offset={port_off})
        # UDP checksum over IPv6 cannot be left stale: let the NIC fill it.
        vm.fix_chksum_hw(l3_offset={l3}, l4_offset={l4}, l4_type=CTRexVmInsFixHwCs.L4_TYPE_UDP)
        return STLStream(packet=STLPktBuilder(pkt=Ether(base), vm=vm), mode=STLTXCont())

    def get_streams(self, direction=0, **kwargs):
        return [self.create_stream()]

def register():
    return STLS1()
"#,
            name = self.name,
            about = self.about,
            bytes = hex.join(", "),
            max_sub = self.subscribers - 1,
            p0 = FIRST_SRC_PORT,
            p1 = FIRST_SRC_PORT + self.ports_per_subscriber - 1,
            sub_off = sub_off,
            sub_base =
                u32::from_be_bytes(SUBSCRIBER_BASE.octets()[4..8].try_into().unwrap_or([0; 4])),
            port_off = port_off,
            l3 = ethernet::HEADER_LEN,
            l4 = ethernet::HEADER_LEN + 40,
        )
    }

    /// The same load as a pktgen-dpdk Lua script (range mode).
    pub fn pktgen_lua(&self) -> String {
        let last = self.subscriber(self.subscribers - 1);
        format!(
            r#"-- plat scenario {name}: {about}
-- Emitted by `plat-scenarios pktgen {name}`; do not edit, edit pktgen-scenarios.
package.path = package.path ..";?.lua;test/?.lua;app/?.lua;"
require "Pktgen"
local port = "0"
pktgen.set_range(port, "on")
pktgen.range.dst_mac(port, "start", "{dmac}")
pktgen.range.src_mac(port, "start", "{smac}")
pktgen.range.ip_proto(port, "udp")
pktgen.range.dst_ip(port, "start", "{dst}")
pktgen.range.dst_ip(port, "inc", "::")
pktgen.range.src_ip(port, "start", "{src0}")
pktgen.range.src_ip(port, "min", "{src0}")
pktgen.range.src_ip(port, "max", "{src1}")
pktgen.range.src_ip(port, "inc", "0:0:0:1::")
pktgen.range.src_port(port, "start", {p0})
pktgen.range.src_port(port, "min", {p0})
pktgen.range.src_port(port, "max", {p1})
pktgen.range.src_port(port, "inc", 1)
pktgen.range.dst_port(port, "start", {dport})
pktgen.range.dst_port(port, "inc", 0)
pktgen.range.pkt_size(port, "start", {size})
pktgen.range.pkt_size(port, "inc", 0)
pktgen.start(port)
"#,
            name = self.name,
            about = self.about,
            dmac = mac(APPLIANCE_INSIDE_MAC),
            smac = mac(TESTER_MAC),
            dst = self.destination(),
            src0 = self.subscriber(0),
            src1 = last,
            p0 = FIRST_SRC_PORT,
            p1 = FIRST_SRC_PORT + self.ports_per_subscriber - 1,
            dport = self.dst_port,
            // pktgen counts the FCS in its packet size.
            size = self.frame_len + 4,
        )
    }
}

fn mac(m: [u8; 6]) -> String {
    m.iter()
        .map(|b| format!("{b:02x}"))
        .collect::<Vec<_>>()
        .join(":")
}

#[cfg(test)]
mod tests {
    use super::*;
    use etherparse::{NetSlice, SlicedPacket, TransportSlice};

    #[test]
    fn every_frame_is_valid_ipv6_udp_with_a_distinct_flow() {
        let sc = scenario("udp64-1k").unwrap();
        let mut seen = std::collections::HashSet::new();
        let mut buf = [0u8; 2048];
        for n in 0..sc.flows() {
            let len = sc.frame(n, &mut buf);
            assert_eq!(len, 64);
            let p = SlicedPacket::from_ethernet(&buf[..len]).unwrap();
            let Some(NetSlice::Ipv6(ip)) = &p.net else {
                panic!("not IPv6")
            };
            let h = ip.header().to_header();
            assert_eq!(
                h.destination_addr(),
                "2001:db8:64::cb00:7102".parse::<Ipv6Addr>().unwrap()
            );
            let Some(TransportSlice::Udp(u)) = &p.transport else {
                panic!("not UDP")
            };
            let uh = u.to_header();
            assert_eq!(
                uh.checksum,
                uh.calc_checksum_ipv6(&h, u.payload()).unwrap(),
                "frame {n}"
            );
            assert!(seen.insert((h.source, uh.source_port)), "flow {n} repeats");
        }
        assert_eq!(seen.len() as u64, sc.flows());
    }

    #[test]
    fn subscribers_are_distinct_slash64s() {
        let sc = scenario("udp64-1m").unwrap();
        assert_eq!(sc.flows(), 1_000_000);
        assert_eq!(
            sc.subscriber(0),
            "2001:db8:100::1".parse::<Ipv6Addr>().unwrap()
        );
        assert_eq!(
            sc.subscriber(15_624),
            "2001:db8:100:3d08::1".parse::<Ipv6Addr>().unwrap()
        );
    }

    #[test]
    fn pcap_round_trips_and_profiles_name_the_flows() {
        let sc = scenario("udp64-1k").unwrap();
        let mut out = Vec::new();
        sc.write_pcap(&mut out).unwrap();
        let frames = pcap::read_frames(&out).unwrap();
        assert_eq!(frames.len() as u64, sc.flows());
        let mut buf = [0u8; 2048];
        let len = sc.frame(999, &mut buf);
        assert_eq!(frames[999], buf[..len]);
        let trex = sc.trex_profile();
        assert!(
            trex.contains("max_value=99,") && trex.contains("max_value=10009,"),
            "{trex}"
        );
        let lua = sc.pktgen_lua();
        assert!(
            lua.contains("2001:db8:64::cb00:7102") && lua.contains("\"max\", 10009"),
            "{lua}"
        );
    }
}
