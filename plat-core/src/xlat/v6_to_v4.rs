//! IPv6 to IPv4 (RFC 7915 5).

use super::reply::{self, Icmp};
use super::{frag, icmp_error, icmp_map, l4};
use super::{
    DropReason, Outcome, Sink, Straight, Tuple4, V6ToV4, XlatConfig, DF_THRESHOLD, IPV6_MIN_MTU,
};
use crate::wire::checksum;
use crate::wire::icmpv6::{self, msg_type as t6};
use crate::wire::ipv6_ext::{self, Chain};
use crate::wire::{ipv4, ipv6, proto, tcp, udp};

/// RFC 7915 5: "When the resulting IPv4 packet is smaller than or equal
/// to 1260 bytes, the translator MUST send the packet with a cleared Don't
/// Fragment bit. Otherwise, the packet MUST be sent with the Don't
/// Fragment bit set." (`df_over_1260` off clears it always.) For a packet
/// that is not a fragment already: 5.1.1 clears DF on those.
#[inline(always)]
pub(super) fn dont_fragment(v4_len: usize, cfg: &XlatConfig) -> bool {
    cfg.df_over_1260 && v4_len > DF_THRESHOLD
}

/// The IPv4 header of a translated packet, the straight line's and the
/// general path's. `fragment` is the IPv6 Fragment header's
/// (identification, M flag, offset), if the packet has one.
///
/// RFC 7915 5.1: "Version: 4. Internet Header Length: 5 (no IPv4
/// options). [...] Total Length: Payload
/// length value from the IPv6 header, plus the size of the IPv4 header
/// [minus the extension headers]. Protocol: The IPv6-Frag (44) header is
/// handled as discussed in Section 5.1.1. ICMPv6 (58) is changed to
/// ICMPv4 (1), and the payload is translated as discussed in Section
/// 5.2. The IPv6 headers HOPOPT (0), IPv6-Route (43), and IPv6-Opts
/// (60) are skipped over during processing [...] Source Address and
/// Destination Address: Mapped".
#[inline(always)]
#[allow(clippy::too_many_arguments)]
fn ipv4_header(
    out: &Tuple4,
    protocol: u8,
    traffic_class: u8,
    ttl: u8,
    ipv4_id: u16,
    fragment: Option<(u16, bool, u16)>,
    payload_len: usize,
    cfg: &XlatConfig,
) -> ipv4::Repr {
    let (ident, dont_frag, more_frags, frag_offset) = match fragment {
        // RFC 7915 5.1.1: "Identification: Copied from the low-order 16
        // bits in the Identification field in the Fragment Header. Flags:
        // The IPv4 More Fragments (MF) flag is copied from the M flag in
        // the IPv6 Fragment Header. The IPv4 Don't Fragment (DF) flag is
        // cleared".
        Some((ident, more, offset)) => (ident, false, more, offset),
        // RFC 7915 5.1: "Identification: Set according to a Fragment
        // Identification generator at the translator." (`ipv4_id`)
        None => (
            ipv4_id,
            dont_fragment(ipv4::MIN_HEADER_LEN + payload_len, cfg),
            false,
            0,
        ),
    };
    ipv4::Repr {
        src: out.src,
        dst: out.dst,
        protocol,
        tos: super::copied_class(traffic_class, cfg),
        ttl,
        ident,
        dont_frag,
        more_frags,
        frag_offset,
        payload_len,
    }
}

/// Translates the IPv6 packet at `buf[l3_start..l3_start + l3_len]` into
/// IPv4 in place, with the addresses and ports of `map`.
///
/// The IPv4 packet ends where the IPv6 one did and starts later (the
/// header shrinks by 20 bytes plus the extension headers), so the common
/// path needs no headroom; an ICMPv6 error sent back needs
/// [`HEADROOM`](super::HEADROOM). Fragments, when the IPv4 MTU calls for
/// them, go to `sink`.
pub fn v6_to_v4<S: Sink + ?Sized>(
    buf: &mut [u8],
    l3_start: usize,
    l3_len: usize,
    map: &V6ToV4,
    cfg: &XlatConfig,
    sink: &mut S,
) -> Outcome {
    if let Some(o) = super::straight::<FastV6>(buf, l3_start, l3_len, map, cfg) {
        return o;
    }
    match translate(buf, l3_start, l3_len, map, cfg, sink) {
        Ok(o) => o,
        Err(r) => Outcome::Drop(r),
    }
}

/// An IPv6 packet the straight-line path translates (checked by
/// [`FastV6::check`]): TCP or UDP right after the fixed header, not
/// expiring, fitting the IPv4 MTU. The stateful NAT checks first, so
/// that it looks its session up only for packets this path will take.
#[derive(Clone, Copy, Debug)]
pub struct FastV6 {
    l3_start: usize,
    next_header: u8,
    /// The hop limit, decremented.
    ttl: u8,
    traffic_class: u8,
    payload_len: usize,
    /// The pseudo-header sum of the IPv6 addresses.
    old_addrs: checksum::WideSum,
}

impl Straight for FastV6 {
    type Map = V6ToV4;

    /// The packet at `buf[l3_start..l3_start + l3_len]`, if the straight
    /// line takes it.
    #[inline(always)]
    fn check(buf: &[u8], l3_start: usize, l3_len: usize, cfg: &XlatConfig) -> Option<FastV6> {
        let end = l3_start.checked_add(l3_len)?;
        let h = buf
            .get(l3_start..end)?
            .first_chunk::<{ ipv6::HEADER_LEN }>()?;
        let next_header = h[ipv6::OFFSET_NEXT_HEADER];
        let ttl = super::forwarded_hop_limit(h[ipv6::OFFSET_HOP_LIMIT])?;
        let payload_len =
            u16::from_be_bytes(*h[ipv6::OFFSET_PAYLOAD_LEN..].first_chunk()?) as usize;
        let min = match next_header {
            proto::TCP => tcp::MIN_HEADER_LEN,
            proto::UDP => udp::HEADER_LEN,
            _ => return None,
        };
        if ipv6::version_of(h[ipv6::OFFSET_VER_TC_FLOW]) != 6
            || payload_len < min
            || ipv6::HEADER_LEN + payload_len > l3_len
            || ipv4::MIN_HEADER_LEN + payload_len > cfg.ipv4_mtu as usize
        {
            return None;
        }
        Some(FastV6 {
            l3_start,
            next_header,
            ttl,
            traffic_class: ipv6::traffic_class_of(*h[ipv6::OFFSET_VER_TC_FLOW..].first_chunk()?),
            payload_len,
            old_addrs: checksum::addrs_v6_in_place(h[ipv6::OFFSET_SRC..].first_chunk::<32>()?),
        })
    }

    /// Translates in place with the addresses and ports of `map`: the
    /// IPv4 packet's start and length.
    #[inline(always)]
    fn translate(self, buf: &mut [u8], map: &V6ToV4, cfg: &XlatConfig) -> (usize, usize) {
        let FastV6 {
            l3_start,
            next_header,
            ttl,
            traffic_class,
            payload_len,
            old_addrs,
        } = self;
        let l4_at = l3_start + ipv6::HEADER_LEN;
        let out = &map.outer;
        let new = checksum::addrs_v4(out.src.octets(), out.dst.octets());
        l4::transport(
            &mut buf[l4_at..l4_at + payload_len],
            next_header,
            out.src_port,
            out.dst_port,
            old_addrs,
            new,
        );
        let start = l4_at - ipv4::MIN_HEADER_LEN;
        ipv4_header(
            out,
            next_header,
            traffic_class,
            ttl,
            map.ipv4_id,
            None,
            payload_len,
            cfg,
        )
        .emit(&mut buf[start..l4_at]);
        (start, ipv4::MIN_HEADER_LEN + payload_len)
    }
}

#[inline(always)]
pub(super) fn translate<S: Sink + ?Sized>(
    buf: &mut [u8],
    l3_start: usize,
    l3_len: usize,
    map: &V6ToV4,
    cfg: &XlatConfig,
    sink: &mut S,
) -> Result<Outcome, DropReason> {
    let end = l3_start
        .checked_add(l3_len)
        .filter(|&e| e <= buf.len())
        .ok_or(DropReason::Malformed)?;
    let ip = ipv6::Packet::new_checked(&buf[l3_start..end])?;
    let payload_len = ip.payload_len() as usize;
    let len = ipv6::HEADER_LEN + payload_len;
    let next_header = ip.next_header();
    let hop_limit = ip.hop_limit();
    let traffic_class = ip.traffic_class();
    // The pseudo-header addresses, summed straight from the packet.
    let old_addrs = match buf[l3_start + ipv6::OFFSET_SRC..].first_chunk::<32>() {
        Some(a) => checksum::addrs_v6_in_place(a),
        None => return Err(DropReason::Malformed),
    };

    // The common packet has no extension header: skip the walk.
    let chain = if matches!(next_header, proto::TCP | proto::UDP | proto::ICMPV6) {
        Chain {
            upper_proto: next_header,
            upper_offset: 0,
            fragment: None,
            routing_segments_left_at: None,
            ext_after_fragment: false,
        }
    } else {
        ipv6_ext::walk(ip.payload(), next_header)?
    };
    let upper = chain.upper_proto;
    let l4_at = l3_start + ipv6::HEADER_LEN + chain.upper_offset;
    let l4_end = l3_start + len;
    let first = chain.fragment.is_none_or(|(_, f)| f.offset == 0);
    let is_icmp = upper == proto::ICMPV6;
    let is_icmp_error = is_icmp && first && l4_end > l4_at && icmpv6::is_error(buf[l4_at]);

    if upper == proto::ICMP {
        return Err(DropReason::IcmpWrongFamily);
    }
    let Some(ttl) = super::forwarded_hop_limit(hop_limit) else {
        let icmp = Icmp::new(t6::TIME_EXCEEDED, 0);
        return reply::v6(
            buf,
            l3_start,
            len,
            icmp,
            DropReason::HopLimitExceeded,
            is_icmp_error,
            cfg,
        );
    };
    // RFC 7915 5.1: "If a Routing header with a non-zero Segments Left
    // field is present, then the packet MUST NOT be translated, and an
    // ICMPv6 "parameter problem/erroneous header field encountered" (Type
    // 4, Code 0) error message, with the Pointer field indicating the
    // first byte of the Segments Left field, SHOULD be returned to the
    // sender."
    if let Some(at) = chain.routing_segments_left_at {
        let pointer = (ipv6::HEADER_LEN + at) as u32;
        let icmp = Icmp::with_word(
            t6::PARAMETER_PROBLEM,
            icmpv6::param::ERRONEOUS_FIELD,
            pointer,
        );
        return reply::v6(
            buf,
            l3_start,
            len,
            icmp,
            DropReason::RoutingSegmentsLeft,
            is_icmp_error,
            cfg,
        );
    }
    // RFC 7915 5.1.1: "If the Next Header field of the Fragment Header is
    // an extension header (except ESP, but including the Authentication
    // Header (AH)), then the packet SHOULD be dropped and logged." 5.4
    // makes the error Type 1 Code 1.
    if chain.ext_after_fragment {
        let icmp = Icmp::new(t6::DEST_UNREACHABLE, icmpv6::unreach::ADMIN_PROHIBITED);
        return reply::v6(
            buf,
            l3_start,
            len,
            icmp,
            DropReason::ExtHeaderAfterFragment,
            is_icmp_error,
            cfg,
        );
    }
    // RFC 7915 1.2: "Fragmented ICMP/ICMPv6 packets will not be translated
    // by IP/ICMP translators." An atomic fragment is not fragmented (RFC
    // 6946 4): it is translated like the whole packet it is. A query's
    // fragments are, when the caller knows the whole message's length
    // (`icmp_len`, from RFC 6146 3.4's fragment tracking).
    let icmp_fragmented = is_icmp && chain.fragment.is_some_and(|(_, f)| !f.is_atomic());
    if icmp_fragmented && (is_icmp_error || map.icmp_len == 0) {
        return Err(DropReason::FragmentedIcmp);
    }
    if is_icmp_error {
        return icmp_error::v6_to_v4(buf, l4_at, l4_end, ttl, traffic_class, map, cfg);
    }

    let payload_len = l4_end - l4_at;
    let v4_len = ipv4::MIN_HEADER_LEN + payload_len;
    let protocol = if is_icmp { proto::ICMP } else { upper };
    let out = &map.outer;
    let hdr = ipv4_header(
        out,
        protocol,
        traffic_class,
        ttl,
        map.ipv4_id,
        chain
            .fragment
            .map(|(_, f)| (f.ident as u16, f.more, f.offset)),
        payload_len,
        cfg,
    );
    let too_big = v4_len > cfg.ipv4_mtu as usize;
    if too_big && hdr.dont_frag {
        // The IPv6 sender can shrink to the IPv4 MTU plus the 20 bytes the
        // header loses, but never below 1280.
        let mtu = (cfg.ipv4_mtu as u32 + 20).max(IPV6_MIN_MTU as u32);
        let icmp = Icmp::with_word(t6::PACKET_TOO_BIG, 0, mtu);
        return reply::v6(
            buf,
            l3_start,
            len,
            icmp,
            DropReason::PacketTooBig,
            false,
            cfg,
        );
    }

    if first {
        let l4 = &mut buf[l4_at..l4_end];
        match upper {
            proto::TCP | proto::UDP => {
                let min = if upper == proto::TCP {
                    tcp::MIN_HEADER_LEN
                } else {
                    udp::HEADER_LEN
                };
                if l4.len() < min {
                    return Err(DropReason::L4Truncated);
                }
                let new = checksum::addrs_v4(out.src.octets(), out.dst.octets());
                l4::transport(l4, upper, out.src_port, out.dst_port, old_addrs, new);
            }
            proto::ICMPV6 => {
                if l4.len() < icmpv6::HEADER_LEN {
                    return Err(DropReason::L4Truncated);
                }
                let (t, c) = (l4[0], l4[1]);
                let icmp_map::Action::To(t4, c4) = icmp_map::v6_to_v4(t, c) else {
                    return Err(DropReason::IcmpUntranslatable);
                };
                let ident = l4::query_ident(t == t6::ECHO_REQUEST, out.src_port, out.dst_port);
                let len = if icmp_fragmented {
                    map.icmp_len as u64
                } else {
                    l4.len() as u64
                };
                let pseudo = checksum::fold(old_addrs.value() as u64 + proto::ICMPV6 as u64 + len);
                l4::icmp_query(l4, t4, c4, ident, pseudo, 0)?;
            }
            _ => {}
        }
    }

    if too_big {
        let count = frag::to_v4(&hdr, &buf[l4_at..l4_end], cfg.ipv4_mtu as usize, sink);
        return Ok(Outcome::Fragmented { count });
    }
    let start = l4_at - ipv4::MIN_HEADER_LEN;
    hdr.emit(&mut buf[start..l4_at]);
    Ok(Outcome::Forward {
        l3_start: start,
        l3_len: v4_len,
    })
}
