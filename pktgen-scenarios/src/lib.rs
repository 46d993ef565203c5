//! Load scenarios, defined once: each is a set of flows that the repo's
//! own load runs replay as a pcap through `net_pcap`, and that operators
//! with a hardware tester run as a TRex STL or ASTF profile or a
//! pktgen-dpdk Lua script emitted from the same definition (see [`emit`]).
//!
//! The API a tester codes against: [`Scenario::flows`], [`Scenario::flow`],
//! [`Scenario::frame_len_of`] and [`Scenario::frame`].

use std::io::{self, Write};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use plat_core::wire::{proto, tcp};

pub mod emit;
mod exchange;
pub mod frames;
pub mod pcap;
pub mod ports;

use frames::{Macs, L4};

/// The NAT64 prefix the scenarios (and the lab) use: a network-specific
/// prefix, since RFC 6052 3.1 keeps documentation addresses off
/// 64:ff9b::/96.
pub const LAB_PREFIX: Ipv6Addr = Ipv6Addr::new(0x2001, 0xdb8, 0x64, 0, 0, 0, 0, 0);
/// The IPv4 server every flow goes to.
pub const SERVER4: Ipv4Addr = Ipv4Addr::new(203, 0, 113, 2);
/// The first pool4 address the IPv4 side of a `tcp-cps` capture assumes
/// (the lab's pool4 is 198.51.100.0/N); see [`pool4_binding`].
pub const POOL4: Ipv4Addr = Ipv4Addr::new(198, 51, 100, 1);
/// Subscribers are /64s under this /48 (a phone or CPE gets a /64).
pub const SUBSCRIBER_BASE: Ipv6Addr = Ipv6Addr::new(0x2001, 0xdb8, 0x100, 0, 0, 0, 0, 1);
/// MAC the generated frames come from.
pub const TESTER_MAC: [u8; 6] = [0x02, 0x00, 0x00, 0x00, 0x00, 0x01];
/// MAC the generated frames go to (the appliance's inside port, set with
/// `inside.mac` in platd's config for replays).
pub const APPLIANCE_INSIDE_MAC: [u8; 6] = [0x02, 0x00, 0x00, 0x00, 0x00, 0xa6];
/// MAC of the tester's IPv4 (server) port: the lab's neighbour for
/// 203.0.113.2.
pub const TESTER_OUTSIDE_MAC: [u8; 6] = [0x02, 0x00, 0x00, 0x00, 0x00, 0x02];
/// MAC of the appliance's outside port in the IPv4 frames of a capture.
pub const APPLIANCE_OUTSIDE_MAC: [u8; 6] = [0x02, 0x00, 0x00, 0x00, 0x00, 0xa4];
/// First source port of every subscriber in the sequential scenarios.
pub const FIRST_SRC_PORT: u16 = 10_000;
/// platd's per-subscriber port cap the scenarios stay under.
pub const MAX_FLOWS_PER_SUBSCRIBER: u16 = 64;
/// Payload bytes of the request and of the response in a TCP exchange.
pub const TCP_DATA_LEN: usize = 64;

/// Simple IMIX: 7:4:1 of 40-, 576- and 1500-byte IP packets (the mix
/// attributed to Agilent/Spirent tester defaults and used by TRex's
/// `stl/imix.py`; described on Wikipedia's "Internet Mix" page), given
/// here as Ethernet frames without FCS. On the wire with FCS they are
/// 68/594/1518: the usual 64/594/1518 except the smallest, since an IPv6
/// UDP frame cannot be shorter than 62 bytes plus FCS, and 1514 (a
/// 1500-byte IPv6 packet) is the largest a 1500-byte MTU carries.
pub const IMIX: [(usize, u64); 3] = [(64, 7), (590, 4), (1514, 1)];

/// One full cycle of the [`IMIX`] pattern, in frames.
const IMIX_CYCLE: u64 = IMIX[0].1 + IMIX[1].1 + IMIX[2].1;

/// Share of each protocol in `icmp-mix`, per 10 flows: 2 ICMPv6 echo
/// requests, 5 UDP datagrams, 3 TCP SYNs.
pub const ICMP_MIX: [(u8, u64); 3] = [(proto::ICMPV6, 2), (proto::UDP, 5), (proto::TCP, 3)];

/// What a scenario's frames carry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Traffic {
    /// UDP datagrams of `frame_len` bytes.
    Udp,
    /// UDP datagrams in the [`IMIX`] sizes.
    Imix,
    /// TCP connections: SYN, SYN-ACK, ACK, data both ways, FIN both ways.
    Tcp,
    /// ICMPv6 echo requests, UDP and TCP in the [`ICMP_MIX`] proportions.
    IcmpMix,
}

/// How a scenario picks its ports.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ports {
    /// Source ports [`FIRST_SRC_PORT`].. in order, destination port
    /// `dst_port` (the layout the replay/HA benches hash sessions on).
    Sequential,
    /// RFC 4814 4.5 pseudorandom ports (see [`ports`]).
    Rfc4814,
}

/// One flow: what identifies its session in the translator.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Flow {
    /// `proto::UDP`, `proto::TCP` or `proto::ICMPV6` (58).
    pub proto: u8,
    /// The subscriber's address.
    pub src: Ipv6Addr,
    /// Source port; the echo identifier for ICMP.
    pub src_port: u16,
    /// The server, [`SERVER4`] embedded in [`LAB_PREFIX`].
    pub dst: Ipv6Addr,
    /// Destination port; 0 for ICMP.
    pub dst_port: u16,
}

/// A named load: IPv6 flows from many subscribers to one server.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Scenario {
    /// Name used on the command line.
    pub name: &'static str,
    /// What it measures.
    pub about: &'static str,
    /// Number of subscribers (each its own /64).
    pub subscribers: u32,
    /// Flows (source ports) per subscriber, at most
    /// [`MAX_FLOWS_PER_SUBSCRIBER`].
    pub ports_per_subscriber: u16,
    /// Ethernet frame size without FCS (of the first frame of a flow; see
    /// [`Scenario::frame_len_of`]).
    pub frame_len: usize,
    /// Destination port on the server with [`Ports::Sequential`].
    pub dst_port: u16,
    /// What the frames carry.
    pub traffic: Traffic,
    /// How ports are chosen.
    pub ports: Ports,
    /// Whether the server answers (traffic both ways), as RFC 8219's
    /// bidirectional tests ask.
    pub bidirectional: bool,
}

const fn udp(name: &'static str, about: &'static str, subscribers: u32, ports: u16) -> Scenario {
    Scenario {
        name,
        about,
        subscribers,
        ports_per_subscriber: ports,
        frame_len: 64,
        dst_port: 7,
        traffic: Traffic::Udp,
        ports: Ports::Sequential,
        bidirectional: false,
    }
}

/// Every scenario the repo knows.
pub const SCENARIOS: &[Scenario] = &[
    udp(
        "udp64-1m",
        "1,000,000 established IPv6 UDP flows, 64-byte frames (15,625 subscribers x 64 ports)",
        15_625,
        64,
    ),
    udp(
        "udp-new-flows",
        "10,000,000 IPv6 UDP flows, 64-byte frames (156,250 subscribers x 64 ports): \
         replayed once, every frame opens a new session (RFC 9693 connection \
         establishment load)",
        156_250,
        64,
    ),
    udp(
        "udp64-1k",
        "1,000 IPv6 UDP flows, 64-byte frames (100 subscribers x 10 ports)",
        100,
        10,
    ),
    Scenario {
        name: "udp64-established",
        about: "1,000,000 established IPv6 UDP flows, 64-byte frames, both directions, \
                RFC 4814 ports (15,625 subscribers x 64): RFC 8219 throughput and latency \
                over established sessions",
        ports: Ports::Rfc4814,
        bidirectional: true,
        ..udp("", "", 15_625, 64)
    },
    Scenario {
        name: "imix-bidir",
        about: "10,000 IPv6 UDP flows in simple IMIX sizes (7:4:1 of 64/590/1514-byte \
                frames), both directions, RFC 4814 ports (250 subscribers x 40)",
        traffic: Traffic::Imix,
        ports: Ports::Rfc4814,
        bidirectional: true,
        ..udp("", "", 250, 40)
    },
    Scenario {
        name: "tcp-cps",
        about: "1,000,000 IPv6 TCP connections (SYN, SYN-ACK, ACK, data both ways, FIN \
                both ways), RFC 4814 ports (15,625 subscribers x 64): RFC 9693 connection \
                establishment and tear-down rate",
        frame_len: 74,
        traffic: Traffic::Tcp,
        ports: Ports::Rfc4814,
        bidirectional: true,
        ..udp("", "", 15_625, 64)
    },
    Scenario {
        name: "scale-10m",
        about: "10,000,000 IPv6 UDP sessions held (156,250 subscribers x 64, RFC 4814 \
                ports), then 64-byte traffic over all of them",
        ports: Ports::Rfc4814,
        ..udp("", "", 156_250, 64)
    },
    Scenario {
        name: "icmp-mix",
        about: "100,000 IPv6 flows: 2 in 10 ICMPv6 echo requests, 5 UDP, 3 TCP SYNs, \
                RFC 4814 ports (2,000 subscribers x 50)",
        traffic: Traffic::IcmpMix,
        ports: Ports::Rfc4814,
        ..udp("", "", 2_000, 50)
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

/// The pool4 address and port a capture's IPv4 side assumes for flow `n`:
/// [`POOL4`] onwards, 64,512 ports (1024..=65535) an address, in flow
/// order. platd allocates its own; a live tester learns them.
pub fn pool4_binding(n: u64) -> (Ipv4Addr, u16) {
    const PER_ADDR: u64 = 64_512;
    let addr = u32::from(POOL4) + (n / PER_ADDR) as u32;
    (Ipv4Addr::from(addr), 1024 + (n % PER_ADDR) as u16)
}

impl Scenario {
    /// Number of distinct flows (= frames in one pass, except `tcp-cps`
    /// whose capture holds each flow's whole exchange).
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

    /// Protocol of flow `n`: the scenario's, or for `icmp-mix` the
    /// [`ICMP_MIX`] pattern over the flow's index within its subscriber.
    fn proto_of(&self, n: u64) -> u8 {
        match self.traffic {
            Traffic::Udp | Traffic::Imix => proto::UDP,
            Traffic::Tcp => proto::TCP,
            Traffic::IcmpMix => {
                let total: u64 = ICMP_MIX.iter().map(|&(_, w)| w).sum();
                let mut at = n % total;
                for (p, w) in ICMP_MIX {
                    if at < w {
                        return p;
                    }
                    at -= w;
                }
                unreachable!("at < total")
            }
        }
    }

    /// Flow `n` (< [`Scenario::flows`]): subscriber-major, so one pass
    /// touches every flow once; all distinct, the same on every call.
    pub fn flow(&self, n: u64) -> Flow {
        let per = u64::from(self.ports_per_subscriber);
        let (sub, k) = ((n / per) as u32, (n % per) as u16);
        let proto = self.proto_of(n);
        let (src_port, dst_port) = match self.ports {
            Ports::Sequential => (FIRST_SRC_PORT + k, self.dst_port),
            // RFC 4814 4.5: pseudorandom source ports in 1024..=65535 and
            // destination ports in 1..=49151; a per-subscriber permutation
            // keeps every (src, src_port) distinct.
            Ports::Rfc4814 => (ports::src_port(sub, k), ports::dst_port(n)),
        };
        Flow {
            proto,
            src: self.subscriber(sub),
            src_port,
            dst: self.destination(),
            dst_port: if proto == proto::ICMPV6 { 0 } else { dst_port },
        }
    }

    /// Frame size (without FCS) of frame `n`: for IMIX the 7:4:1 pattern
    /// cycled over `n`, for `icmp-mix` the size of flow `n`'s protocol,
    /// else `frame_len`.
    pub fn frame_len_of(&self, n: u64) -> usize {
        match self.traffic {
            Traffic::Imix => {
                let mut at = n % IMIX_CYCLE;
                for (len, w) in IMIX {
                    if at < w {
                        return len;
                    }
                    at -= w;
                }
                unreachable!("at < cycle")
            }
            Traffic::IcmpMix if self.proto_of(n) == proto::TCP => {
                frames::min_len6(self.l4_of(&self.flow(n)))
            }
            _ => self.frame_len,
        }
    }

    /// The first segment/datagram/echo of a flow.
    fn l4_of(&self, f: &Flow) -> L4 {
        match f.proto {
            proto::TCP => L4::Tcp {
                src: f.src_port,
                dst: f.dst_port,
                seq: 0,
                ack: 0,
                flags: tcp::flags::SYN,
            },
            proto::ICMPV6 => L4::EchoRequest {
                ident: f.src_port,
                seq: 1,
            },
            _ => L4::Udp {
                src: f.src_port,
                dst: f.dst_port,
            },
        }
    }

    /// Writes the first IPv6 frame of flow `n` (UDP datagram, TCP SYN or
    /// ICMPv6 echo request) into `buf` (at least 1514 bytes will do) with
    /// valid checksums, from [`TESTER_MAC`] to [`APPLIANCE_INSIDE_MAC`];
    /// returns its length, [`Scenario::frame_len_of`]`(n)`.
    pub fn frame(&self, n: u64, buf: &mut [u8]) -> usize {
        let f = self.flow(n);
        let mut l4 = self.l4_of(&f);
        if let L4::Tcp { seq, .. } = &mut l4 {
            *seq = ports::isn(n, false);
        }
        frames::write(
            buf,
            self.frame_len_of(n),
            Macs {
                dst: APPLIANCE_INSIDE_MAC,
                src: TESTER_MAC,
            },
            IpAddr::V6(f.src),
            IpAddr::V6(f.dst),
            64,
            l4,
        )
    }

    /// Frames in the scenario's capture: one a flow, or the whole
    /// exchange a flow for `tcp-cps`.
    pub fn pcap_frames(&self) -> u64 {
        match self.traffic {
            Traffic::Tcp => self.flows() * exchange::FRAMES_PER_FLOW,
            _ => self.flows(),
        }
    }

    /// Writes capture frame `i` (< [`Scenario::pcap_frames`]).
    pub fn pcap_frame(&self, i: u64, buf: &mut [u8]) -> usize {
        match self.traffic {
            Traffic::Tcp => exchange::frame(
                self,
                i / exchange::FRAMES_PER_FLOW,
                i % exchange::FRAMES_PER_FLOW,
                buf,
            ),
            _ => self.frame(i, buf),
        }
    }

    /// Writes one pass over every flow as a pcap.
    pub fn write_pcap<W: Write>(&self, out: W) -> io::Result<()> {
        self.write_pcap_capped(out, None).map(|_| ())
    }

    /// Writes the capture, at most `max_frames` frames of it; returns how
    /// many it wrote.
    pub fn write_pcap_capped<W: Write>(&self, out: W, max_frames: Option<u64>) -> io::Result<u64> {
        let mut w = pcap::Writer::new(out)?;
        let mut buf = [0u8; 2048];
        let n = max_frames.map_or(self.pcap_frames(), |m| m.min(self.pcap_frames()));
        for i in 0..n {
            let len = self.pcap_frame(i, &mut buf);
            w.packet(&buf[..len])?;
        }
        w.finish()?;
        Ok(n)
    }

    /// The load as a TRex STL profile (see [`emit::trex`]).
    pub fn trex_profile(&self) -> String {
        emit::trex::profile(self)
    }

    /// The load as a TRex ASTF profile, for scenarios ASTF can run (not
    /// ICMP; see [`emit::astf`]).
    pub fn astf_profile(&self) -> Option<String> {
        emit::astf::profile(self)
    }

    /// The load as a pktgen-dpdk Lua script (see [`emit::lua`]).
    pub fn pktgen_lua(&self) -> String {
        emit::lua::script(self)
    }
}

/// `02:00:...` notation of a MAC.
pub(crate) fn mac(m: [u8; 6]) -> String {
    m.iter()
        .map(|b| format!("{b:02x}"))
        .collect::<Vec<_>>()
        .join(":")
}

#[cfg(test)]
mod tests;
