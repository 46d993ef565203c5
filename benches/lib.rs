//! Shared fixtures for plat's criterion benches (packet builders and the
//! like). The benches themselves are the `[[bench]]` targets of this crate.

use plat_core::addr::Prefix6052;
use plat_core::wire::{checksum, ipv4, ipv6, proto, tcp, udp};
use plat_core::xlat::{Tuple4, Tuple6, V4ToV6, V6ToV4};
use std::net::{Ipv4Addr, Ipv6Addr};

/// The prefix the fixtures embed IPv4 addresses with.
pub fn prefix() -> Prefix6052 {
    Prefix6052::new("2001:db8:64::".parse().unwrap(), 96).unwrap()
}

pub const HOST4: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 1);
pub const REMOTE4: Ipv4Addr = Ipv4Addr::new(198, 51, 100, 7);
pub const POOL4: Ipv4Addr = Ipv4Addr::new(203, 0, 113, 1);

fn l4_bytes(protocol: u8, sport: u16, dport: u16, l4_len: usize) -> Vec<u8> {
    let mut l4 = vec![0x5au8; l4_len];
    if protocol == proto::UDP {
        udp::Repr {
            src_port: sport,
            dst_port: dport,
            len: l4_len as u16,
            checksum: 0,
        }
        .emit(&mut l4);
    } else {
        tcp::Repr {
            src_port: sport,
            dst_port: dport,
            seq: 1,
            ack: 2,
            flags: tcp::flags::ACK,
            window: 1000,
            checksum: 0,
        }
        .emit(&mut l4);
    }
    l4
}

fn fill_l4_checksum(protocol: u8, l4: &mut [u8], pseudo: u16) {
    let at = if protocol == proto::UDP {
        udp::OFFSET_CHECKSUM
    } else {
        tcp::OFFSET_CHECKSUM
    };
    let c = checksum::finish(checksum::add(pseudo, checksum::sum(l4)));
    l4[at..at + 2].copy_from_slice(&c.to_be_bytes());
}

/// An IPv6 TCP or UDP packet of `len` bytes from HOST to REMOTE.
pub fn packet6(protocol: u8, len: usize) -> Vec<u8> {
    let p = prefix();
    packet6_flow(protocol, len, p.embed(HOST4), 40000, REMOTE4, 443)
}

/// An IPv6 TCP or UDP packet of `len` bytes from `src` port `sport` to
/// `dst4` (embedded in [`prefix`]) port `dport`, checksums valid.
pub fn packet6_flow(
    protocol: u8,
    len: usize,
    src: Ipv6Addr,
    sport: u16,
    dst4: Ipv4Addr,
    dport: u16,
) -> Vec<u8> {
    let dst = prefix().embed(dst4);
    let mut l4 = l4_bytes(protocol, sport, dport, len - ipv6::HEADER_LEN);
    let ps = checksum::pseudo_v6(&src.octets(), &dst.octets(), protocol, l4.len() as u32);
    fill_l4_checksum(protocol, &mut l4, ps);
    let mut v = vec![0u8; ipv6::HEADER_LEN];
    ipv6::Repr {
        src,
        dst,
        next_header: protocol,
        hop_limit: 64,
        traffic_class: 0,
        flow_label: 0x12345,
        payload_len: l4.len(),
    }
    .emit(&mut v);
    v.extend_from_slice(&l4);
    v
}

/// An IPv4 TCP or UDP packet of `len` bytes from REMOTE to POOL.
pub fn packet4(protocol: u8, len: usize) -> Vec<u8> {
    packet4_flow(protocol, len, REMOTE4, 443, POOL4, 61000)
}

/// An IPv4 TCP or UDP packet of `len` bytes from `src` port `sport` to
/// `dst` port `dport`, checksums valid.
pub fn packet4_flow(
    protocol: u8,
    len: usize,
    src: Ipv4Addr,
    sport: u16,
    dst: Ipv4Addr,
    dport: u16,
) -> Vec<u8> {
    let mut l4 = l4_bytes(protocol, sport, dport, len - ipv4::MIN_HEADER_LEN);
    let ps = checksum::pseudo_v4(src.octets(), dst.octets(), protocol, l4.len() as u16);
    fill_l4_checksum(protocol, &mut l4, ps);
    let mut v = vec![0u8; ipv4::MIN_HEADER_LEN];
    ipv4::Repr {
        src,
        dst,
        protocol,
        tos: 0,
        ttl: 64,
        ident: 7,
        dont_frag: true,
        more_frags: false,
        frag_offset: 0,
        payload_len: l4.len(),
    }
    .emit(&mut v);
    v.extend_from_slice(&l4);
    v
}

/// What a stateful NAT would decide for `packet6`: HOST:40000 -> POOL:61000.
pub fn map6() -> V6ToV4 {
    V6ToV4::new(
        Tuple4 {
            src: POOL4,
            dst: REMOTE4,
            src_port: 61000,
            dst_port: 443,
        },
        0x4242,
    )
}

/// The return direction for `packet4`: POOL:61000 -> HOST:40000.
pub fn map4() -> V4ToV6 {
    let p = prefix();
    V4ToV6::new(Tuple6 {
        src: p.embed(REMOTE4),
        dst: p.embed(HOST4),
        src_port: 443,
        dst_port: 40000,
    })
}
