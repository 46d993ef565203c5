//! IPv6 extension headers (RFC 8200 4): the generic TLV-length shape of
//! Hop-by-Hop, Routing and Destination Options, the Fragment header, and a
//! bounded walk over the chain to the upper-layer header.

use super::{be16, be32, proto, put16, put32, Result, WireError};

mod field {
    pub const NEXT_HEADER: usize = 0;
    pub const HDR_EXT_LEN: usize = 1;
    /// Routing header.
    pub const ROUTING_TYPE: usize = 2;
    pub const SEGMENTS_LEFT: usize = 3;
    /// Fragment header.
    pub const FRAG_OFFSET_FLAGS: usize = 2;
    pub const FRAG_IDENT: usize = 4;
}

/// Length of the Fragment header.
pub const FRAGMENT_HEADER_LEN: usize = 8;
/// Offset of Segments Left within a Routing header.
pub const OFFSET_SEGMENTS_LEFT: usize = field::SEGMENTS_LEFT;

/// More extension headers than any real packet carries; bounds the walk so
/// a crafted chain cannot make the hot path loop long.
pub const MAX_EXT_HEADERS: usize = 8;

/// A Hop-by-Hop, Routing or Destination Options header view: all share
/// "Next Header, Hdr Ext Len in 8-octet units not counting the first 8".
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ExtHeader<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> ExtHeader<T> {
    pub fn new_checked(buffer: T) -> Result<Self> {
        let b = buffer.as_ref();
        if b.len() < 8 || b.len() < (b[field::HDR_EXT_LEN] as usize + 1) * 8 {
            return Err(WireError::Truncated);
        }
        Ok(ExtHeader { buffer })
    }
    pub fn next_header(&self) -> u8 {
        self.buffer.as_ref()[field::NEXT_HEADER]
    }
    /// Length of the whole header in bytes.
    pub fn header_len(&self) -> usize {
        (self.buffer.as_ref()[field::HDR_EXT_LEN] as usize + 1) * 8
    }
    /// Routing header only: the routing type.
    pub fn routing_type(&self) -> u8 {
        self.buffer.as_ref()[field::ROUTING_TYPE]
    }
    /// Routing header only: Segments Left.
    pub fn segments_left(&self) -> u8 {
        self.buffer.as_ref()[field::SEGMENTS_LEFT]
    }
}

/// A view of the Fragment header (RFC 8200 4.5).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FragmentHeader<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> FragmentHeader<T> {
    pub fn new_checked(buffer: T) -> Result<Self> {
        if buffer.as_ref().len() < FRAGMENT_HEADER_LEN {
            return Err(WireError::Truncated);
        }
        Ok(FragmentHeader { buffer })
    }
    pub fn next_header(&self) -> u8 {
        self.buffer.as_ref()[field::NEXT_HEADER]
    }
    /// Offset in 8-octet units.
    pub fn frag_offset(&self) -> u16 {
        be16(self.buffer.as_ref(), field::FRAG_OFFSET_FLAGS) >> 3
    }
    pub fn more_frags(&self) -> bool {
        be16(self.buffer.as_ref(), field::FRAG_OFFSET_FLAGS) & 1 != 0
    }
    pub fn ident(&self) -> u32 {
        be32(self.buffer.as_ref(), field::FRAG_IDENT)
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> FragmentHeader<T> {
    pub fn new_unchecked(buffer: T) -> Self {
        FragmentHeader { buffer }
    }
    /// Writes the whole header.
    pub fn emit(&mut self, next_header: u8, frag_offset: u16, more: bool, ident: u32) {
        let b = self.buffer.as_mut();
        b[field::NEXT_HEADER] = next_header;
        b[field::HDR_EXT_LEN] = 0;
        put16(
            b,
            field::FRAG_OFFSET_FLAGS,
            (frag_offset << 3) | more as u16,
        );
        put32(b, field::FRAG_IDENT, ident);
    }
}

/// The Fragment header as a value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FragmentRepr {
    pub next_header: u8,
    /// In 8-octet units.
    pub offset: u16,
    pub more: bool,
    pub ident: u32,
}

impl FragmentRepr {
    /// An atomic fragment (RFC 6946 2): a Fragment Header with offset 0
    /// and M = 0, on a packet that is whole. RFC 6946 4 has it processed
    /// in isolation, as the unfragmented packet it is.
    pub fn is_atomic(&self) -> bool {
        self.offset == 0 && !self.more
    }
}

/// What the translator needs to know about an extension-header chain.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Chain {
    /// The upper-layer protocol (the first header that is not Hop-by-Hop,
    /// Routing, Fragment or Destination Options).
    pub upper_proto: u8,
    /// Offset of the upper-layer header from the start of the IPv6 payload.
    pub upper_offset: usize,
    /// The Fragment header, if any, and its offset in the payload.
    pub fragment: Option<(usize, FragmentRepr)>,
    /// Offset in the payload of the Segments Left byte of the first
    /// Routing header whose Segments Left is not zero.
    pub routing_segments_left_at: Option<usize>,
    /// An extension header follows the Fragment header.
    pub ext_after_fragment: bool,
}

/// Whether `nh` is an extension header in the sense of RFC 7915 5.1.1
/// ("an extension header (except ESP, but including the Authentication
/// Header (AH))").
pub fn is_extension_header(nh: u8) -> bool {
    matches!(
        nh,
        proto::HOPOPT
            | proto::IPV6_ROUTE
            | proto::IPV6_FRAG
            | proto::IPV6_OPTS
            | proto::AH
            | proto::MOBILITY
            | proto::HIP
            | proto::SHIM6
    )
}

/// Walks the chain starting with `first` at the start of `payload`.
///
/// Hop-by-Hop, Routing and Destination Options are stepped over (RFC 7915
/// 5.1: "the translator skips over those headers"), the Fragment header is
/// recorded. The walk never reads past a non-first fragment's Fragment
/// header, as what follows it is not a header.
pub fn walk(payload: &[u8], first: u8) -> Result<Chain> {
    let mut nh = first;
    let mut at = 0usize;
    let mut chain = Chain {
        upper_proto: nh,
        upper_offset: 0,
        fragment: None,
        routing_segments_left_at: None,
        ext_after_fragment: false,
    };
    for _ in 0..MAX_EXT_HEADERS {
        match nh {
            proto::HOPOPT | proto::IPV6_ROUTE | proto::IPV6_OPTS => {
                if chain.fragment.is_some() {
                    chain.ext_after_fragment = true;
                }
                let h = ExtHeader::new_checked(&payload[at.min(payload.len())..])?;
                if nh == proto::IPV6_ROUTE
                    && h.segments_left() != 0
                    && chain.routing_segments_left_at.is_none()
                {
                    chain.routing_segments_left_at = Some(at + field::SEGMENTS_LEFT);
                }
                nh = h.next_header();
                at += h.header_len();
            }
            proto::IPV6_FRAG => {
                if chain.fragment.is_some() {
                    chain.ext_after_fragment = true;
                }
                let f = FragmentHeader::new_checked(&payload[at.min(payload.len())..])?;
                let repr = FragmentRepr {
                    next_header: f.next_header(),
                    offset: f.frag_offset(),
                    more: f.more_frags(),
                    ident: f.ident(),
                };
                chain.fragment = Some((at, repr));
                nh = repr.next_header;
                at += FRAGMENT_HEADER_LEN;
                if is_extension_header(nh) {
                    chain.ext_after_fragment = true;
                }
                if repr.offset != 0 {
                    // Not a header after this: stop here.
                    break;
                }
            }
            _ => break,
        }
    }
    if is_walked(nh) && chain.fragment.is_none_or(|(_, f)| f.offset == 0) {
        // Chain longer than the bound: refuse rather than guess.
        return Err(WireError::Malformed);
    }
    if at > payload.len() {
        return Err(WireError::Truncated);
    }
    chain.upper_proto = nh;
    chain.upper_offset = at;
    Ok(chain)
}

fn is_walked(nh: u8) -> bool {
    matches!(
        nh,
        proto::HOPOPT | proto::IPV6_ROUTE | proto::IPV6_OPTS | proto::IPV6_FRAG
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc8200_4_chain_hop_by_hop_routing_fragment() {
        let mut p = [0u8; 8 + 24 + 8 + 8];
        // Hop-by-Hop, 8 bytes -> Routing.
        p[0] = proto::IPV6_ROUTE;
        p[1] = 0;
        // Routing, 24 bytes, segments left 1 -> Fragment.
        p[8] = proto::IPV6_FRAG;
        p[9] = 2;
        p[11] = 1;
        // Fragment -> UDP, offset 0, M=1, ident 0x01020304.
        let mut f = FragmentHeader::new_unchecked(&mut p[32..40]);
        f.emit(proto::UDP, 0, true, 0x0102_0304);
        let c = walk(&p, proto::HOPOPT).unwrap();
        assert_eq!(c.upper_proto, proto::UDP);
        assert_eq!(c.upper_offset, 40);
        assert_eq!(c.routing_segments_left_at, Some(11));
        let (at, fr) = c.fragment.unwrap();
        assert_eq!(at, 32);
        assert!(fr.more);
        assert_eq!(fr.ident, 0x0102_0304);
        assert!(!c.ext_after_fragment);
    }

    #[test]
    fn rfc8200_4_5_non_first_fragment_stops_the_walk() {
        let mut p = [0u8; 16];
        FragmentHeader::new_unchecked(&mut p[..8]).emit(proto::HOPOPT, 10, false, 7);
        let c = walk(&p, proto::IPV6_FRAG).unwrap();
        assert_eq!(c.upper_offset, 8);
        assert_eq!(c.fragment.unwrap().1.offset, 10);
        assert!(c.ext_after_fragment);
    }

    #[test]
    fn rfc8200_4_truncated_and_endless_chains_are_refused() {
        let p = [proto::HOPOPT, 4, 0, 0, 0, 0, 0, 0];
        assert_eq!(walk(&p, proto::HOPOPT), Err(WireError::Truncated));
        let p = [proto::HOPOPT, 0, 0, 0, 0, 0, 0, 0].repeat(MAX_EXT_HEADERS + 1);
        assert_eq!(walk(&p, proto::HOPOPT), Err(WireError::Malformed));
        assert_eq!(walk(&[], proto::HOPOPT), Err(WireError::Truncated));
        assert_eq!(walk(&[], proto::UDP).unwrap().upper_offset, 0);
    }
}
