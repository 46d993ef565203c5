//! Transport and ICMP query header rewriting shared by both directions,
//! outer packets and the packets quoted in ICMP errors.

use super::DropReason;
use crate::wire::checksum::{add, update, WideSum};
use crate::wire::{be16, proto, put16, tcp, udp};

/// Rewrites the ports of a TCP or UDP header and updates its checksum for
/// the new ports and the new pseudo-header addresses (RFC 7915 4.5/5.5:
/// "the recalculation and updating of the transport-layer headers that
/// contain pseudo-headers need to be performed"). Length and protocol of
/// the two pseudo-headers are equal, so only the addresses enter the
/// incremental update (RFC 1624).
///
/// `l4` may be a quote cut short: what is there is fixed. A UDP checksum of
/// zero (none) stays zero.
#[inline(always)]
pub(super) fn transport(
    l4: &mut [u8],
    protocol: u8,
    src_port: u16,
    dst_port: u16,
    old_addrs: WideSum,
    new_addrs: WideSum,
) {
    let Some(ports) = l4.first_chunk_mut::<4>() else {
        return;
    };
    let old = old_addrs.add4(*ports);
    let [s0, s1] = src_port.to_be_bytes();
    let [d0, d1] = dst_port.to_be_bytes();
    // Summed from the value, not read back: a 4-byte load of what two
    // 2-byte stores just wrote stalls on store forwarding.
    let new_ports = [s0, s1, d0, d1];
    *ports = new_ports;
    let new = new_addrs.add4(new_ports);
    let (at, is_udp) = if protocol == proto::TCP {
        (tcp::OFFSET_CHECKSUM, false)
    } else {
        (udp::OFFSET_CHECKSUM, true)
    };
    let Some(field) = l4.get_mut(at..at + 2) else {
        return;
    };
    let c = [field[0], field[1]];
    if is_udp && c == [0, 0] {
        return;
    }
    // RFC 1624 eqn. 3 with every changed word at once: ones' complement
    // negation distributes over the sum, so one fold does.
    let mut n = u16::from_ne_bytes(WideSum::update(c, old, new));
    // RFC 768: "If the computed checksum is zero, it is transmitted as all
    // ones". Zero would read as "no checksum".
    if is_udp && n == 0 {
        n = 0xffff;
    }
    field.copy_from_slice(&n.to_ne_bytes());
}

/// Rewrites an ICMP Echo Request/Reply header: type, code, identifier, and
/// the checksum, which gains (`new_extra`) or loses (`old_extra`) the
/// ICMPv6 pseudo-header sum (RFC 7915 4.2/5.2: "adjust the ICMP checksum
/// both to take the type change into account and to include [exclude] the
/// ICMPv6 pseudo-header").
#[inline(always)]
pub(super) fn icmp_query(
    l4: &mut [u8],
    msg_type: u8,
    code: u8,
    ident: u16,
    old_extra: u16,
    new_extra: u16,
) -> Result<(), DropReason> {
    if l4.len() < 8 {
        return Err(DropReason::L4Truncated);
    }
    let old = add(add(old_extra, be16(l4, 0)), be16(l4, 4));
    let tc = u16::from_be_bytes([msg_type, code]);
    l4[0] = msg_type;
    l4[1] = code;
    put16(l4, 4, ident);
    let new = add(add(new_extra, tc), ident);
    let c = update(be16(l4, 2), old, new);
    put16(l4, 2, c);
    Ok(())
}

/// The identifier an ICMP query gets: the requester's, which plays the
/// source port in a request and the destination port in a reply.
#[inline(always)]
pub(super) fn query_ident(is_request: bool, src_port: u16, dst_port: u16) -> u16 {
    if is_request {
        src_port
    } else {
        dst_port
    }
}
