//! IPv4-embedded IPv6 addresses (RFC 6052): the prefix, embedding and
//! extraction for the six prefix lengths, and the rule that the Well-Known
//! Prefix never carries non-global IPv4 addresses.

use std::fmt;
use std::net::{Ipv4Addr, Ipv6Addr};

/// The Well-Known Prefix 64:ff9b::/96 (RFC 6052 2.1).
pub const WELL_KNOWN_PREFIX: Ipv6Addr = Ipv6Addr::new(0x64, 0xff9b, 0, 0, 0, 0, 0, 0);
/// The local-use prefix 64:ff9b:1::/48 (RFC 8215), a network-specific prefix.
pub const LOCAL_USE_PREFIX: Ipv6Addr = Ipv6Addr::new(0x64, 0xff9b, 1, 0, 0, 0, 0, 0);

/// RFC 6052 2.2: "PL MUST be one of 32, 40, 48, 56, 64, or 96."
pub const VALID_LENGTHS: [u8; 6] = [32, 40, 48, 56, 64, 96];

/// Index of the u-octet, bits 64 to 71 of the address.
const U_OCTET: usize = 8;

/// Why an IPv6 prefix cannot be used for RFC 6052 translation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum PrefixError {
    #[error("not an IPv6 prefix of the form ADDRESS/LENGTH")]
    Syntax,
    #[error("prefix length /{0} is not one of 32, 40, 48, 56, 64, 96 (RFC 6052 2.2)")]
    BadLength(u8),
    #[error("prefix has bits set beyond its length")]
    HostBitsSet,
    #[error("bits 64 to 71 (the u-octet) must be zero (RFC 6052 2.2)")]
    UOctetNotZero,
    #[error("a multicast prefix cannot hold unicast IPv4-embedded addresses")]
    Multicast,
    #[error("the Well-Known Prefix 64:ff9b::/96 is used only as a /96 (RFC 6052 2.1)")]
    WellKnownPrefixLength,
}

/// Why an address cannot be embedded or extracted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum AddrError {
    #[error("address is not inside the translation prefix")]
    NotInPrefix,
    /// RFC 6052 3.1: "The Well-Known Prefix MUST NOT be used to represent
    /// non-global IPv4 addresses".
    #[error("non-global IPv4 address with the Well-Known Prefix (RFC 6052 3.1)")]
    NonGlobalWithWellKnownPrefix,
}

/// A validated RFC 6052 prefix: a network-specific prefix of one of the
/// six lengths, or the Well-Known Prefix as a /96.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct Prefix6052 {
    bytes: [u8; 16],
    len: u8,
    /// `is_well_known`, worked out once: RFC 6052 3.1 is asked of every
    /// packet.
    well_known: bool,
    /// 0xff over the prefix's bytes, 0 after (every length is whole
    /// bytes): membership is one masked compare, in any byte order.
    mask: [u8; 16],
}

impl fmt::Debug for Prefix6052 {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", Ipv6Addr::from(self.bytes), self.len)
    }
}

crate::types::serde_as_text!(Prefix6052);

impl fmt::Display for Prefix6052 {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self, f)
    }
}

impl std::str::FromStr for Prefix6052 {
    type Err = PrefixError;

    /// Parses and validates `"64:ff9b::/96"`-style text (config, CLI).
    fn from_str(s: &str) -> Result<Self, PrefixError> {
        let (addr, len) = s.trim().split_once('/').ok_or(PrefixError::Syntax)?;
        let addr: Ipv6Addr = addr.parse().map_err(|_| PrefixError::Syntax)?;
        let len: u8 = len.parse().map_err(|_| PrefixError::Syntax)?;
        Prefix6052::new(addr, len)
    }
}

/// The translator's RFC 6052 prefixes, the first one primary. RFC 8683 4.5:
/// operators run the Well-Known Prefix for subscribers who use a public
/// DNS64 beside a network-specific prefix of their own, on one box and
/// pool. A session keeps the index of the prefix its subscriber used.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Prefixes {
    /// Inline, not on the heap: the packet path reads them per packet.
    /// Slots past `len` hold the primary.
    list: [Prefix6052; Prefixes::MAX],
    len: u8,
}

impl serde::Serialize for Prefixes {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        self.list[..usize::from(self.len)].serialize(s)
    }
}

/// Why a set of prefixes is refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum PrefixesError {
    #[error("needs at least one prefix")]
    Empty,
    #[error("more than {} prefixes", Prefixes::MAX)]
    TooMany,
    #[error("prefix {0} overlaps prefix {1}: an address would belong to both")]
    Overlap(usize, usize),
}

impl Prefixes {
    /// Prefixes one translator serves at most (a session keeps the index
    /// in a byte; a lookup walks them).
    pub const MAX: usize = 8;

    /// Validates a list: not empty, at most [`Prefixes::MAX`], no prefix
    /// inside another (an address must name one prefix).
    pub fn new(list: Vec<Prefix6052>) -> Result<Prefixes, PrefixesError> {
        if list.is_empty() {
            return Err(PrefixesError::Empty);
        }
        if list.len() > Prefixes::MAX {
            return Err(PrefixesError::TooMany);
        }
        for (i, a) in list.iter().enumerate() {
            if let Some(j) = list[..i]
                .iter()
                .position(|b| a.contains(&b.bytes) || b.contains(&a.bytes))
            {
                return Err(PrefixesError::Overlap(i, j));
            }
        }
        let mut p = Prefixes::one(list[0]);
        p.list[..list.len()].copy_from_slice(&list);
        p.len = list.len() as u8;
        Ok(p)
    }

    /// One prefix.
    pub fn one(p: Prefix6052) -> Prefixes {
        Prefixes {
            list: [p; Prefixes::MAX],
            len: 1,
        }
    }

    /// The first prefix: IPv4-initiated sessions and records without a
    /// session use it.
    pub fn primary(&self) -> &Prefix6052 {
        &self.list[0]
    }

    /// Prefix `i`, or the primary if there is no such index.
    #[inline(always)]
    pub fn get(&self, i: u8) -> &Prefix6052 {
        &self.list[if i < self.len { usize::from(i) } else { 0 }]
    }

    /// The prefix `addr` is in, with its index.
    #[inline(always)]
    pub fn find(&self, addr: &[u8; 16]) -> Option<(u8, &Prefix6052)> {
        self.iter()
            .enumerate()
            .find(|(_, p)| p.contains(addr))
            .map(|(i, p)| (i as u8, p))
    }

    /// The IPv4 address embedded in `addr` and the index of its prefix
    /// (RFC 6052 2.2), in one pass: the packet path's lookup. The primary
    /// is tried inline; the others (deployments with several prefixes)
    /// out of line.
    #[inline(always)]
    pub fn extract_octets(&self, addr: &[u8; 16]) -> Option<(u8, [u8; 4])> {
        match self.list[0].extract_octets(addr) {
            Ok(v4) => Some((0, v4)),
            Err(_) if self.len > 1 => self.extract_others(addr),
            Err(_) => None,
        }
    }

    #[inline(never)]
    fn extract_others(&self, addr: &[u8; 16]) -> Option<(u8, [u8; 4])> {
        (1..self.len).find_map(|i| {
            self.list[usize::from(i)]
                .extract_octets(addr)
                .ok()
                .map(|v4| (i, v4))
        })
    }

    /// Whether `v4` may be embedded in every prefix (RFC 6052 3.1 holds
    /// for all of them): the fast path's test before it knows which
    /// prefix a session uses.
    #[inline(always)]
    pub fn embeddable_in_all(&self, v4: Ipv4Addr) -> bool {
        self.list[0].check_3_1(v4).is_ok()
            && (self.len == 1 || self.iter().all(|p| p.check_3_1(v4).is_ok()))
    }

    /// Every prefix, in order.
    pub fn iter(&self) -> impl Iterator<Item = &Prefix6052> {
        self.list[..usize::from(self.len)].iter()
    }
}

/// The byte mask of a prefix of `len` bits, `len` a multiple of 8.
fn mask_of(len: u8) -> [u8; 16] {
    let mut m = [0u8; 16];
    m[..usize::from(len / 8)].fill(0xff);
    m
}

impl Prefix6052 {
    /// Validates `addr/len` as a translation prefix.
    pub fn new(addr: Ipv6Addr, len: u8) -> Result<Self, PrefixError> {
        if !VALID_LENGTHS.contains(&len) {
            return Err(PrefixError::BadLength(len));
        }
        let bytes = addr.octets();
        let n = len as usize / 8;
        if bytes[n..].iter().any(|&b| b != 0) {
            return Err(PrefixError::HostBitsSet);
        }
        // RFC 6052 2.2: "Bits 64 to 71 of the address are reserved ...
        // These bits MUST be set to zero." Only a /96 covers them.
        if bytes[U_OCTET] != 0 {
            return Err(PrefixError::UOctetNotZero);
        }
        if bytes[0] == 0xff {
            return Err(PrefixError::Multicast);
        }
        let wkp = WELL_KNOWN_PREFIX.octets();
        if len != 96 && bytes[..n] == wkp[..n] {
            return Err(PrefixError::WellKnownPrefixLength);
        }
        let well_known = len == 96 && bytes == wkp;
        Ok(Prefix6052 {
            bytes,
            len,
            well_known,
            mask: mask_of(len),
        })
    }

    /// The Well-Known Prefix 64:ff9b::/96.
    pub fn well_known() -> Self {
        Prefix6052 {
            bytes: WELL_KNOWN_PREFIX.octets(),
            len: 96,
            well_known: true,
            mask: mask_of(96),
        }
    }

    pub fn addr(&self) -> Ipv6Addr {
        self.bytes.into()
    }

    pub fn prefix_len(&self) -> u8 {
        self.len
    }

    /// Whether this is 64:ff9b::/96, to which RFC 6052 3.1 applies.
    #[inline]
    pub fn is_well_known(&self) -> bool {
        self.well_known
    }

    /// Whether `addr` lies inside the prefix.
    #[inline]
    pub fn contains(&self, addr: &[u8; 16]) -> bool {
        // One masked 128-bit compare: a slice compare of `len / 8` bytes
        // costs a memcmp call on the hot path.
        let (a, p) = (u128::from_ne_bytes(*addr), u128::from_ne_bytes(self.bytes));
        (a ^ p) & u128::from_ne_bytes(self.mask) == 0
    }

    /// Embeds `v4` (RFC 6052 2.2), with no check of the 3.1 rule.
    #[inline]
    pub fn embed(&self, v4: Ipv4Addr) -> Ipv6Addr {
        self.embed_octets(v4.octets()).into()
    }

    /// Embeds `v4` as bytes: the IPv4 address follows the prefix, skipping
    /// the u-octet; the suffix is zero (RFC 6052 2.2).
    #[inline]
    pub fn embed_octets(&self, v4: [u8; 4]) -> [u8; 16] {
        let mut out = self.bytes;
        let mut at = self.len as usize / 8;
        for b in v4 {
            if at == U_OCTET {
                at += 1;
            }
            out[at] = b;
            at += 1;
        }
        out
    }

    /// Extracts the IPv4 address (RFC 6052 2.2), with no check of the 3.1
    /// rule. The u-octet and suffix are ignored, as a receiver should.
    #[inline]
    pub fn extract_octets(&self, addr: &[u8; 16]) -> Result<[u8; 4], AddrError> {
        if !self.contains(addr) {
            return Err(AddrError::NotInPrefix);
        }
        // The /96 of nearly every deployment: the last four bytes, no
        // u-octet to step over.
        if self.len == 96 {
            return Ok([addr[12], addr[13], addr[14], addr[15]]);
        }
        let mut out = [0u8; 4];
        let mut at = self.len as usize / 8;
        for o in &mut out {
            if at == U_OCTET {
                at += 1;
            }
            *o = addr[at];
            at += 1;
        }
        Ok(out)
    }

    pub fn extract(&self, addr: Ipv6Addr) -> Result<Ipv4Addr, AddrError> {
        self.extract_octets(&addr.octets()).map(Ipv4Addr::from)
    }

    /// Embeds, refusing non-global addresses under the Well-Known Prefix.
    pub fn embed_checked(&self, v4: Ipv4Addr) -> Result<Ipv6Addr, AddrError> {
        self.check_3_1(v4)?;
        Ok(self.embed(v4))
    }

    /// Extracts, refusing non-global addresses under the Well-Known Prefix.
    pub fn extract_checked(&self, addr: Ipv6Addr) -> Result<Ipv4Addr, AddrError> {
        let v4 = self.extract(addr)?;
        self.check_3_1(v4)?;
        Ok(v4)
    }

    /// RFC 6052 3.1: "The Well-Known Prefix MUST NOT be used to represent
    /// non-global IPv4 addresses, such as those defined in \[RFC1918\] or
    /// listed in Section 3 of \[RFC5735\]."
    #[inline]
    pub fn check_3_1(&self, v4: Ipv4Addr) -> Result<(), AddrError> {
        if self.is_well_known() && !is_global_v4(v4) {
            return Err(AddrError::NonGlobalWithWellKnownPrefix);
        }
        Ok(())
    }
}

/// IPv4 blocks that are not global (RFC 6890 / RFC 5735 section 3, RFC
/// 1918, RFC 6598): (network, prefix length). One table, one fact.
pub const NON_GLOBAL_V4: [([u8; 4], u8); 16] = [
    ([0, 0, 0, 0], 8),          // "this" network
    ([10, 0, 0, 0], 8),         // RFC 1918
    ([100, 64, 0, 0], 10),      // RFC 6598 shared address space
    ([127, 0, 0, 0], 8),        // loopback
    ([169, 254, 0, 0], 16),     // link local
    ([172, 16, 0, 0], 12),      // RFC 1918
    ([192, 0, 0, 0], 24),       // IETF protocol assignments
    ([192, 0, 2, 0], 24),       // TEST-NET-1
    ([192, 88, 99, 0], 24),     // 6to4 relay anycast
    ([192, 168, 0, 0], 16),     // RFC 1918
    ([198, 18, 0, 0], 15),      // benchmarking
    ([198, 51, 100, 0], 24),    // TEST-NET-2
    ([203, 0, 113, 0], 24),     // TEST-NET-3
    ([224, 0, 0, 0], 4),        // multicast
    ([240, 0, 0, 0], 4),        // reserved for future use
    ([255, 255, 255, 255], 32), // limited broadcast
];

/// The first octets that some block of [`NON_GLOBAL_V4`] covers, as a
/// 256-bit set: an address outside them is global without a table scan.
/// Under the Well-Known Prefix every packet asks (RFC 6052 3.1).
const NON_GLOBAL_FIRST_OCTETS: [u64; 4] = {
    let mut set = [0u64; 4];
    let mut i = 0;
    while i < NON_GLOBAL_V4.len() {
        let (net, len) = NON_GLOBAL_V4[i];
        let first = net[0] as usize;
        let span = if len >= 8 { 1 } else { 1 << (8 - len) };
        let mut o = first;
        while o < first + span {
            set[o / 64] |= 1 << (o % 64);
            o += 1;
        }
        i += 1;
    }
    set
};

/// Whether `v4` is a global unicast address in the sense of RFC 6052 3.1.
#[inline]
pub fn is_global_v4(v4: Ipv4Addr) -> bool {
    let first = usize::from(v4.octets()[0]);
    if NON_GLOBAL_FIRST_OCTETS[first / 64] & (1 << (first % 64)) == 0 {
        return true;
    }
    !in_non_global_block(v4)
}

/// Whether `v4` lies in a block of [`NON_GLOBAL_V4`] (the table scan).
fn in_non_global_block(v4: Ipv4Addr) -> bool {
    let a = u32::from(v4);
    NON_GLOBAL_V4.iter().any(|&(net, len)| {
        let mask = u32::MAX << (32 - len as u32);
        a & mask == u32::from_be_bytes(net)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v6(s: &str) -> Ipv6Addr {
        s.parse().unwrap()
    }

    /// RFC 6052 2.4, verbatim:
    ///
    /// ```text
    /// +-----------------------+------------+------------------------------+
    /// | Network-Specific      |    IPv4    | IPv4-embedded IPv6 address   |
    /// | Prefix                |  address   |                              |
    /// +-----------------------+------------+------------------------------+
    /// | 2001:db8::/32         | 192.0.2.33 | 2001:db8:c000:221::          |
    /// | 2001:db8:100::/40     | 192.0.2.33 | 2001:db8:1c0:2:21::          |
    /// | 2001:db8:122::/48     | 192.0.2.33 | 2001:db8:122:c000:2:2100::   |
    /// | 2001:db8:122:300::/56 | 192.0.2.33 | 2001:db8:122:3c0:0:221::     |
    /// | 2001:db8:122:344::/64 | 192.0.2.33 | 2001:db8:122:344:c0:2:2100:0 |
    /// | 2001:db8:122:344::/96 | 192.0.2.33 | 2001:db8:122:344::192.0.2.33 |
    /// +-----------------------+------------+------------------------------+
    /// ```
    const RFC6052_2_4: [(&str, u8, &str, &str); 6] = [
        ("2001:db8::", 32, "192.0.2.33", "2001:db8:c000:221::"),
        ("2001:db8:100::", 40, "192.0.2.33", "2001:db8:1c0:2:21::"),
        (
            "2001:db8:122::",
            48,
            "192.0.2.33",
            "2001:db8:122:c000:2:2100::",
        ),
        (
            "2001:db8:122:300::",
            56,
            "192.0.2.33",
            "2001:db8:122:3c0:0:221::",
        ),
        (
            "2001:db8:122:344::",
            64,
            "192.0.2.33",
            "2001:db8:122:344:c0:2:2100:0",
        ),
        (
            "2001:db8:122:344::",
            96,
            "192.0.2.33",
            "2001:db8:122:344::192.0.2.33",
        ),
    ];

    #[test]
    fn rfc6052_2_4_example_table() {
        for (prefix, len, v4, embedded) in RFC6052_2_4 {
            let p = Prefix6052::new(v6(prefix), len).unwrap();
            let v4: Ipv4Addr = v4.parse().unwrap();
            assert_eq!(p.embed(v4), v6(embedded), "embed /{len}");
            assert_eq!(p.extract(v6(embedded)), Ok(v4), "extract /{len}");
            // 192.0.2.33 is TEST-NET-1, yet network-specific prefixes carry it.
            assert_eq!(p.embed_checked(v4), Ok(v6(embedded)));
        }
    }

    #[test]
    fn rfc6052_2_4_well_known_prefix_example() {
        // RFC 6052 2.4: "64:ff9b::192.0.2.33" -- the arithmetic holds even
        // though 3.1 forbids using it on the wire.
        let p = Prefix6052::well_known();
        let v4 = Ipv4Addr::new(192, 0, 2, 33);
        assert_eq!(p.embed(v4), v6("64:ff9b::192.0.2.33"));
        assert_eq!(
            p.embed_checked(v4),
            Err(AddrError::NonGlobalWithWellKnownPrefix)
        );
    }

    #[test]
    fn rfc6052_2_2_u_octet_stays_zero_and_is_ignored_on_extract() {
        for len in [32, 40, 48, 56, 64] {
            let p = Prefix6052::new(v6("2001:db8::"), len).unwrap();
            let a = p.embed(Ipv4Addr::new(255, 255, 255, 255)).octets();
            assert_eq!(a[8], 0, "/{len}");
            let mut dirty = a;
            dirty[8] = 0xaa;
            assert_eq!(p.extract_octets(&dirty), Ok([255; 4]));
        }
    }

    #[test]
    fn rfc6052_2_2_prefix_validation() {
        assert_eq!(
            Prefix6052::new(v6("2001:db8::"), 33),
            Err(PrefixError::BadLength(33))
        );
        assert_eq!(
            Prefix6052::new(v6("2001:db8::"), 128),
            Err(PrefixError::BadLength(128))
        );
        assert_eq!(
            Prefix6052::new(v6("2001:db8::1"), 96),
            Err(PrefixError::HostBitsSet)
        );
        assert_eq!(
            Prefix6052::new(v6("2001:db8:1::"), 32),
            Err(PrefixError::HostBitsSet)
        );
        assert_eq!(
            Prefix6052::new(v6("2001:db8:0:0:ff00::"), 96),
            Err(PrefixError::UOctetNotZero)
        );
        assert_eq!(
            Prefix6052::new(v6("ff0e::"), 32),
            Err(PrefixError::Multicast)
        );
        assert_eq!(
            Prefix6052::new(v6("64:ff9b::"), 64),
            Err(PrefixError::WellKnownPrefixLength)
        );
        assert!(Prefix6052::new(v6("64:ff9b::"), 96)
            .unwrap()
            .is_well_known());
    }

    #[test]
    fn rfc6052_3_1_first_octet_filter_agrees_with_the_table() {
        // Every first octet, with the low bits that open, close and sit
        // inside every block of the table.
        for first in 0..=255u32 {
            for low in [0, 1, 0x0012_3456, 0x0040_0000, 0x00fe_0000, 0x00ff_ffff] {
                let a = Ipv4Addr::from(first << 24 | low);
                assert_eq!(is_global_v4(a), !in_non_global_block(a), "{a}");
            }
        }
        for &(net, _) in &NON_GLOBAL_V4 {
            assert!(!is_global_v4(Ipv4Addr::from(net)), "{net:?}");
        }
    }

    #[test]
    fn rfc6052_3_1_well_known_prefix_refuses_non_global() {
        let p = Prefix6052::well_known();
        for bad in [
            "10.1.2.3",
            "172.16.0.1",
            "192.168.1.1",
            "127.0.0.1",
            "169.254.1.1",
            "100.64.0.1",
            "0.1.2.3",
            "224.0.0.1",
            "255.255.255.255",
            "198.18.0.1",
            "203.0.113.9",
            "198.51.100.1",
            "192.0.0.8",
            "240.0.0.1",
        ] {
            let v4: Ipv4Addr = bad.parse().unwrap();
            assert_eq!(
                p.embed_checked(v4),
                Err(AddrError::NonGlobalWithWellKnownPrefix),
                "{bad}"
            );
            assert_eq!(
                p.extract_checked(p.embed(v4)),
                Err(AddrError::NonGlobalWithWellKnownPrefix)
            );
        }
        for good in [
            "8.8.8.8",
            "1.1.1.1",
            "100.128.0.1",
            "172.32.0.1",
            "192.0.3.1",
        ] {
            let v4: Ipv4Addr = good.parse().unwrap();
            assert_eq!(p.extract_checked(p.embed(v4)), Ok(v4), "{good}");
        }
    }

    #[test]
    fn prefix_parses_from_text() {
        assert_eq!("64:ff9b::/96".parse(), Ok(Prefix6052::well_known()));
        assert_eq!(
            "64:ff9b:1::/48"
                .parse::<Prefix6052>()
                .map(|p| p.prefix_len()),
            Ok(48)
        );
        assert_eq!("64:ff9b::".parse::<Prefix6052>(), Err(PrefixError::Syntax));
        assert_eq!("nope/96".parse::<Prefix6052>(), Err(PrefixError::Syntax));
        assert_eq!(
            "2001:db8::/33".parse::<Prefix6052>(),
            Err(PrefixError::BadLength(33))
        );
        assert_eq!(Prefix6052::well_known().to_string(), "64:ff9b::/96");
    }

    #[test]
    fn rfc8215_local_use_prefix_is_network_specific() {
        let p = Prefix6052::new(LOCAL_USE_PREFIX, 48).unwrap();
        assert!(!p.is_well_known());
        let v4 = Ipv4Addr::new(10, 0, 0, 1);
        assert_eq!(p.embed_checked(v4), Ok(v6("64:ff9b:1:a00:0:100::")));
        assert_eq!(p.extract_checked(v6("64:ff9b:1:a00:0:100::")), Ok(v4));
        // A /96 inside it too.
        assert!(Prefix6052::new(v6("64:ff9b:1:2:3:4::"), 96).is_ok());
    }

    #[test]
    fn rfc6052_extract_outside_prefix() {
        let p = Prefix6052::new(v6("2001:db8:122::"), 48).unwrap();
        assert_eq!(
            p.extract(v6("2001:db8:123::1")),
            Err(AddrError::NotInPrefix)
        );
        assert!(p.contains(&v6("2001:db8:122:ffff::").octets()));
    }
}
