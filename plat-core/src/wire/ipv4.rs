//! IPv4 headers (RFC 791), options included.

use super::checksum;
use super::{arr4, be16, put16, Result, WireError};
use std::net::Ipv4Addr;

mod field {
    use core::ops::Range;
    pub const VER_IHL: usize = 0;
    pub const TOS: usize = 1;
    pub const TOTAL_LEN: usize = 2;
    pub const IDENT: usize = 4;
    pub const FLAGS_FRAG: usize = 6;
    pub const TTL: usize = 8;
    pub const PROTOCOL: usize = 9;
    pub const CHECKSUM: usize = 10;
    pub const SRC: Range<usize> = 12..16;
    pub const DST: Range<usize> = 16..20;
}

/// Length of a header without options.
pub const MIN_HEADER_LEN: usize = 20;
/// Offset of the options (when IHL > 5).
pub const OPTIONS_START: usize = 20;
/// Byte offset of the fields, for ICMP pointers and checksum tricks.
pub const OFFSET_TOTAL_LEN: usize = field::TOTAL_LEN;
pub const OFFSET_TTL: usize = field::TTL;
pub const OFFSET_PROTOCOL: usize = field::PROTOCOL;
pub const OFFSET_CHECKSUM: usize = field::CHECKSUM;
pub const OFFSET_SRC: usize = field::SRC.start;
pub const OFFSET_DST: usize = field::DST.start;
pub const OFFSET_VER_IHL: usize = field::VER_IHL;
pub const OFFSET_TOS: usize = field::TOS;
pub const OFFSET_FLAGS_FRAG: usize = field::FLAGS_FRAG;

/// Version 4, IHL 5: the first byte of a header without options.
pub const VER_IHL_NO_OPTIONS: u8 = 0x45;
/// Don't Fragment, in the 16-bit flags and fragment offset word.
pub const FLAG_DF: u16 = 0x4000;
/// More Fragments, in the same word.
pub const FLAG_MF: u16 = 0x2000;
/// The fragment offset bits of the same word.
pub const OFFSET_MASK: u16 = 0x1fff;

/// The IP version of a header's first byte.
#[inline(always)]
pub const fn version_of(ver_ihl: u8) -> u8 {
    ver_ihl >> 4
}

/// The header length (IHL, in bytes) of a header's first byte.
#[inline(always)]
pub const fn header_len_of(ver_ihl: u8) -> usize {
    (ver_ihl & 0x0f) as usize * 4
}

/// A view of an IPv4 packet. `new_checked` guarantees the header, its
/// options and `total_len` bytes are in the buffer (which may be longer:
/// Ethernet pads short frames).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Packet<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> Packet<T> {
    pub fn new_unchecked(buffer: T) -> Self {
        Packet { buffer }
    }

    pub fn new_checked(buffer: T) -> Result<Self> {
        let b = buffer.as_ref();
        if b.len() < MIN_HEADER_LEN {
            return Err(WireError::Truncated);
        }
        if b[field::VER_IHL] >> 4 != 4 {
            return Err(WireError::Malformed);
        }
        let ihl = ((b[field::VER_IHL] & 0xf) as usize) * 4;
        let total = be16(b, field::TOTAL_LEN) as usize;
        if ihl < MIN_HEADER_LEN || total < ihl {
            return Err(WireError::Malformed);
        }
        if b.len() < total {
            return Err(WireError::Truncated);
        }
        Ok(Packet { buffer })
    }

    pub fn into_inner(self) -> T {
        self.buffer
    }

    pub fn version(&self) -> u8 {
        version_of(self.buffer.as_ref()[field::VER_IHL])
    }
    /// Header length in bytes (IHL * 4).
    pub fn header_len(&self) -> usize {
        header_len_of(self.buffer.as_ref()[field::VER_IHL])
    }
    /// Type of Service / DSCP+ECN byte.
    pub fn tos(&self) -> u8 {
        self.buffer.as_ref()[field::TOS]
    }
    pub fn total_len(&self) -> u16 {
        be16(self.buffer.as_ref(), field::TOTAL_LEN)
    }
    pub fn ident(&self) -> u16 {
        be16(self.buffer.as_ref(), field::IDENT)
    }
    pub fn dont_frag(&self) -> bool {
        be16(self.buffer.as_ref(), field::FLAGS_FRAG) & FLAG_DF != 0
    }
    pub fn more_frags(&self) -> bool {
        be16(self.buffer.as_ref(), field::FLAGS_FRAG) & FLAG_MF != 0
    }
    /// Fragment offset in 8-byte units.
    pub fn frag_offset(&self) -> u16 {
        be16(self.buffer.as_ref(), field::FLAGS_FRAG) & OFFSET_MASK
    }
    /// Whether this is a fragment of a larger datagram (MF set or offset > 0).
    pub fn is_fragment(&self) -> bool {
        be16(self.buffer.as_ref(), field::FLAGS_FRAG) & (FLAG_MF | OFFSET_MASK) != 0
    }
    pub fn ttl(&self) -> u8 {
        self.buffer.as_ref()[field::TTL]
    }
    pub fn protocol(&self) -> u8 {
        self.buffer.as_ref()[field::PROTOCOL]
    }
    pub fn checksum(&self) -> u16 {
        be16(self.buffer.as_ref(), field::CHECKSUM)
    }
    pub fn src_addr(&self) -> Ipv4Addr {
        arr4(self.buffer.as_ref(), field::SRC.start).into()
    }
    pub fn dst_addr(&self) -> Ipv4Addr {
        arr4(self.buffer.as_ref(), field::DST.start).into()
    }
    pub fn src_octets(&self) -> [u8; 4] {
        arr4(self.buffer.as_ref(), field::SRC.start)
    }
    pub fn dst_octets(&self) -> [u8; 4] {
        arr4(self.buffer.as_ref(), field::DST.start)
    }
    /// The option bytes between the fixed header and the payload.
    pub fn options(&self) -> &[u8] {
        &self.buffer.as_ref()[OPTIONS_START..self.header_len()]
    }
    /// Whether the header checksum is correct.
    pub fn verify_checksum(&self) -> bool {
        checksum::is_valid(checksum::sum(&self.buffer.as_ref()[..self.header_len()]))
    }
    /// The payload, `total_len - header_len` bytes.
    pub fn payload(&self) -> &[u8] {
        &self.buffer.as_ref()[self.header_len()..self.total_len() as usize]
    }

    /// Whether the options hold an unexpired Loose or Strict Source and
    /// Record Route (pointer not past the option's end).
    pub fn has_unexpired_source_route(&self) -> bool {
        options::unexpired_source_route(self.options())
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> Packet<T> {
    pub fn set_ver_ihl(&mut self, header_len: usize) {
        self.buffer.as_mut()[field::VER_IHL] = 0x40 | ((header_len / 4) as u8 & 0xf);
    }
    pub fn set_tos(&mut self, v: u8) {
        self.buffer.as_mut()[field::TOS] = v;
    }
    pub fn set_total_len(&mut self, v: u16) {
        put16(self.buffer.as_mut(), field::TOTAL_LEN, v);
    }
    pub fn set_ident(&mut self, v: u16) {
        put16(self.buffer.as_mut(), field::IDENT, v);
    }
    /// Sets DF, MF and the fragment offset (8-byte units) at once.
    pub fn set_flags_frag(&mut self, df: bool, mf: bool, offset: u16) {
        let v = (if df { FLAG_DF } else { 0 })
            | (if mf { FLAG_MF } else { 0 })
            | (offset & OFFSET_MASK);
        put16(self.buffer.as_mut(), field::FLAGS_FRAG, v);
    }
    pub fn set_ttl(&mut self, v: u8) {
        self.buffer.as_mut()[field::TTL] = v;
    }
    pub fn set_protocol(&mut self, v: u8) {
        self.buffer.as_mut()[field::PROTOCOL] = v;
    }
    pub fn set_checksum(&mut self, v: u16) {
        put16(self.buffer.as_mut(), field::CHECKSUM, v);
    }
    pub fn set_src_addr(&mut self, a: Ipv4Addr) {
        self.buffer.as_mut()[field::SRC].copy_from_slice(&a.octets());
    }
    pub fn set_dst_addr(&mut self, a: Ipv4Addr) {
        self.buffer.as_mut()[field::DST].copy_from_slice(&a.octets());
    }
    /// Computes and writes the header checksum.
    pub fn fill_checksum(&mut self) {
        self.set_checksum(0);
        let hl = self.header_len();
        let c = checksum::finish(checksum::sum(&self.buffer.as_ref()[..hl]));
        self.set_checksum(c);
    }
    pub fn payload_mut(&mut self) -> &mut [u8] {
        let (start, end) = (self.header_len(), self.total_len() as usize);
        &mut self.buffer.as_mut()[start..end]
    }
}

/// IPv4 options (RFC 791 3.1) the translator needs to look at.
pub mod options {
    pub const END: u8 = 0;
    pub const NOP: u8 = 1;
    /// Loose Source and Record Route.
    pub const LSRR: u8 = 131;
    /// Strict Source and Record Route.
    pub const SSRR: u8 = 137;

    /// Whether `opts` holds an LSRR/SSRR whose pointer has not passed its
    /// end, i.e. the route still has hops to visit. Malformed option lists
    /// are read as far as they make sense.
    pub fn unexpired_source_route(opts: &[u8]) -> bool {
        let mut i = 0;
        while i < opts.len() {
            match opts[i] {
                END => return false,
                NOP => i += 1,
                kind => {
                    if i + 1 >= opts.len() {
                        return false;
                    }
                    let len = opts[i + 1] as usize;
                    if len < 2 {
                        return false;
                    }
                    // RFC 791: "If the pointer is greater than the length,
                    // the source route is empty (and the recorded route
                    // full)".
                    if (kind == LSRR || kind == SSRR) && i + 2 < opts.len() {
                        let pointer = opts[i + 2] as usize;
                        if pointer <= len {
                            return true;
                        }
                    }
                    i += len;
                }
            }
        }
        false
    }
}

/// An IPv4 header (without options) as a value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Repr {
    pub src: Ipv4Addr,
    pub dst: Ipv4Addr,
    pub protocol: u8,
    pub tos: u8,
    pub ttl: u8,
    pub ident: u16,
    pub dont_frag: bool,
    pub more_frags: bool,
    /// In 8-byte units.
    pub frag_offset: u16,
    pub payload_len: usize,
}

impl Repr {
    pub fn parse<T: AsRef<[u8]>>(p: &Packet<T>) -> Repr {
        Repr {
            src: p.src_addr(),
            dst: p.dst_addr(),
            protocol: p.protocol(),
            tos: p.tos(),
            ttl: p.ttl(),
            ident: p.ident(),
            dont_frag: p.dont_frag(),
            more_frags: p.more_frags(),
            frag_offset: p.frag_offset(),
            payload_len: p.total_len() as usize - p.header_len(),
        }
    }

    /// Writes a 20-byte header with its checksum into `buf[..20]`.
    ///
    /// The hot path of IPv6->IPv4 translation: the header is assembled as
    /// five 32-bit words and its checksum summed from them, so the bytes
    /// are written once and never read back. Panics if `buf` is shorter
    /// than 20 bytes.
    #[inline]
    pub fn emit(&self, buf: &mut [u8]) {
        let flags = (if self.dont_frag { FLAG_DF } else { 0 })
            | (if self.more_frags { FLAG_MF } else { 0 })
            | (self.frag_offset & OFFSET_MASK);
        let len = ((MIN_HEADER_LEN + self.payload_len) as u16).to_be_bytes();
        let (id, fl) = (self.ident.to_be_bytes(), flags.to_be_bytes());
        // The header as five 32-bit words, the checksum (end of the third)
        // zero while summing; summed in the machine's byte order.
        let mut words = [
            [0x45, self.tos, len[0], len[1]],
            [id[0], id[1], fl[0], fl[1]],
            [self.ttl, self.protocol, 0, 0],
            self.src.octets(),
            self.dst.octets(),
        ];
        let sum = words
            .iter()
            .fold(checksum::WideSum::default(), |s, &w| s.add4(w));
        let [c0, c1] = sum.bytes();
        words[2][2] = !c0;
        words[2][3] = !c1;
        for (at, w) in buf[..MIN_HEADER_LEN].chunks_exact_mut(4).zip(words) {
            at.copy_from_slice(&w);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Repr {
        Repr {
            src: Ipv4Addr::new(192, 0, 2, 1),
            dst: Ipv4Addr::new(198, 51, 100, 2),
            protocol: 17,
            tos: 0xb8,
            ttl: 64,
            ident: 0x1234,
            dont_frag: true,
            more_frags: false,
            frag_offset: 0,
            payload_len: 8,
        }
    }

    #[test]
    fn rfc791_emit_parse_round_trip_and_checksum() {
        let mut b = [0u8; 28];
        sample().emit(&mut b);
        let p = Packet::new_checked(&b[..]).unwrap();
        assert!(p.verify_checksum());
        assert_eq!(Repr::parse(&p), sample());
        let (h, _) = etherparse::Ipv4Header::from_slice(&b).unwrap();
        assert_eq!(h.header_checksum, h.calc_header_checksum());
        assert_eq!(h.identification, 0x1234);
        assert!(h.dont_fragment);
    }

    #[test]
    fn rfc791_new_checked_rejects_bad_lengths() {
        let mut b = [0u8; 28];
        sample().emit(&mut b);
        assert_eq!(Packet::new_checked(&b[..27]), Err(WireError::Truncated));
        b[0] = 0x44;
        assert_eq!(Packet::new_checked(&b[..]), Err(WireError::Malformed));
        b[0] = 0x65;
        assert_eq!(Packet::new_checked(&b[..]), Err(WireError::Malformed));
    }

    #[test]
    fn rfc791_3_1_source_route_pointer() {
        // LSRR, length 11, pointer 4: two hops left.
        assert!(options::unexpired_source_route(&[
            1, 131, 11, 4, 0, 0, 0, 0, 0, 0, 0, 0
        ]));
        // SSRR with pointer 12 > length 11: route consumed.
        assert!(!options::unexpired_source_route(&[
            137, 11, 12, 0, 0, 0, 0, 0, 0, 0, 0, 0
        ]));
        // Record route is not a source route.
        assert!(!options::unexpired_source_route(&[7, 7, 4, 0, 0, 0, 0, 0]));
        assert!(!options::unexpired_source_route(&[131]));
        assert!(!options::unexpired_source_route(&[131, 0, 4]));
    }

    proptest::proptest! {
        #[test]
        fn rfc791_repr_round_trip(
            src in proptest::prelude::any::<[u8; 4]>(), dst in proptest::prelude::any::<[u8; 4]>(),
            protocol in proptest::prelude::any::<u8>(), tos in proptest::prelude::any::<u8>(),
            ttl in proptest::prelude::any::<u8>(), ident in proptest::prelude::any::<u16>(),
            dont_frag in proptest::prelude::any::<bool>(), more_frags in proptest::prelude::any::<bool>(),
            frag_offset in 0u16..0x2000, payload_len in 0usize..100,
        ) {
            let r = Repr { src: src.into(), dst: dst.into(), protocol, tos, ttl, ident, dont_frag, more_frags, frag_offset, payload_len };
            let mut b = vec![0u8; 20 + payload_len];
            r.emit(&mut b);
            let p = Packet::new_checked(&b[..]).unwrap();
            proptest::prop_assert!(p.verify_checksum());
            proptest::prop_assert_eq!(Repr::parse(&p), r);
            let (h, _) = etherparse::Ipv4Header::from_slice(&b).unwrap();
            proptest::prop_assert_eq!(h.header_checksum, h.calc_header_checksum());
        }
    }
}
