//! ICMP errors the translator originates for packets it will not forward
//! (RFC 7915 4.4 and 5.4), built in place in front of the packet they
//! quote so no buffer is allocated.

use super::{DropReason, Outcome, XlatConfig, ICMPV4_ERROR_MAX, ICMPV6_ERROR_MAX};
use crate::wire::{checksum, icmpv4, icmpv6, ipv4, ipv6, proto};
use std::net::{Ipv4Addr, Ipv6Addr};

const V6_HEADERS: usize = ipv6::HEADER_LEN + icmpv6::HEADER_LEN;
const V4_HEADERS: usize = ipv4::MIN_HEADER_LEN + icmpv4::HEADER_LEN;

/// Type, code and the four "rest of header" bytes of an error to send.
#[derive(Debug, Clone, Copy)]
pub(super) struct Icmp {
    pub msg_type: u8,
    pub code: u8,
    pub rest: [u8; 4],
}

impl Icmp {
    pub fn new(msg_type: u8, code: u8) -> Self {
        Icmp {
            msg_type,
            code,
            rest: [0; 4],
        }
    }
    pub fn with_word(msg_type: u8, code: u8, word: u32) -> Self {
        Icmp {
            msg_type,
            code,
            rest: word.to_be_bytes(),
        }
    }
}

/// Answers the IPv6 packet at `buf[l3_start..l3_start + len]` with an
/// ICMPv6 error, or drops it with `reason` when no error may be sent.
///
/// RFC 7915 5.4: "If the IPv6 packet is discarded, then the translator
/// SHOULD send back an ICMPv6 error message to the original sender of the
/// packet, unless the discarded packet is itself an ICMPv6 message." --
/// RFC 4443 2.4 (e) lists what else is never answered: errors, and packets
/// from an address that does not identify a single node.
pub(super) fn v6(
    buf: &mut [u8],
    l3_start: usize,
    len: usize,
    icmp: Icmp,
    reason: DropReason,
    is_icmp_error: bool,
    cfg: &XlatConfig,
) -> Result<Outcome, DropReason> {
    if !cfg.send_icmp_errors || is_icmp_error {
        return Err(reason);
    }
    let orig = ipv6::Packet::new_unchecked(&buf[l3_start..l3_start + len]);
    let (src, dst) = (orig.src_addr(), orig.dst_addr());
    if src.is_unspecified() || src.is_multicast() || dst.is_multicast() {
        return Err(reason);
    }
    if l3_start < V6_HEADERS {
        return Err(DropReason::NoHeadroom);
    }
    let quote = len.min(ICMPV6_ERROR_MAX - V6_HEADERS);
    let start = l3_start - V6_HEADERS;
    let total = V6_HEADERS + quote;
    let from: Ipv6Addr = cfg.icmpv6_error_source.unwrap_or(dst);
    let out = &mut buf[start..start + total];
    ipv6::Repr {
        src: from,
        dst: src,
        next_header: proto::ICMPV6,
        hop_limit: cfg.icmp_error_hop_limit,
        traffic_class: 0,
        flow_label: 0,
        payload_len: icmpv6::HEADER_LEN + quote,
    }
    .emit(out);
    let (hdr, msg) = out.split_at_mut(ipv6::HEADER_LEN);
    icmpv6::Repr {
        msg_type: icmp.msg_type,
        code: icmp.code,
        rest: icmp.rest,
    }
    .emit(msg);
    let h = ipv6::Packet::new_unchecked(&*hdr);
    icmpv6::Packet::new_unchecked(msg).fill_checksum(&h.src_octets(), &h.dst_octets());
    Ok(Outcome::Reply {
        l3_start: start,
        l3_len: total,
        reason,
    })
}

/// Whether an IPv4 address identifies a single node an error may go to.
fn is_unicast_v4(a: Ipv4Addr) -> bool {
    !(a.octets()[0] == 0 || a.is_multicast() || a.is_broadcast() || a.octets()[0] >= 240)
}

/// Answers the IPv4 packet at `buf[l3_start..l3_start + len]` with an
/// ICMPv4 error, or drops it with `reason`.
///
/// RFC 7915 4.4: "If the IPv4 packet is discarded, then the translator
/// SHOULD be able to send back an ICMPv4 error message to the original
/// sender of the packet, unless the discarded packet is itself an ICMPv4
/// error message." RFC 1812 4.3.2.7 adds: not for non-initial fragments,
/// nor to or from broadcast and multicast addresses.
pub(super) fn v4(
    buf: &mut [u8],
    l3_start: usize,
    len: usize,
    icmp: Icmp,
    reason: DropReason,
    is_icmp_error: bool,
    cfg: &XlatConfig,
) -> Result<Outcome, DropReason> {
    if !cfg.send_icmp_errors || is_icmp_error {
        return Err(reason);
    }
    let orig = ipv4::Packet::new_unchecked(&buf[l3_start..l3_start + len]);
    let (src, dst, ident) = (orig.src_addr(), orig.dst_addr(), orig.ident());
    if !is_unicast_v4(src) || !is_unicast_v4(dst) || orig.frag_offset() != 0 {
        return Err(reason);
    }
    if l3_start < V4_HEADERS {
        return Err(DropReason::NoHeadroom);
    }
    let quote = len.min(
        ICMPV4_ERROR_MAX
            .min(cfg.ipv4_mtu as usize)
            .saturating_sub(V4_HEADERS),
    );
    let start = l3_start - V4_HEADERS;
    let total = V4_HEADERS + quote;
    let out = &mut buf[start..start + total];
    ipv4::Repr {
        src: cfg.icmpv4_error_source.unwrap_or(dst),
        dst: src,
        protocol: proto::ICMP,
        tos: 0,
        ttl: cfg.icmp_error_hop_limit,
        ident,
        dont_frag: false,
        more_frags: false,
        frag_offset: 0,
        payload_len: icmpv4::HEADER_LEN + quote,
    }
    .emit(out);
    let msg = &mut out[ipv4::MIN_HEADER_LEN..];
    icmpv4::Repr {
        msg_type: icmp.msg_type,
        code: icmp.code,
        rest: icmp.rest,
    }
    .emit(msg);
    let c = checksum::finish(checksum::sum(msg));
    msg[2..4].copy_from_slice(&c.to_be_bytes());
    Ok(Outcome::Reply {
        l3_start: start,
        l3_len: total,
        reason,
    })
}
