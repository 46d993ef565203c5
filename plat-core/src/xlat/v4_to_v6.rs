//! IPv4 to IPv6 (RFC 7915 4).

use super::reply::{self, Icmp};
use super::{frag, icmp_error, icmp_map, l4};
use super::{DropReason, Outcome, Sink, Straight, Tuple6, V4ToV6, XlatConfig};
use crate::wire::checksum;
use crate::wire::icmpv4::{self, msg_type as t4};
use crate::wire::ipv6_ext::{FragmentHeader, FRAGMENT_HEADER_LEN};
use crate::wire::{ipv4, ipv6, proto, tcp, udp};

/// RFC 7915 4.1: "If the DF flag is not set and the IPv4 packet will
/// result in an IPv6 packet larger than a user-defined length
/// (hereinafter referred to as "lowest-ipv6-mtu", and which defaults to
/// 1280 bytes), the packet SHOULD be fragmented so that the resulting
/// IPv6 packet (with Fragment Header added to each fragment) will be
/// less than or equal to lowest-ipv6-mtu". The largest IPv6 packet sent
/// unfragmented; with DF, the next-hop MTU.
#[inline(always)]
fn ipv6_size_limit(dont_frag: bool, cfg: &XlatConfig) -> usize {
    if dont_frag {
        cfg.ipv6_mtu as usize
    } else {
        cfg.ipv6_mtu.min(cfg.lowest_ipv6_mtu) as usize
    }
}

/// The IPv6 header of a translated packet, the straight line's and the
/// general path's (`payload_len` counts a Fragment header, if any).
///
/// RFC 7915 4.1: "Version: 6. [...] Flow Label: 0 (all zero bits).
/// Payload Length: Total length value from the IPv4 header, minus the
/// size of the IPv4 header and IPv4 options, if present. Next Header:
/// For ICMPv4 (1), it is changed to ICMPv6 (58); otherwise, the protocol
/// field MUST be copied from the IPv4 header. [...] Source Address and
/// Destination Address: Mapped".
#[inline(always)]
fn ipv6_header(
    out: &Tuple6,
    next_header: u8,
    tos: u8,
    hop_limit: u8,
    payload_len: usize,
    cfg: &XlatConfig,
) -> ipv6::Repr {
    ipv6::Repr {
        src: out.src,
        dst: out.dst,
        next_header,
        hop_limit,
        traffic_class: super::copied_class(tos, cfg),
        flow_label: 0,
        payload_len,
    }
}

/// Translates the IPv4 packet at `buf[l3_start..l3_start + l3_len]` into
/// IPv6 in place, with the addresses and ports of `map`.
///
/// The IPv6 packet ends where the IPv4 one did and starts earlier: the
/// buffer needs 20 bytes of headroom before `l3_start` (28 with a Fragment
/// header, [`HEADROOM`](super::HEADROOM) for ICMP errors). `l3_len` may
/// include link padding after the IPv4 Total Length. Fragments, when
/// lowest-ipv6-mtu calls for them, go to `sink`.
pub fn v4_to_v6<S: Sink + ?Sized>(
    buf: &mut [u8],
    l3_start: usize,
    l3_len: usize,
    map: &V4ToV6,
    cfg: &XlatConfig,
    sink: &mut S,
) -> Outcome {
    if let Some(o) = super::straight::<FastV4>(buf, l3_start, l3_len, map, cfg) {
        return o;
    }
    match translate(buf, l3_start, l3_len, map, cfg, sink) {
        Ok(o) => o,
        Err(r) => Outcome::Drop(r),
    }
}

/// An IPv4 packet the straight-line path translates (checked by
/// [`FastV4::check`]): TCP, or UDP with a checksum, right after a header
/// without options, unfragmented, not expiring, fitting the IPv6 side. The
/// stateful NAT checks first, so that it looks its session up only for
/// packets this path will take.
#[derive(Clone, Copy, Debug)]
pub struct FastV4 {
    l3_start: usize,
    protocol: u8,
    /// The TTL, decremented.
    hop_limit: u8,
    tos: u8,
    payload_len: usize,
    /// The pseudo-header sum of the IPv4 addresses.
    old_addrs: checksum::WideSum,
}

impl Straight for FastV4 {
    type Map = V4ToV6;

    /// The packet at `buf[l3_start..l3_start + l3_len]`, if the straight
    /// line takes it.
    #[inline(always)]
    fn check(buf: &[u8], l3_start: usize, l3_len: usize, cfg: &XlatConfig) -> Option<FastV4> {
        const HLEN: usize = ipv4::MIN_HEADER_LEN;
        let end = l3_start.checked_add(l3_len)?;
        let h = buf.get(l3_start..end)?.first_chunk::<HLEN>()?;
        let total = u16::from_be_bytes(*h[ipv4::OFFSET_TOTAL_LEN..].first_chunk()?) as usize;
        let flags_frag = u16::from_be_bytes(*h[ipv4::OFFSET_FLAGS_FRAG..].first_chunk()?);
        let protocol = h[ipv4::OFFSET_PROTOCOL];
        let hop_limit = super::forwarded_hop_limit(h[ipv4::OFFSET_TTL])?;
        let min = match protocol {
            proto::TCP => tcp::MIN_HEADER_LEN,
            proto::UDP => udp::HEADER_LEN,
            _ => return None,
        };
        let payload_len = total.checked_sub(HLEN)?;
        let v6_len = ipv6::HEADER_LEN + payload_len;
        let limit = ipv6_size_limit(flags_frag & ipv4::FLAG_DF != 0, cfg);
        let l4_at = l3_start + HLEN;
        if h[ipv4::OFFSET_VER_IHL] != ipv4::VER_IHL_NO_OPTIONS
            || flags_frag & (ipv4::FLAG_MF | ipv4::OFFSET_MASK) != 0
            || payload_len < min
            || total > l3_len
            || v6_len > limit
            || l4_at < ipv6::HEADER_LEN
            || (cfg.verify_ipv4_checksum && !checksum::is_valid(checksum::sum(h)))
        {
            return None;
        }
        // RFC 7915 4.5: a UDP packet without checksum is the general
        // path's (compute one or drop).
        if protocol == proto::UDP
            && buf[l4_at + udp::OFFSET_CHECKSUM..l4_at + udp::OFFSET_CHECKSUM + 2] == [0, 0]
        {
            return None;
        }
        Some(FastV4 {
            l3_start,
            protocol,
            hop_limit,
            tos: h[ipv4::OFFSET_TOS],
            payload_len,
            old_addrs: checksum::addrs_v4(
                *h[ipv4::OFFSET_SRC..].first_chunk()?,
                *h[ipv4::OFFSET_DST..].first_chunk()?,
            ),
        })
    }

    /// Translates in place with the addresses and ports of `map`: the
    /// IPv6 packet's start and length.
    #[inline(always)]
    fn translate(self, buf: &mut [u8], map: &V4ToV6, cfg: &XlatConfig) -> (usize, usize) {
        let FastV4 {
            l3_start,
            protocol,
            hop_limit,
            tos,
            payload_len,
            old_addrs,
        } = self;
        let l4_at = l3_start + ipv4::MIN_HEADER_LEN;
        let out = &map.outer;
        let new = checksum::addrs_v6(&out.src.octets(), &out.dst.octets());
        l4::transport(
            &mut buf[l4_at..l4_at + payload_len],
            protocol,
            out.src_port,
            out.dst_port,
            old_addrs,
            new,
        );
        let start = l4_at - ipv6::HEADER_LEN;
        ipv6_header(out, protocol, tos, hop_limit, payload_len, cfg).emit(&mut buf[start..l4_at]);
        (start, ipv6::HEADER_LEN + payload_len)
    }
}

#[inline(always)]
pub(super) fn translate<S: Sink + ?Sized>(
    buf: &mut [u8],
    l3_start: usize,
    l3_len: usize,
    map: &V4ToV6,
    cfg: &XlatConfig,
    sink: &mut S,
) -> Result<Outcome, DropReason> {
    let end = l3_start
        .checked_add(l3_len)
        .filter(|&e| e <= buf.len())
        .ok_or(DropReason::Malformed)?;
    let ip = ipv4::Packet::new_checked(&buf[l3_start..end])?;
    if cfg.verify_ipv4_checksum && !ip.verify_checksum() {
        return Err(DropReason::BadIpv4Checksum);
    }
    let hlen = ip.header_len();
    let len = ip.total_len() as usize;
    let tos = ip.tos();
    let ttl = ip.ttl();
    let protocol = ip.protocol();
    let ident = ip.ident();
    let dont_frag = ip.dont_frag();
    let more_frags = ip.more_frags();
    let frag_offset = ip.frag_offset();
    let is_fragment = ip.is_fragment();
    let source_route = hlen > ipv4::MIN_HEADER_LEN && ip.has_unexpired_source_route();
    let (src4, dst4) = (ip.src_octets(), ip.dst_octets());

    let l4_at = l3_start + hlen;
    let l4_end = l3_start + len;
    let first = frag_offset == 0;
    let is_icmp = protocol == proto::ICMP;
    let is_icmp_error = is_icmp && first && l4_end > l4_at && icmpv4::is_error(buf[l4_at]);

    if protocol == proto::ICMPV6 {
        return Err(DropReason::IcmpWrongFamily);
    }
    // RFC 7915 4.1 copies the protocol into Next Header; for these numbers
    // the IPv6 receiver would parse the payload as an extension header
    // (and behind a Fragment header, RFC 7915 5.1.1 would drop it).
    if is_ipv6_ext_number(protocol)
        || (is_fragment && crate::wire::ipv6_ext::is_extension_header(protocol))
    {
        return Err(DropReason::ExtHeaderProtocolInIpv4);
    }
    let Some(hop_limit) = super::forwarded_hop_limit(ttl) else {
        let icmp = Icmp::new(t4::TIME_EXCEEDED, 0);
        return reply::v4(
            buf,
            l3_start,
            len,
            icmp,
            DropReason::HopLimitExceeded,
            is_icmp_error,
            cfg,
        );
    };
    // RFC 7915 4.1: "If any IPv4 options are present in the IPv4 packet,
    // they MUST be ignored and the packet translated normally [...].
    // However, if an unexpired source route option is present, then the
    // packet MUST instead be discarded, and an ICMPv4 "Destination
    // Unreachable, Source Route Failed" (Type 3, Code 5) error message
    // SHOULD be returned to the sender."
    if source_route {
        let icmp = Icmp::new(t4::DEST_UNREACHABLE, icmpv4::unreach::SOURCE_ROUTE_FAILED);
        return reply::v4(
            buf,
            l3_start,
            len,
            icmp,
            DropReason::Ipv4SourceRoute,
            is_icmp_error,
            cfg,
        );
    }
    // RFC 7915 1.2: "Fragmented ICMP/ICMPv6 packets will not be
    // translated", unless the caller knows the whole message's length
    // (`icmp_len`, from RFC 6146 3.4's fragment tracking) for a query.
    if is_icmp && is_fragment && (is_icmp_error || map.icmp_len == 0) {
        return Err(DropReason::FragmentedIcmp);
    }
    if is_icmp_error {
        return icmp_error::v4_to_v6(buf, l3_start, hlen, l4_end, hop_limit, tos, map, cfg);
    }

    // RFC 7915 4.5: "For UDP packets that do not contain a UDP checksum
    // (i.e., the UDP checksum field is zero), the translator SHOULD
    // provide a configuration function to allow: 1. Dropping the packet
    // [...] 2. Calculating an IPv6 checksum and forwarding the packet".
    // "A stateless translator cannot compute the UDP checksum of
    // fragmented packets, so when a stateless translator receives the
    // first fragment of a fragmented UDP IPv4 packet and the checksum
    // field is zero, the translator SHOULD drop the packet". 4.4 makes the
    // error Type 3 Code 13.
    let udp_zero = protocol == proto::UDP
        && first
        && l4_end - l4_at >= udp::HEADER_LEN
        && udp::Packet::new_unchecked(&buf[l4_at..l4_end]).checksum() == 0;
    if udp_zero {
        let refuse = if is_fragment {
            cfg.drop_udp_zero_checksum_fragments
                .then_some(DropReason::UdpZeroChecksumFragment)
        } else {
            (!cfg.compute_udp_zero_checksum).then_some(DropReason::UdpZeroChecksum)
        };
        if let Some(reason) = refuse {
            let icmp = Icmp::new(t4::DEST_UNREACHABLE, icmpv4::unreach::ADMIN_PROHIBITED);
            return reply::v4(buf, l3_start, len, icmp, reason, false, cfg);
        }
    }

    let frag_hdr = if is_fragment { FRAGMENT_HEADER_LEN } else { 0 };
    let payload_len = l4_end - l4_at;
    let v6_len = ipv6::HEADER_LEN + frag_hdr + payload_len;
    // RFC 7915 4.1: "If the DF bit is set and the MTU of the next-hop
    // interface is less than the total length value of the IPv4 packet
    // plus 20, the translator MUST send an ICMPv4 "Fragmentation Needed"
    // error message to the IPv4 source address." The MTU reported is what
    // an IPv4 packet may be to fit once translated (28 more bytes with a
    // Fragment header; IPv4 options are not carried over).
    if dont_frag && v6_len > cfg.ipv6_mtu as usize {
        let growth = ipv6::HEADER_LEN + frag_hdr - ipv4::MIN_HEADER_LEN;
        let mtu = (cfg.ipv6_mtu as usize).saturating_sub(growth) as u32;
        let icmp = Icmp::with_word(t4::DEST_UNREACHABLE, icmpv4::unreach::FRAG_NEEDED, mtu);
        return reply::v4(
            buf,
            l3_start,
            len,
            icmp,
            DropReason::FragmentationNeeded,
            false,
            cfg,
        );
    }
    let limit = ipv6_size_limit(dont_frag, cfg);
    let fragment_it = v6_len > limit;
    let hdr_len = ipv6::HEADER_LEN + frag_hdr;
    if !fragment_it && l4_at < hdr_len {
        return Err(DropReason::NoHeadroom);
    }

    let out = &map.outer;
    let (src6, dst6) = (out.src.octets(), out.dst.octets());
    if first {
        let l4 = &mut buf[l4_at..l4_end];
        match protocol {
            proto::TCP | proto::UDP => {
                let min = if protocol == proto::TCP {
                    tcp::MIN_HEADER_LEN
                } else {
                    udp::HEADER_LEN
                };
                if l4.len() < min {
                    return Err(DropReason::L4Truncated);
                }
                let old = checksum::addrs_v4(src4, dst4);
                let new = checksum::addrs_v6(&src6, &dst6);
                l4::transport(l4, protocol, out.src_port, out.dst_port, old, new);
                if udp_zero && !is_fragment {
                    // The whole datagram is here: compute it afresh.
                    let ph = checksum::pseudo_v6(&src6, &dst6, proto::UDP, l4.len() as u32);
                    let mut c = checksum::finish(checksum::add(ph, checksum::sum(l4)));
                    if c == 0 {
                        c = 0xffff;
                    }
                    udp::Packet::new_unchecked(l4).set_checksum(c);
                }
            }
            proto::ICMP => {
                if l4.len() < icmpv4::HEADER_LEN {
                    return Err(DropReason::L4Truncated);
                }
                let (t, c) = (l4[0], l4[1]);
                let icmp_map::Action::To(t6, c6) = icmp_map::v4_to_v6(t, c) else {
                    return Err(DropReason::IcmpUntranslatable);
                };
                let ident = l4::query_ident(t == t4::ECHO_REQUEST, out.src_port, out.dst_port);
                let len = if is_fragment {
                    map.icmp_len
                } else {
                    l4.len() as u32
                };
                let pseudo = checksum::pseudo_v6(&src6, &dst6, proto::ICMPV6, len);
                l4::icmp_query(l4, t6, c6, ident, 0, pseudo)?;
            }
            _ => {}
        }
    }

    let upper = if protocol == proto::ICMP {
        proto::ICMPV6
    } else {
        protocol
    };
    let mut hdr = ipv6_header(out, upper, tos, hop_limit, frag_hdr + payload_len, cfg);
    if fragment_it {
        // RFC 7915 4.1 Fragment Header: "Identification: Copied from the
        // Identification field in the IPv4 header" (zero-extended).
        let count = frag::to_v6(
            &hdr,
            ident as u32,
            frag_offset,
            more_frags,
            &buf[l4_at..l4_end],
            limit,
            sink,
        );
        return Ok(Outcome::Fragmented { count });
    }
    let start = l4_at - hdr_len;
    if is_fragment {
        // RFC 7915 4.1: "As a result, an IPv6 Fragment Header is only
        // included if the IPv4 packet is already fragmented." Its fields:
        // "Next Header: For ICMPv4 (1), it is changed to ICMPv6 (58);
        // otherwise, the protocol field MUST be copied from the IPv4
        // header. Fragment Offset: Copied from the Fragment Offset field of
        // the IPv4 header. M flag: Copied from the More Fragments (MF) flag
        // of the IPv4 header. Identification: The low-order 16 bits are
        // copied from the Identification field in the IPv4 header. The
        // high-order 16 bits are set to zero."
        hdr.next_header = proto::IPV6_FRAG;
        FragmentHeader::new_unchecked(&mut buf[start + ipv6::HEADER_LEN..l4_at]).emit(
            upper,
            frag_offset,
            more_frags,
            ident as u32,
        );
    }
    hdr.emit(&mut buf[start..start + ipv6::HEADER_LEN]);
    Ok(Outcome::Forward {
        l3_start: start,
        l3_len: v6_len,
    })
}

/// IPv6 extension header numbers with no meaning as an IPv4 protocol.
pub(super) fn is_ipv6_ext_number(protocol: u8) -> bool {
    matches!(
        protocol,
        proto::HOPOPT | proto::IPV6_ROUTE | proto::IPV6_FRAG | proto::IPV6_OPTS
    )
}
