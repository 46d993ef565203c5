//! Frame builders: an IPv6 or IPv4 packet in an Ethernet frame, with a UDP,
//! TCP or ICMP echo payload and valid checksums. One body per header kind,
//! shared by every scenario and by both sides of the TCP exchange.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use plat_core::wire::{checksum, ethernet, icmpv6, ipv4, ipv6, proto, tcp, udp};

/// What sits above IP in a frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum L4 {
    /// A UDP datagram; the payload counts 0, 1, 2... (mod 256).
    Udp { src: u16, dst: u16 },
    /// A TCP segment without options; payload bytes as for UDP.
    Tcp {
        src: u16,
        dst: u16,
        seq: u32,
        ack: u32,
        flags: u8,
    },
    /// An ICMPv6 echo request (the only ICMP the scenarios send).
    EchoRequest { ident: u16, seq: u16 },
}

impl L4 {
    fn header_len(self) -> usize {
        match self {
            L4::Udp { .. } => udp::HEADER_LEN,
            L4::Tcp { .. } => tcp::MIN_HEADER_LEN,
            L4::EchoRequest { .. } => 8,
        }
    }
    fn proto(self) -> u8 {
        match self {
            L4::Udp { .. } => proto::UDP,
            L4::Tcp { .. } => proto::TCP,
            L4::EchoRequest { .. } => proto::ICMPV6,
        }
    }
    /// Offset of the checksum inside the L4 header.
    fn checksum_at(self) -> usize {
        match self {
            L4::Udp { .. } => udp::OFFSET_CHECKSUM,
            L4::Tcp { .. } => tcp::OFFSET_CHECKSUM,
            L4::EchoRequest { .. } => 2,
        }
    }
}

/// Ethernet addresses of a frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Macs {
    /// Destination MAC.
    pub dst: [u8; 6],
    /// Source MAC.
    pub src: [u8; 6],
}

/// The smallest frame carrying `l4` over IPv6 with no payload.
pub fn min_len6(l4: L4) -> usize {
    ethernet::HEADER_LEN + ipv6::HEADER_LEN + l4.header_len()
}

/// Writes an Ethernet frame of `len` bytes (at least the headers) into
/// `buf`: IP (v4 or v6 after `src`/`dst`), then `l4` and a payload filling
/// the rest, checksums valid. Returns the frame length.
#[allow(clippy::too_many_arguments)]
pub fn write(
    buf: &mut [u8],
    len: usize,
    macs: Macs,
    src: IpAddr,
    dst: IpAddr,
    ttl: u8,
    l4: L4,
) -> usize {
    let ip_len = match src {
        IpAddr::V6(_) => ipv6::HEADER_LEN,
        IpAddr::V4(_) => ipv4::MIN_HEADER_LEN,
    };
    let len = len.max(ethernet::HEADER_LEN + ip_len + l4.header_len());
    let frame = &mut buf[..len];
    frame.fill(0);
    let ethertype = match src {
        IpAddr::V6(_) => ethernet::ethertype::IPV6,
        IpAddr::V4(_) => ethernet::ethertype::IPV4,
    };
    ethernet::Repr {
        dst: macs.dst,
        src: macs.src,
        vlan_tci: None,
        ethertype,
    }
    .emit(frame);
    let (ip, l4buf) = frame[ethernet::HEADER_LEN..].split_at_mut(ip_len);
    let l4_len = l4buf.len();
    let pseudo = match (src, dst) {
        (IpAddr::V6(s), IpAddr::V6(d)) => {
            ipv6_header(ip, s, d, l4.proto(), ttl, l4_len);
            checksum::pseudo_v6(&s.octets(), &d.octets(), l4.proto(), l4_len as u32)
        }
        (IpAddr::V4(s), IpAddr::V4(d)) => {
            ipv4_header(ip, s, d, l4.proto(), ttl, l4_len);
            checksum::pseudo_v4(s.octets(), d.octets(), l4.proto(), l4_len as u16)
        }
        _ => unreachable!("source and destination of one family"),
    };
    for (i, b) in l4buf[l4.header_len()..].iter_mut().enumerate() {
        *b = i as u8;
    }
    match l4 {
        L4::Udp { src, dst } => udp::Repr {
            src_port: src,
            dst_port: dst,
            len: l4_len as u16,
            checksum: 0,
        }
        .emit(l4buf),
        L4::Tcp {
            src,
            dst,
            seq,
            ack,
            flags,
        } => tcp::Repr {
            src_port: src,
            dst_port: dst,
            seq,
            ack,
            flags,
            window: 65_535,
            checksum: 0,
        }
        .emit(l4buf),
        L4::EchoRequest { ident, seq } => {
            let [i0, i1] = ident.to_be_bytes();
            let [s0, s1] = seq.to_be_bytes();
            icmpv6::Repr {
                msg_type: icmpv6::msg_type::ECHO_REQUEST,
                code: 0,
                rest: [i0, i1, s0, s1],
            }
            .emit(l4buf)
        }
    }
    // ICMPv6 (RFC 4443 2.3) covers the pseudo-header like UDP and TCP do.
    let mut c = checksum::finish(checksum::add(pseudo, checksum::sum(l4buf)));
    if c == 0 && matches!(l4, L4::Udp { .. }) {
        // RFC 768: a computed zero is sent as all ones.
        c = 0xffff;
    }
    let at = l4.checksum_at();
    l4buf[at..at + 2].copy_from_slice(&c.to_be_bytes());
    len
}

fn ipv6_header(buf: &mut [u8], src: Ipv6Addr, dst: Ipv6Addr, next: u8, hop: u8, len: usize) {
    ipv6::Repr {
        src,
        dst,
        next_header: next,
        hop_limit: hop,
        traffic_class: 0,
        flow_label: 0,
        payload_len: len,
    }
    .emit(buf);
}

fn ipv4_header(buf: &mut [u8], src: Ipv4Addr, dst: Ipv4Addr, protocol: u8, ttl: u8, len: usize) {
    ipv4::Repr {
        src,
        dst,
        protocol,
        tos: 0,
        ttl,
        ident: 0,
        // RFC 7915 5.1: a translated IPv6 packet gets DF set.
        dont_frag: true,
        more_frags: false,
        frag_offset: 0,
        payload_len: len,
    }
    .emit(buf);
}
