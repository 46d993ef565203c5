//! ICMPv4 messages (RFC 792), with the RFC 1191 Next-Hop MTU field and the
//! RFC 4884 length attribute.

use super::{be16, put16, Result, WireError};

/// ICMPv4 types (IANA "ICMP Type Numbers").
pub mod msg_type {
    pub const ECHO_REPLY: u8 = 0;
    pub const DEST_UNREACHABLE: u8 = 3;
    pub const SOURCE_QUENCH: u8 = 4;
    pub const REDIRECT: u8 = 5;
    pub const ALTERNATE_HOST: u8 = 6;
    pub const ECHO_REQUEST: u8 = 8;
    pub const ROUTER_ADVERT: u8 = 9;
    pub const ROUTER_SOLICIT: u8 = 10;
    pub const TIME_EXCEEDED: u8 = 11;
    pub const PARAMETER_PROBLEM: u8 = 12;
    pub const TIMESTAMP: u8 = 13;
    pub const TIMESTAMP_REPLY: u8 = 14;
    pub const INFO_REQUEST: u8 = 15;
    pub const INFO_REPLY: u8 = 16;
    pub const ADDRESS_MASK: u8 = 17;
    pub const ADDRESS_MASK_REPLY: u8 = 18;
}

/// Destination Unreachable codes (RFC 792, RFC 1812 5.2.7.1).
pub mod unreach {
    pub const NET: u8 = 0;
    pub const HOST: u8 = 1;
    pub const PROTOCOL: u8 = 2;
    pub const PORT: u8 = 3;
    pub const FRAG_NEEDED: u8 = 4;
    pub const SOURCE_ROUTE_FAILED: u8 = 5;
    pub const NET_PROHIBITED: u8 = 9;
    pub const HOST_PROHIBITED: u8 = 10;
    pub const ADMIN_PROHIBITED: u8 = 13;
}

mod field {
    pub const TYPE: usize = 0;
    pub const CODE: usize = 1;
    pub const CHECKSUM: usize = 2;
    pub const IDENT: usize = 4;
    pub const SEQ: usize = 6;
    /// Parameter Problem pointer.
    pub const POINTER: usize = 4;
    /// RFC 4884 length of the original datagram, in 32-bit words.
    pub const LENGTH: usize = 5;
    /// RFC 1191 Next-Hop MTU of Fragmentation Needed.
    pub const MTU: usize = 6;
}

pub const HEADER_LEN: usize = 8;
pub const OFFSET_CHECKSUM: usize = field::CHECKSUM;
/// The identifier of an echo request or reply.
pub const OFFSET_IDENT: usize = field::IDENT;

/// Whether `t` is an error message (which quotes the packet in error).
pub fn is_error(t: u8) -> bool {
    matches!(
        t,
        msg_type::DEST_UNREACHABLE
            | msg_type::SOURCE_QUENCH
            | msg_type::REDIRECT
            | msg_type::TIME_EXCEEDED
            | msg_type::PARAMETER_PROBLEM
    )
}

/// A view of an ICMPv4 message.
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
    /// Echo identifier.
    pub fn ident(&self) -> u16 {
        be16(self.buffer.as_ref(), field::IDENT)
    }
    pub fn seq(&self) -> u16 {
        be16(self.buffer.as_ref(), field::SEQ)
    }
    pub fn pointer(&self) -> u8 {
        self.buffer.as_ref()[field::POINTER]
    }
    /// RFC 4884 length attribute (32-bit words of the quoted datagram).
    pub fn length_attr(&self) -> u8 {
        self.buffer.as_ref()[field::LENGTH]
    }
    pub fn next_hop_mtu(&self) -> u16 {
        be16(self.buffer.as_ref(), field::MTU)
    }
    pub fn payload(&self) -> &[u8] {
        &self.buffer.as_ref()[HEADER_LEN..]
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
    /// Computes the checksum over the whole buffer (ICMPv4 has no
    /// pseudo-header).
    pub fn fill_checksum(&mut self) {
        self.set_checksum(0);
        let c = super::checksum::finish(super::checksum::sum(self.buffer.as_ref()));
        self.set_checksum(c);
    }
}

/// An ICMPv4 header as a value: type, code and the four bytes after the
/// checksum, whose meaning depends on the type.
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
    fn rfc792_echo_checksum() {
        let mut b = [8u8, 0, 0, 0, 0x12, 0x34, 0, 1, b'h', b'i'];
        let mut p = Packet::new_checked(&mut b[..]).unwrap();
        p.fill_checksum();
        assert_eq!(p.ident(), 0x1234);
        assert_eq!(super::super::checksum::sum(&b), 0xffff);
        assert!(is_error(msg_type::TIME_EXCEEDED));
        assert!(!is_error(msg_type::ECHO_REQUEST));
        assert_eq!(Packet::new_checked(&b[..7]), Err(WireError::Truncated));
    }
}
