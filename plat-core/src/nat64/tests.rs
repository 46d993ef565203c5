//! Tests of the stateful NAT64: RFC 6146 rules end to end, and the
//! straight lines against the general paths.

use super::classify::{Classified, V4, V6};
use super::*;
use crate::nat::{Filtering, NatConfig, Pool4Entry, PortShare, Tuple6 as NatTuple6};
use etherparse::{
    IpNumber, Ipv4Slice, Ipv6Slice, PacketBuilder, PacketBuilderStep, SlicedPacket, TcpHeader,
    TransportSlice,
};
use std::net::{Ipv4Addr, Ipv6Addr};

/// RFC 6146 3.4: fragments.
mod fragments;
/// RFC 6052 3.1 and RFC 8683 4.5: which prefix a packet is written under.
mod prefixes;

const HEAD: usize = 64;
const CLIENT: &str = "2001:db8:6::2";
const CLIENT2: &str = "2001:db8:6::3";
const SERVER4: Ipv4Addr = Ipv4Addr::new(203, 0, 113, 2);

fn nat64(filtering: Filtering) -> Nat64 {
    nat64_with(NatConfig {
        filtering,
        ..NatConfig::default()
    })
}

/// A shard with `cfg`, pool4 198.51.100.0/30 and a fixed table key.
fn shard_with(cfg: NatConfig) -> Shard {
    let mut shard = Shard::new(
        cfg,
        PortShare::All,
        crate::nat::HashKey::new(0x5eed_0f91_a7c3),
    )
    .unwrap();
    shard
        .add_pool4(Pool4Entry::new(Ipv4Addr::new(198, 51, 100, 0), 30))
        .unwrap();
    shard
}

/// The lab's network-specific prefix 2001:db8:64::/96.
fn nsp() -> Prefix6052 {
    Prefix6052::new("2001:db8:64::".parse().unwrap(), 96).unwrap()
}

/// A NAT64 with `cfg`, pool4 198.51.100.0/30, prefix 2001:db8:64::/96
/// and a fixed table key.
fn nat64_with(cfg: NatConfig) -> Nat64 {
    Nat64::new(shard_with(cfg), nsp(), XlatConfig::default())
}

fn server6() -> Ipv6Addr {
    "2001:db8:64::cb00:7102".parse().unwrap()
}

/// An IP packet (no Ethernet) in a buffer with headroom.
fn framed(ip: Vec<u8>) -> (Vec<u8>, usize, usize) {
    let mut buf = vec![0u8; HEAD];
    let len = ip.len();
    buf.extend(ip);
    buf.extend([0u8; 64]);
    (buf, HEAD, len)
}

fn udp6(src: &str, dst: Ipv6Addr, sport: u16, dport: u16, payload: &[u8]) -> Vec<u8> {
    let mut v = Vec::new();
    let src: Ipv6Addr = src.parse().unwrap();
    PacketBuilder::ipv6(src.octets(), dst.octets(), 64)
        .udp(sport, dport)
        .write(&mut v, payload)
        .unwrap();
    v
}

fn udp4(src: Ipv4Addr, dst: Ipv4Addr, sport: u16, dport: u16, payload: &[u8]) -> Vec<u8> {
    let mut v = Vec::new();
    PacketBuilder::ipv4(src.octets(), dst.octets(), 64)
        .udp(sport, dport)
        .write(&mut v, payload)
        .unwrap();
    v
}

fn forwarded(v: Verdict) -> (usize, usize) {
    match v {
        Verdict::Forward { l3_start, l3_len } => (l3_start, l3_len),
        other => panic!("not forwarded: {other:?}"),
    }
}

/// Parses with etherparse and checks every checksum.
fn check_v4(b: &[u8]) -> (Ipv4Slice<'_>, Option<TransportSlice<'_>>) {
    let p = SlicedPacket::from_ip(b).expect("valid IPv4");
    let Some(etherparse::NetSlice::Ipv4(ip)) = p.net.clone() else {
        panic!("not IPv4")
    };
    let h = ip.header().to_header();
    assert_eq!(h.header_checksum, h.calc_header_checksum());
    if let Some(TransportSlice::Udp(u)) = &p.transport {
        let uh = u.to_header();
        assert_eq!(
            uh.checksum,
            uh.calc_checksum_ipv4(&h, u.payload()).unwrap(),
            "UDP checksum"
        );
    }
    (ip, p.transport)
}

fn check_v6(b: &[u8]) -> (Ipv6Slice<'_>, Option<TransportSlice<'_>>) {
    let p = SlicedPacket::from_ip(b).expect("valid IPv6");
    let Some(etherparse::NetSlice::Ipv6(ip)) = p.net.clone() else {
        panic!("not IPv6")
    };
    let h = ip.header().to_header();
    match &p.transport {
        Some(TransportSlice::Udp(u)) => {
            let uh = u.to_header();
            assert_eq!(
                uh.checksum,
                uh.calc_checksum_ipv6(&h, u.payload()).unwrap(),
                "UDP checksum"
            );
        }
        Some(TransportSlice::Icmpv6(i)) => {
            let ih = i.header();
            assert_eq!(
                ih.checksum,
                ih.icmp_type
                    .calc_checksum(h.source, h.destination, i.payload())
                    .unwrap()
            );
        }
        _ => {}
    }
    (ip, p.transport)
}

/// `ip` through `from_v6` (or `from_v4`) at second `secs`: the packet
/// that was forwarded.
fn through(n: &mut Nat64, ip: Vec<u8>, secs: u64, v6: bool) -> Vec<u8> {
    let (mut buf, s, l) = framed(ip);
    let p = Packet::new(&mut buf, s, l);
    let v = if v6 {
        n.from_v6(p, Time::from_secs(secs), &mut Vec::new())
    } else {
        n.from_v4(p, Time::from_secs(secs), &mut Vec::new())
    };
    let (s, l) = forwarded(v);
    buf[s..s + l].to_vec()
}

/// The packet an ICMPv6 Port Unreachable quotes (after checking that it
/// is one).
fn quoted_by_port_unreachable(t: Option<TransportSlice<'_>>) -> Ipv6Slice<'_> {
    let Some(TransportSlice::Icmpv6(i)) = t else {
        panic!("not ICMPv6")
    };
    assert!(matches!(
        i.icmp_type(),
        etherparse::Icmpv6Type::DestinationUnreachable(
            etherparse::icmpv6::DestUnreachableCode::Port
        )
    ));
    Ipv6Slice::from_slice(i.payload()).expect("inner IPv6")
}

/// An ICMPv4 Port Unreachable from `from` to `to`, quoting `quoted`.
fn port_unreachable4(from: Ipv4Addr, to: Ipv4Addr, quoted: &[u8]) -> Vec<u8> {
    let mut e = Vec::new();
    PacketBuilder::ipv4(from.octets(), to.octets(), 64)
        .icmpv4(etherparse::Icmpv4Type::DestinationUnreachable(
            etherparse::icmpv4::DestUnreachableHeader::Port,
        ))
        .write(&mut e, quoted)
        .unwrap();
    e
}

/// Sends a UDP packet out and returns the (pool address, port) it left
/// from.
fn out_udp(n: &mut Nat64, src: &str, sport: u16) -> (Ipv4Addr, u16) {
    let out = through(n, udp6(src, server6(), sport, 7, b"out"), 1, true);
    let (ip, t) = check_v4(&out);
    assert_eq!(ip.header().destination_addr(), SERVER4);
    let Some(TransportSlice::Udp(u)) = t else {
        panic!("not UDP")
    };
    (ip.header().source_addr(), u.source_port())
}

#[test]
fn rfc6146_3_5_1_udp_out_and_back_translated_with_valid_checksums() {
    let mut n = nat64(Filtering::Adf);
    let (pool, port) = out_udp(&mut n, CLIENT, 5000);
    assert_eq!(pool.octets()[..3], [198, 51, 100]);
    let out = through(&mut n, udp4(SERVER4, pool, 7, port, b"back"), 2, false);
    let (ip, t) = check_v6(&out);
    assert_eq!(
        ip.header().source_addr(),
        server6(),
        "source is the server, embedded"
    );
    assert_eq!(
        ip.header().destination_addr(),
        CLIENT.parse::<Ipv6Addr>().unwrap()
    );
    let Some(TransportSlice::Udp(u)) = t else {
        panic!("not UDP")
    };
    assert_eq!((u.source_port(), u.destination_port()), (7, 5000));
    assert_eq!(u.payload(), b"back");
}

#[test]
fn rfc6146_3_5_3_icmp_echo_identifier_is_mapped_both_ways() {
    let mut n = nat64(Filtering::Adf);
    let client: Ipv6Addr = CLIENT.parse().unwrap();
    let mut v = Vec::new();
    PacketBuilder::ipv6(client.octets(), server6().octets(), 64)
        .icmpv6_echo_request(0x1234, 1)
        .write(&mut v, b"ping")
        .unwrap();
    let out = through(&mut n, v, 1, true);
    let (ip, t) = check_v4(&out);
    let Some(TransportSlice::Icmpv4(i)) = t else {
        panic!("not ICMPv4")
    };
    let etherparse::Icmpv4Type::EchoRequest(e) = i.icmp_type() else {
        panic!("not echo")
    };
    let (pool, id) = (ip.header().source_addr(), e.id);
    let mut r = Vec::new();
    PacketBuilder::ipv4(SERVER4.octets(), pool.octets(), 64)
        .icmpv4_echo_reply(id, 1)
        .write(&mut r, b"ping")
        .unwrap();
    let out = through(&mut n, r, 1, false);
    let (ip, t) = check_v6(&out);
    assert_eq!(ip.header().destination_addr(), client);
    let Some(TransportSlice::Icmpv6(i)) = t else {
        panic!("not ICMPv6")
    };
    assert!(
        matches!(i.icmp_type(), etherparse::Icmpv6Type::EchoReply(e) if e.id == 0x1234 && e.seq == 1),
        "{:?}",
        i.icmp_type()
    );
}

#[test]
fn rfc6146_3_5_4_icmpv4_port_unreachable_reaches_the_ipv6_client() {
    let mut n = nat64(Filtering::Adf);
    let (pool, port) = out_udp(&mut n, CLIENT, 5001);
    // The server answers the translated datagram with Port Unreachable
    // quoting it (T:t -> Z:z).
    let quoted = udp4(pool, SERVER4, port, 7, b"out");
    let e = port_unreachable4(SERVER4, pool, &quoted);
    let out = through(&mut n, e, 2, false);
    let (ip, t) = check_v6(&out);
    assert_eq!(
        ip.header().destination_addr(),
        CLIENT.parse::<Ipv6Addr>().unwrap()
    );
    // The quoted packet is the client's own datagram again.
    let inner = quoted_by_port_unreachable(t);
    assert_eq!(
        inner.header().source_addr(),
        CLIENT.parse::<Ipv6Addr>().unwrap()
    );
    assert_eq!(inner.header().destination_addr(), server6());
    assert_eq!(inner.payload().ip_number, IpNumber::UDP);
    assert_eq!(
        &inner.payload().payload[..4],
        &[0x13, 0x89, 0, 7],
        "ports 5001 -> 7"
    );
}

#[test]
fn rfc6146_3_8_hairpin_comes_back_as_ipv6_from_the_embedded_pool_address() {
    let mut n = nat64(Filtering::Eif);
    // Client 2 has a mapping (pool2:port2); client 1 sends to it.
    let (pool2, port2) = out_udp(&mut n, CLIENT2, 6000);
    let (pool1, port1) = {
        let (mut buf, s, l) = framed(udp6(
            CLIENT,
            n.prefix().embed(pool2),
            5002,
            port2,
            b"hairpin",
        ));
        match n.from_v6(
            Packet::new(&mut buf, s, l),
            Time::from_secs(3),
            &mut Vec::new(),
        ) {
            Verdict::HairpinReturn { l3_start, l3_len } => {
                let (ip, t) = check_v6(&buf[l3_start..l3_start + l3_len]);
                assert_eq!(
                    ip.header().destination_addr(),
                    CLIENT2.parse::<Ipv6Addr>().unwrap()
                );
                let src4 = n.prefix().extract(ip.header().source_addr()).unwrap();
                let Some(TransportSlice::Udp(u)) = t else {
                    panic!("not UDP")
                };
                assert_eq!(u.destination_port(), 6000);
                assert_eq!(u.payload(), b"hairpin");
                (src4, u.source_port())
            }
            other => panic!("not hairpinned: {other:?}"),
        }
    };
    assert_eq!(
        pool1.octets()[..3],
        [198, 51, 100],
        "client 1 appears as its pool address"
    );
    assert_ne!((pool1, port1), (pool2, port2));
}

#[test]
fn rfc6146_3_8_an_icmp_error_about_a_hairpinned_packet_is_hairpinned_back() {
    let mut n = nat64(Filtering::Eif);
    let client: Ipv6Addr = CLIENT.parse().unwrap();
    let client2: Ipv6Addr = CLIENT2.parse().unwrap();
    // Client 2 has a mapping; client 1's datagram to it hairpins.
    let (pool2, port2) = out_udp(&mut n, CLIENT2, 6000);
    let dst = n.prefix().embed(pool2);
    let (mut buf, s, l) = framed(udp6(CLIENT, dst, 5002, port2, b"hairpin"));
    let Verdict::HairpinReturn { l3_start, l3_len } = n.from_v6(
        Packet::new(&mut buf, s, l),
        Time::from_secs(3),
        &mut Vec::new(),
    ) else {
        panic!("not hairpinned")
    };
    let received = buf[l3_start..l3_start + l3_len].to_vec();
    let (ip, _) = check_v6(&received);
    let from = ip.header().source_addr();
    // Client 2 answers it with Port Unreachable, quoting what it got.
    let mut e = Vec::new();
    PacketBuilder::ipv6(client2.octets(), from.octets(), 64)
        .icmpv6(etherparse::Icmpv6Type::DestinationUnreachable(
            etherparse::icmpv6::DestUnreachableCode::Port,
        ))
        .write(&mut e, &received)
        .unwrap();
    let (mut buf, s, l) = framed(e);
    let Verdict::Hairpin { l3_start, l3_len } = n.from_v6(
        Packet::new(&mut buf, s, l),
        Time::from_secs(4),
        &mut Vec::new(),
    ) else {
        panic!("the error to a pool address is not hairpinned")
    };
    // The IPv4 side takes the ICMPv4 error and it reaches client 1,
    // quoting client 1's own datagram.
    let (s, l) = forwarded(n.from_v4(
        Packet::new(&mut buf, l3_start, l3_len),
        Time::from_secs(4),
        &mut Vec::new(),
    ));
    let (ip, t) = check_v6(&buf[s..s + l]);
    assert_eq!(ip.header().destination_addr(), client);
    assert_eq!(
        ip.header().source_addr(),
        dst,
        "from client 2's mapping, embedded"
    );
    let inner = quoted_by_port_unreachable(t);
    assert_eq!(inner.header().source_addr(), client);
    assert_eq!(inner.header().destination_addr(), dst);
}

#[test]
fn rfc6146_3_5_1_1_pool_exhaustion_answers_icmpv6_address_unreachable() {
    let cfg = NatConfig {
        limits: crate::nat::Limits {
            sessions: 1,
            ..Default::default()
        },
        ..NatConfig::default()
    };
    let mut n = nat64_with(cfg);
    out_udp(&mut n, CLIENT, 5003);
    let (mut buf, s, l) = framed(udp6(CLIENT, server6(), 5004, 7, b"no room"));
    match n.from_v6(
        Packet::new(&mut buf, s, l),
        Time::from_secs(1),
        &mut Vec::new(),
    ) {
        Verdict::Reply {
            l3_start,
            l3_len,
            reason,
        } => {
            assert_eq!(reason, Reason::Nat(NatDrop::TableFull));
            let (ip, t) = check_v6(&buf[l3_start..l3_start + l3_len]);
            assert_eq!(
                ip.header().destination_addr(),
                CLIENT.parse::<Ipv6Addr>().unwrap()
            );
            let Some(TransportSlice::Icmpv6(i)) = t else {
                panic!("not ICMPv6")
            };
            assert!(matches!(
                i.icmp_type(),
                etherparse::Icmpv6Type::DestinationUnreachable(
                    etherparse::icmpv6::DestUnreachableCode::Address
                )
            ));
        }
        other => panic!("no ICMPv6 error: {other:?}"),
    }
}

#[test]
fn rfc6146_3_5_2_2_ipv4_syn_under_adf_is_held_then_rejected_with_port_unreachable() {
    let mut n = nat64(Filtering::Adf);
    let mut syn = Vec::new();
    PacketBuilder::ipv4(SERVER4.octets(), [198, 51, 100, 1], 64)
        .tcp(40000, 2000, 1, 1024)
        .syn()
        .write(&mut syn, &[])
        .unwrap();
    let (mut buf, s, l) = framed(syn.clone());
    let session = match n.from_v4(
        Packet::new(&mut buf, s, l),
        Time::from_secs(10),
        &mut Vec::new(),
    ) {
        Verdict::Hold { session } => session,
        other => panic!("not held: {other:?}"),
    };
    let mut fates = Vec::new();
    n.expire(Time::from_secs(30), 100, &mut fates);
    assert!(fates.contains(&HeldFate::Reject(session, IcmpError::V4PortUnreachable)));
    let (mut buf, s, l) = framed(syn);
    let Verdict::Reply {
        l3_start, l3_len, ..
    } = n.reject_held(&mut buf, s, l, IcmpError::V4PortUnreachable)
    else {
        panic!("no error for the held SYN")
    };
    let (ip, _) = check_v4(&buf[l3_start..l3_start + l3_len]);
    assert_eq!(ip.header().destination_addr(), SERVER4);
}

#[test]
fn other_protocols_are_counted_drops() {
    let mut n = nat64(Filtering::Adf);
    let client: Ipv6Addr = CLIENT.parse().unwrap();
    let mut v = Vec::new();
    PacketBuilder::ipv6(client.octets(), server6().octets(), 64)
        .udp(1, 2)
        .write(&mut v, b"x")
        .unwrap();
    v[6] = 132; // SCTP
    let (mut buf, s, l) = framed(v);
    assert_eq!(
        n.from_v6(
            Packet::new(&mut buf, s, l),
            Time::from_secs(1),
            &mut Vec::new()
        ),
        Verdict::Drop(Reason::Nat64(Nat64Drop::UnsupportedProtocol))
    );
}

proptest::proptest! {
    /// The daemon never panics on traffic: arbitrary bytes, and valid
    /// packets with one byte changed, through both directions and the
    /// prefetch stage.
    #[test]
    fn random_and_mutated_packets_never_panic(
        bytes in proptest::collection::vec(proptest::num::u8::ANY, 0..200),
        at in 0usize..80,
        value in proptest::num::u8::ANY,
        headroom in 0usize..64,
    ) {
        let mut n = nat64(Filtering::Eif);
        let mut valid = udp6(CLIENT, server6(), 5000, 7, b"mutate");
        let i = at % valid.len();
        valid[i] = value;
        for ip in [bytes.clone(), valid] {
            n.prefetch_v6(&[&ip]);
            n.prefetch_v4(&[&ip]);
            n.end_burst();
            let mut buf = vec![0u8; headroom];
            buf.extend_from_slice(&ip);
            let _ = n.from_v6(Packet::new(&mut buf.clone(), headroom, ip.len()), Time::from_secs(1), &mut Vec::new());
            let _ = n.from_v4(Packet::new(&mut buf, headroom, ip.len()), Time::from_secs(1), &mut Vec::new());
        }
    }
}

/// A TCP segment with `flags` (SYN, ACK acknowledging `ack`, FIN, RST)
/// and `payload`, from the builder `b`.
fn with_flags(mut b: PacketBuilderStep<TcpHeader>, flags: u8, ack: u32, payload: &[u8]) -> Vec<u8> {
    use crate::wire::tcp::flags::{ACK, FIN, RST, SYN};
    for (flag, set) in [
        (SYN, PacketBuilderStep::syn as fn(_) -> _),
        (FIN, PacketBuilderStep::fin),
        (RST, PacketBuilderStep::rst),
    ] {
        if flags & flag != 0 {
            b = set(b);
        }
    }
    if flags & ACK != 0 {
        b = b.ack(ack);
    }
    let mut v = Vec::new();
    b.write(&mut v, payload).unwrap();
    v
}

fn tcp6(src: &str, sport: u16, dport: u16, flags: u8, hop: u8) -> Vec<u8> {
    let src: Ipv6Addr = src.parse().unwrap();
    let b = PacketBuilder::ipv6(src.octets(), server6().octets(), hop).tcp(sport, dport, 1, 1000);
    with_flags(b, flags, 1, &[1, 2, 3])
}

fn tcp4(dst: Ipv4Addr, sport: u16, dport: u16, flags: u8, ttl: u8) -> Vec<u8> {
    let b = PacketBuilder::ipv4(SERVER4.octets(), dst.octets(), ttl).tcp(sport, dport, 9, 1000);
    with_flags(b, flags, 2, &[4, 5, 6])
}

proptest::proptest! {
    #![proptest_config(proptest::prelude::ProptestConfig::with_cases(48))]
    /// The established straight line and the general path are the
    /// same rules: over random TCP and UDP traffic (new flows, TCP
    /// state steps, expiring hop limits), in both directions, one
    /// translator taking every packet the general way ends with the
    /// same bytes, verdicts, sessions and sync events as one taking
    /// the straight lines where it can.
    #[test]
    fn the_established_straight_line_equals_the_general_path(
        ops in proptest::collection::vec(
            (0..2u8, 0..2u8, 0..3u16, 0..4u8, 1..4u8, 0..20u8), 1..60),
    ) {
        let cfg = NatConfig {
            event_capacity: 1024,
            sync_refresh_interval: 1,
            ..NatConfig::default()
        };
        let (mut fast, mut general) = (nat64_with(cfg), nat64_with(cfg));
        const FLAGS: [u8; 4] = [0x02, 0x10, 0x11, 0x04]; // SYN, ACK, FIN+ACK, RST
        for (k, &(back, udp, port, flags, hop, wait)) in ops.iter().enumerate() {
            let now = Time::from_secs(k as u64 * u64::from(wait));
            if back == 1 {
                // The reply to the flow: to its (T,t) if it has one,
                // else to where it would (a held SYN, a drop).
                let (p, dport) = if udp == 1 { (Proto::Udp, 53) } else { (Proto::Tcp, 443) };
                let t = NatTuple6 {
                    proto: p,
                    src: CLIENT.parse().unwrap(),
                    sport: 7000 + port,
                    dst: SERVER4,
                    dport,
                    prefix: 0,
                };
                let to = fast.shard().peek_v6(&t).map_or(
                    Endpoint4::new(Ipv4Addr::new(198, 51, 100, 1), 7000 + port),
                    |s| s.v4,
                );
                let ip = if udp == 1 {
                    let mut v = udp4(SERVER4, to.addr, dport, to.port, b"r");
                    v[8] = hop;
                    v[10..12].fill(0);
                    let c = crate::wire::checksum::finish(crate::wire::checksum::sum(&v[..20]));
                    v[10..12].copy_from_slice(&c.to_be_bytes());
                    v
                } else {
                    tcp4(to.addr, dport, to.port, FLAGS[flags as usize], hop)
                };
                let (mut a, s, l) = framed(ip);
                let mut b = a.clone();
                let va = fast.from_v4(Packet::new(&mut a, s, l), now, &mut Vec::new());
                let vb = general.general::<V4, _>(Packet::new(&mut b, s, l), None, now, &mut Vec::new());
                proptest::prop_assert_eq!(va, vb);
                proptest::prop_assert_eq!(&a, &b);
                proptest::prop_assert_eq!(fast.shard().stats(), general.shard().stats());
                let ea: Vec<_> = fast.shard_mut().drain_events().collect();
                let eb: Vec<_> = general.shard_mut().drain_events().collect();
                proptest::prop_assert_eq!(ea, eb);
                continue;
            }
            let ip = if udp == 1 {
                let mut v = udp6(CLIENT, server6(), 7000 + port, 53, b"q");
                v[7] = hop;
                v
            } else {
                tcp6(CLIENT, 7000 + port, 443, FLAGS[flags as usize], hop)
            };
            let (mut a, s, l) = framed(ip);
            let mut b = a.clone();
            let va = fast.from_v6(Packet::new(&mut a, s, l), now, &mut Vec::new());
            let vb = general.general::<V6, _>(Packet::new(&mut b, s, l), None, now, &mut Vec::new());
            proptest::prop_assert_eq!(va, vb);
            proptest::prop_assert_eq!(&a, &b);
            proptest::prop_assert_eq!(fast.shard().stats(), general.shard().stats());
            let ea: Vec<_> = fast.shard_mut().drain_events().collect();
            let eb: Vec<_> = general.shard_mut().drain_events().collect();
            proptest::prop_assert_eq!(ea, eb);
        }
        let list = |n: &Nat64| n.shard().sessions(Default::default()).collect::<Vec<_>>();
        proptest::prop_assert_eq!(list(&fast), list(&general));
    }
}

/// Handles `bufs` in `hinted`, prefetched (packet k at burst position
/// `first + k`), and copies of them in `plain`, not prefetched: the same
/// verdicts and the same bytes come out. Then ends the burst.
fn prefetched_or_not_the_same<F: Direction>(
    (hinted, plain): (&mut Nat64, &mut Nat64),
    bufs: &mut [(Vec<u8>, usize, usize)],
    first: usize,
    now: Time,
) {
    let mut copies = bufs.to_vec();
    for (k, ((b, s, l), (c, cs, cl))) in bufs.iter_mut().zip(copies.iter_mut()).enumerate() {
        // (In debug builds the lookup also checks that position
        // first + k holds this packet's classification.)
        let a = hinted.handle::<F, _>(Packet::new(b, *s, *l).at(first + k), now, &mut Vec::new());
        let p = plain.handle::<F, _>(Packet::new(c, *cs, *cl), now, &mut Vec::new());
        assert_eq!(a, p);
        let (s, l) = forwarded(a);
        assert_eq!(b[s..s + l], c[s..s + l], "same bytes out");
    }
    hinted.end_burst();
    assert!(
        F::burst(&hinted.bursts).slots().is_empty(),
        "forgotten after the burst"
    );
}

#[test]
fn prefetch_hints_change_nothing_but_the_work() {
    let (mut hinted, mut plain) = (nat64(Filtering::Adf), nat64(Filtering::Adf));
    for round in 0..3u16 {
        let mut bufs: Vec<(Vec<u8>, usize, usize)> = (0..20u16)
            .map(|i| framed(udp6(CLIENT, server6(), 7000 + i, 7, &round.to_be_bytes())))
            .collect();
        // Classifications are by burst position: position 0 holds a frame
        // that is no IPv6 packet (as a worker passes it), so packet k is
        // at position k + 1.
        let l3s: Vec<&[u8]> = std::iter::once(&[][..])
            .chain(bufs.iter().map(|(b, s, l)| &b[*s..s + l]))
            .collect();
        hinted.prefetch_v6(&l3s);
        let slots = hinted.bursts.v6.slots();
        assert_eq!(slots.len(), 21);
        assert!(slots[0].is_none());
        assert!(
            slots[1..].iter().all(Option::is_some),
            "every packet classified"
        );
        let now = Time::from_secs(u64::from(round) + 1);
        prefetched_or_not_the_same::<V6>((&mut hinted, &mut plain), &mut bufs, 1, now);
    }
}

#[test]
fn ipv4_prefetch_hints_change_nothing_but_the_work() {
    let (mut hinted, mut plain) = (nat64(Filtering::Adf), nat64(Filtering::Adf));
    let mapped: Vec<(Ipv4Addr, u16)> = (0..20u16)
        .map(|i| {
            let a = out_udp(&mut hinted, CLIENT, 7000 + i);
            assert_eq!(out_udp(&mut plain, CLIENT, 7000 + i), a);
            a
        })
        .collect();
    for round in 0..3u16 {
        let mut bufs: Vec<(Vec<u8>, usize, usize)> = mapped
            .iter()
            .map(|&(pool, port)| framed(udp4(SERVER4, pool, 7, port, &round.to_be_bytes())))
            .collect();
        let l3s: Vec<&[u8]> = bufs.iter().map(|(b, s, l)| &b[*s..s + l]).collect();
        hinted.prefetch_v4(&l3s);
        let named = |c: &Option<Classified<_>>| c.is_some_and(|c| c.likely.is_some());
        assert_eq!(hinted.bursts.v4.slots().len(), 20);
        assert!(hinted.bursts.v4.slots().iter().all(named), "sessions named");
        let now = Time::from_secs(u64::from(round) + 1);
        prefetched_or_not_the_same::<V4>((&mut hinted, &mut plain), &mut bufs, 0, now);
    }
}

#[test]
fn reason_indices_cover_every_counter_once() {
    let names: Vec<&str> = Reason::descs().map(|d| d.name).collect();
    assert_eq!(names.len(), Reason::COUNT);
    assert_eq!(Reason::Xlat(DropReason::Malformed).index(), 0);
    assert_eq!(Reason::Nat(NatDrop::ALL[0]).index(), DropReason::COUNT);
    let last = *Nat64Drop::ALL.last().unwrap();
    assert_eq!(Reason::Nat64(last).index(), Reason::COUNT - 1);
    let unique: std::collections::HashSet<_> = names.iter().collect();
    assert_eq!(unique.len(), names.len(), "counter names are unique");
}

#[test]
fn rfc6146_3_8_a_hairpinned_syn_the_filter_refuses_is_counted_as_filtered() {
    // Under ADF an IPv4 SYN from a host the subscriber never contacted is
    // held (RFC 6146 3.5.2.2); hairpinned from another subscriber the
    // shard holds the state (for a simultaneous open) but there is no IPv4
    // packet to keep: the filter dropped it, and it is counted so.
    for (v4_initiated_tcp, want) in [(true, NatDrop::Filtered), (false, NatDrop::V4TcpPolicy)] {
        let mut n = nat64_with(NatConfig {
            filtering: Filtering::Adf,
            v4_initiated_tcp,
            ..NatConfig::default()
        });
        let (pool2, port2) = out_udp(&mut n, CLIENT2, 6000);
        let src: Ipv6Addr = CLIENT.parse().unwrap();
        let dst = n.prefix().embed(pool2);
        let b = PacketBuilder::ipv6(src.octets(), dst.octets(), 64).tcp(5003, port2, 1, 1000);
        let (mut buf, s, l) = framed(with_flags(b, 0x02, 0, &[]));
        let v = n.from_v6(
            Packet::new(&mut buf, s, l),
            Time::from_secs(3),
            &mut Vec::new(),
        );
        let dropped = match v {
            Verdict::Drop(r) | Verdict::Reply { reason: r, .. } => r,
            other => panic!("{other:?}"),
        };
        assert_eq!(dropped, Reason::Nat(want));
    }
}

/// Found by the stateful fuzz target: an IPv6 UDP packet whose payload
/// length is 0, followed by bytes that look like ports. The fast path's
/// classification read those bytes as the transport header, the general
/// path (rightly) did not: both now stop at the payload length, as they
/// stop at an IPv4 total length.
#[test]
fn bytes_past_the_payload_length_are_not_the_transport_header() {
    let mut n = nat64(Filtering::Adf);
    let mut pkt = udp6(CLIENT, server6(), 5000, 7, b"");
    pkt[4..6].copy_from_slice(&0u16.to_be_bytes()); // payload length 0
    let mut buf = vec![0u8; HEAD];
    buf.extend_from_slice(&pkt);
    buf.extend_from_slice(&[0u8; 64]);
    let v = n.from_v6(
        Packet::new(&mut buf, HEAD, pkt.len()),
        Time::from_secs(1),
        &mut Vec::new(),
    );
    assert_eq!(
        v,
        Verdict::Drop(Reason::Xlat(crate::xlat::DropReason::L4Truncated))
    );
    // An IPv4 packet with Ethernet-style padding after it: the padding is
    // not read as ports either, and the packet goes through.
    let (pool, port) = out_udp(&mut n, CLIENT, 5001);
    let mut back = udp4(SERVER4, pool, 7, port, b"");
    back.extend_from_slice(&[0xee; 14]);
    let l = back.len();
    let (mut buf, s, _) = framed(back);
    let (s, l) = forwarded(n.from_v4(
        Packet::new(&mut buf, s, l),
        Time::from_secs(2),
        &mut Vec::new(),
    ));
    let (ip, _) = check_v6(&buf[s..s + l]);
    assert_eq!(
        ip.header().destination_addr(),
        CLIENT.parse::<Ipv6Addr>().unwrap()
    );
}
