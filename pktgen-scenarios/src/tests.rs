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

/// Flow indices to look at: all of a small scenario, a spread sample of a
/// big one (the first subscribers whole, then every 7919th flow).
fn sample(sc: &Scenario) -> Vec<u64> {
    if sc.flows() <= 20_000 {
        return (0..sc.flows()).collect();
    }
    (0..2_000)
        .chain((2_000..sc.flows()).step_by(7_919))
        .chain([sc.flows() - 1])
        .collect()
}

/// Parses `frame` as an IPv6 frame from the tester and checks it carries
/// `flow` with a valid checksum.
fn check_frame(frame: &[u8], flow: &Flow, what: &str) {
    let p = SlicedPacket::from_ethernet(frame).unwrap_or_else(|e| panic!("{what}: {e}"));
    assert_eq!(frame[..6], APPLIANCE_INSIDE_MAC, "{what}");
    assert_eq!(frame[6..12], TESTER_MAC, "{what}");
    let Some(NetSlice::Ipv6(ip)) = &p.net else {
        panic!("{what}: not IPv6")
    };
    let h = ip.header().to_header();
    assert_eq!(
        (h.source_addr(), h.destination_addr()),
        (flow.src, flow.dst),
        "{what}"
    );
    assert_eq!(h.next_header.0, flow.proto, "{what}");
    match &p.transport {
        Some(TransportSlice::Udp(u)) => {
            let uh = u.to_header();
            assert_eq!(
                uh.checksum,
                uh.calc_checksum_ipv6(&h, u.payload()).unwrap(),
                "{what}"
            );
            assert_eq!(
                (uh.source_port, uh.destination_port),
                (flow.src_port, flow.dst_port),
                "{what}"
            );
        }
        Some(TransportSlice::Tcp(t)) => {
            let th = t.to_header();
            assert_eq!(
                th.checksum,
                th.calc_checksum_ipv6(&h, t.payload()).unwrap(),
                "{what}"
            );
            assert_eq!(
                (th.source_port, th.destination_port),
                (flow.src_port, flow.dst_port),
                "{what}"
            );
            assert!(th.syn && !th.ack, "{what}: first segment is a SYN");
        }
        Some(TransportSlice::Icmpv6(i)) => {
            let l4 = &frame[14 + 40..];
            let v = plat_core::wire::icmpv6::Packet::new_checked(l4).unwrap();
            assert!(
                v.verify_checksum(&flow.src.octets(), &flow.dst.octets()),
                "{what}"
            );
            assert_eq!(i.type_u8(), 128, "{what}: echo request");
            assert_eq!((v.ident(), flow.dst_port), (flow.src_port, 0), "{what}");
        }
        other => panic!("{what}: transport {other:?}"),
    }
}

#[test]
fn every_scenario_frame_parses_as_its_flow_with_valid_checksums() {
    let mut buf = [0u8; 2048];
    for sc in SCENARIOS {
        for n in sample(sc) {
            let len = sc.frame(n, &mut buf);
            assert_eq!(len, sc.frame_len_of(n), "{} {n}", sc.name);
            check_frame(&buf[..len], &sc.flow(n), &format!("{} flow {n}", sc.name));
        }
    }
}

#[test]
fn flows_are_distinct_and_deterministic() {
    for sc in SCENARIOS {
        let mut seen = std::collections::HashSet::new();
        let ns = if sc.flows() <= 1_000_000 {
            (0..sc.flows()).collect()
        } else {
            sample(sc)
        };
        for &n in &ns {
            let f = sc.flow(n);
            assert_eq!(f, sc.flow(n));
            assert!(
                seen.insert((f.proto, f.src, f.src_port)),
                "{} flow {n} repeats",
                sc.name
            );
        }
        assert_eq!(seen.len(), ns.len());
    }
}

#[test]
fn subscribers_stay_under_platds_port_cap() {
    for sc in SCENARIOS {
        assert!(
            sc.ports_per_subscriber <= MAX_FLOWS_PER_SUBSCRIBER,
            "{}",
            sc.name
        );
        let per = u64::from(sc.ports_per_subscriber);
        // One subscriber's flows share its /64, the next is another /64.
        let (a, b) = (sc.flow(per - 1), sc.flow(per));
        assert_eq!(a.src, sc.subscriber(0), "{}", sc.name);
        assert_eq!(b.src, sc.subscriber(1), "{}", sc.name);
        assert_ne!(a.src.octets()[..8], b.src.octets()[..8]);
    }
}

#[test]
fn rfc4814_4_5_new_scenarios_use_pseudorandom_ports_in_range() {
    let new = [
        "udp64-established",
        "imix-bidir",
        "tcp-cps",
        "scale-10m",
        "icmp-mix",
    ];
    for name in new {
        let sc = scenario(name).unwrap();
        assert_eq!(sc.ports, Ports::Rfc4814, "{name}");
        let ns = sample(sc);
        let mut sequential = 0;
        for w in ns.windows(2) {
            let (f, g) = (sc.flow(w[0]), sc.flow(w[1]));
            assert!(ports::SRC_PORTS.contains(&f.src_port), "{name} {f:?}");
            if f.proto == proto::ICMPV6 {
                assert_eq!(f.dst_port, 0);
            } else {
                assert!(ports::DST_PORTS.contains(&f.dst_port), "{name} {f:?}");
            }
            sequential += u32::from(g.src_port == f.src_port.wrapping_add(1));
        }
        assert!(
            sequential * 100 < ns.len() as u32,
            "{name}: ports walk in order"
        );
    }
}

#[test]
fn legacy_scenarios_keep_their_frame_layout() {
    // The replay/HA benches hash sessions built from this layout.
    for name in ["udp64-1m", "udp64-1k", "udp-new-flows"] {
        let sc = scenario(name).unwrap();
        assert_eq!(
            (sc.ports, sc.traffic, sc.frame_len),
            (Ports::Sequential, Traffic::Udp, 64)
        );
        let per = u64::from(sc.ports_per_subscriber);
        let f = sc.flow(per + 1);
        assert_eq!(
            (f.src, f.src_port, f.dst_port),
            (sc.subscriber(1), FIRST_SRC_PORT + 1, 7)
        );
    }
    assert_eq!(scenario("udp-new-flows").unwrap().flows(), 10_000_000);
    assert_eq!(scenario("scale-10m").unwrap().flows(), 10_000_000);
    assert_eq!(scenario("udp64-established").unwrap().flows(), 1_000_000);
}

#[test]
fn imix_frames_come_7_4_1_in_the_imix_sizes() {
    let sc = scenario("imix-bidir").unwrap();
    let mut count = std::collections::BTreeMap::new();
    for n in 0..12_000 {
        *count.entry(sc.frame_len_of(n)).or_insert(0u64) += 1;
    }
    let want: std::collections::BTreeMap<usize, u64> =
        [(64, 7_000), (590, 4_000), (1514, 1_000)].into();
    assert_eq!(count, want);
    // The capture carries the same sizes.
    let mut out = Vec::new();
    sc.write_pcap_capped(&mut out, Some(24)).unwrap();
    let lens: Vec<usize> = pcap::read_frames(&out)
        .unwrap()
        .iter()
        .map(Vec::len)
        .collect();
    assert_eq!(
        lens,
        (0..24).map(|n| sc.frame_len_of(n)).collect::<Vec<_>>()
    );
    assert_eq!(
        lens[..12],
        [64, 64, 64, 64, 64, 64, 64, 590, 590, 590, 590, 1514]
    );
}

#[test]
fn icmp_mix_is_2_icmp_5_udp_3_tcp_in_10() {
    let sc = scenario("icmp-mix").unwrap();
    let mut count = std::collections::BTreeMap::new();
    for n in 0..sc.flows() {
        *count.entry(sc.flow(n).proto).or_insert(0u64) += 1;
    }
    let want: std::collections::BTreeMap<u8, u64> = [
        (proto::ICMPV6, 20_000),
        (proto::UDP, 50_000),
        (proto::TCP, 30_000),
    ]
    .into();
    assert_eq!(count, want);
}

#[test]
fn tcp_cps_capture_holds_each_connection_on_both_sides() {
    use etherparse::TcpHeader;
    let sc = scenario("tcp-cps").unwrap();
    let mut out = Vec::new();
    let n = sc.write_pcap_capped(&mut out, Some(32)).unwrap();
    let frames = pcap::read_frames(&out).unwrap();
    assert_eq!((n, frames.len()), (32, 32));
    let f = sc.flow(0);
    let tcp_of = |frame: &[u8]| -> (TcpHeader, bool) {
        let p = SlicedPacket::from_ethernet(frame).unwrap();
        let v4 = match &p.net {
            Some(NetSlice::Ipv4(ip)) => {
                let h = ip.header().to_header();
                assert_eq!(h.header_checksum, h.calc_header_checksum());
                let Some(TransportSlice::Tcp(t)) = &p.transport else {
                    panic!("not TCP")
                };
                let th = t.to_header();
                assert_eq!(th.checksum, th.calc_checksum_ipv4(&h, t.payload()).unwrap());
                let (s, d) = (h.source, h.destination);
                let pool = POOL4.octets();
                let server = SERVER4.octets();
                assert!((s, d) == (pool, server) || (s, d) == (server, pool));
                true
            }
            Some(NetSlice::Ipv6(ip)) => {
                let h = ip.header().to_header();
                let Some(TransportSlice::Tcp(t)) = &p.transport else {
                    panic!("not TCP")
                };
                let th = t.to_header();
                assert_eq!(th.checksum, th.calc_checksum_ipv6(&h, t.payload()).unwrap());
                let (s, d) = (h.source_addr(), h.destination_addr());
                assert!((s, d) == (f.src, f.dst) || (s, d) == (f.dst, f.src));
                false
            }
            _ => panic!("not IP"),
        };
        let Some(TransportSlice::Tcp(t)) = &p.transport else {
            panic!("not TCP")
        };
        (t.to_header(), v4)
    };
    let mut flags = Vec::new();
    for (i, fr) in frames[..16].iter().enumerate() {
        let (th, v4) = tcp_of(fr);
        // Client segments: sent as IPv6, seen as IPv4; server ones the reverse.
        let client = [0, 1, 4, 5, 6, 7, 10, 11, 14, 15].contains(&i);
        assert_eq!(v4, (i % 2 == 1) == client, "frame {i}");
        flags.push((th.syn, th.ack, th.fin, th.psh));
    }
    let expect = [
        (true, false, false, false),
        (true, true, false, false),
        (false, true, false, false),
        (false, true, false, true),
        (false, true, false, true),
        (false, true, true, false),
        (false, true, true, false),
        (false, true, false, false),
    ];
    let got: Vec<_> = flags
        .chunks(2)
        .map(|c| {
            assert_eq!(c[0], c[1], "translation keeps the flags");
            c[0]
        })
        .collect();
    assert_eq!(got, expect);
    // The second flow starts at frame 16 with its own SYN.
    let (th, _) = tcp_of(&frames[16]);
    assert!(th.syn && th.source_port == sc.flow(1).src_port);
}

#[test]
fn max_frames_caps_every_capture() {
    for sc in SCENARIOS {
        let mut out = Vec::new();
        let n = sc.write_pcap_capped(&mut out, Some(5)).unwrap();
        assert_eq!(
            (n, pcap::read_frames(&out).unwrap().len()),
            (5, 5),
            "{}",
            sc.name
        );
    }
    let sc = scenario("udp64-1k").unwrap();
    let mut out = Vec::new();
    assert_eq!(sc.write_pcap_capped(&mut out, Some(5_000)).unwrap(), 1_000);
}

#[test]
fn emitted_profiles_name_the_scenarios_addresses() {
    for sc in SCENARIOS {
        let (dst, src0) = (sc.destination().to_string(), sc.subscriber(0).to_string());
        let stl = sc.trex_profile();
        assert!(
            stl.contains(&dst) && stl.contains(&src0),
            "{}: {stl}",
            sc.name
        );
        let lua = sc.pktgen_lua();
        assert!(
            lua.contains(&dst) && lua.contains(&src0),
            "{}: {lua}",
            sc.name
        );
        match sc.astf_profile() {
            Some(astf) => {
                for want in [
                    "2001:db8:64::",
                    "2001:db8:100::",
                    "203.0.113.2",
                    "ipv6.enable = 1",
                ] {
                    assert!(astf.contains(want), "{}: no {want}: {astf}", sc.name);
                }
            }
            None => assert_eq!(sc.traffic, Traffic::IcmpMix, "{}", sc.name),
        }
        if sc.bidirectional && sc.traffic != Traffic::Tcp {
            assert!(
                stl.contains("direction == 1") && stl.contains(&POOL4.to_string()),
                "{}",
                sc.name
            );
        }
        if sc.ports == Ports::Rfc4814 {
            assert!(
                stl.contains("min_value=1024, max_value=65535"),
                "{}",
                sc.name
            );
            assert!(lua.contains("RFC 4814"), "{}", sc.name);
        }
    }
}

#[test]
fn emit_all_writes_every_artifact() {
    let dir = std::env::temp_dir().join(format!("plat-scen-{}", std::process::id()));
    let arts = emit::all(&dir, Some(3)).unwrap();
    // Four files a scenario, three for icmp-mix (no ASTF).
    assert_eq!(arts.len(), 4 * SCENARIOS.len() - 1);
    for a in &arts {
        assert!(
            std::fs::metadata(&a.path).unwrap().len() > 0,
            "{}",
            a.path.display()
        );
    }
    assert!(arts.iter().filter(|a| a.frames == Some(3)).count() == SCENARIOS.len());
    std::fs::remove_dir_all(&dir).unwrap();
}
