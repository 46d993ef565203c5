//! Tests of the scenarios' frames and flows.

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
