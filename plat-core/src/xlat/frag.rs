//! Fragmentation of translated packets too big for the next hop: RFC 7915
//! 4.1 (IPv4 without DF into IPv6 fragments of at most lowest-ipv6-mtu)
//! and 5.1 (IPv6 into IPv4 fragments with DF clear). The fragments go to
//! the caller's sink; the packet in the buffer is left as it was.

use super::Sink;
use crate::wire::ipv6_ext::{FragmentHeader, FRAGMENT_HEADER_LEN};
use crate::wire::{ipv4, ipv6, proto};

/// Splits `payload` (the translated L4 part) into IPv4 fragments of at
/// most `mtu` bytes. `hdr` is the header of the whole packet; its offset
/// and MF say where this piece sits in the original datagram.
pub(super) fn to_v4<S: Sink + ?Sized>(
    hdr: &ipv4::Repr,
    payload: &[u8],
    mtu: usize,
    sink: &mut S,
) -> usize {
    // RFC 791: every fragment but the last carries a multiple of 8 bytes.
    let chunk = (mtu.saturating_sub(ipv4::MIN_HEADER_LEN) / 8 * 8).max(8);
    let mut count = 0;
    let mut at = 0;
    loop {
        let end = (at + chunk).min(payload.len());
        let last = end == payload.len();
        let r = ipv4::Repr {
            dont_frag: false,
            more_frags: !last || hdr.more_frags,
            frag_offset: hdr.frag_offset + (at / 8) as u16,
            payload_len: end - at,
            ..*hdr
        };
        let mut h = [0u8; ipv4::MIN_HEADER_LEN];
        r.emit(&mut h);
        sink.emit(&h, &payload[at..end]);
        count += 1;
        if last {
            return count;
        }
        at = end;
    }
}

/// Splits `payload` into IPv6 fragments of at most `mtu` bytes, each with a
/// Fragment header (RFC 7915 4.1: "the resulting IPv6 packet (with
/// Fragment Header added to each fragment) will be less than or equal to
/// lowest-ipv6-mtu").
///
/// `hdr.next_header` is the upper-layer protocol; `offset` (8-byte units)
/// and `more` place the piece in the original datagram.
pub(super) fn to_v6<S: Sink + ?Sized>(
    hdr: &ipv6::Repr,
    ident: u32,
    offset: u16,
    more: bool,
    payload: &[u8],
    mtu: usize,
    sink: &mut S,
) -> usize {
    const HLEN: usize = ipv6::HEADER_LEN + FRAGMENT_HEADER_LEN;
    let chunk = (mtu.saturating_sub(HLEN) / 8 * 8).max(8);
    let mut count = 0;
    let mut at = 0;
    loop {
        let end = (at + chunk).min(payload.len());
        let last = end == payload.len();
        let mut h = [0u8; HLEN];
        ipv6::Repr {
            next_header: proto::IPV6_FRAG,
            payload_len: FRAGMENT_HEADER_LEN + end - at,
            ..*hdr
        }
        .emit(&mut h);
        FragmentHeader::new_unchecked(&mut h[ipv6::HEADER_LEN..]).emit(
            hdr.next_header,
            offset + (at / 8) as u16,
            !last || more,
            ident,
        );
        sink.emit(&h, &payload[at..end]);
        count += 1;
        if last {
            return count;
        }
        at = end;
    }
}
