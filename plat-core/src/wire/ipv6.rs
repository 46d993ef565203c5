//! IPv6 fixed headers (RFC 8200 3). Extension headers are in `ipv6_ext`.

use super::{arr16, be16, be32, put16, put32, Result, WireError};
use std::net::Ipv6Addr;

mod field {
    use core::ops::Range;
    pub const VER_TC_FLOW: usize = 0;
    pub const PAYLOAD_LEN: usize = 4;
    pub const NEXT_HEADER: usize = 6;
    pub const HOP_LIMIT: usize = 7;
    pub const SRC: Range<usize> = 8..24;
    pub const DST: Range<usize> = 24..40;
}

/// Length of the fixed header.
pub const HEADER_LEN: usize = 40;
/// Byte offsets of the fields, for ICMPv6 Parameter Problem pointers.
pub const OFFSET_PAYLOAD_LEN: usize = field::PAYLOAD_LEN;
pub const OFFSET_NEXT_HEADER: usize = field::NEXT_HEADER;
pub const OFFSET_HOP_LIMIT: usize = field::HOP_LIMIT;
pub const OFFSET_SRC: usize = field::SRC.start;
pub const OFFSET_DST: usize = field::DST.start;
pub const OFFSET_VER_TC_FLOW: usize = field::VER_TC_FLOW;

/// The IP version of a header's first byte.
#[inline(always)]
pub const fn version_of(first: u8) -> u8 {
    first >> 4
}

/// The Traffic Class of a header's first two bytes.
#[inline(always)]
pub const fn traffic_class_of(first: [u8; 2]) -> u8 {
    (u16::from_be_bytes(first) >> 4) as u8
}

/// A view of an IPv6 packet; `new_checked` guarantees `40 + payload_len`
/// bytes are in the buffer.
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
        if b.len() < HEADER_LEN {
            return Err(WireError::Truncated);
        }
        if b[0] >> 4 != 6 {
            return Err(WireError::Malformed);
        }
        if b.len() < HEADER_LEN + be16(b, field::PAYLOAD_LEN) as usize {
            return Err(WireError::Truncated);
        }
        Ok(Packet { buffer })
    }

    pub fn into_inner(self) -> T {
        self.buffer
    }

    pub fn version(&self) -> u8 {
        self.buffer.as_ref()[0] >> 4
    }
    pub fn traffic_class(&self) -> u8 {
        (be16(self.buffer.as_ref(), field::VER_TC_FLOW) >> 4) as u8
    }
    pub fn flow_label(&self) -> u32 {
        be32(self.buffer.as_ref(), field::VER_TC_FLOW) & 0x000f_ffff
    }
    pub fn payload_len(&self) -> u16 {
        be16(self.buffer.as_ref(), field::PAYLOAD_LEN)
    }
    pub fn next_header(&self) -> u8 {
        self.buffer.as_ref()[field::NEXT_HEADER]
    }
    pub fn hop_limit(&self) -> u8 {
        self.buffer.as_ref()[field::HOP_LIMIT]
    }
    pub fn src_addr(&self) -> Ipv6Addr {
        self.src_octets().into()
    }
    pub fn dst_addr(&self) -> Ipv6Addr {
        self.dst_octets().into()
    }
    pub fn src_octets(&self) -> [u8; 16] {
        arr16(self.buffer.as_ref(), field::SRC.start)
    }
    pub fn dst_octets(&self) -> [u8; 16] {
        arr16(self.buffer.as_ref(), field::DST.start)
    }
    /// The payload (extension headers included), `payload_len` bytes.
    pub fn payload(&self) -> &[u8] {
        &self.buffer.as_ref()[HEADER_LEN..HEADER_LEN + self.payload_len() as usize]
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> Packet<T> {
    /// Writes version 6, the traffic class and the flow label at once.
    pub fn set_ver_tc_flow(&mut self, traffic_class: u8, flow_label: u32) {
        let v = (6u32 << 28) | ((traffic_class as u32) << 20) | (flow_label & 0x000f_ffff);
        put32(self.buffer.as_mut(), field::VER_TC_FLOW, v);
    }
    pub fn set_payload_len(&mut self, v: u16) {
        put16(self.buffer.as_mut(), field::PAYLOAD_LEN, v);
    }
    pub fn set_next_header(&mut self, v: u8) {
        self.buffer.as_mut()[field::NEXT_HEADER] = v;
    }
    pub fn set_hop_limit(&mut self, v: u8) {
        self.buffer.as_mut()[field::HOP_LIMIT] = v;
    }
    pub fn set_src_addr(&mut self, a: Ipv6Addr) {
        self.buffer.as_mut()[field::SRC].copy_from_slice(&a.octets());
    }
    pub fn set_dst_addr(&mut self, a: Ipv6Addr) {
        self.buffer.as_mut()[field::DST].copy_from_slice(&a.octets());
    }
    pub fn payload_mut(&mut self) -> &mut [u8] {
        let end = HEADER_LEN + self.payload_len() as usize;
        &mut self.buffer.as_mut()[HEADER_LEN..end]
    }
}

/// An IPv6 fixed header as a value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Repr {
    pub src: Ipv6Addr,
    pub dst: Ipv6Addr,
    pub next_header: u8,
    pub hop_limit: u8,
    pub traffic_class: u8,
    pub flow_label: u32,
    pub payload_len: usize,
}

impl Repr {
    pub fn parse<T: AsRef<[u8]>>(p: &Packet<T>) -> Repr {
        Repr {
            src: p.src_addr(),
            dst: p.dst_addr(),
            next_header: p.next_header(),
            hop_limit: p.hop_limit(),
            traffic_class: p.traffic_class(),
            flow_label: p.flow_label(),
            payload_len: p.payload_len() as usize,
        }
    }

    /// Writes the fixed header into `buf[..40]`.
    pub fn emit(&self, buf: &mut [u8]) {
        let mut p = Packet::new_unchecked(&mut buf[..HEADER_LEN]);
        p.set_ver_tc_flow(self.traffic_class, self.flow_label);
        p.set_payload_len(self.payload_len as u16);
        p.set_next_header(self.next_header);
        p.set_hop_limit(self.hop_limit);
        p.set_src_addr(self.src);
        p.set_dst_addr(self.dst);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc8200_3_round_trip() {
        let r = Repr {
            src: "2001:db8::1".parse().unwrap(),
            dst: "64:ff9b::c000:201".parse().unwrap(),
            next_header: 17,
            hop_limit: 64,
            traffic_class: 0xb8,
            flow_label: 0xabcde,
            payload_len: 8,
        };
        let mut b = [0u8; 48];
        r.emit(&mut b);
        let p = Packet::new_checked(&b[..]).unwrap();
        assert_eq!(Repr::parse(&p), r);
        let (h, _) = etherparse::Ipv6Header::from_slice(&b).unwrap();
        assert_eq!(h.traffic_class, 0xb8);
        assert_eq!(h.flow_label.value(), 0xabcde);
        assert_eq!(Packet::new_checked(&b[..47]), Err(WireError::Truncated));
        b[0] = 0x45;
        assert_eq!(Packet::new_checked(&b[..]), Err(WireError::Malformed));
    }

    proptest::proptest! {
        #[test]
        fn rfc8200_3_repr_round_trip(
            src in proptest::prelude::any::<[u8; 16]>(), dst in proptest::prelude::any::<[u8; 16]>(),
            next_header in proptest::prelude::any::<u8>(), hop_limit in proptest::prelude::any::<u8>(),
            traffic_class in proptest::prelude::any::<u8>(), flow_label in 0u32..(1 << 20),
            payload_len in 0usize..100,
        ) {
            let r = Repr { src: src.into(), dst: dst.into(), next_header, hop_limit, traffic_class, flow_label, payload_len };
            let mut b = vec![0u8; 40 + payload_len];
            r.emit(&mut b);
            proptest::prop_assert_eq!(Repr::parse(&Packet::new_checked(&b[..]).unwrap()), r);
        }
    }
}
