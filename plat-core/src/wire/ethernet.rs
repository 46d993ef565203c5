//! Ethernet II frames with at most one IEEE 802.1Q tag.

use super::{arr6, be16, put16, Result, WireError};

/// EtherType values the appliance handles.
pub mod ethertype {
    pub const IPV4: u16 = 0x0800;
    pub const ARP: u16 = 0x0806;
    pub const VLAN: u16 = 0x8100;
    pub const IPV6: u16 = 0x86dd;
}

mod field {
    use core::ops::Range;
    pub const DST: Range<usize> = 0..6;
    pub const SRC: Range<usize> = 6..12;
    pub const ETHERTYPE: usize = 12;
    /// With an 802.1Q tag: Tag Control Information, then the real EtherType.
    pub const TCI: usize = 14;
    pub const INNER_ETHERTYPE: usize = 16;
    pub const HEADER_LEN: usize = 14;
    pub const TAGGED_HEADER_LEN: usize = 18;
}

/// Length of an untagged Ethernet header.
pub const HEADER_LEN: usize = field::HEADER_LEN;
/// Length of an Ethernet header with one 802.1Q tag.
pub const TAGGED_HEADER_LEN: usize = field::TAGGED_HEADER_LEN;

/// A view of an Ethernet frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Packet<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> Packet<T> {
    /// Wraps a buffer without checking it; use `new_checked` on input.
    pub fn new_unchecked(buffer: T) -> Self {
        Packet { buffer }
    }

    /// Wraps a buffer that holds at least the (tagged) header.
    pub fn new_checked(buffer: T) -> Result<Self> {
        let p = Packet { buffer };
        let b = p.buffer.as_ref();
        if b.len() < field::HEADER_LEN {
            return Err(WireError::Truncated);
        }
        if be16(b, field::ETHERTYPE) == ethertype::VLAN && b.len() < field::TAGGED_HEADER_LEN {
            return Err(WireError::Truncated);
        }
        Ok(p)
    }

    pub fn into_inner(self) -> T {
        self.buffer
    }

    pub fn dst(&self) -> [u8; 6] {
        arr6(self.buffer.as_ref(), field::DST.start)
    }

    pub fn src(&self) -> [u8; 6] {
        arr6(self.buffer.as_ref(), field::SRC.start)
    }

    fn is_tagged(&self) -> bool {
        be16(self.buffer.as_ref(), field::ETHERTYPE) == ethertype::VLAN
    }

    /// The 802.1Q Tag Control Information, if the frame is tagged.
    pub fn vlan_tci(&self) -> Option<u16> {
        self.is_tagged()
            .then(|| be16(self.buffer.as_ref(), field::TCI))
    }

    /// The EtherType of the payload (after the tag, if any).
    pub fn ethertype(&self) -> u16 {
        let at = if self.is_tagged() {
            field::INNER_ETHERTYPE
        } else {
            field::ETHERTYPE
        };
        be16(self.buffer.as_ref(), at)
    }

    pub fn header_len(&self) -> usize {
        if self.is_tagged() {
            field::TAGGED_HEADER_LEN
        } else {
            field::HEADER_LEN
        }
    }

    pub fn payload(&self) -> &[u8] {
        &self.buffer.as_ref()[self.header_len()..]
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> Packet<T> {
    pub fn set_dst(&mut self, mac: [u8; 6]) {
        self.buffer.as_mut()[field::DST].copy_from_slice(&mac);
    }

    pub fn set_src(&mut self, mac: [u8; 6]) {
        self.buffer.as_mut()[field::SRC].copy_from_slice(&mac);
    }

    /// Sets the payload EtherType (after the tag, if any): translation
    /// swaps 0x86dd and 0x0800 without touching the tag.
    pub fn set_ethertype(&mut self, value: u16) {
        let at = if self.is_tagged() {
            field::INNER_ETHERTYPE
        } else {
            field::ETHERTYPE
        };
        put16(self.buffer.as_mut(), at, value);
    }

    pub fn payload_mut(&mut self) -> &mut [u8] {
        let at = self.header_len();
        &mut self.buffer.as_mut()[at..]
    }
}

/// An Ethernet header as a value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Repr {
    pub dst: [u8; 6],
    pub src: [u8; 6],
    pub vlan_tci: Option<u16>,
    pub ethertype: u16,
}

impl Repr {
    pub fn parse<T: AsRef<[u8]>>(p: &Packet<T>) -> Repr {
        Repr {
            dst: p.dst(),
            src: p.src(),
            vlan_tci: p.vlan_tci(),
            ethertype: p.ethertype(),
        }
    }

    pub fn header_len(&self) -> usize {
        if self.vlan_tci.is_some() {
            field::TAGGED_HEADER_LEN
        } else {
            field::HEADER_LEN
        }
    }

    /// Writes the header at the start of `buf`, which must hold `header_len()` bytes.
    pub fn emit(&self, buf: &mut [u8]) {
        buf[field::DST].copy_from_slice(&self.dst);
        buf[field::SRC].copy_from_slice(&self.src);
        match self.vlan_tci {
            Some(tci) => {
                put16(buf, field::ETHERTYPE, ethertype::VLAN);
                put16(buf, field::TCI, tci);
                put16(buf, field::INNER_ETHERTYPE, self.ethertype);
            }
            None => put16(buf, field::ETHERTYPE, self.ethertype),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ieee8021q_tag_is_skipped_and_kept() {
        let repr = Repr {
            dst: [2, 0, 0, 0, 0, 1],
            src: [2, 0, 0, 0, 0, 2],
            vlan_tci: Some(0x0064),
            ethertype: ethertype::IPV6,
        };
        let mut buf = [0u8; 20];
        repr.emit(&mut buf);
        let mut p = Packet::new_checked(&mut buf[..]).unwrap();
        assert_eq!(Repr::parse(&p), repr);
        assert_eq!(p.header_len(), 18);
        p.set_ethertype(ethertype::IPV4);
        assert_eq!(p.vlan_tci(), Some(0x64));
        assert_eq!(p.ethertype(), ethertype::IPV4);
        assert_eq!(p.payload().len(), 2);
        // An independent parser sees the same tag and inner EtherType.
        let outer = etherparse::Ethernet2HeaderSlice::from_slice(&buf).unwrap();
        assert_eq!(outer.ether_type(), etherparse::EtherType::VLAN_TAGGED_FRAME);
        let tag = etherparse::SingleVlanHeaderSlice::from_slice(&buf[14..]).unwrap();
        assert_eq!(tag.vlan_identifier().value(), 0x64);
        assert_eq!(tag.ether_type(), etherparse::EtherType::IPV4);
    }

    #[test]
    fn untagged_and_truncated() {
        assert_eq!(
            Packet::new_checked(&[0u8; 13][..]),
            Err(WireError::Truncated)
        );
        let mut b = [0u8; 16];
        b[12] = 0x81;
        assert_eq!(Packet::new_checked(&b[..]), Err(WireError::Truncated));
        b[12] = 0x08;
        let p = Packet::new_checked(&b[..]).unwrap();
        assert_eq!(p.vlan_tci(), None);
        assert_eq!(p.ethertype(), 0x0800);
        assert_eq!(p.payload().len(), 2);
    }
}
