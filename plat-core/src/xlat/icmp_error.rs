//! ICMP error messages with the packet they quote (RFC 7915 4.3 and 5.3):
//! "The ICMP error messages containing the packet in error MUST be
//! translated just like a normal IP packet (except the TTL value of the
//! inner IPv4/IPv6 packet)."
//!
//! Both directions work in place: the quoted transport bytes stay where
//! they are, and the three headers in front of them (outer IP, ICMP, inner
//! IP) are rewritten to end right before them.

use super::icmp_map::{self, Action};
use super::v6_to_v4 as to_v4;
use super::{l4, mtu};
use super::{DropReason, Outcome, V4ToV6, V6ToV4, XlatConfig, ICMPV4_ERROR_MAX, ICMPV6_ERROR_MAX};
use crate::wire::ipv6_ext::{self, FragmentHeader, FRAGMENT_HEADER_LEN};
use crate::wire::{be16, be32, checksum, icmpv4, icmpv6, ipv4, ipv6, proto};

/// RFC 4884 4: with extensions, the "original datagram" field is at least
/// 128 octets.
const RFC4884_MIN_FIELD: usize = 128;

/// Where an ICMP error with an RFC 4884 extension goes after translation.
struct ExtLayout {
    /// Start of the translated message (outer IP header).
    start: usize,
    /// Its total length.
    total: usize,
    /// Length of the "original datagram" field, padding included.
    field: usize,
}

/// Lays out a translated error that keeps its RFC 4884 extension: outer IP
/// and ICMP headers (`outer` bytes), the field (translated inner header of
/// `inner_hdr` bytes, the quoted transport bytes, zero padding to a
/// multiple of `unit` and at least 128 octets), then the extension, left
/// where it is in the buffer. The quoted bytes at `il4_at..q_end` are moved
/// (left to make room for padding, right when cut to fit `max`); `None`
/// when the extension cannot fit, and it is then dropped.
///
/// RFC 7915 4.2/5.2: "the translation of the ICMPv4 packet will cause the
/// ICMPv6 packet to change length. When this occurs, the ICMPv6 Extension
/// length attribute MUST be adjusted accordingly".
#[allow(clippy::too_many_arguments)]
fn layout_with_extension(
    buf: &mut [u8],
    il4_at: usize,
    q_end: usize,
    ext_end: usize,
    outer: usize,
    inner_hdr: usize,
    unit: usize,
    max: usize,
) -> Option<ExtLayout> {
    let quoted = q_end - il4_at;
    let ext_len = ext_end - q_end;
    let field_max = max.checked_sub(outer + ext_len)? / unit * unit;
    if field_max < RFC4884_MIN_FIELD || field_max < inner_hdr {
        return None;
    }
    let natural = inner_hdr + quoted;
    let (keep, pad) = if natural > field_max {
        (field_max - inner_hdr, 0)
    } else {
        let field = natural.div_ceil(unit).max(RFC4884_MIN_FIELD / unit) * unit;
        (quoted, field - natural)
    };
    let data_at = (q_end - pad).checked_sub(keep)?;
    let start = data_at.checked_sub(inner_hdr + outer)?;
    buf.copy_within(il4_at..il4_at + keep, data_at);
    buf[q_end - pad..q_end].fill(0);
    Some(ExtLayout {
        start,
        total: outer + inner_hdr + keep + pad + ext_len,
        field: inner_hdr + keep + pad,
    })
}

/// What the translator reads of a quoted IPv6 packet.
#[derive(Debug, Clone, Copy)]
pub(super) struct Inner6 {
    pub src: [u8; 16],
    pub dst: [u8; 16],
    pub traffic_class: u8,
    pub hop_limit: u8,
    pub payload_len: u16,
    pub chain: ipv6_ext::Chain,
}

/// Parses a quoted IPv6 packet, which may be cut short anywhere after its
/// fixed header. "This process MUST stop at the first embedded header and
/// drop the packet if it contains more embedded headers": an ICMPv6 error
/// inside is refused.
pub(super) fn parse_inner6(q: &[u8]) -> Result<Inner6, DropReason> {
    if q.len() < ipv6::HEADER_LEN || q[0] >> 4 != 6 {
        return Err(DropReason::IcmpInnerMalformed);
    }
    let p = ipv6::Packet::new_unchecked(q);
    let payload_len = p.payload_len();
    let avail = (q.len() - ipv6::HEADER_LEN).min(payload_len as usize);
    let payload = &q[ipv6::HEADER_LEN..ipv6::HEADER_LEN + avail];
    let chain =
        ipv6_ext::walk(payload, p.next_header()).map_err(|_| DropReason::IcmpInnerMalformed)?;
    // Translated like an outer packet (RFC 7915 5.3), so refused like one.
    if chain.ext_after_fragment || chain.routing_segments_left_at.is_some() {
        return Err(DropReason::IcmpInnerMalformed);
    }
    let first = chain.fragment.is_none_or(|(_, f)| f.offset == 0);
    if chain.upper_proto == proto::ICMPV6
        && first
        && chain.upper_offset < avail
        && icmpv6::is_error(payload[chain.upper_offset])
    {
        return Err(DropReason::IcmpNestedError);
    }
    if chain.upper_proto == proto::ICMP {
        return Err(DropReason::IcmpWrongFamily);
    }
    Ok(Inner6 {
        src: p.src_octets(),
        dst: p.dst_octets(),
        traffic_class: p.traffic_class(),
        hop_limit: p.hop_limit(),
        payload_len,
        chain,
    })
}

/// What the translator reads of a quoted IPv4 packet.
#[derive(Debug, Clone, Copy)]
pub(super) struct Inner4 {
    pub header_len: usize,
    pub total_len: u16,
    pub tos: u8,
    pub ttl: u8,
    pub protocol: u8,
    pub ident: u16,
    pub more_frags: bool,
    pub frag_offset: u16,
    pub src: [u8; 4],
    pub dst: [u8; 4],
}

impl Inner4 {
    pub fn is_fragment(&self) -> bool {
        self.more_frags || self.frag_offset != 0
    }
}

/// Parses a quoted IPv4 packet (header complete, the rest possibly cut).
pub(super) fn parse_inner4(q: &[u8]) -> Result<Inner4, DropReason> {
    if q.len() < ipv4::MIN_HEADER_LEN || q[0] >> 4 != 4 {
        return Err(DropReason::IcmpInnerMalformed);
    }
    let p = ipv4::Packet::new_unchecked(q);
    let header_len = p.header_len();
    if header_len < ipv4::MIN_HEADER_LEN || header_len > q.len() {
        return Err(DropReason::IcmpInnerMalformed);
    }
    let inner = Inner4 {
        header_len,
        total_len: p.total_len(),
        tos: p.tos(),
        ttl: p.ttl(),
        protocol: p.protocol(),
        ident: p.ident(),
        more_frags: p.more_frags(),
        frag_offset: p.frag_offset(),
        src: p.src_octets(),
        dst: p.dst_octets(),
    };
    if inner.protocol == proto::ICMP
        && inner.frag_offset == 0
        && q.len() > header_len
        && icmpv4::is_error(q[header_len])
    {
        return Err(DropReason::IcmpNestedError);
    }
    if inner.protocol == proto::ICMPV6 {
        return Err(DropReason::IcmpWrongFamily);
    }
    if super::v4_to_v6::is_ipv6_ext_number(inner.protocol)
        || (inner.is_fragment() && ipv6_ext::is_extension_header(inner.protocol))
    {
        return Err(DropReason::IcmpInnerMalformed);
    }
    Ok(inner)
}

/// Translates the ICMPv6 error whose ICMPv6 header is at `buf[icmp_at..]`
/// (the outer IPv6 header at `l3_start`, ending at `end`). `ttl` is the
/// outer hop limit already decremented (RFC 7915 5.1).
#[allow(clippy::too_many_arguments)]
pub(super) fn v6_to_v4(
    buf: &mut [u8],
    icmp_at: usize,
    end: usize,
    ttl: u8,
    traffic_class: u8,
    map: &V6ToV4,
    cfg: &XlatConfig,
) -> Result<Outcome, DropReason> {
    if end - icmp_at < icmpv6::HEADER_LEN {
        return Err(DropReason::L4Truncated);
    }
    let (t, c) = (buf[icmp_at], buf[icmp_at + 1]);
    let word = be32(buf, icmp_at + 4);
    let (t4, c4, rest) = match icmp_map::v6_to_v4(t, c) {
        Action::Drop | Action::NextHeaderProblem => return Err(DropReason::IcmpUntranslatable),
        Action::To(t4, c4) => (t4, c4, [0u8; 4]),
        Action::Mtu(t4, c4) => {
            let m = mtu::frag_needed_mtu(word, cfg).to_be_bytes();
            (t4, c4, [0, 0, m[0], m[1]])
        }
        Action::Pointer(t4, c4) => {
            let p =
                icmp_map::pointer_v6_to_v4(word).ok_or(DropReason::IcmpPointerUntranslatable)?;
            (t4, c4, [p, 0, 0, 0])
        }
    };
    // RFC 4884: Destination Unreachable and Time Exceeded may say how long
    // the original datagram field is (64-bit words); what follows it is an
    // extension, carried over as an opaque string.
    let len_attr = if matches!(
        t,
        icmpv6::msg_type::DEST_UNREACHABLE | icmpv6::msg_type::TIME_EXCEEDED
    ) {
        buf[icmp_at + 4] as usize * 8
    } else {
        0
    };
    let q_at = icmp_at + icmpv6::HEADER_LEN;
    let q_end = if len_attr != 0 {
        (q_at + len_attr).min(end)
    } else {
        end
    };
    let has_ext = len_attr >= RFC4884_MIN_FIELD && q_end < end;
    let inner = parse_inner6(&buf[q_at..q_end])?;
    let ch = inner.chain;
    let il4_at = q_at + ipv6::HEADER_LEN + ch.upper_offset;
    // Bytes past the quoted packet's own length are not part of it.
    let declared = q_at + ipv6::HEADER_LEN + inner.payload_len as usize;
    let il4_end = q_end.min(declared).max(il4_at);
    let first = ch.fragment.is_none_or(|(_, f)| f.offset == 0);
    let upper_len = (inner.payload_len as usize).saturating_sub(ch.upper_offset);

    if first {
        let im = &map.inner;
        let q = &mut buf[il4_at..il4_end];
        match ch.upper_proto {
            proto::TCP | proto::UDP => {
                let old = checksum::addrs_v6(&inner.src, &inner.dst);
                let new = checksum::addrs_v4(im.src.octets(), im.dst.octets());
                l4::transport(q, ch.upper_proto, im.src_port, im.dst_port, old, new);
            }
            proto::ICMPV6 => {
                if q.len() < icmpv6::HEADER_LEN {
                    return Err(DropReason::IcmpInnerMalformed);
                }
                let (it, ic) = (q[0], q[1]);
                if icmpv6::is_error(it) {
                    return Err(DropReason::IcmpNestedError);
                }
                let Action::To(t4, c4) = icmp_map::v6_to_v4(it, ic) else {
                    return Err(DropReason::IcmpUntranslatable);
                };
                let ident = l4::query_ident(
                    it == icmpv6::msg_type::ECHO_REQUEST,
                    im.src_port,
                    im.dst_port,
                );
                let ph =
                    checksum::pseudo_v6(&inner.src, &inner.dst, proto::ICMPV6, upper_len as u32);
                l4::icmp_query(q, t4, c4, ident, ph, 0)?;
            }
            _ => {}
        }
    }

    // Headers: outer IPv4 (20), ICMPv4 (8), inner IPv4 (20), then the
    // quoted transport bytes, cut so the error stays within 576 bytes.
    const HDRS: usize = ipv4::MIN_HEADER_LEN * 2 + icmpv4::HEADER_LEN;
    const OUTER: usize = ipv4::MIN_HEADER_LEN + icmpv4::HEADER_LEN;
    let max = ICMPV4_ERROR_MAX.min(cfg.ipv4_mtu as usize);
    let ext = if has_ext {
        layout_with_extension(buf, il4_at, q_end, end, OUTER, ipv4::MIN_HEADER_LEN, 4, max)
    } else {
        None
    };
    let mut rest = rest;
    let (start, total) = match ext {
        Some(e) => {
            // The ICMPv4 length attribute counts 32-bit words (RFC 4884 4.1).
            rest[1] = (e.field / 4) as u8;
            (e.start, e.total)
        }
        None => {
            let quoted = (il4_end - il4_at).min(max.saturating_sub(HDRS));
            (il4_at - HDRS, HDRS + quoted)
        }
    };
    let inner_total = ipv4::MIN_HEADER_LEN + upper_len;
    let (ident, df, mf, off) = match ch.fragment {
        Some((_, f)) => (f.ident as u16, false, f.more, f.offset),
        None => (0, to_v4::dont_fragment(inner_total, cfg), false, 0),
    };
    ipv4::Repr {
        src: map.inner.src,
        dst: map.inner.dst,
        protocol: if ch.upper_proto == proto::ICMPV6 {
            proto::ICMP
        } else {
            ch.upper_proto
        },
        tos: super::copied_class(inner.traffic_class, cfg),
        // RFC 7915 5.3: "the TTL/Hop Limit value of the inner IPv4/IPv6
        // packet are not decremented".
        ttl: inner.hop_limit,
        ident,
        dont_frag: df,
        more_frags: mf,
        frag_offset: off,
        payload_len: upper_len.min(u16::MAX as usize - ipv4::MIN_HEADER_LEN),
    }
    .emit(&mut buf[start + 28..start + 48]);
    {
        let msg = &mut buf[start + 20..start + total];
        icmpv4::Repr {
            msg_type: t4,
            code: c4,
            rest,
        }
        .emit(msg);
        let cs = checksum::finish(checksum::sum(msg));
        msg[2..4].copy_from_slice(&cs.to_be_bytes());
    }
    // RFC 7915 5.3: "the Total Length field in the outer IPv4 header MUST
    // be updated."
    ipv4::Repr {
        src: map.outer.src,
        dst: map.outer.dst,
        protocol: proto::ICMP,
        tos: super::copied_class(traffic_class, cfg),
        ttl,
        ident: map.ipv4_id,
        dont_frag: false,
        more_frags: false,
        frag_offset: 0,
        payload_len: total - ipv4::MIN_HEADER_LEN,
    }
    .emit(&mut buf[start..start + 20]);
    Ok(Outcome::Forward {
        l3_start: start,
        l3_len: total,
    })
}

/// Translates the ICMPv4 error at `buf[l3_start + hlen..end]`.
/// `hop_limit` is the outer TTL already decremented (RFC 7915 4.1).
#[allow(clippy::too_many_arguments)]
pub(super) fn v4_to_v6(
    buf: &mut [u8],
    l3_start: usize,
    hlen: usize,
    end: usize,
    hop_limit: u8,
    tos: u8,
    map: &V4ToV6,
    cfg: &XlatConfig,
) -> Result<Outcome, DropReason> {
    let icmp_at = l3_start + hlen;
    if end - icmp_at < icmpv4::HEADER_LEN {
        return Err(DropReason::L4Truncated);
    }
    let (t, c) = (buf[icmp_at], buf[icmp_at + 1]);
    let q_at = icmp_at + icmpv4::HEADER_LEN;
    // RFC 4884: the length attribute (32-bit words) of Destination
    // Unreachable, Time Exceeded and Parameter Problem; extensions after it
    // are not carried over.
    let len_attr = if matches!(
        t,
        icmpv4::msg_type::DEST_UNREACHABLE
            | icmpv4::msg_type::TIME_EXCEEDED
            | icmpv4::msg_type::PARAMETER_PROBLEM
    ) {
        buf[icmp_at + 5] as usize * 4
    } else {
        0
    };
    let q_end = if len_attr != 0 {
        (q_at + len_attr).min(end)
    } else {
        end
    };
    let has_ext = len_attr >= RFC4884_MIN_FIELD && q_end < end;
    let inner = parse_inner4(&buf[q_at..q_end])?;
    let (t6, c6, rest) = match icmp_map::v4_to_v6(t, c) {
        Action::Drop => return Err(DropReason::IcmpUntranslatable),
        Action::To(t6, c6) => (t6, c6, [0u8; 4]),
        Action::Mtu(t6, c6) => {
            let m = mtu::packet_too_big_mtu(be16(buf, icmp_at + 6), inner.total_len, cfg);
            (t6, c6, m.to_be_bytes())
        }
        Action::Pointer(t6, c6) => {
            let p = icmp_map::pointer_v4_to_v6(buf[icmp_at + 4])
                .ok_or(DropReason::IcmpPointerUntranslatable)?;
            (t6, c6, (p as u32).to_be_bytes())
        }
        // RFC 7915 4.2: "make the Pointer point to the IPv6 Next Header
        // field (which is 6)".
        Action::NextHeaderProblem => (
            icmpv6::msg_type::PARAMETER_PROBLEM,
            icmpv6::param::UNRECOGNIZED_NEXT_HEADER,
            (ipv6::OFFSET_NEXT_HEADER as u32).to_be_bytes(),
        ),
    };

    let il4_at = q_at + inner.header_len;
    let declared = q_at + inner.total_len as usize;
    let il4_end = q_end.min(declared).max(il4_at);
    let upper_len = (inner.total_len as usize).saturating_sub(inner.header_len);
    let first = inner.frag_offset == 0;
    let inner_upper = if inner.protocol == proto::ICMP {
        proto::ICMPV6
    } else {
        inner.protocol
    };
    let im = &map.inner;
    let (isrc, idst) = (im.src.octets(), im.dst.octets());
    let frag_hdr = if inner.is_fragment() {
        FRAGMENT_HEADER_LEN
    } else {
        0
    };
    const FIXED: usize = ipv6::HEADER_LEN * 2 + icmpv6::HEADER_LEN;
    let hdrs = FIXED + frag_hdr;
    if il4_at < hdrs {
        return Err(DropReason::NoHeadroom);
    }

    if first {
        let q = &mut buf[il4_at..il4_end];
        match inner.protocol {
            proto::TCP | proto::UDP => {
                let old = checksum::addrs_v4(inner.src, inner.dst);
                let new = checksum::addrs_v6(&isrc, &idst);
                l4::transport(q, inner.protocol, im.src_port, im.dst_port, old, new);
            }
            proto::ICMP => {
                if q.len() < icmpv4::HEADER_LEN {
                    return Err(DropReason::IcmpInnerMalformed);
                }
                let (it, ic) = (q[0], q[1]);
                if icmpv4::is_error(it) {
                    return Err(DropReason::IcmpNestedError);
                }
                let Action::To(t6, c6) = icmp_map::v4_to_v6(it, ic) else {
                    return Err(DropReason::IcmpUntranslatable);
                };
                let ident = l4::query_ident(
                    it == icmpv4::msg_type::ECHO_REQUEST,
                    im.src_port,
                    im.dst_port,
                );
                let ph = checksum::pseudo_v6(&isrc, &idst, proto::ICMPV6, upper_len as u32);
                l4::icmp_query(q, t6, c6, ident, 0, ph)?;
            }
            _ => {}
        }
    }

    // RFC 4443 2.4 (c): the error must not exceed the minimum IPv6 MTU.
    let max = ICMPV6_ERROR_MAX.min(cfg.ipv6_mtu as usize);
    const OUTER: usize = ipv6::HEADER_LEN + icmpv6::HEADER_LEN;
    // Only Destination Unreachable and Time Exceeded have a length
    // attribute in ICMPv6 (RFC 4884 4.1); other results drop the extension.
    let ext = if has_ext
        && matches!(
            t6,
            icmpv6::msg_type::DEST_UNREACHABLE | icmpv6::msg_type::TIME_EXCEEDED
        ) {
        layout_with_extension(buf, il4_at, q_end, end, OUTER, hdrs - OUTER, 8, max)
    } else {
        None
    };
    let mut rest = rest;
    let (start, total) = match ext {
        Some(e) => {
            // The ICMPv6 length attribute counts 64-bit words.
            rest[0] = (e.field / 8) as u8;
            (e.start, e.total)
        }
        None => {
            let quoted = (il4_end - il4_at).min(max.saturating_sub(hdrs));
            (il4_at - hdrs, hdrs + quoted)
        }
    };
    // Inner header (and Fragment header), translated as a normal packet
    // but for the TTL (RFC 7915 4.3).
    let ih = start + ipv6::HEADER_LEN + icmpv6::HEADER_LEN;
    ipv6::Repr {
        src: im.src,
        dst: im.dst,
        next_header: if frag_hdr != 0 {
            proto::IPV6_FRAG
        } else {
            inner_upper
        },
        hop_limit: inner.ttl,
        traffic_class: super::copied_class(inner.tos, cfg),
        flow_label: 0,
        payload_len: (frag_hdr + upper_len).min(u16::MAX as usize),
    }
    .emit(&mut buf[ih..ih + ipv6::HEADER_LEN]);
    if frag_hdr != 0 {
        FragmentHeader::new_unchecked(&mut buf[ih + ipv6::HEADER_LEN..start + hdrs]).emit(
            inner_upper,
            inner.frag_offset,
            inner.more_frags,
            inner.ident as u32,
        );
    }
    // RFC 7915 4.3: "If the translation of this "packet in error" changes
    // the length of the datagram, the Total Length field in the outer IPv6
    // header MUST be updated."
    let outer = ipv6::Repr {
        src: map.outer.src,
        dst: map.outer.dst,
        next_header: proto::ICMPV6,
        hop_limit,
        traffic_class: super::copied_class(tos, cfg),
        flow_label: 0,
        payload_len: total - ipv6::HEADER_LEN,
    };
    outer.emit(&mut buf[start..start + ipv6::HEADER_LEN]);
    let msg = &mut buf[start + ipv6::HEADER_LEN..start + total];
    icmpv6::Repr {
        msg_type: t6,
        code: c6,
        rest,
    }
    .emit(msg);
    icmpv6::Packet::new_unchecked(msg)
        .fill_checksum(&map.outer.src.octets(), &map.outer.dst.octets());
    Ok(Outcome::Forward {
        l3_start: start,
        l3_len: total,
    })
}
