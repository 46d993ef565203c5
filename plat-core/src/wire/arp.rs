//! ARP for IPv4 over Ethernet (RFC 826), the only kind the appliance speaks.

use super::{arr4, arr6, be16, put16, Result, WireError};
use std::net::Ipv4Addr;

pub mod op {
    pub const REQUEST: u16 = 1;
    pub const REPLY: u16 = 2;
}

mod field {
    pub const HTYPE: usize = 0;
    pub const PTYPE: usize = 2;
    pub const HLEN: usize = 4;
    pub const PLEN: usize = 5;
    pub const OPER: usize = 6;
    pub const SHA: usize = 8;
    pub const SPA: usize = 14;
    pub const THA: usize = 18;
    pub const TPA: usize = 24;
    pub const LEN: usize = 28;
}

/// Length of an Ethernet/IPv4 ARP packet.
pub const PACKET_LEN: usize = field::LEN;

/// A view of an Ethernet/IPv4 ARP packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Packet<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> Packet<T> {
    pub fn new_unchecked(buffer: T) -> Self {
        Packet { buffer }
    }

    /// Accepts only hardware type Ethernet (1) with 6-byte addresses and
    /// protocol type IPv4 with 4-byte addresses.
    pub fn new_checked(buffer: T) -> Result<Self> {
        let b = buffer.as_ref();
        if b.len() < field::LEN {
            return Err(WireError::Truncated);
        }
        if be16(b, field::HTYPE) != 1
            || be16(b, field::PTYPE) != 0x0800
            || b[field::HLEN] != 6
            || b[field::PLEN] != 4
        {
            return Err(WireError::Malformed);
        }
        Ok(Packet { buffer })
    }

    pub fn operation(&self) -> u16 {
        be16(self.buffer.as_ref(), field::OPER)
    }
    pub fn sender_hw(&self) -> [u8; 6] {
        arr6(self.buffer.as_ref(), field::SHA)
    }
    pub fn sender_ip(&self) -> Ipv4Addr {
        arr4(self.buffer.as_ref(), field::SPA).into()
    }
    pub fn target_hw(&self) -> [u8; 6] {
        arr6(self.buffer.as_ref(), field::THA)
    }
    pub fn target_ip(&self) -> Ipv4Addr {
        arr4(self.buffer.as_ref(), field::TPA).into()
    }
}

/// An ARP packet as a value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Repr {
    pub operation: u16,
    pub sender_hw: [u8; 6],
    pub sender_ip: Ipv4Addr,
    pub target_hw: [u8; 6],
    pub target_ip: Ipv4Addr,
}

impl Repr {
    pub fn parse<T: AsRef<[u8]>>(p: &Packet<T>) -> Repr {
        Repr {
            operation: p.operation(),
            sender_hw: p.sender_hw(),
            sender_ip: p.sender_ip(),
            target_hw: p.target_hw(),
            target_ip: p.target_ip(),
        }
    }

    /// Writes the packet into `buf[..PACKET_LEN]`.
    pub fn emit(&self, buf: &mut [u8]) {
        put16(buf, field::HTYPE, 1);
        put16(buf, field::PTYPE, 0x0800);
        buf[field::HLEN] = 6;
        buf[field::PLEN] = 4;
        put16(buf, field::OPER, self.operation);
        buf[field::SHA..field::SHA + 6].copy_from_slice(&self.sender_hw);
        buf[field::SPA..field::SPA + 4].copy_from_slice(&self.sender_ip.octets());
        buf[field::THA..field::THA + 6].copy_from_slice(&self.target_hw);
        buf[field::TPA..field::TPA + 4].copy_from_slice(&self.target_ip.octets());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc826_request_round_trip() {
        let r = Repr {
            operation: op::REQUEST,
            sender_hw: [2, 0, 0, 0, 0, 1],
            sender_ip: Ipv4Addr::new(192, 0, 2, 1),
            target_hw: [0; 6],
            target_ip: Ipv4Addr::new(192, 0, 2, 2),
        };
        let mut b = [0u8; PACKET_LEN];
        r.emit(&mut b);
        assert_eq!(Repr::parse(&Packet::new_checked(&b[..]).unwrap()), r);
        // RFC 826 layout: oper at 6, SPA at 14, TPA at 24.
        assert_eq!(&b[6..8], &[0, 1]);
        assert_eq!(&b[24..28], &[192, 0, 2, 2]);
        b[5] = 16;
        assert_eq!(Packet::new_checked(&b[..]), Err(WireError::Malformed));
        assert_eq!(Packet::new_checked(&b[..27]), Err(WireError::Truncated));
    }
}
