//! Translation tests, named after the RFC 7915 rule they check. Every
//! translated packet is re-parsed by `etherparse` (an independent parser):
//! version, lengths, addresses, ports and every checksum.

use super::*;
use crate::addr::Prefix6052;
use crate::wire::{icmpv4 as w4, icmpv6 as w6, ipv4, ipv6, ipv6_ext, proto};
use etherparse::{
    Icmpv4Slice, Icmpv6Slice, IpNumber, Ipv4Header, Ipv6Extensions, Ipv6Header, PacketBuilder,
    TcpHeader, UdpHeader,
};
use std::net::{Ipv4Addr, Ipv6Addr};

/// A network-specific /96, so documentation addresses may be embedded.
pub(super) fn nsp() -> Prefix6052 {
    Prefix6052::new("2001:db8:64::".parse().unwrap(), 96).unwrap()
}

pub(super) const H4: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 1);
pub(super) const R4: Ipv4Addr = Ipv4Addr::new(198, 51, 100, 7);

pub(super) fn h6() -> Ipv6Addr {
    nsp().embed(H4)
}
pub(super) fn r6() -> Ipv6Addr {
    nsp().embed(R4)
}

// ---------------------------------------------------------------- builders

pub(super) fn udp6(hop: u8, sport: u16, dport: u16, payload: &[u8]) -> Vec<u8> {
    let mut v = Vec::new();
    PacketBuilder::ipv6(h6().octets(), r6().octets(), hop)
        .udp(sport, dport)
        .write(&mut v, payload)
        .unwrap();
    v
}

pub(super) fn tcp6(hop: u8, sport: u16, dport: u16, payload: &[u8]) -> Vec<u8> {
    let mut v = Vec::new();
    PacketBuilder::ipv6(h6().octets(), r6().octets(), hop)
        .tcp(sport, dport, 0x0102_0304, 1000)
        .syn()
        .write(&mut v, payload)
        .unwrap();
    v
}

pub(super) fn echo6(request: bool, id: u16, payload: &[u8]) -> Vec<u8> {
    let mut v = Vec::new();
    let b = PacketBuilder::ipv6(h6().octets(), r6().octets(), 64);
    let b = if request {
        b.icmpv6_echo_request(id, 7)
    } else {
        b.icmpv6_echo_reply(id, 7)
    };
    b.write(&mut v, payload).unwrap();
    v
}

pub(super) fn udp4(ttl: u8, sport: u16, dport: u16, payload: &[u8]) -> Vec<u8> {
    let mut v = Vec::new();
    PacketBuilder::ipv4(R4.octets(), H4.octets(), ttl)
        .udp(sport, dport)
        .write(&mut v, payload)
        .unwrap();
    set_v4(&mut v, |h| {
        h.dont_fragment = false;
        h.identification = 0x4321;
    });
    v
}

pub(super) fn tcp4(ttl: u8, sport: u16, dport: u16, payload: &[u8]) -> Vec<u8> {
    let mut v = Vec::new();
    PacketBuilder::ipv4(R4.octets(), H4.octets(), ttl)
        .tcp(sport, dport, 0x0a0b_0c0d, 2000)
        .ack(5)
        .write(&mut v, payload)
        .unwrap();
    v
}

pub(super) fn echo4(request: bool, id: u16, payload: &[u8]) -> Vec<u8> {
    let mut v = Vec::new();
    let b = PacketBuilder::ipv4(R4.octets(), H4.octets(), 64);
    let b = if request {
        b.icmpv4_echo_request(id, 9)
    } else {
        b.icmpv4_echo_reply(id, 9)
    };
    b.write(&mut v, payload).unwrap();
    v
}

/// Edits the IPv4 header of `p` (fields outside the pseudo-header only)
/// and fixes its checksum.
pub(super) fn set_v4(p: &mut [u8], f: impl FnOnce(&mut Ipv4Header)) {
    let (mut h, _) = Ipv4Header::from_slice(p).unwrap();
    f(&mut h);
    h.header_checksum = h.calc_header_checksum();
    let mut out = Vec::new();
    h.write(&mut out).unwrap();
    p[..out.len()].copy_from_slice(&out);
}

/// Sets traffic class and flow label of an IPv6 packet.
fn set_tc_flow(p: &mut [u8], tc: u8, flow: u32) {
    ipv6::Packet::new_unchecked(&mut p[..]).set_ver_tc_flow(tc, flow);
}

/// Inserts extension headers (raw bytes, Next Header fields already
/// chained to `last_nh`) after the IPv6 header.
fn insert_ext(p: &[u8], first_nh: u8, ext: &[u8]) -> Vec<u8> {
    let mut v = p[..40].to_vec();
    v.extend_from_slice(ext);
    v.extend_from_slice(&p[40..]);
    let pl = (v.len() - 40) as u16;
    let mut ip = ipv6::Packet::new_unchecked(&mut v[..]);
    ip.set_payload_len(pl);
    ip.set_next_header(first_nh);
    v
}

// ------------------------------------------------------------ translation

pub(super) const ROOM: usize = HEADROOM + 14;

pub(super) struct Run {
    pub outcome: Outcome,
    pub buf: Vec<u8>,
    pub sink: Vec<Vec<u8>>,
}

impl Run {
    pub fn packet(&self) -> &[u8] {
        match self.outcome {
            Outcome::Forward { l3_start, l3_len }
            | Outcome::Reply {
                l3_start, l3_len, ..
            } => &self.buf[l3_start..l3_start + l3_len],
            o => panic!("no packet: {o:?}"),
        }
    }
}

pub(super) fn map6(pkt: &[u8]) -> V6ToV4 {
    let flow = FlowV6::parse(pkt).unwrap();
    stateless::v6_to_v4(&flow, &nsp(), 0x5555).unwrap()
}

pub(super) fn map4(pkt: &[u8]) -> V4ToV6 {
    let flow = FlowV4::parse(pkt).unwrap();
    stateless::v4_to_v6(&flow, &nsp()).unwrap()
}

pub(super) fn run6_with(pkt: &[u8], map: &V6ToV4, cfg: &XlatConfig) -> Run {
    let mut buf = vec![0xeeu8; ROOM];
    buf.extend_from_slice(pkt);
    let mut sink = Vec::new();
    let outcome = v6_to_v4(&mut buf, ROOM, pkt.len(), map, cfg, &mut sink);
    Run { outcome, buf, sink }
}

pub(super) fn run6(pkt: &[u8], cfg: &XlatConfig) -> Run {
    run6_with(pkt, &map6(pkt), cfg)
}

pub(super) fn run4_with(pkt: &[u8], map: &V4ToV6, cfg: &XlatConfig) -> Run {
    let mut buf = vec![0xeeu8; ROOM];
    buf.extend_from_slice(pkt);
    let mut sink = Vec::new();
    let outcome = v4_to_v6(&mut buf, ROOM, pkt.len(), map, cfg, &mut sink);
    Run { outcome, buf, sink }
}

pub(super) fn run4(pkt: &[u8], cfg: &XlatConfig) -> Run {
    run4_with(pkt, &map4(pkt), cfg)
}

fn cfg() -> XlatConfig {
    XlatConfig::default()
}

// ------------------------------------------------------------- validation

/// Parses an IPv4 packet with etherparse and checks lengths and every
/// checksum (the transport one unless the packet is a fragment). Returns
/// the header and the IP payload.
pub(super) fn check_v4(p: &[u8]) -> (Ipv4Header, Vec<u8>) {
    let (ip, _) = Ipv4Header::from_slice(p).expect("etherparse: IPv4 header");
    assert_eq!(ip.total_len as usize, p.len(), "total length");
    assert_eq!(
        ip.header_checksum,
        ip.calc_header_checksum(),
        "IPv4 header checksum"
    );
    let l4 = &p[ip.header_len()..];
    let frag = ip.more_fragments || ip.fragment_offset.value() != 0;
    if !frag {
        check_l4_v4(&ip, l4);
    }
    (ip, l4.to_vec())
}

fn check_l4_v4(ip: &Ipv4Header, l4: &[u8]) {
    match ip.protocol {
        IpNumber::UDP => {
            let (u, pl) = UdpHeader::from_slice(l4).unwrap();
            assert_eq!(u.length as usize, l4.len(), "UDP length");
            if u.checksum != 0 {
                assert_eq!(
                    u.checksum,
                    u.calc_checksum_ipv4(ip, pl).unwrap(),
                    "UDP checksum"
                );
            }
        }
        IpNumber::TCP => {
            let (t, pl) = TcpHeader::from_slice(l4).unwrap();
            assert_eq!(
                t.checksum,
                t.calc_checksum_ipv4(ip, pl).unwrap(),
                "TCP checksum"
            );
        }
        IpNumber::ICMP => {
            // Checksummed over the raw header bytes: etherparse's typed
            // variants would drop bytes it does not model (the RFC 4884
            // length attribute).
            let s = Icmpv4Slice::from_slice(l4).unwrap();
            let raw = etherparse::Icmpv4Type::Unknown {
                type_u8: l4[0],
                code_u8: l4[1],
                bytes5to8: [l4[4], l4[5], l4[6], l4[7]],
            };
            assert_eq!(
                s.checksum(),
                raw.calc_checksum(s.payload()),
                "ICMPv4 checksum"
            );
        }
        _ => {}
    }
}

/// Fragment header fields, decoded by hand from the RFC 8200 4.5 layout:
/// etherparse 0.16 reads Fragment Offset and M from the wrong bits
/// (JulianSchmid/etherparse#150, fixed in 0.20), so it is not trusted for
/// them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Frag6 {
    pub offset: u16,
    pub more: bool,
    pub ident: u32,
}

/// Parses an IPv6 packet with etherparse and checks lengths and every
/// checksum. Returns the header, the Fragment header (if it follows the
/// fixed header), the upper-layer protocol and its bytes.
pub(super) fn check_v6(p: &[u8]) -> (Ipv6Header, Option<Frag6>, u8, Vec<u8>) {
    let (ip, rest) = Ipv6Header::from_slice(p).expect("etherparse: IPv6 header");
    assert_eq!(ip.payload_length as usize + 40, p.len(), "payload length");
    let (_, nh, l4) = Ipv6Extensions::from_slice(ip.next_header, rest).expect("extensions");
    let frag = (ip.next_header.0 == proto::IPV6_FRAG).then(|| {
        let w = u16::from_be_bytes([p[42], p[43]]);
        Frag6 {
            offset: w >> 3,
            more: w & 1 != 0,
            ident: u32::from_be_bytes([p[44], p[45], p[46], p[47]]),
        }
    });
    if !frag.is_some_and(|f| f.more || f.offset != 0) {
        check_l4_v6(&ip, nh.0, l4);
    }
    (ip, frag, nh.0, l4.to_vec())
}

fn check_l4_v6(ip: &Ipv6Header, nh: u8, l4: &[u8]) {
    match nh {
        proto::UDP => {
            let (u, pl) = UdpHeader::from_slice(l4).unwrap();
            assert_eq!(u.length as usize, l4.len(), "UDP length");
            assert_ne!(u.checksum, 0, "IPv6 UDP needs a checksum");
            assert_eq!(
                u.checksum,
                u.calc_checksum_ipv6(ip, pl).unwrap(),
                "UDP checksum"
            );
        }
        proto::TCP => {
            let (t, pl) = TcpHeader::from_slice(l4).unwrap();
            assert_eq!(
                t.checksum,
                t.calc_checksum_ipv6(ip, pl).unwrap(),
                "TCP checksum"
            );
        }
        proto::ICMPV6 => {
            let s = Icmpv6Slice::from_slice(l4).unwrap();
            assert!(
                s.is_checksum_valid(ip.source, ip.destination),
                "ICMPv6 checksum"
            );
        }
        _ => {}
    }
}

fn df(h: &Ipv4Header) -> bool {
    h.dont_fragment
}

// ================================================================ IPv6->IPv4

#[test]
fn rfc7915_5_1_udp_header_fields() {
    let mut p = udp6(64, 1111, 53, b"hello world");
    set_tc_flow(&mut p, 0xb8, 0x12345);
    let r = run6(&p, &cfg());
    let (ip, l4) = check_v4(r.packet());
    assert_eq!(ip.source, H4.octets());
    assert_eq!(ip.destination, R4.octets());
    assert_eq!(ip.time_to_live, 63, "TTL = hop limit - 1");
    assert_eq!(ip.protocol, IpNumber::UDP);
    assert_eq!(ip.total_len as usize, 20 + 8 + 11);
    assert_eq!(r.packet()[1], 0xb8, "TOS copied from traffic class");
    assert!(!df(&ip), "DF clear at or under 1260 bytes");
    assert_eq!(ip.identification, 0x5555);
    let (u, pl) = UdpHeader::from_slice(&l4).unwrap();
    assert_eq!((u.source_port, u.destination_port), (1111, 53));
    assert_eq!(pl, b"hello world");
    // In place: the IPv4 packet ends where the IPv6 one did.
    let Outcome::Forward { l3_start, l3_len } = r.outcome else {
        unreachable!()
    };
    assert_eq!(l3_start + l3_len, r.buf.len());
    assert_eq!(l3_start, ROOM + 20);
}

#[test]
fn rfc7915_5_1_traffic_class_zeroed_when_configured() {
    let mut p = udp6(64, 1, 2, b"x");
    set_tc_flow(&mut p, 0xb8, 0);
    let r = run6(
        &p,
        &XlatConfig {
            copy_traffic_class: false,
            ..cfg()
        },
    );
    assert_eq!(r.packet()[1], 0);
}

#[test]
fn rfc7915_5_5_tcp_ports_and_checksum_with_new_mapping() {
    let p = tcp6(10, 40000, 443, b"GET / HTTP/1.1\r\n");
    let mut m = map6(&p);
    m.outer.src = Ipv4Addr::new(203, 0, 113, 1);
    m.outer.src_port = 61000;
    let r = run6_with(&p, &m, &cfg());
    let (ip, l4) = check_v4(r.packet());
    assert_eq!(ip.source, [203, 0, 113, 1]);
    let (t, pl) = TcpHeader::from_slice(&l4).unwrap();
    assert_eq!((t.source_port, t.destination_port), (61000, 443));
    assert!(t.syn);
    assert_eq!(t.sequence_number, 0x0102_0304);
    assert_eq!(pl, b"GET / HTTP/1.1\r\n");
}

#[test]
fn rfc7915_5_2_echo_request_maps_to_icmpv4_8() {
    let p = echo6(true, 0x1234, b"ping");
    let mut m = map6(&p);
    m.outer.src_port = 0x9999;
    let r = run6_with(&p, &m, &cfg());
    let (ip, l4) = check_v4(r.packet());
    assert_eq!(ip.protocol, IpNumber::ICMP);
    assert_eq!(&l4[..2], &[8, 0]);
    assert_eq!(
        u16::from_be_bytes([l4[4], l4[5]]),
        0x9999,
        "identifier = mapped source port"
    );
    assert_eq!(&l4[8..], b"ping");
}

#[test]
fn rfc7915_5_2_echo_reply_maps_to_icmpv4_0() {
    let p = echo6(false, 0x1234, b"pong");
    let mut m = map6(&p);
    m.outer.dst_port = 0x7777;
    let r = run6_with(&p, &m, &cfg());
    let (_, l4) = check_v4(r.packet());
    assert_eq!(&l4[..2], &[0, 0]);
    assert_eq!(
        u16::from_be_bytes([l4[4], l4[5]]),
        0x7777,
        "identifier = mapped destination port"
    );
}

#[test]
fn rfc7915_5_2_single_hop_and_unknown_informational_dropped() {
    for t in [130u8, 131, 132, 133, 134, 135, 136, 137, 143, 200] {
        let mut p = echo6(true, 1, b"abcdabcdabcdabcdabcd");
        let at = 40;
        p[at] = t;
        let r = run6(&p, &cfg());
        assert_eq!(
            r.outcome,
            Outcome::Drop(DropReason::IcmpUntranslatable),
            "type {t}"
        );
    }
}

#[test]
fn rfc7915_5_1_df_set_over_1260_bytes() {
    // 1281-byte IPv6 packet -> 1261-byte IPv4 packet: DF.
    let p = tcp6(64, 1, 2, &[7u8; 1281 - 60]);
    let r = run6(&p, &cfg());
    let (ip, _) = check_v4(r.packet());
    assert_eq!(ip.total_len, 1261);
    assert!(df(&ip));
    // 1280 -> 1260: no DF.
    let p = tcp6(64, 1, 2, &[7u8; 1280 - 60]);
    let (ip, _) = check_v4(run6(&p, &cfg()).packet());
    assert_eq!(ip.total_len, 1260);
    assert!(!df(&ip));
}

#[test]
fn rfc7915_5_1_df_rule_can_be_turned_off() {
    let p = tcp6(64, 1, 2, &[7u8; 1400]);
    let r = run6(
        &p,
        &XlatConfig {
            df_over_1260: false,
            ..cfg()
        },
    );
    let (ip, _) = check_v4(r.packet());
    assert!(!df(&ip));
}

#[test]
fn rfc7915_5_1_hop_limit_exceeded_sends_icmpv6_time_exceeded() {
    let p = udp6(1, 5, 6, b"dying");
    let r = run6(&p, &cfg());
    let Outcome::Reply { reason, .. } = r.outcome else {
        panic!("{:?}", r.outcome)
    };
    assert_eq!(reason, DropReason::HopLimitExceeded);
    let (ip, _, nh, l4) = check_v6(r.packet());
    assert_eq!(nh, proto::ICMPV6);
    assert_eq!(ip.destination, h6().octets(), "back to the sender");
    assert_eq!(ip.source, r6().octets(), "from the address it was sent to");
    assert_eq!(&l4[..2], &[3, 0]);
    assert_eq!(&l4[8..], &p[..], "quotes the packet");
    // Hop limit 0 too.
    let p = udp6(0, 5, 6, b"dead");
    assert!(matches!(run6(&p, &cfg()).outcome, Outcome::Reply { .. }));
}

#[test]
fn rfc7915_5_4_icmp_errors_can_be_disabled() {
    let p = udp6(1, 5, 6, b"dying");
    let r = run6(
        &p,
        &XlatConfig {
            send_icmp_errors: false,
            ..cfg()
        },
    );
    assert_eq!(r.outcome, Outcome::Drop(DropReason::HopLimitExceeded));
}

#[test]
fn rfc7915_5_1_extension_headers_skipped() {
    let base = udp6(64, 7, 8, b"through the chain");
    // Hop-by-Hop (8) -> Destination Options (8) -> Routing, SL 0 (24) -> UDP.
    let mut ext = vec![proto::IPV6_OPTS, 0, 1, 4, 0, 0, 0, 0];
    ext.extend_from_slice(&[proto::IPV6_ROUTE, 0, 1, 4, 0, 0, 0, 0]);
    let mut rh = vec![proto::UDP, 2, 0, 0, 0, 0, 0, 0];
    rh.extend_from_slice(&[0u8; 16]);
    ext.extend_from_slice(&rh);
    let p = insert_ext(&base, proto::HOPOPT, &ext);
    let r = run6(&p, &cfg());
    let (ip, l4) = check_v4(r.packet());
    assert_eq!(ip.protocol, IpNumber::UDP);
    assert_eq!(ip.total_len as usize, 20 + 8 + 17);
    assert_eq!(&l4[8..], b"through the chain");
    let Outcome::Forward { l3_start, .. } = r.outcome else {
        unreachable!()
    };
    assert_eq!(
        l3_start,
        ROOM + 40 + 40 - 20,
        "header shrinks by 20 plus the extensions"
    );
}

#[test]
fn rfc7915_5_1_routing_header_segments_left_sends_parameter_problem() {
    let base = udp6(64, 7, 8, b"source routed");
    // Hop-by-Hop (8) -> Routing with Segments Left 1.
    let mut ext = vec![proto::IPV6_ROUTE, 0, 1, 4, 0, 0, 0, 0];
    ext.extend_from_slice(&[proto::UDP, 2, 0, 1, 0, 0, 0, 0]);
    ext.extend_from_slice(&[0u8; 16]);
    let p = insert_ext(&base, proto::HOPOPT, &ext);
    let r = run6(&p, &cfg());
    let Outcome::Reply { reason, .. } = r.outcome else {
        panic!("{:?}", r.outcome)
    };
    assert_eq!(reason, DropReason::RoutingSegmentsLeft);
    let (_, _, _, l4) = check_v6(r.packet());
    assert_eq!(&l4[..2], &[4, 0]);
    assert_eq!(u32::from_be_bytes([l4[4], l4[5], l4[6], l4[7]]), 40 + 8 + 3);
}

fn frag_ext(nh: u8, offset: u16, more: bool, ident: u32) -> [u8; 8] {
    let mut f = [0u8; 8];
    ipv6_ext::FragmentHeader::new_unchecked(&mut f[..]).emit(nh, offset, more, ident);
    f
}

#[test]
fn rfc7915_5_1_1_fragment_header_to_ipv4_fragment_fields() {
    let base = udp6(64, 7, 8, &[1u8; 64]);
    let p = insert_ext(
        &base,
        proto::IPV6_FRAG,
        &frag_ext(proto::UDP, 0, true, 0x0102_0304),
    );
    let r = run6(&p, &cfg());
    let (ip, l4) = check_v4(r.packet());
    assert_eq!(
        ip.identification, 0x0304,
        "low-order 16 bits of the Identification"
    );
    assert!(ip.more_fragments);
    assert!(!df(&ip));
    assert_eq!(ip.fragment_offset.value(), 0);
    assert_eq!(ip.total_len as usize, 20 + 72);
    // The first fragment's UDP header still carries the translated ports;
    // its checksum (over the whole datagram) was updated incrementally.
    assert_eq!(&l4[..4], &[0, 7, 0, 8]);
    let before = u16::from_be_bytes([p[48 + 6], p[48 + 7]]);
    let after = u16::from_be_bytes([l4[6], l4[7]]);
    assert_ne!(before, after);
}

#[test]
fn rfc7915_5_1_1_non_first_fragment_translated_without_l4_access() {
    let payload = [0xabu8; 48];
    let mut p = udp6(64, 7, 8, &[]);
    p.truncate(40);
    p.extend_from_slice(&payload);
    let p = insert_ext(&p, proto::IPV6_FRAG, &frag_ext(proto::UDP, 100, false, 77));
    let r = run6(&p, &cfg());
    let (ip, l4) = check_v4(r.packet());
    assert_eq!(ip.fragment_offset.value(), 100);
    assert!(!ip.more_fragments);
    assert_eq!(ip.identification, 77);
    assert_eq!(ip.protocol, IpNumber::UDP);
    assert_eq!(l4, payload, "payload untouched");
}

#[test]
fn rfc7915_5_1_1_extension_header_after_fragment_rejected() {
    let base = udp6(64, 7, 8, b"x");
    let mut ext = frag_ext(proto::IPV6_OPTS, 0, false, 1).to_vec();
    ext.extend_from_slice(&[proto::UDP, 0, 1, 4, 0, 0, 0, 0]);
    let p = insert_ext(&base, proto::IPV6_FRAG, &ext);
    let r = run6(&p, &cfg());
    let Outcome::Reply { reason, .. } = r.outcome else {
        panic!("{:?}", r.outcome)
    };
    assert_eq!(reason, DropReason::ExtHeaderAfterFragment);
    let (_, _, _, l4) = check_v6(r.packet());
    assert_eq!(&l4[..2], &[1, 1]);
}

#[test]
fn rfc6946_4_an_atomic_fragment_is_translated_like_the_whole_packet() {
    // An echo request with a Fragment Header of offset 0 and M = 0: ICMP
    // like UDP, it is one whole packet.
    let base = echo6(true, 1, b"atomic ping");
    let p = insert_ext(
        &base,
        proto::IPV6_FRAG,
        &frag_ext(proto::ICMPV6, 0, false, 0x0a0b_0c0d),
    );
    let r = run6(&p, &cfg());
    let (ip, l4) = check_v4(r.packet());
    assert_eq!(ip.protocol, etherparse::IpNumber::ICMP);
    assert_eq!(l4[0], 8, "ICMPv4 Echo Request");
    assert_eq!(&l4[8..], b"atomic ping");
    assert!(!ip.more_fragments);
    assert_eq!(ip.fragment_offset.value(), 0);
    let base = udp6(64, 7, 8, b"atomic datagram");
    let p = insert_ext(&base, proto::IPV6_FRAG, &frag_ext(proto::UDP, 0, false, 9));
    let (ip, l4) = check_v4(run6(&p, &cfg()).packet());
    assert!(!ip.more_fragments);
    assert_eq!(&l4[8..], b"atomic datagram");
}

#[test]
fn rfc7915_1_2_fragmented_icmpv6_not_translated() {
    let base = echo6(true, 1, b"frag ping");
    let p = insert_ext(
        &base,
        proto::IPV6_FRAG,
        &frag_ext(proto::ICMPV6, 0, true, 5),
    );
    assert_eq!(
        run6(&p, &cfg()).outcome,
        Outcome::Drop(DropReason::FragmentedIcmp)
    );
}

#[test]
fn rfc7915_5_1_packet_too_big_when_df_and_over_ipv4_mtu() {
    let c = XlatConfig {
        ipv4_mtu: 1400,
        ..cfg()
    };
    let p = tcp6(64, 1, 2, &[0u8; 1361]); // 1421 bytes -> 1401 IPv4
    let r = run6(&p, &c);
    let Outcome::Reply { reason, l3_len, .. } = r.outcome else {
        panic!("{:?}", r.outcome)
    };
    assert_eq!(reason, DropReason::PacketTooBig);
    assert_eq!(l3_len, 1280, "ICMPv6 errors are cut to 1280 bytes");
    let (_, _, _, l4) = check_v6(r.packet());
    assert_eq!(&l4[..2], &[2, 0]);
    assert_eq!(u32::from_be_bytes([l4[4], l4[5], l4[6], l4[7]]), 1420);
    // Never below 1280.
    let c = XlatConfig {
        ipv4_mtu: 1000,
        ..cfg()
    };
    let r = run6(&tcp6(64, 1, 2, &[0u8; 1300]), &c);
    let (_, _, _, l4) = check_v6(r.packet());
    assert_eq!(u32::from_be_bytes([l4[4], l4[5], l4[6], l4[7]]), 1280);
}

/// Reassembles IPv4 fragments (in order) into one unfragmented packet.
fn reassemble_v4(frags: &[Vec<u8>]) -> Vec<u8> {
    let mut payload = Vec::new();
    let mut first = None;
    for f in frags {
        let (ip, l4) = check_v4(f);
        assert!(!df(&ip));
        assert_eq!(ip.fragment_offset.value() as usize * 8, payload.len());
        payload.extend_from_slice(&l4);
        first.get_or_insert(ip);
    }
    let mut h = first.unwrap();
    h.more_fragments = false;
    h.set_payload_len(payload.len()).unwrap();
    h.header_checksum = h.calc_header_checksum();
    let mut out = Vec::new();
    h.write(&mut out).unwrap();
    out.extend_from_slice(&payload);
    out
}

#[test]
fn rfc7915_5_1_fragments_when_df_clear_and_over_ipv4_mtu() {
    let c = XlatConfig {
        ipv4_mtu: 576,
        ..cfg()
    };
    let data: Vec<u8> = (0..1000u32).map(|i| i as u8).collect();
    let p = udp6(64, 9, 10, &data);
    let r = run6(&p, &c);
    assert_eq!(r.outcome, Outcome::Fragmented { count: 2 });
    for f in &r.sink {
        assert!(f.len() <= 576);
    }
    assert!(r.sink[0].len() == 572 && Ipv4Header::from_slice(&r.sink[0]).unwrap().0.more_fragments);
    let whole = reassemble_v4(&r.sink);
    let (ip, l4) = check_v4(&whole);
    assert_eq!(ip.identification, 0x5555);
    assert_eq!(&l4[8..], &data[..]);
}

#[test]
fn rfc7915_5_1_unknown_protocol_forwarded() {
    let mut p = udp6(64, 1, 2, b"dccp-ish");
    ipv6::Packet::new_unchecked(&mut p[..]).set_next_header(33);
    let r = run6(&p, &cfg());
    let (ip, l4) = check_v4(r.packet());
    assert_eq!(ip.protocol.0, 33);
    assert_eq!(l4, &p[40..]);
}

#[test]
fn rfc7915_5_1_icmpv4_inside_ipv6_is_dropped() {
    let mut p = udp6(64, 1, 2, b"x");
    ipv6::Packet::new_unchecked(&mut p[..]).set_next_header(proto::ICMP);
    assert_eq!(
        run6(&p, &cfg()).outcome,
        Outcome::Drop(DropReason::IcmpWrongFamily)
    );
}

/// An ICMPv6 error from `from` to `to` quoting `quoted`.
fn icmp6_error(from: Ipv6Addr, to: Ipv6Addr, t: u8, c: u8, word: u32, quoted: &[u8]) -> Vec<u8> {
    let mut msg = vec![t, c, 0, 0];
    msg.extend_from_slice(&word.to_be_bytes());
    msg.extend_from_slice(quoted);
    let mut v = vec![0u8; 40];
    ipv6::Repr {
        src: from,
        dst: to,
        next_header: proto::ICMPV6,
        hop_limit: 64,
        traffic_class: 0,
        flow_label: 0,
        payload_len: msg.len(),
    }
    .emit(&mut v);
    w6::Packet::new_unchecked(&mut msg[..]).fill_checksum(&from.octets(), &to.octets());
    v.extend_from_slice(&msg);
    v
}

/// The packet R -> H that H's side answers with an error (IPv6 form).
fn reply6_quote(payload: &[u8]) -> Vec<u8> {
    let mut v = Vec::new();
    PacketBuilder::ipv6(r6().octets(), h6().octets(), 50)
        .udp(53, 1111)
        .write(&mut v, payload)
        .unwrap();
    v
}

#[test]
fn rfc7915_5_3_port_unreachable_with_inner_packet() {
    let quoted = reply6_quote(b"answer");
    let p = icmp6_error(h6(), r6(), 1, 4, 0, &quoted);
    let r = run6(&p, &cfg());
    let (ip, l4) = check_v4(r.packet());
    assert_eq!(ip.protocol, IpNumber::ICMP);
    assert_eq!((ip.source, ip.destination), (H4.octets(), R4.octets()));
    assert_eq!(ip.time_to_live, 63);
    assert_eq!(&l4[..2], &[3, 3], "port unreachable");
    // The quoted packet, translated, checks out on its own.
    let (inner, il4) = check_v4(&l4[8..]);
    assert_eq!(
        (inner.source, inner.destination),
        (R4.octets(), H4.octets())
    );
    assert_eq!(inner.time_to_live, 50, "inner TTL not decremented");
    assert_eq!(&il4[..4], &[0, 53, 0x04, 0x57]);
    assert_eq!(ip.total_len as usize, 20 + 8 + 20 + 8 + 6);
}

#[test]
fn rfc7915_5_2_packet_too_big_to_fragmentation_needed() {
    let quoted = reply6_quote(&[0u8; 100]);
    let p = icmp6_error(h6(), r6(), 2, 0, 1400, &quoted);
    let (_, l4) = check_v4(run6(&p, &cfg()).packet());
    assert_eq!(&l4[..2], &[3, 4]);
    assert_eq!(u16::from_be_bytes([l4[6], l4[7]]), 1380, "MTU - 20");
    // Bounded by the IPv4 next hop MTU.
    let c = XlatConfig {
        ipv4_mtu: 1300,
        ..cfg()
    };
    let (_, l4) = check_v4(run6(&p, &c).packet());
    assert_eq!(u16::from_be_bytes([l4[6], l4[7]]), 1300);
}

#[test]
fn rfc7915_5_2_parameter_problem_pointer_mapping() {
    let quoted = reply6_quote(b"q");
    // Pointer 7 (Hop Limit) -> 8 (TTL).
    let p = icmp6_error(h6(), r6(), 4, 0, 7, &quoted);
    let (_, l4) = check_v4(run6(&p, &cfg()).packet());
    assert_eq!(&l4[..2], &[12, 0]);
    assert_eq!(l4[4], 8);
    // Pointer 24 (destination) -> 16.
    let p = icmp6_error(h6(), r6(), 4, 0, 30, &quoted);
    let (_, l4) = check_v4(run6(&p, &cfg()).packet());
    assert_eq!(l4[4], 16);
    // Pointer 2 (Flow Label): n/a.
    let p = icmp6_error(h6(), r6(), 4, 0, 2, &quoted);
    assert_eq!(
        run6(&p, &cfg()).outcome,
        Outcome::Drop(DropReason::IcmpPointerUntranslatable)
    );
    // Code 1 -> protocol unreachable.
    let p = icmp6_error(h6(), r6(), 4, 1, 6, &quoted);
    let (_, l4) = check_v4(run6(&p, &cfg()).packet());
    assert_eq!(&l4[..2], &[3, 2]);
    // Code 2: dropped.
    let p = icmp6_error(h6(), r6(), 4, 2, 40, &quoted);
    assert_eq!(
        run6(&p, &cfg()).outcome,
        Outcome::Drop(DropReason::IcmpUntranslatable)
    );
}

#[test]
fn rfc7915_5_3_inner_echo_checksum_fixed() {
    let mut quoted = Vec::new();
    PacketBuilder::ipv6(h6().octets(), r6().octets(), 1)
        .icmpv6_echo_request(42, 1)
        .write(&mut quoted, b"inner ping")
        .unwrap();
    // Time exceeded from a router (an address in the prefix too) to H.
    let p = icmp6_error(r6(), h6(), 3, 0, 0, &quoted);
    let r = run6(&p, &cfg());
    let (_, l4) = check_v4(r.packet());
    assert_eq!(&l4[..2], &[11, 0]);
    let (_, il4) = check_v4(&l4[8..]);
    assert_eq!(&il4[..2], &[8, 0]);
}

#[test]
fn rfc7915_5_3_truncated_to_576() {
    let quoted = reply6_quote(&[5u8; 1000]);
    let p = icmp6_error(h6(), r6(), 1, 4, 0, &quoted);
    let r = run6(&p, &cfg());
    let Outcome::Forward { l3_len, .. } = r.outcome else {
        panic!()
    };
    assert_eq!(l3_len, 576);
    // The whole (cut) message checks out: header, lengths, ICMPv4 checksum.
    let (ip, l4) = check_v4(r.packet());
    assert_eq!(ip.total_len, 576);
    assert_eq!(&l4[..2], &[3, 3]);
}

#[test]
fn rfc7915_5_3_no_error_about_an_error_and_no_nesting() {
    // An ICMPv6 error whose hop limit expires: dropped, no error back.
    let quoted = reply6_quote(b"q");
    let mut p = icmp6_error(h6(), r6(), 1, 4, 0, &quoted);
    ipv6::Packet::new_unchecked(&mut p[..]).set_hop_limit(1);
    assert_eq!(
        run6(&p, &cfg()).outcome,
        Outcome::Drop(DropReason::HopLimitExceeded)
    );
    // An error quoting an error.
    let inner_err = icmp6_error(r6(), h6(), 1, 4, 0, &quoted);
    let p = icmp6_error(h6(), r6(), 1, 4, 0, &inner_err);
    assert_eq!(FlowV6::parse(&p), Err(DropReason::IcmpNestedError));
    let m = V6ToV4::new(map6(&quoted).outer, 0);
    assert_eq!(
        run6_with(&p, &m, &cfg()).outcome,
        Outcome::Drop(DropReason::IcmpNestedError)
    );
}

#[test]
fn rfc6052_3_1_well_known_prefix_with_private_address_refused() {
    let wkp = Prefix6052::well_known();
    let mut v = Vec::new();
    PacketBuilder::ipv6(
        h6().octets(),
        wkp.embed(Ipv4Addr::new(10, 1, 2, 3)).octets(),
        64,
    )
    .udp(1, 2)
    .write(&mut v, b"x")
    .unwrap();
    let flow = FlowV6::parse(&v).unwrap();
    assert_eq!(
        stateless::v6_to_v4(&flow, &wkp, 0),
        Err(DropReason::NotInPrefix)
    );
    let mut v = Vec::new();
    PacketBuilder::ipv6(
        wkp.embed(Ipv4Addr::new(8, 8, 8, 8)).octets(),
        wkp.embed(Ipv4Addr::new(10, 1, 2, 3)).octets(),
        64,
    )
    .udp(1, 2)
    .write(&mut v, b"x")
    .unwrap();
    let flow = FlowV6::parse(&v).unwrap();
    assert_eq!(
        stateless::v6_to_v4(&flow, &wkp, 0),
        Err(DropReason::WkpNonGlobal)
    );
}

#[test]
fn malformed_ipv6_dropped() {
    let p = udp6(64, 1, 2, b"abc");
    let mut buf = vec![0u8; ROOM];
    buf.extend_from_slice(&p[..30]);
    let m = map6(&p);
    let o = v6_to_v4(&mut buf, ROOM, 30, &m, &cfg(), &mut Vec::new());
    assert_eq!(o, Outcome::Drop(DropReason::Malformed));
    let o = v6_to_v4(&mut buf, ROOM, 300, &m, &cfg(), &mut Vec::new());
    assert_eq!(o, Outcome::Drop(DropReason::Malformed));
    let short = udp6(64, 1, 2, b"");
    let mut t = short[..44].to_vec();
    ipv6::Packet::new_unchecked(&mut t[..]).set_payload_len(4);
    assert_eq!(
        run6_with(&t, &m, &cfg()).outcome,
        Outcome::Drop(DropReason::L4Truncated)
    );
}

// ================================================================ IPv4->IPv6

#[test]
fn rfc7915_4_1_udp_header_fields() {
    let mut p = udp4(64, 53, 1111, b"answer!");
    set_v4(&mut p, |h| {
        h.dscp = etherparse::Ipv4Dscp::try_new(46).unwrap()
    });
    let r = run4(&p, &cfg());
    let (ip, ext, nh, l4) = check_v6(r.packet());
    assert_eq!(ip.source, r6().octets());
    assert_eq!(ip.destination, h6().octets());
    assert_eq!(ip.hop_limit, 63);
    assert_eq!(ip.traffic_class, 46 << 2, "traffic class copied from TOS");
    assert_eq!(ip.flow_label.value(), 0);
    assert_eq!(nh, proto::UDP);
    assert!(
        ext.is_none(),
        "no Fragment header for an unfragmented packet"
    );
    assert_eq!(ip.payload_length as usize, 8 + 7);
    assert_eq!(&l4[..4], &[0, 53, 0x04, 0x57]);
    let Outcome::Forward { l3_start, l3_len } = r.outcome else {
        unreachable!()
    };
    assert_eq!(l3_start, ROOM - 20, "grows 20 bytes into the headroom");
    assert_eq!(l3_start + l3_len, r.buf.len());
}

#[test]
fn rfc7915_4_5_tcp_ports_and_checksum() {
    let p = tcp4(9, 443, 61000, b"HTTP/1.1 200 OK");
    let mut m = map4(&p);
    m.outer.dst_port = 40000;
    let r = run4_with(&p, &m, &cfg());
    let (ip, _, nh, l4) = check_v6(r.packet());
    assert_eq!(nh, proto::TCP);
    assert_eq!(ip.hop_limit, 8);
    let (t, pl) = TcpHeader::from_slice(&l4).unwrap();
    assert_eq!((t.source_port, t.destination_port), (443, 40000));
    assert_eq!(pl, b"HTTP/1.1 200 OK");
}

#[test]
fn rfc7915_4_2_echo_request_maps_to_icmpv6_128() {
    let p = echo4(true, 0x2222, b"v4 ping");
    let r = run4(&p, &cfg());
    let (_, _, nh, l4) = check_v6(r.packet());
    assert_eq!(nh, proto::ICMPV6);
    assert_eq!(&l4[..2], &[128, 0]);
    assert_eq!(&l4[4..6], &[0x22, 0x22]);
}

#[test]
fn rfc7915_4_2_echo_reply_maps_to_icmpv6_129() {
    let p = echo4(false, 0x3333, b"v4 pong");
    let mut m = map4(&p);
    m.outer.dst_port = 0x0101;
    let r = run4_with(&p, &m, &cfg());
    let (_, _, _, l4) = check_v6(r.packet());
    assert_eq!(&l4[..2], &[129, 0]);
    assert_eq!(&l4[4..6], &[1, 1], "identifier = mapped destination port");
}

#[test]
fn rfc7915_4_2_obsolete_informational_types_dropped() {
    for t in [13u8, 14, 15, 16, 17, 18, 9, 10, 42] {
        let mut p = echo4(true, 1, b"xxxxxxxxxxxxxxxx");
        p[20] = t;
        assert_eq!(
            run4(&p, &cfg()).outcome,
            Outcome::Drop(DropReason::IcmpUntranslatable),
            "type {t}"
        );
    }
}

#[test]
fn rfc7915_4_1_ttl_exceeded_sends_icmpv4_time_exceeded() {
    let p = udp4(1, 53, 1111, b"late");
    let r = run4(&p, &cfg());
    let Outcome::Reply {
        reason, l3_start, ..
    } = r.outcome
    else {
        panic!("{:?}", r.outcome)
    };
    assert_eq!(reason, DropReason::HopLimitExceeded);
    assert_eq!(l3_start, ROOM - 28);
    let (ip, l4) = check_v4(r.packet());
    assert_eq!(ip.destination, R4.octets());
    assert_eq!(ip.source, H4.octets());
    assert_eq!(&l4[..2], &[11, 0]);
    assert_eq!(&l4[8..], &p[..]);
}

#[test]
fn rfc7915_4_1_options_ignored() {
    let base = udp4(64, 1, 2, b"with options");
    // IHL 6: one word of NOPs.
    let mut p = base[..20].to_vec();
    p.extend_from_slice(&[1, 1, 1, 0]);
    p.extend_from_slice(&base[20..]);
    p[0] = 0x46;
    let total = p.len() as u16;
    p[2..4].copy_from_slice(&total.to_be_bytes());
    ipv4::Packet::new_unchecked(&mut p[..]).fill_checksum();
    let r = run4(&p, &cfg());
    let (ip, _, _, l4) = check_v6(r.packet());
    assert_eq!(ip.payload_length as usize, 8 + 12);
    assert_eq!(&l4[8..], b"with options");
}

#[test]
fn rfc7915_4_1_unexpired_source_route_sends_source_route_failed() {
    let base = udp4(64, 1, 2, b"srr");
    let mut p = base[..20].to_vec();
    p.extend_from_slice(&[131, 7, 4, 198, 51, 100, 9, 0]); // LSRR, one hop left
    p.extend_from_slice(&base[20..]);
    p[0] = 0x47;
    let total = p.len() as u16;
    p[2..4].copy_from_slice(&total.to_be_bytes());
    ipv4::Packet::new_unchecked(&mut p[..]).fill_checksum();
    let r = run4(&p, &cfg());
    let Outcome::Reply { reason, .. } = r.outcome else {
        panic!("{:?}", r.outcome)
    };
    assert_eq!(reason, DropReason::Ipv4SourceRoute);
    let (_, l4) = check_v4(r.packet());
    assert_eq!(&l4[..2], &[3, 5]);
}

#[test]
fn rfc7915_4_1_fragment_gets_fragment_header() {
    let mut p = udp4(64, 53, 1111, &[3u8; 40]);
    set_v4(&mut p, |h| {
        h.more_fragments = true;
        h.identification = 0xbeef;
    });
    let r = run4(&p, &cfg());
    let Outcome::Forward { l3_start, .. } = r.outcome else {
        panic!("{:?}", r.outcome)
    };
    assert_eq!(l3_start, ROOM - 28);
    let (ip, ext, nh, l4) = check_v6(r.packet());
    let f = ext.expect("Fragment header");
    assert_eq!(f.ident, 0xbeef, "zero-extended IPv4 ID");
    assert!(f.more);
    assert_eq!(f.offset, 0);
    assert_eq!(nh, proto::UDP);
    assert_eq!(ip.payload_length as usize, 8 + 48);
    assert_eq!(&l4[..4], &[0, 53, 4, 0x57]);
}

#[test]
fn rfc7915_4_1_non_first_fragment_translated_without_l4_access() {
    let mut p = udp4(64, 53, 1111, &[9u8; 32]);
    set_v4(&mut p, |h| {
        h.fragment_offset = etherparse::IpFragOffset::try_new(50).unwrap();
        h.identification = 7;
    });
    let r = run4(&p, &cfg());
    let (_, ext, _, l4) = check_v6(r.packet());
    let f = ext.unwrap();
    assert_eq!(f.offset, 50);
    assert!(!f.more);
    assert_eq!(l4, &p[20..], "payload untouched");
}

#[test]
fn rfc7915_1_2_fragmented_icmpv4_not_translated() {
    let mut p = echo4(true, 1, b"frag");
    set_v4(&mut p, |h| h.more_fragments = true);
    assert_eq!(
        run4(&p, &cfg()).outcome,
        Outcome::Drop(DropReason::FragmentedIcmp)
    );
}

#[test]
fn rfc7915_4_1_df_and_too_big_sends_fragmentation_needed() {
    let c = XlatConfig {
        ipv6_mtu: 1280,
        ..cfg()
    };
    let p = tcp4(64, 1, 2, &[0u8; 1221]); // 1261 bytes, DF
    let r = run4(&p, &c);
    let Outcome::Reply { reason, l3_len, .. } = r.outcome else {
        panic!("{:?}", r.outcome)
    };
    assert_eq!(reason, DropReason::FragmentationNeeded);
    assert_eq!(l3_len, 576);
    let (_, l4) = check_v4(r.packet());
    assert_eq!(&l4[..2], &[3, 4]);
    assert_eq!(u16::from_be_bytes([l4[6], l4[7]]), 1260);
    // 1260 bytes fits.
    let p = tcp4(64, 1, 2, &[0u8; 1220]);
    let r = run4(&p, &c);
    let (ip, ext, _, _) = check_v6(r.packet());
    assert_eq!(ip.payload_length, 1240);
    assert!(ext.is_none());
}

fn reassemble_v6(frags: &[Vec<u8>]) -> Vec<u8> {
    let mut payload = Vec::new();
    let mut first = None;
    let mut nh = 0;
    for f in frags {
        let (ip, ext, n, l4) = check_v6(f);
        let fr = ext.expect("fragment header");
        assert_eq!(fr.offset as usize * 8, payload.len());
        payload.extend_from_slice(&l4);
        nh = n;
        first.get_or_insert(ip);
    }
    let mut h = first.unwrap();
    h.next_header = IpNumber(nh);
    h.payload_length = payload.len() as u16;
    let mut out = Vec::new();
    h.write(&mut out).unwrap();
    out.extend_from_slice(&payload);
    out
}

#[test]
fn rfc7915_4_1_no_df_fragmented_to_lowest_ipv6_mtu() {
    let data: Vec<u8> = (0..1233u32).map(|i| (i * 7) as u8).collect();
    let p = udp4(64, 53, 1111, &data); // 1261 bytes, no DF, ID 0x4321
    let r = run4(&p, &cfg());
    assert_eq!(r.outcome, Outcome::Fragmented { count: 2 });
    assert_eq!(r.sink[0].len(), 1280);
    assert_eq!(r.sink[1].len(), 40 + 8 + (8 + 1233 - 1232));
    let (_, e0, _, _) = check_v6(&r.sink[0]);
    assert_eq!(e0.unwrap().ident, 0x4321);
    let whole = reassemble_v6(&r.sink);
    let (_, _, nh, l4) = check_v6(&whole);
    assert_eq!(nh, proto::UDP);
    assert_eq!(&l4[8..], &data[..]);
    // A larger lowest-ipv6-mtu (RFC 7915 4.1: "MUST provide a
    // configuration function") lets it through whole.
    let r = run4(
        &p,
        &XlatConfig {
            lowest_ipv6_mtu: 1500,
            ..cfg()
        },
    );
    assert!(matches!(r.outcome, Outcome::Forward { .. }));
}

#[test]
fn rfc7915_4_1_large_fragment_refragmented_keeping_offset_and_id() {
    // A middle fragment (offset 100, MF) too big for lowest-ipv6-mtu.
    let mut p = udp4(64, 53, 1111, &[4u8; 1392]);
    set_v4(&mut p, |h| {
        h.more_fragments = true;
        h.fragment_offset = etherparse::IpFragOffset::try_new(100).unwrap();
        h.identification = 0x7777;
    });
    let r = run4(&p, &cfg());
    assert_eq!(r.outcome, Outcome::Fragmented { count: 2 });
    let (_, f0, _, l0) = check_v6(&r.sink[0]);
    let (_, f1, _, l1) = check_v6(&r.sink[1]);
    let (f0, f1) = (f0.unwrap(), f1.unwrap());
    assert_eq!((f0.offset, f0.more, f0.ident), (100, true, 0x7777));
    assert_eq!(
        (f1.offset, f1.more, f1.ident),
        (100 + 1232 / 8, true, 0x7777),
        "MF kept on the last piece"
    );
    assert_eq!(l0.len() + l1.len(), 1400);
    assert_eq!(&[l0, l1].concat()[..], &p[20..], "payload untouched");
}

#[test]
fn rfc7915_5_1_1_large_fragment_refragmented_for_ipv4_mtu() {
    let c = XlatConfig {
        ipv4_mtu: 576,
        ..cfg()
    };
    let mut p = udp6(64, 7, 8, &[]);
    p.truncate(40);
    p.extend_from_slice(&[6u8; 1000]);
    let p = insert_ext(
        &p,
        proto::IPV6_FRAG,
        &frag_ext(proto::UDP, 40, false, 0xabcd_0102),
    );
    let r = run6(&p, &c);
    assert_eq!(r.outcome, Outcome::Fragmented { count: 2 });
    let (h0, l0) = check_v4(&r.sink[0]);
    let (h1, l1) = check_v4(&r.sink[1]);
    assert_eq!(
        (
            h0.fragment_offset.value(),
            h0.more_fragments,
            h0.identification
        ),
        (40, true, 0x0102)
    );
    assert_eq!(
        (h1.fragment_offset.value(), h1.more_fragments),
        (40 + 552 / 8, false)
    );
    assert!(!df(&h0) && !df(&h1));
    assert_eq!(l0.len() + l1.len(), 1000);
}

#[test]
fn rfc7915_4_1_no_df_small_packet_has_no_fragment_header() {
    let p = udp4(64, 53, 1111, &[0u8; 1232]); // 1260 bytes -> 1280
    let r = run4(&p, &cfg());
    let (ip, ext, _, _) = check_v6(r.packet());
    assert!(ext.is_none());
    assert_eq!(ip.payload_length, 1240);
}

#[test]
fn rfc7915_4_5_udp_zero_checksum_computed() {
    let mut p = udp4(64, 53, 1111, b"no checksum");
    p[26] = 0;
    p[27] = 0;
    let r = run4(&p, &cfg());
    let (_, _, _, l4) = check_v6(r.packet());
    assert_ne!(&l4[6..8], &[0, 0]);
}

#[test]
fn rfc7915_4_5_udp_zero_checksum_dropped_when_configured() {
    let mut p = udp4(64, 53, 1111, b"no checksum");
    p[26] = 0;
    p[27] = 0;
    let r = run4(
        &p,
        &XlatConfig {
            compute_udp_zero_checksum: false,
            ..cfg()
        },
    );
    let Outcome::Reply { reason, .. } = r.outcome else {
        panic!("{:?}", r.outcome)
    };
    assert_eq!(reason, DropReason::UdpZeroChecksum);
    let (_, l4) = check_v4(r.packet());
    assert_eq!(&l4[..2], &[3, 13]);
}

#[test]
fn rfc7915_4_5_fragmented_udp_zero_checksum_dropped() {
    let mut p = udp4(64, 53, 1111, &[1u8; 16]);
    p[26] = 0;
    p[27] = 0;
    set_v4(&mut p, |h| h.more_fragments = true);
    let r = run4(&p, &cfg());
    assert!(matches!(
        r.outcome,
        Outcome::Reply {
            reason: DropReason::UdpZeroChecksumFragment,
            ..
        }
    ));
    // Configured to pass: translated with the checksum left zero.
    let r = run4(
        &p,
        &XlatConfig {
            drop_udp_zero_checksum_fragments: false,
            ..cfg()
        },
    );
    let (_, ext, _, l4) = check_v6(r.packet());
    assert!(ext.is_some());
    assert_eq!(&l4[6..8], &[0, 0]);
}

#[test]
fn rfc7915_4_1_ipv6_extension_numbers_as_ipv4_protocol_dropped() {
    for protocol in [0u8, 43, 44, 60] {
        let mut p = udp4(64, 1, 2, b"abcd");
        set_v4(&mut p, |h| h.protocol = IpNumber(protocol));
        assert_eq!(
            run4(&p, &cfg()).outcome,
            Outcome::Drop(DropReason::ExtHeaderProtocolInIpv4)
        );
    }
}

#[test]
fn rfc7915_4_1_bad_header_checksum_and_truncation() {
    let mut p = udp4(64, 1, 2, b"abc");
    p[10] ^= 0xff;
    assert_eq!(
        run4(&p, &cfg()).outcome,
        Outcome::Drop(DropReason::BadIpv4Checksum)
    );
    let p = udp4(64, 1, 2, b"abc");
    let m = map4(&p);
    let mut buf = vec![0u8; ROOM];
    buf.extend_from_slice(&p[..25]);
    let o = v4_to_v6(&mut buf, ROOM, 25, &m, &cfg(), &mut Vec::new());
    assert_eq!(o, Outcome::Drop(DropReason::Malformed));
    // Without headroom.
    let mut buf = p.clone();
    let o = v4_to_v6(&mut buf, 0, p.len(), &m, &cfg(), &mut Vec::new());
    assert_eq!(o, Outcome::Drop(DropReason::NoHeadroom));
}

#[test]
fn rfc7915_4_1_ethernet_padding_ignored() {
    let p = udp4(64, 1, 2, b"ab");
    let mut padded = p.clone();
    padded.extend_from_slice(&[0u8; 16]);
    let m = map4(&p);
    let r = run4_with(&padded, &m, &cfg());
    let Outcome::Forward { l3_len, .. } = r.outcome else {
        panic!()
    };
    assert_eq!(l3_len, 40 + 10);
    check_v6(r.packet());
}

/// An ICMPv4 error from `from` to `to` quoting `quoted`.
fn icmp4_error(
    from: Ipv4Addr,
    to: Ipv4Addr,
    t: u8,
    c: u8,
    rest: [u8; 4],
    quoted: &[u8],
) -> Vec<u8> {
    let mut msg = vec![t, c, 0, 0];
    msg.extend_from_slice(&rest);
    msg.extend_from_slice(quoted);
    w4::Packet::new_unchecked(&mut msg[..]).fill_checksum();
    let mut v = vec![0u8; 20];
    ipv4::Repr {
        src: from,
        dst: to,
        protocol: proto::ICMP,
        tos: 0,
        ttl: 64,
        ident: 1,
        dont_frag: false,
        more_frags: false,
        frag_offset: 0,
        payload_len: msg.len(),
    }
    .emit(&mut v);
    v.extend_from_slice(&msg);
    v
}

/// The packet H -> R (IPv4 form, as translated earlier) an IPv4 router
/// answers with an error.
fn request4_quote(payload: &[u8]) -> Vec<u8> {
    let mut v = Vec::new();
    PacketBuilder::ipv4(H4.octets(), R4.octets(), 30)
        .udp(1111, 53)
        .write(&mut v, payload)
        .unwrap();
    v
}

#[test]
fn rfc7915_4_3_port_unreachable_with_inner_packet() {
    let quoted = request4_quote(b"question");
    let p = icmp4_error(R4, H4, 3, 3, [0; 4], &quoted);
    let r = run4(&p, &cfg());
    let (ip, _, nh, l4) = check_v6(r.packet());
    assert_eq!(nh, proto::ICMPV6);
    assert_eq!((ip.source, ip.destination), (r6().octets(), h6().octets()));
    assert_eq!(&l4[..2], &[1, 4]);
    let (inner, _, inh, il4) = check_v6(&l4[8..]);
    assert_eq!(inh, proto::UDP);
    assert_eq!(
        (inner.source, inner.destination),
        (h6().octets(), r6().octets())
    );
    assert_eq!(inner.hop_limit, 30, "inner TTL not decremented");
    assert_eq!(&il4[8..], b"question");
    assert_eq!(ip.payload_length as usize, 8 + 40 + 8 + 8);
}

#[test]
fn rfc7915_4_2_fragmentation_needed_to_packet_too_big() {
    let quoted = request4_quote(&[0u8; 1400]);
    let p = icmp4_error(R4, H4, 3, 4, [0, 0, 0x05, 0x78], &quoted); // MTU 1400
    let r = run4(&p, &cfg());
    let Outcome::Forward { l3_len, .. } = r.outcome else {
        panic!("{:?}", r.outcome)
    };
    assert_eq!(l3_len, 1280, "cut to the minimum IPv6 MTU");
    let (ip, _) = Ipv6Header::from_slice(r.packet()).unwrap();
    let s = Icmpv6Slice::from_slice(&r.packet()[40..]).unwrap();
    assert!(s.is_checksum_valid(ip.source, ip.destination));
    let l4 = &r.packet()[40..];
    assert_eq!(&l4[..2], &[2, 0]);
    assert_eq!(u32::from_be_bytes([l4[4], l4[5], l4[6], l4[7]]), 1420);
}

#[test]
fn rfc7915_4_2_fragmentation_needed_zero_mtu_uses_rfc1191_plateau() {
    let quoted = request4_quote(&[0u8; 1472]); // total length 1500 -> plateau 1492
    let c = XlatConfig {
        ipv6_mtu: 9000,
        ipv4_mtu: 9000,
        ..cfg()
    };
    let p = icmp4_error(R4, H4, 3, 4, [0; 4], &quoted);
    let r = run4(&p, &c);
    let l4 = &r.packet()[40..];
    assert_eq!(u32::from_be_bytes([l4[4], l4[5], l4[6], l4[7]]), 1512);
    // Never under 1280.
    let p = icmp4_error(R4, H4, 3, 4, [0, 0, 2, 0x40], &quoted); // 576
    let r = run4(&p, &c);
    let l4 = &r.packet()[40..];
    assert_eq!(u32::from_be_bytes([l4[4], l4[5], l4[6], l4[7]]), 1280);
}

#[test]
fn rfc7915_4_2_protocol_unreachable_to_parameter_problem_next_header() {
    let quoted = request4_quote(b"q");
    let p = icmp4_error(R4, H4, 3, 2, [0; 4], &quoted);
    let (_, _, _, l4) = check_v6(run4(&p, &cfg()).packet());
    assert_eq!(&l4[..2], &[4, 1]);
    assert_eq!(u32::from_be_bytes([l4[4], l4[5], l4[6], l4[7]]), 6);
}

#[test]
fn rfc7915_4_2_every_dest_unreachable_code_end_to_end() {
    let quoted = request4_quote(b"q");
    for code in 0..16u8 {
        let p = icmp4_error(R4, H4, 3, code, [0, 0, 0x05, 0xdc], &quoted);
        let r = run4(&p, &cfg());
        match icmp_map::DEST_UNREACH_V4_TO_V6[code as usize] {
            icmp_map::Action::Drop => {
                assert_eq!(r.outcome, Outcome::Drop(DropReason::IcmpUntranslatable))
            }
            icmp_map::Action::To(t, c) => {
                let (_, _, _, l4) = check_v6(r.packet());
                assert_eq!((l4[0], l4[1]), (t, c), "code {code}");
            }
            _ => {
                check_v6(r.packet());
            }
        }
    }
}

#[test]
fn rfc7915_4_2_parameter_problem_pointer_mapping() {
    let quoted = request4_quote(b"q");
    let p = icmp4_error(R4, H4, 12, 0, [9, 0, 0, 0], &quoted);
    let (_, _, _, l4) = check_v6(run4(&p, &cfg()).packet());
    assert_eq!(&l4[..2], &[4, 0]);
    assert_eq!(
        u32::from_be_bytes([l4[4], l4[5], l4[6], l4[7]]),
        6,
        "Protocol -> Next Header"
    );
    let p = icmp4_error(R4, H4, 12, 2, [17, 0, 0, 0], &quoted);
    let (_, _, _, l4) = check_v6(run4(&p, &cfg()).packet());
    assert_eq!(u32::from_be_bytes([l4[4], l4[5], l4[6], l4[7]]), 24);
    let p = icmp4_error(R4, H4, 12, 0, [4, 0, 0, 0], &quoted);
    assert_eq!(
        run4(&p, &cfg()).outcome,
        Outcome::Drop(DropReason::IcmpPointerUntranslatable)
    );
    let p = icmp4_error(R4, H4, 12, 1, [0; 4], &quoted);
    assert_eq!(
        run4(&p, &cfg()).outcome,
        Outcome::Drop(DropReason::IcmpUntranslatable)
    );
}

#[test]
fn rfc7915_4_3_time_exceeded_with_inner_fragment_and_echo() {
    // Inner echo request.
    let mut quoted = Vec::new();
    PacketBuilder::ipv4(H4.octets(), R4.octets(), 1)
        .icmpv4_echo_request(5, 6)
        .write(&mut quoted, b"traceroute")
        .unwrap();
    let p = icmp4_error(R4, H4, 11, 0, [0; 4], &quoted);
    let (_, _, _, l4) = check_v6(run4(&p, &cfg()).packet());
    assert_eq!(&l4[..2], &[3, 0]);
    let (_, _, inh, il4) = check_v6(&l4[8..]);
    assert_eq!(inh, proto::ICMPV6);
    assert_eq!(&il4[..2], &[128, 0]);
    // Inner first fragment of UDP: gets its Fragment header.
    let mut quoted = request4_quote(&[0u8; 64]);
    set_v4(&mut quoted, |h| {
        h.more_fragments = true;
        h.identification = 99;
    });
    let p = icmp4_error(R4, H4, 11, 1, [0; 4], &quoted);
    let r = run4(&p, &cfg());
    let (_, _, _, l4) = check_v6(r.packet());
    let (_, ext, _, _) = check_v6(&l4[8..]);
    assert_eq!(ext.unwrap().ident, 99);
}

/// An RFC 4884 extension: header (version 2) and one 8-byte object.
const EXTENSION: [u8; 12] = [0x20, 0, 0x12, 0x34, 0, 8, 1, 1, 0xde, 0xad, 0xbe, 0xef];

#[test]
fn rfc7915_4_2_icmpv4_extension_carried_with_length_adjusted() {
    let mut quoted = request4_quote(&[7u8; 100]); // 128 bytes
    assert_eq!(quoted.len(), 128);
    quoted.extend_from_slice(&EXTENSION);
    let p = icmp4_error(R4, H4, 3, 3, [0, 32, 0, 0], &quoted); // length 32 words
    let r = run4(&p, &cfg());
    let (_, _, _, l4) = check_v6(r.packet());
    assert_eq!(&l4[..2], &[1, 4]);
    // 40 + 108 bytes of translated datagram, padded to 152 = 19 words.
    assert_eq!(l4[4], 19, "ICMPv6 length attribute in 64-bit words");
    assert_eq!(l4.len(), 8 + 152 + 12);
    let (_, _, inh, il4) = check_v6(&l4[8..8 + 148]);
    assert_eq!(inh, proto::UDP);
    assert_eq!(&il4[8..], &[7u8; 100][..]);
    assert_eq!(&l4[8 + 148..8 + 152], &[0; 4], "zero padding");
    assert_eq!(
        &l4[8 + 152..],
        &EXTENSION,
        "extension passed as opaque bytes"
    );
}

#[test]
fn rfc7915_5_2_icmpv6_extension_carried_with_length_adjusted() {
    let mut quoted = reply6_quote(&[9u8; 80]); // 128 bytes
    assert_eq!(quoted.len(), 128);
    quoted.extend_from_slice(&EXTENSION);
    let p = icmp6_error(h6(), r6(), 1, 4, 16 << 24, &quoted); // length 16 words
    let r = run6(&p, &cfg());
    let (ip, l4) = check_v4(r.packet());
    assert_eq!(&l4[..2], &[3, 3]);
    // 20 + 88 bytes of translated datagram, padded to the 128 minimum.
    assert_eq!(l4[5], 32, "ICMPv4 length attribute in 32-bit words");
    assert_eq!(ip.total_len as usize, 20 + 8 + 128 + 12);
    let (inner, il4) = check_v4(&l4[8..8 + 108]);
    assert_eq!(inner.source, R4.octets());
    assert_eq!(&il4[8..], &[9u8; 80][..]);
    assert_eq!(&l4[8 + 108..8 + 128], &[0; 20], "zero padding");
    assert_eq!(
        &l4[8 + 128..],
        &EXTENSION,
        "extension passed as opaque bytes"
    );
}

#[test]
fn rfc4884_extension_dropped_where_the_result_has_no_length_attribute() {
    let mut quoted = request4_quote(&[7u8; 100]);
    quoted.extend_from_slice(&EXTENSION);
    // Fragmentation Needed becomes Packet Too Big, which has no length.
    let p = icmp4_error(R4, H4, 3, 4, [0, 32, 0x05, 0xdc], &quoted);
    let r = run4(&p, &cfg());
    let (_, _, _, l4) = check_v6(r.packet());
    assert_eq!(l4.len(), 8 + 40 + 108);
}

#[test]
fn rfc7915_4_4_no_error_about_an_error_and_no_nesting() {
    let quoted = request4_quote(b"q");
    let mut p = icmp4_error(R4, H4, 3, 3, [0; 4], &quoted);
    set_v4(&mut p, |h| h.time_to_live = 1);
    assert_eq!(
        run4(&p, &cfg()).outcome,
        Outcome::Drop(DropReason::HopLimitExceeded)
    );
    let inner_err = icmp4_error(H4, R4, 3, 3, [0; 4], &quoted);
    let p = icmp4_error(R4, H4, 3, 3, [0; 4], &inner_err);
    assert_eq!(FlowV4::parse(&p), Err(DropReason::IcmpNestedError));
    let m = V4ToV6::new(map4(&quoted).outer);
    assert_eq!(
        run4_with(&p, &m, &cfg()).outcome,
        Outcome::Drop(DropReason::IcmpNestedError)
    );
}

#[test]
fn rfc7915_4_3_error_needs_headroom() {
    let quoted = request4_quote(b"q");
    let p = icmp4_error(R4, H4, 3, 3, [0; 4], &quoted);
    let m = map4(&p);
    let mut buf = vec![0u8; 8];
    buf.extend_from_slice(&p);
    let o = v4_to_v6(&mut buf, 8, p.len(), &m, &cfg(), &mut Vec::new());
    assert_eq!(o, Outcome::Drop(DropReason::NoHeadroom));
}

// ================================================================== flows

#[test]
fn flow_v6_tuple_for_the_nat() {
    let p = tcp6(64, 40000, 443, b"x");
    let f = FlowV6::parse(&p).unwrap();
    assert_eq!((f.src, f.dst, f.proto), (h6(), r6(), proto::TCP));
    assert_eq!((f.src_port, f.dst_port), (40000, 443));
    assert_eq!(f.tcp_flags, crate::wire::tcp::flags::SYN);
    assert!(f.has_ports() && !f.is_icmp_error());
    let e = FlowV6::parse(&echo6(true, 77, b"")).unwrap();
    assert_eq!((e.src_port, e.dst_port), (77, 77));
    assert!(e.has_ports());
    let err = icmp6_error(h6(), r6(), 1, 4, 0, &reply6_quote(b"a"));
    let f = FlowV6::parse(&err).unwrap();
    let inner = f.icmp.unwrap().inner.unwrap();
    assert_eq!(
        (inner.src, inner.dst, inner.src_port, inner.dst_port),
        (r6(), h6(), 53, 1111)
    );
    assert!(f.is_icmp_error() && !f.has_ports());
    let base = udp6(64, 7, 8, &[0u8; 16]);
    let nf = insert_ext(&base, proto::IPV6_FRAG, &frag_ext(proto::UDP, 3, false, 9));
    let f = FlowV6::parse(&nf).unwrap();
    assert!(!f.has_ports());
    assert_eq!(
        f.fragment,
        Some(Fragment {
            ident: 9,
            offset: 3,
            more: false,
            len: 24,
        })
    );
}

#[test]
fn flow_v4_tuple_for_the_nat() {
    let p = tcp4(64, 443, 61000, b"x");
    let f = FlowV4::parse(&p).unwrap();
    assert_eq!((f.src, f.dst, f.src_port, f.dst_port), (R4, H4, 443, 61000));
    assert_eq!(f.tcp_flags, crate::wire::tcp::flags::ACK);
    let err = icmp4_error(R4, H4, 3, 3, [0; 4], &request4_quote(b"q"));
    let f = FlowV4::parse(&err).unwrap();
    let i = f.icmp.unwrap().inner.unwrap();
    assert_eq!(
        (i.src, i.dst, i.proto, i.src_port, i.dst_port),
        (H4, R4, proto::UDP, 1111, 53)
    );
}

#[test]
fn config_defaults_and_validation() {
    let c = XlatConfig::default();
    assert_eq!(c.validate(), Ok(()));
    assert_eq!(
        (c.ipv4_mtu, c.ipv6_mtu, c.lowest_ipv6_mtu),
        (1500, 1500, 1280)
    );
    assert_eq!(
        XlatConfig { ipv4_mtu: 67, ..c }.validate(),
        Err(ConfigError::new(
            "outside.mtu",
            "IPv4 MTU 67 is below the IPv4 minimum of 68"
        ))
    );
    assert_eq!(
        XlatConfig {
            ipv6_mtu: 1279,
            ..c
        }
        .validate(),
        Err(ConfigError::new(
            "inside.mtu",
            "IPv6 MTU 1279 is below the IPv6 minimum of 1280"
        ))
    );
    assert_eq!(
        XlatConfig {
            lowest_ipv6_mtu: 576,
            ..c
        }
        .validate(),
        Err(ConfigError::new(
            "nat64.translation.lowest_ipv6_mtu",
            "576 is below 1280"
        ))
    );
}

#[test]
fn drop_reason_names_are_unique_and_indexed() {
    let mut names: Vec<_> = DropReason::ALL.iter().map(|r| r.name()).collect();
    for (i, r) in DropReason::ALL.iter().enumerate() {
        assert_eq!(r.index(), i);
    }
    names.sort();
    names.dedup();
    assert_eq!(names.len(), DropReason::COUNT);
}

#[test]
fn fast_paths_take_the_common_packets() {
    let p = udp6(64, 1, 2, b"x");
    let mut b = vec![0u8; ROOM];
    b.extend_from_slice(&p);
    assert!(super::straight::<super::FastV6>(&mut b, ROOM, p.len(), &map6(&p), &cfg()).is_some());
    let p = tcp4(64, 1, 2, b"x");
    let mut b = vec![0u8; ROOM];
    b.extend_from_slice(&p);
    assert!(super::straight::<super::FastV4>(&mut b, ROOM, p.len(), &map4(&p), &cfg()).is_some());
    // Not the odd ones.
    let p = udp6(1, 1, 2, b"x");
    let mut b = vec![0u8; ROOM];
    b.extend_from_slice(&p);
    assert!(super::straight::<super::FastV6>(&mut b, ROOM, p.len(), &map6(&p), &cfg()).is_none());
}
mod props;
