//! The prefixes a NAT64 writes IPv4 addresses under: RFC 6052 3.1 (the
//! Well-Known Prefix carries no non-global address, in either direction)
//! and RFC 8683 4.5 (several prefixes, each session under its own).

use super::*;
use crate::addr::Prefixes;

/// A NAT64 on the Well-Known Prefix 64:ff9b::/96 with `filtering`.
fn nat64_wkp(filtering: Filtering) -> Nat64 {
    let cfg = NatConfig {
        filtering,
        ..NatConfig::default()
    };
    Nat64::new(
        shard_with(cfg),
        Prefix6052::well_known(),
        XlatConfig::default(),
    )
}

/// A NAT64 with the Well-Known Prefix first and the lab's
/// network-specific prefix second, EIF.
fn nat64_two_prefixes() -> Nat64 {
    let cfg = NatConfig {
        filtering: Filtering::Eif,
        ..NatConfig::default()
    };
    let prefixes = Prefixes::new(vec![Prefix6052::well_known(), nsp()]).unwrap();
    Nat64::with_prefixes(shard_with(cfg), prefixes, XlatConfig::default())
}

#[test]
fn rfc8683_4_5_each_session_answers_under_the_prefix_its_subscriber_used() {
    let mut n = nat64_two_prefixes();
    let wkp = Prefix6052::well_known();
    let nsp = nsp();
    // A global host (the packets stay in memory) reached through both.
    let server = Ipv4Addr::new(9, 9, 9, 9);
    let mut pools = Vec::new();
    for (prefix, sport) in [(wkp, 5000u16), (nsp, 5001)] {
        let out = through(
            &mut n,
            udp6(CLIENT, prefix.embed(server), sport, 53, b"q"),
            1,
            true,
        );
        let (ip, t) = check_v4(&out);
        assert_eq!(ip.header().destination_addr(), server);
        let Some(TransportSlice::Udp(u)) = t else {
            panic!("not UDP")
        };
        pools.push((prefix, ip.header().source_addr(), u.source_port(), sport));
    }
    // Each reply comes back from the server embedded in the prefix its
    // session was made under.
    for (prefix, pool, port, sport) in pools {
        let out = through(&mut n, udp4(server, pool, 53, port, b"a"), 2, false);
        let (ip, t) = check_v6(&out);
        assert_eq!(ip.header().source_addr(), prefix.embed(server), "{prefix}");
        let Some(TransportSlice::Udp(u)) = t else {
            panic!("not UDP")
        };
        assert_eq!(u.destination_port(), sport);
        // An ICMP error about the session's packet: under the same prefix,
        // outside and in the quoted packet.
        let quoted = udp4(pool, server, port, 53, b"q");
        let e = port_unreachable4(server, pool, &quoted);
        let out = through(&mut n, e, 3, false);
        let (ip, t) = check_v6(&out);
        assert_eq!(ip.header().source_addr(), prefix.embed(server));
        let Some(TransportSlice::Icmpv6(i)) = t else {
            panic!("not ICMPv6")
        };
        let inner = Ipv6Slice::from_slice(i.payload()).expect("inner IPv6");
        assert_eq!(inner.header().destination_addr(), prefix.embed(server));
    }
    // An address in neither prefix is not translated.
    let other: Ipv6Addr = "2001:db8:65::909:909".parse().unwrap();
    let (mut buf, s, l) = framed(udp6(CLIENT, other, 5002, 53, b"q"));
    let v = n.from_v6(
        Packet::new(&mut buf, s, l),
        Time::from_secs(4),
        &mut Vec::new(),
    );
    assert!(
        matches!(v, Verdict::Drop(_) | Verdict::Reply { .. }),
        "{v:?}"
    );
}

#[test]
fn rfc8683_4_5_a_hairpin_arrives_under_the_prefix_the_sender_used() {
    let mut n = nat64_two_prefixes();
    let nsp = nsp();
    // Client 2's mapping (made through the Well-Known Prefix); client 1
    // reaches it through the network-specific one.
    let out = through(
        &mut n,
        udp6(
            CLIENT2,
            Prefix6052::well_known().embed(Ipv4Addr::new(9, 9, 9, 9)),
            6000,
            53,
            b"q",
        ),
        1,
        true,
    );
    let (ip, t) = check_v4(&out);
    let pool2 = ip.header().source_addr();
    let Some(TransportSlice::Udp(u)) = t else {
        panic!("not UDP")
    };
    let port2 = u.source_port();
    let (mut buf, s, l) = framed(udp6(CLIENT, nsp.embed(pool2), 5002, port2, b"hairpin"));
    let Verdict::HairpinReturn { l3_start, l3_len } = n.from_v6(
        Packet::new(&mut buf, s, l),
        Time::from_secs(2),
        &mut Vec::new(),
    ) else {
        panic!("not hairpinned")
    };
    let (ip, _) = check_v6(&buf[l3_start..l3_start + l3_len]);
    let from = ip.header().source_addr();
    assert!(
        nsp.contains(&from.octets()),
        "client 1 appears under the prefix it used: {from}"
    );
}

#[test]
fn rfc6052_3_1_wkp_never_carries_a_non_global_ipv4_source_towards_ipv6() {
    // Global addresses stand in for internet hosts here; the packets never
    // leave memory.
    let global = Ipv4Addr::new(9, 9, 9, 9);
    let private = Ipv4Addr::new(10, 1, 2, 3);
    let mut n = nat64_wkp(Filtering::Eif);
    let dst = Prefix6052::well_known().embed(global);
    let out = through(&mut n, udp6(CLIENT, dst, 5000, 53, b"q"), 1, true);
    let (ip, t) = check_v4(&out);
    let pool = ip.header().source_addr();
    let Some(TransportSlice::Udp(u)) = t else {
        panic!("not UDP")
    };
    let port = u.source_port();
    // Under EIF any IPv4 host may reach the mapping, but a non-global one
    // cannot be written under the Well-Known Prefix: dropped, counted.
    let wkp_drop = Verdict::Drop(Reason::Xlat(crate::xlat::DropReason::WkpNonGlobal));
    let (mut buf, s, l) = framed(udp4(private, pool, 53, port, b"a"));
    let v = n.from_v4(
        Packet::new(&mut buf, s, l),
        Time::from_secs(2),
        &mut Vec::new(),
    );
    assert_eq!(v, wkp_drop);
    // The same from a global host goes through, embedded.
    let other = Ipv4Addr::new(9, 9, 9, 10);
    let out = through(&mut n, udp4(other, pool, 53, port, b"a"), 2, false);
    let (ip, _) = check_v6(&out);
    assert_eq!(
        ip.header().source_addr(),
        Prefix6052::well_known().embed(other)
    );
    // An ICMPv4 error from a router with a private address, quoting the
    // subscriber's datagram: its source cannot be represented either.
    let quoted = udp4(pool, global, port, 53, b"q");
    let mut e = Vec::new();
    PacketBuilder::ipv4(private.octets(), pool.octets(), 64)
        .icmpv4(etherparse::Icmpv4Type::TimeExceeded(
            etherparse::icmpv4::TimeExceededCode::TtlExceededInTransit,
        ))
        .write(&mut e, &quoted)
        .unwrap();
    let (mut buf, s, l) = framed(e);
    let v = n.from_v4(
        Packet::new(&mut buf, s, l),
        Time::from_secs(3),
        &mut Vec::new(),
    );
    assert_eq!(v, wkp_drop);
    // And towards IPv4 the rule holds as before.
    let (mut buf, s, l) = framed(udp6(
        CLIENT,
        Prefix6052::well_known().embed(private),
        5001,
        53,
        b"q",
    ));
    let v = n.from_v6(
        Packet::new(&mut buf, s, l),
        Time::from_secs(3),
        &mut Vec::new(),
    );
    assert_eq!(v, wkp_drop);
}
