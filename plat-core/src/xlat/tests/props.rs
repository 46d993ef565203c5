//! Property tests: translation round trips, and arbitrary bytes never
//! panic any parser or translator.

use super::super::*;
use super::{check_v4, check_v6, nsp, ROOM};
use crate::wire;
use etherparse::PacketBuilder;
use proptest::prelude::*;
use std::net::Ipv4Addr;

#[derive(Debug, Clone)]
enum L4 {
    Udp(u16, u16),
    Tcp(u16, u16, u32, u8),
    Echo(bool, u16, u16),
}

fn l4() -> impl Strategy<Value = L4> {
    prop_oneof![
        (any::<u16>(), any::<u16>()).prop_map(|(a, b)| L4::Udp(a, b)),
        (any::<u16>(), any::<u16>(), any::<u32>(), any::<u8>())
            .prop_map(|(a, b, s, f)| L4::Tcp(a, b, s, f)),
        (any::<bool>(), any::<u16>(), any::<u16>()).prop_map(|(r, i, s)| L4::Echo(r, i, s)),
    ]
}

/// Global unicast IPv4 addresses (so the Well-Known Prefix would do too).
fn v4addr() -> impl Strategy<Value = Ipv4Addr> {
    (1u8..=223, any::<u8>(), any::<u8>(), 1u8..=254)
        .prop_map(|(a, b, c, d)| Ipv4Addr::new(if a == 127 || a == 10 { 11 } else { a }, b, c, d))
}

fn build_v6(src: Ipv4Addr, dst: Ipv4Addr, hop: u8, l4: &L4, payload: &[u8]) -> Vec<u8> {
    let p = nsp();
    let b = PacketBuilder::ipv6(p.embed(src).octets(), p.embed(dst).octets(), hop);
    let mut v = Vec::new();
    match *l4 {
        L4::Udp(s, d) => b.udp(s, d).write(&mut v, payload),
        L4::Tcp(s, d, seq, fl) => {
            let mut t = b.tcp(s, d, seq, 4096);
            if fl & 1 != 0 {
                t = t.syn();
            }
            if fl & 2 != 0 {
                t = t.ack(seq.wrapping_add(1));
            }
            if fl & 4 != 0 {
                t = t.fin();
            }
            t.write(&mut v, payload)
        }
        L4::Echo(true, id, seq) => b.icmpv6_echo_request(id, seq).write(&mut v, payload),
        L4::Echo(false, id, seq) => b.icmpv6_echo_reply(id, seq).write(&mut v, payload),
    }
    .unwrap();
    v
}

fn build_v4(src: Ipv4Addr, dst: Ipv4Addr, ttl: u8, l4: &L4, payload: &[u8]) -> Vec<u8> {
    let b = PacketBuilder::ipv4(src.octets(), dst.octets(), ttl);
    let mut v = Vec::new();
    match *l4 {
        L4::Udp(s, d) => b.udp(s, d).write(&mut v, payload),
        L4::Tcp(s, d, seq, fl) => {
            let mut t = b.tcp(s, d, seq, 4096);
            if fl & 1 != 0 {
                t = t.syn();
            }
            if fl & 2 != 0 {
                t = t.ack(seq.wrapping_add(1));
            }
            t.write(&mut v, payload)
        }
        L4::Echo(true, id, seq) => b.icmpv4_echo_request(id, seq).write(&mut v, payload),
        L4::Echo(false, id, seq) => b.icmpv4_echo_reply(id, seq).write(&mut v, payload),
    }
    .unwrap();
    v
}

/// Offset of the transport checksum in the L4 header.
fn csum_at(l4: &L4) -> usize {
    match l4 {
        L4::Udp(..) => 6,
        L4::Tcp(..) => 16,
        L4::Echo(..) => 2,
    }
}

fn translate6(p: &[u8]) -> Vec<u8> {
    let flow = FlowV6::parse(p).unwrap();
    let map = stateless::v6_to_v4(&flow, &nsp(), 0x1111).unwrap();
    let mut buf = vec![0u8; ROOM];
    buf.extend_from_slice(p);
    let o = v6_to_v4(
        &mut buf,
        ROOM,
        p.len(),
        &map,
        &XlatConfig::default(),
        &mut Vec::new(),
    );
    let Outcome::Forward { l3_start, l3_len } = o else {
        panic!("{o:?}")
    };
    buf[l3_start..l3_start + l3_len].to_vec()
}

fn translate4(p: &[u8]) -> Vec<u8> {
    let flow = FlowV4::parse(p).unwrap();
    let map = stateless::v4_to_v6(&flow, &nsp()).unwrap();
    let mut buf = vec![0u8; ROOM];
    buf.extend_from_slice(p);
    let o = v4_to_v6(
        &mut buf,
        ROOM,
        p.len(),
        &map,
        &XlatConfig::default(),
        &mut Vec::new(),
    );
    let Outcome::Forward { l3_start, l3_len } = o else {
        panic!("{o:?}")
    };
    buf[l3_start..l3_start + l3_len].to_vec()
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    /// IPv6 -> IPv4 -> IPv6 gives the packet back but for what RFC 7915
    /// changes: the hop limit (decremented twice) and the flow label (zero).
    #[test]
    fn rfc7915_round_trip_v6_v4_v6(
        src in v4addr(), dst in v4addr(), hop in 3u8..=255, tc in any::<u8>(),
        flow in 0u32..(1 << 20), l4 in l4(), payload in proptest::collection::vec(any::<u8>(), 0..1300),
    ) {
        let mut orig = build_v6(src, dst, hop, &l4, &payload);
        wire::ipv6::Packet::new_unchecked(&mut orig[..]).set_ver_tc_flow(tc, flow);
        let v4 = translate6(&orig);
        check_v4(&v4);
        let back = translate4(&v4);
        check_v6(&back);
        let mut want = orig.clone();
        let mut w = wire::ipv6::Packet::new_unchecked(&mut want[..]);
        w.set_hop_limit(hop - 2);
        w.set_ver_tc_flow(tc, 0);
        // Ones' complement has two zeros: compare the checksum by validity
        // (check_v6 above), everything else byte for byte.
        let at = 40 + csum_at(&l4);
        let mut got = back.clone();
        got[at..at + 2].copy_from_slice(&want[at..at + 2]);
        prop_assert_eq!(got, want);
    }

    /// IPv4 -> IPv6 -> IPv4 likewise: TTL decremented twice; ID, DF and the
    /// header checksum are the translator's to choose (RFC 7915 5.1).
    #[test]
    fn rfc7915_round_trip_v4_v6_v4(
        src in v4addr(), dst in v4addr(), ttl in 3u8..=255, l4 in l4(),
        payload in proptest::collection::vec(any::<u8>(), 0..1200),
    ) {
        let orig = build_v4(src, dst, ttl, &l4, &payload);
        let v6 = translate4(&orig);
        check_v6(&v6);
        let back = translate6(&v6);
        check_v4(&back);
        let norm = |p: &[u8]| {
            let mut p = p.to_vec();
            p[4..8].fill(0); // ID, flags
            p[8] = 0; // TTL
            p[10..12].fill(0); // header checksum
            let at = 20 + csum_at(&l4);
            p[at..at + 2].fill(0);
            p
        };
        prop_assert_eq!(back[8], ttl - 2);
        prop_assert_eq!(norm(&back), norm(&orig));
    }

    /// ICMPv6 errors quoting a packet survive IPv6 -> IPv4 -> IPv6 for the
    /// type/codes whose mapping is one to one (RFC 7915 4.2 / 5.2): outer
    /// hop limit minus two, the quoted packet's own hop limit untouched.
    #[test]
    fn rfc7915_4_3_5_3_error_round_trip(
        kind in 0usize..6, mtu in 1280u32..=1500, hop in 3u8..=255, inner_hop in any::<u8>(),
        sport in any::<u16>(), dport in any::<u16>(), tc in any::<u8>(),
        payload in proptest::collection::vec(any::<u8>(), 0..400),
    ) {
        let (t, c, word) = [(1u8, 0u8, 0u32), (1, 1, 0), (1, 4, 0), (3, 0, 0), (3, 1, 0), (2, 0, mtu)][kind];
        let p = nsp();
        let (h, r) = (p.embed(Ipv4Addr::new(192, 0, 2, 1)), p.embed(Ipv4Addr::new(198, 51, 100, 7)));
        // The packet R sent to H, which H's side answers with the error.
        let mut quoted = Vec::new();
        PacketBuilder::ipv6(r.octets(), h.octets(), inner_hop).udp(sport, dport).write(&mut quoted, &payload).unwrap();
        wire::ipv6::Packet::new_unchecked(&mut quoted[..]).set_ver_tc_flow(tc, 0);
        let mut msg = vec![t, c, 0, 0];
        msg.extend_from_slice(&word.to_be_bytes());
        msg.extend_from_slice(&quoted);
        wire::icmpv6::Packet::new_unchecked(&mut msg[..]).fill_checksum(&h.octets(), &r.octets());
        let mut orig = vec![0u8; 40];
        wire::ipv6::Repr {
            src: h, dst: r, next_header: wire::proto::ICMPV6, hop_limit: hop,
            traffic_class: tc, flow_label: 0, payload_len: msg.len(),
        }.emit(&mut orig);
        orig.extend_from_slice(&msg);

        let v4 = translate6(&orig);
        check_v4(&v4);
        let back = translate4(&v4);
        check_v6(&back);
        let mut want = orig.clone();
        wire::ipv6::Packet::new_unchecked(&mut want[..]).set_hop_limit(hop - 2);
        // The quoted UDP checksum may come back as the other zero.
        let at = 40 + 8 + 40 + 6;
        let mut got = back.clone();
        got[at..at + 2].copy_from_slice(&want[at..at + 2]);
        got[42..44].copy_from_slice(&want[42..44]);
        prop_assert_eq!(got, want);
    }

    /// The straight-line fast paths, when they take a packet, write exactly
    /// what the general paths write.
    #[test]
    fn fast_paths_agree_with_general_paths(
        v6 in any::<bool>(), tcp in any::<bool>(), hop in 0u8..4, len in 0usize..1400,
        mtu in 1200u16..1600, flags in any::<u8>(), tc in any::<u8>(),
    ) {
        use super::{tcp4, tcp6, udp4, udp6, set_v4, map4, map6};
        let payload = vec![0x33u8; len];
        let mut p = match (v6, tcp) {
            (true, true) => tcp6(hop, 1, 2, &payload),
            (true, false) => udp6(hop, 1, 2, &payload),
            (false, true) => tcp4(hop, 1, 2, &payload),
            (false, false) => udp4(hop, 1, 2, &payload),
        };
        if v6 {
            wire::ipv6::Packet::new_unchecked(&mut p[..]).set_ver_tc_flow(tc, 1);
        } else {
            set_v4(&mut p, |h| h.dont_fragment = flags & 64 != 0);
        }
        let cfg = XlatConfig {
            ipv4_mtu: mtu,
            ipv6_mtu: mtu.max(1280),
            df_over_1260: flags & 1 != 0,
            copy_traffic_class: flags & 2 != 0,
            verify_ipv4_checksum: flags & 4 != 0,
            ..XlatConfig::default()
        };
        let mut a = vec![0u8; ROOM];
        a.extend_from_slice(&p);
        let mut b = a.clone();
        let mut sink: Vec<Vec<u8>> = Vec::new();
        let (fast, slow) = if v6 {
            let m = map6(&p);
            (
                super::super::straight::<super::super::FastV6>(&mut a, ROOM, p.len(), &m, &cfg),
                super::super::v6_to_v4::translate(&mut b, ROOM, p.len(), &m, &cfg, &mut sink),
            )
        } else {
            let m = map4(&p);
            (
                super::super::straight::<super::super::FastV4>(&mut a, ROOM, p.len(), &m, &cfg),
                super::super::v4_to_v6::translate(&mut b, ROOM, p.len(), &m, &cfg, &mut sink),
            )
        };
        if let Some(o) = fast {
            prop_assert_eq!(Ok(o), slow);
            prop_assert_eq!(a, b);
        }
    }

    /// Arbitrary bytes, headroom and settings never panic.
    #[test]
    fn random_bytes_never_panic(
        bytes in proptest::collection::vec(any::<u8>(), 0..400),
        room in 0usize..64, v4mtu in 68u16..2000, v6mtu in 1280u16..2000,
        flags in any::<u8>(),
    ) {
        fuzz_all(&bytes, room, v4mtu, v6mtu, flags);
    }

    /// Valid packets with a few bytes changed reach deeper paths.
    #[test]
    fn mutated_packets_never_panic(
        src in v4addr(), dst in v4addr(), l4 in l4(),
        payload in proptest::collection::vec(any::<u8>(), 0..200),
        edits in proptest::collection::vec((any::<u16>(), any::<u8>()), 1..6),
        v6 in any::<bool>(), room in 0usize..64, flags in any::<u8>(),
    ) {
        let mut p = if v6 { build_v6(src, dst, 64, &l4, &payload) } else { build_v4(src, dst, 64, &l4, &payload) };
        for (at, b) in edits {
            let n = p.len();
            p[at as usize % n] = b;
        }
        fuzz_all(&p, room, 576, 1280, flags);
    }
}

/// Runs every parser and both translators over `bytes`.
pub(crate) fn fuzz_all(bytes: &[u8], room: usize, v4mtu: u16, v6mtu: u16, flags: u8) {
    let cfg = XlatConfig {
        ipv4_mtu: v4mtu,
        ipv6_mtu: v6mtu,
        lowest_ipv6_mtu: 1280,
        df_over_1260: flags & 1 != 0,
        compute_udp_zero_checksum: flags & 2 != 0,
        drop_udp_zero_checksum_fragments: flags & 4 != 0,
        send_icmp_errors: flags & 8 != 0,
        verify_ipv4_checksum: flags & 16 != 0,
        ..XlatConfig::default()
    };
    let _ = FlowV6::parse(bytes);
    let _ = FlowV4::parse(bytes);
    let _ = wire::ethernet::Packet::new_checked(bytes).map(|p| (p.ethertype(), p.payload().len()));
    let _ = wire::arp::Packet::new_checked(bytes).map(|p| wire::arp::Repr::parse(&p));
    let _ = wire::ndp::Packet::new_checked(bytes).map(|p| wire::ndp::Repr::parse(&p));
    let _ = wire::ipv4::Packet::new_checked(bytes)
        .map(|p| (p.verify_checksum(), p.has_unexpired_source_route()));
    let _ = wire::ipv6_ext::walk(bytes, bytes.first().copied().unwrap_or(0));
    let t4 = Tuple4 {
        src: Ipv4Addr::new(192, 0, 2, 1),
        dst: Ipv4Addr::new(198, 51, 100, 1),
        src_port: 1,
        dst_port: 2,
    };
    let t6 = Tuple6 {
        src: nsp().embed(t4.src),
        dst: nsp().embed(t4.dst),
        src_port: 3,
        dst_port: 4,
    };
    let mut sink: Vec<Vec<u8>> = Vec::new();
    let mut buf = vec![0u8; room];
    buf.extend_from_slice(bytes);
    let o = v6_to_v4(
        &mut buf,
        room,
        bytes.len(),
        &V6ToV4::new(t4, 9),
        &cfg,
        &mut sink,
    );
    check_outcome(&buf, o);
    let mut buf = vec![0u8; room];
    buf.extend_from_slice(bytes);
    let o = v4_to_v6(
        &mut buf,
        room,
        bytes.len(),
        &V4ToV6::new(t6),
        &cfg,
        &mut sink,
    );
    check_outcome(&buf, o);
}

fn check_outcome(buf: &[u8], o: Outcome) {
    if let Outcome::Forward { l3_start, l3_len }
    | Outcome::Reply {
        l3_start, l3_len, ..
    } = o
    {
        assert!(l3_start + l3_len <= buf.len());
    }
}
