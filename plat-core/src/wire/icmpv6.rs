//! ICMPv6 messages (RFC 4443).

use super::checksum;
use super::{be16, be32, put16, Result, WireError};

/// ICMPv6 types (IANA "ICMPv6 Parameters").
pub mod msg_type {
    pub const DEST_UNREACHABLE: u8 = 1;
    pub const PACKET_TOO_BIG: u8 = 2;
    pub const TIME_EXCEEDED: u8 = 3;
    pub const PARAMETER_PROBLEM: u8 = 4;
    pub const ECHO_REQUEST: u8 = 128;
    pub const ECHO_REPLY: u8 = 129;
    pub const MLD_QUERY: u8 = 130;
    pub const MLD_REPORT: u8 = 131;
    pub const MLD_DONE: u8 = 132;
    pub const ROUTER_SOLICIT: u8 = 133;
    pub const ROUTER_ADVERT: u8 = 134;
    pub const NEIGHBOR_SOLICIT: u8 = 135;
    pub const NEIGHBOR_ADVERT: u8 = 136;
    pub const REDIRECT: u8 = 137;
    pub const MLDV2_REPORT: u8 = 143;
}

/// Destination Unreachable codes (RFC 4443 3.1).
pub mod unreach {
    pub const NO_ROUTE: u8 = 0;
    pub const ADMIN_PROHIBITED: u8 = 1;
    pub const BEYOND_SCOPE: u8 = 2;
    pub const ADDRESS: u8 = 3;
    pub const PORT: u8 = 4;
}

/// Parameter Problem codes (RFC 4443 3.4).
pub mod param {
    pub const ERRONEOUS_FIELD: u8 = 0;
    pub const UNRECOGNIZED_NEXT_HEADER: u8 = 1;
    pub const UNRECOGNIZED_OPTION: u8 = 2;
}

mod field {
    pub const TYPE: usize = 0;
    pub const CODE: usize = 1;
    pub const CHECKSUM: usize = 2;
    pub const IDENT: usize = 4;
    pub const SEQ: usize = 6;
    /// Packet Too Big MTU, Parameter Problem pointer: 32 bits at 4.
    pub const WORD: usize = 4;
    /// RFC 4884 length attribute, in 64-bit words.
    pub const LENGTH: usize = 4;
}

pub const HEADER_LEN: usize = 8;
pub const OFFSET_CHECKSUM: usize = field::CHECKSUM;
/// The identifier of an echo request or reply.
pub const OFFSET_IDENT: usize = field::IDENT;

/// Whether `t` is an error message (RFC 4443 2.1: types 0-127).
pub fn is_error(t: u8) -> bool {
    t < 128
}

/// A view of an ICMPv6 message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Packet<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> Packet<T> {
    pub fn new_unchecked(buffer: T) -> Self {
        Packet { buffer }
    }
    pub fn new_checked(buffer: T) -> Result<Self> {
        if buffer.as_ref().len() < HEADER_LEN {
            return Err(WireError::Truncated);
        }
        Ok(Packet { buffer })
    }
    pub fn msg_type(&self) -> u8 {
        self.buffer.as_ref()[field::TYPE]
    }
    pub fn code(&self) -> u8 {
        self.buffer.as_ref()[field::CODE]
    }
    pub fn checksum(&self) -> u16 {
        be16(self.buffer.as_ref(), field::CHECKSUM)
    }
    pub fn ident(&self) -> u16 {
        be16(self.buffer.as_ref(), field::IDENT)
    }
    pub fn seq(&self) -> u16 {
        be16(self.buffer.as_ref(), field::SEQ)
    }
    /// Packet Too Big MTU.
    pub fn mtu(&self) -> u32 {
        be32(self.buffer.as_ref(), field::WORD)
    }
    /// Parameter Problem pointer.
    pub fn pointer(&self) -> u32 {
        be32(self.buffer.as_ref(), field::WORD)
    }
    /// RFC 4884 length attribute (64-bit words of the quoted packet).
    pub fn length_attr(&self) -> u8 {
        self.buffer.as_ref()[field::LENGTH]
    }
    pub fn payload(&self) -> &[u8] {
        &self.buffer.as_ref()[HEADER_LEN..]
    }
    /// Whether the checksum is right for the given pseudo-header addresses.
    pub fn verify_checksum(&self, src: &[u8; 16], dst: &[u8; 16]) -> bool {
        let b = self.buffer.as_ref();
        let ph = checksum::pseudo_v6(src, dst, super::proto::ICMPV6, b.len() as u32);
        checksum::is_valid(checksum::add(ph, checksum::sum(b)))
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> Packet<T> {
    pub fn set_msg_type(&mut self, v: u8) {
        self.buffer.as_mut()[field::TYPE] = v;
    }
    pub fn set_code(&mut self, v: u8) {
        self.buffer.as_mut()[field::CODE] = v;
    }
    pub fn set_checksum(&mut self, v: u16) {
        put16(self.buffer.as_mut(), field::CHECKSUM, v);
    }
    pub fn set_ident(&mut self, v: u16) {
        put16(self.buffer.as_mut(), field::IDENT, v);
    }
    /// Writes the four "rest of header" bytes at once.
    pub fn set_rest(&mut self, rest: [u8; 4]) {
        self.buffer.as_mut()[4..8].copy_from_slice(&rest);
    }
    /// Computes the checksum over the whole buffer with the pseudo-header.
    pub fn fill_checksum(&mut self, src: &[u8; 16], dst: &[u8; 16]) {
        self.set_checksum(0);
        let b = self.buffer.as_ref();
        let ph = checksum::pseudo_v6(src, dst, super::proto::ICMPV6, b.len() as u32);
        let c = checksum::finish(checksum::add(ph, checksum::sum(b)));
        self.set_checksum(c);
    }
}

/// An ICMPv6 header as a value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Repr {
    pub msg_type: u8,
    pub code: u8,
    pub rest: [u8; 4],
}

impl Repr {
    pub fn parse<T: AsRef<[u8]>>(p: &Packet<T>) -> Repr {
        let b = p.buffer.as_ref();
        Repr {
            msg_type: p.msg_type(),
            code: p.code(),
            rest: [b[4], b[5], b[6], b[7]],
        }
    }
    /// Writes the header into `buf[..8]`, checksum zero.
    pub fn emit(&self, buf: &mut [u8]) {
        buf[0] = self.msg_type;
        buf[1] = self.code;
        buf[2] = 0;
        buf[3] = 0;
        buf[4..8].copy_from_slice(&self.rest);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc4443_2_3_checksum_with_pseudo_header() {
        let src = [0x20, 1, 0xd, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1];
        let dst = [0x20, 1, 0xd, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2];
        let mut b = [128u8, 0, 0, 0, 0, 7, 0, 1, 1, 2, 3];
        let mut p = Packet::new_checked(&mut b[..]).unwrap();
        p.fill_checksum(&src, &dst);
        assert!(p.verify_checksum(&src, &dst));
        assert!(!p.verify_checksum(&dst, &[0; 16]));
        assert!(is_error(msg_type::PACKET_TOO_BIG));
        assert!(!is_error(msg_type::ECHO_REPLY));
    }
}
