//! pktgen-dpdk Lua scripts. Range mode walks the subscribers and ports;
//! the IMIX and ICMP mixes use a packet sequence (`seqTable`), one entry a
//! frame of the pattern. pktgen is stateless and has no seeded port PRNG
//! in range mode, so RFC 4814 ports become a wide stride over the RFC's
//! ranges; for the exact flows, send the scenario's pcap
//! (`pktgen -s 0:NAME.pcap`).

use std::fmt::Write;

use plat_core::wire::proto;

use crate::emit::{banner, commented};
use crate::{
    mac, ports, Ports, Scenario, Traffic, APPLIANCE_INSIDE_MAC, FIRST_SRC_PORT, TESTER_MAC,
};

/// Strides for the ports in range mode: primes, so the walk visits every
/// port of the range before repeating.
const SPORT_STRIDE: u32 = 7919;
const DPORT_STRIDE: u32 = 4099;

/// The scenario as a pktgen-dpdk Lua script.
pub fn script(sc: &Scenario) -> String {
    let mut s = commented("--", &banner(sc, "pktgen"));
    s.push_str(
        "package.path = package.path ..\";?.lua;test/?.lua;app/?.lua;\"\nrequire \"Pktgen\"\nlocal port = \"0\"\n",
    );
    match sc.traffic {
        Traffic::Imix | Traffic::IcmpMix => sequence(sc, &mut s),
        Traffic::Udp | Traffic::Tcp => range(sc, &mut s),
    }
    s.push_str("pktgen.start(port)\n");
    s
}

fn range(sc: &Scenario, s: &mut String) {
    if sc.traffic == Traffic::Tcp {
        s.push_str(
            "-- pktgen cannot hold TCP connections: this sends each flow's first\n\
             -- segment only; the whole exchange (RFC 9693) is in the ASTF profile.\n",
        );
    }
    let f0 = sc.flow(0);
    let ip_proto = if sc.traffic == Traffic::Tcp {
        "tcp"
    } else {
        "udp"
    };
    let _ = write!(
        s,
        r#"pktgen.set_range(port, "on")
pktgen.range.dst_mac(port, "start", "{dmac}")
pktgen.range.src_mac(port, "start", "{smac}")
pktgen.range.ip_proto(port, "{ip_proto}")
pktgen.range.dst_ip(port, "start", "{dst}")
pktgen.range.dst_ip(port, "inc", "::")
pktgen.range.src_ip(port, "start", "{src0}")
pktgen.range.src_ip(port, "min", "{src0}")
pktgen.range.src_ip(port, "max", "{src1}")
pktgen.range.src_ip(port, "inc", "0:0:0:1::")
"#,
        dmac = mac(APPLIANCE_INSIDE_MAC),
        smac = mac(TESTER_MAC),
        dst = sc.destination(),
        src0 = sc.subscriber(0),
        src1 = sc.subscriber(sc.subscribers - 1),
    );
    let (sp, dp) = match sc.ports {
        Ports::Sequential => (
            (
                FIRST_SRC_PORT,
                FIRST_SRC_PORT,
                FIRST_SRC_PORT + sc.ports_per_subscriber - 1,
                1,
            ),
            (sc.dst_port, sc.dst_port, sc.dst_port, 0),
        ),
        Ports::Rfc4814 => {
            s.push_str(
                "-- RFC 4814 4.5: pseudorandom source ports in 1024..65535 and destination\n\
                 -- ports in 1..49151; here a prime stride over those ranges.\n",
            );
            (
                (
                    f0.src_port,
                    *ports::SRC_PORTS.start(),
                    *ports::SRC_PORTS.end(),
                    SPORT_STRIDE,
                ),
                (
                    f0.dst_port,
                    *ports::DST_PORTS.start(),
                    *ports::DST_PORTS.end(),
                    DPORT_STRIDE,
                ),
            )
        }
    };
    for (what, (start, min, max, inc)) in [("src_port", sp), ("dst_port", dp)] {
        let _ = write!(
            s,
            "pktgen.range.{what}(port, \"start\", {start})\n\
             pktgen.range.{what}(port, \"min\", {min})\n\
             pktgen.range.{what}(port, \"max\", {max})\n\
             pktgen.range.{what}(port, \"inc\", {inc})\n"
        );
    }
    // pktgen counts the FCS in its packet size.
    let _ = write!(
        s,
        "pktgen.range.pkt_size(port, \"start\", {})\npktgen.range.pkt_size(port, \"inc\", 0)\n",
        sc.frame_len + 4
    );
}

/// One sequence entry a frame of the pattern (12 for IMIX's 7:4:1, 10 for
/// the ICMP mix), each its own flow.
fn sequence(sc: &Scenario, s: &mut String) {
    let n = match sc.traffic {
        Traffic::Imix => 12,
        _ => 10,
    };
    let _ = writeln!(
        s,
        "-- The pattern as a {n}-packet sequence (flows 0..{n} of the scenario);\n\
         -- all {} flows are in the pcap.",
        sc.flows()
    );
    for i in 0..n {
        let f = sc.flow(i);
        let proto = match f.proto {
            proto::TCP => "tcp",
            proto::ICMPV6 => "icmp",
            _ => "udp",
        };
        let _ = write!(
            s,
            r#"pktgen.seqTable({i}, port, {{
    ["eth_dst_addr"] = "{dmac}",
    ["eth_src_addr"] = "{smac}",
    ["ip_dst_addr"] = "{dst}",
    ["ip_src_addr"] = "{src}/64",
    ["sport"] = {sport},
    ["dport"] = {dport},
    ["ethType"] = "ipv6",
    ["ipProto"] = "{proto}",
    ["pktSize"] = {size},
}})
"#,
            dmac = mac(APPLIANCE_INSIDE_MAC),
            smac = mac(TESTER_MAC),
            dst = f.dst,
            src = f.src,
            sport = f.src_port,
            dport = f.dst_port,
            size = sc.frame_len_of(i) + 4,
        );
    }
    let _ = writeln!(s, "pktgen.set(port, \"seq_cnt\", {n})");
}
