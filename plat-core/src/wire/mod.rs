//! Zero-copy views over packet bytes, one module per header.
//!
//! Each header has a `Packet<T: AsRef<[u8]>>` view (add `AsMut<[u8]>` to
//! write fields in place) whose `new_checked` validates lengths once, so the
//! getters after it never index out of bounds, and a plain `Repr` value for
//! tests and the slow path. Field offsets live in one `mod field` per header.

pub mod arp;
pub mod checksum;
pub mod ethernet;
pub mod icmpv4;
pub mod icmpv6;
pub mod ipv4;
pub mod ipv6;
pub mod ipv6_ext;
pub mod ndp;
pub mod tcp;
pub mod udp;

/// Why a buffer is not a valid header of the kind asked for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum WireError {
    /// The buffer ends before the header (or the length it announces) does.
    #[error("buffer shorter than the header or its announced length")]
    Truncated,
    /// A field holds a value the header does not allow (version, length...).
    #[error("header field holds a value out of range")]
    Malformed,
}

/// Result of parsing a view.
pub type Result<T> = core::result::Result<T, WireError>;

/// IP protocol / IPv6 next-header numbers (IANA "Assigned Internet Protocol
/// Numbers") that the translator looks at.
pub mod proto {
    pub const HOPOPT: u8 = 0;
    pub const ICMP: u8 = 1;
    pub const TCP: u8 = 6;
    pub const UDP: u8 = 17;
    pub const IPV6_ROUTE: u8 = 43;
    pub const IPV6_FRAG: u8 = 44;
    pub const ESP: u8 = 50;
    pub const AH: u8 = 51;
    pub const ICMPV6: u8 = 58;
    pub const IPV6_NONXT: u8 = 59;
    pub const IPV6_OPTS: u8 = 60;
    pub const MOBILITY: u8 = 135;
    pub const HIP: u8 = 139;
    pub const SHIM6: u8 = 140;
}

#[inline(always)]
pub(crate) fn be16(b: &[u8], at: usize) -> u16 {
    u16::from_be_bytes([b[at], b[at + 1]])
}

#[inline(always)]
pub(crate) fn be32(b: &[u8], at: usize) -> u32 {
    u32::from_be_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]])
}

#[inline(always)]
pub(crate) fn put16(b: &mut [u8], at: usize, v: u16) {
    b[at..at + 2].copy_from_slice(&v.to_be_bytes());
}

#[inline(always)]
pub(crate) fn put32(b: &mut [u8], at: usize, v: u32) {
    b[at..at + 4].copy_from_slice(&v.to_be_bytes());
}

#[inline(always)]
pub(crate) fn arr4(b: &[u8], at: usize) -> [u8; 4] {
    [b[at], b[at + 1], b[at + 2], b[at + 3]]
}

#[inline(always)]
pub(crate) fn arr16(b: &[u8], at: usize) -> [u8; 16] {
    let mut a = [0u8; 16];
    a.copy_from_slice(&b[at..at + 16]);
    a
}

#[inline(always)]
pub(crate) fn arr6(b: &[u8], at: usize) -> [u8; 6] {
    let mut a = [0u8; 6];
    a.copy_from_slice(&b[at..at + 6]);
    a
}
