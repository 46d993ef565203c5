//! Neighbor Discovery (RFC 4861) Neighbor Solicitation and Advertisement,
//! with the link-layer address options: what the dataplane's neighbor
//! table needs on Ethernet.

use super::{arr16, Result, WireError};
use std::net::Ipv6Addr;

mod field {
    /// NA flags byte (R, S, O).
    pub const FLAGS: usize = 4;
    pub const TARGET: usize = 8;
    pub const OPTIONS: usize = 24;
}

/// Option types (RFC 4861 4.6).
pub mod option {
    pub const SOURCE_LL_ADDR: u8 = 1;
    pub const TARGET_LL_ADDR: u8 = 2;
}

/// Neighbor Advertisement flags.
pub mod na_flags {
    pub const ROUTER: u8 = 0x80;
    pub const SOLICITED: u8 = 0x40;
    pub const OVERRIDE: u8 = 0x20;
}

/// Length of an NS/NA message without options.
pub const MIN_LEN: usize = field::OPTIONS;

/// A view of a Neighbor Solicitation or Advertisement (ICMPv6 type 135 or
/// 136), starting at the ICMPv6 header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Packet<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> Packet<T> {
    pub fn new_unchecked(buffer: T) -> Self {
        Packet { buffer }
    }
    /// Checks the type, the length and that every option has a non-zero
    /// length inside the buffer (RFC 4861 7.1.1: "All included options
    /// have a length that is greater than zero").
    pub fn new_checked(buffer: T) -> Result<Self> {
        let b = buffer.as_ref();
        if b.len() < MIN_LEN {
            return Err(WireError::Truncated);
        }
        if !matches!(b[0], 135 | 136) || b[1] != 0 {
            return Err(WireError::Malformed);
        }
        let mut at = field::OPTIONS;
        while at < b.len() {
            if at + 2 > b.len() {
                return Err(WireError::Truncated);
            }
            let len = b[at + 1] as usize * 8;
            if len == 0 {
                return Err(WireError::Malformed);
            }
            if at + len > b.len() {
                return Err(WireError::Truncated);
            }
            at += len;
        }
        Ok(Packet { buffer })
    }
    pub fn is_solicitation(&self) -> bool {
        self.buffer.as_ref()[0] == 135
    }
    pub fn target(&self) -> Ipv6Addr {
        arr16(self.buffer.as_ref(), field::TARGET).into()
    }
    /// NA only: R/S/O flags.
    pub fn flags(&self) -> u8 {
        self.buffer.as_ref()[field::FLAGS]
    }
    /// The first Source (NS) or Target (NA) Link-Layer Address option of
    /// Ethernet length.
    pub fn link_layer_addr(&self) -> Option<[u8; 6]> {
        let want = if self.is_solicitation() {
            option::SOURCE_LL_ADDR
        } else {
            option::TARGET_LL_ADDR
        };
        let b = self.buffer.as_ref();
        let mut at = field::OPTIONS;
        while at + 2 <= b.len() {
            let len = b[at + 1] as usize * 8;
            if len == 0 || at + len > b.len() {
                return None;
            }
            if b[at] == want && len == 8 {
                let mut mac = [0u8; 6];
                mac.copy_from_slice(&b[at + 2..at + 8]);
                return Some(mac);
            }
            at += len;
        }
        None
    }
}

/// A Neighbor Solicitation or Advertisement as a value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Repr {
    pub solicitation: bool,
    /// NA flags (zero for NS).
    pub flags: u8,
    pub target: Ipv6Addr,
    pub link_layer_addr: Option<[u8; 6]>,
}

impl Repr {
    pub fn parse<T: AsRef<[u8]>>(p: &Packet<T>) -> Repr {
        Repr {
            solicitation: p.is_solicitation(),
            flags: if p.is_solicitation() { 0 } else { p.flags() },
            target: p.target(),
            link_layer_addr: p.link_layer_addr(),
        }
    }
    pub fn buffer_len(&self) -> usize {
        MIN_LEN + if self.link_layer_addr.is_some() { 8 } else { 0 }
    }
    /// Writes the message (ICMPv6 checksum left zero: it needs the IPv6
    /// addresses, see `icmpv6::Packet::fill_checksum`).
    pub fn emit(&self, buf: &mut [u8]) {
        let b = &mut buf[..self.buffer_len()];
        b.fill(0);
        b[0] = if self.solicitation { 135 } else { 136 };
        b[field::FLAGS] = self.flags;
        b[field::TARGET..field::TARGET + 16].copy_from_slice(&self.target.octets());
        if let Some(mac) = self.link_layer_addr {
            let o = field::OPTIONS;
            b[o] = if self.solicitation {
                option::SOURCE_LL_ADDR
            } else {
                option::TARGET_LL_ADDR
            };
            b[o + 1] = 1;
            b[o + 2..o + 8].copy_from_slice(&mac);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc4861_4_4_advertisement_round_trip() {
        let r = Repr {
            solicitation: false,
            flags: na_flags::SOLICITED | na_flags::OVERRIDE,
            target: "2001:db8::1".parse().unwrap(),
            link_layer_addr: Some([2, 0, 0, 0, 0, 9]),
        };
        let mut b = [0u8; 32];
        r.emit(&mut b);
        assert_eq!(Repr::parse(&Packet::new_checked(&b[..]).unwrap()), r);
    }

    #[test]
    fn rfc4861_7_1_1_zero_length_option_is_invalid() {
        let r = Repr {
            solicitation: true,
            flags: 0,
            target: "2001:db8::1".parse().unwrap(),
            link_layer_addr: Some([2, 0, 0, 0, 0, 9]),
        };
        let mut b = [0u8; 32];
        r.emit(&mut b);
        b[25] = 0;
        assert_eq!(Packet::new_checked(&b[..]), Err(WireError::Malformed));
        assert_eq!(Packet::new_checked(&b[..20]), Err(WireError::Truncated));
    }
}
