//! Leaf types every layer shares: protocols, the caller's clock, transport
//! addresses, TCP flags and states, session handles, the two sides of the
//! appliance and the configuration error. This module imports nothing
//! from the crate, so anything may import it.

use std::fmt;
use std::net::{Ipv4Addr, Ipv6Addr};
use std::str::FromStr;

/// The three protocols RFC 6146 keeps BIBs for.
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize,
)]
#[serde(rename_all = "lowercase")]
#[repr(u8)]
pub enum Proto {
    Tcp = 0,
    Udp = 1,
    /// ICMP query messages (echo); the identifier plays the role of a port.
    Icmp = 2,
}

impl Proto {
    pub const COUNT: usize = 3;
    pub const ALL: [Proto; Proto::COUNT] = [Proto::Tcp, Proto::Udp, Proto::Icmp];

    pub const fn name(self) -> &'static str {
        match self {
            Proto::Tcp => "tcp",
            Proto::Udp => "udp",
            Proto::Icmp => "icmp",
        }
    }

    #[inline]
    pub const fn index(self) -> usize {
        self as usize
    }

    pub const fn from_u8(v: u8) -> Option<Proto> {
        match v {
            0 => Some(Proto::Tcp),
            1 => Some(Proto::Udp),
            2 => Some(Proto::Icmp),
            _ => None,
        }
    }
}

impl fmt::Display for Proto {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Proto {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        Proto::ALL
            .into_iter()
            .find(|p| p.name().eq_ignore_ascii_case(s))
            .ok_or_else(|| format!("`{s}` is not a protocol (tcp, udp or icmp)"))
    }
}

/// The caller's clock: milliseconds since an epoch the caller chooses
/// (the UNIX epoch if binding logs are to carry wall-clock time).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Time(u64);

impl Time {
    pub const fn from_millis(ms: u64) -> Time {
        Time(ms)
    }
    pub const fn from_secs(s: u64) -> Time {
        Time(s * 1000)
    }
    pub const fn as_millis(self) -> u64 {
        self.0
    }
    /// Whole seconds, the resolution sessions are stamped with.
    #[inline]
    pub(crate) const fn secs(self) -> u32 {
        (self.0 / 1000) as u32
    }
}

/// An IPv4 transport address (for ICMP query, `port` is the identifier).
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize,
)]
pub struct Endpoint4 {
    pub addr: Ipv4Addr,
    pub port: u16,
}

impl Endpoint4 {
    pub const fn new(addr: Ipv4Addr, port: u16) -> Self {
        Endpoint4 { addr, port }
    }
}

impl fmt::Display for Endpoint4 {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.addr, self.port)
    }
}

/// An IPv6 transport address (for ICMP query, `port` is the identifier).
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize,
)]
pub struct Endpoint6 {
    pub addr: Ipv6Addr,
    pub port: u16,
}

impl Endpoint6 {
    pub const fn new(addr: Ipv6Addr, port: u16) -> Self {
        Endpoint6 { addr, port }
    }
}

impl fmt::Display for Endpoint6 {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "[{}]:{}", self.addr, self.port)
    }
}

/// The TCP flags the state machine looks at (the byte at TCP offset 13).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct TcpFlags(pub u8);

impl TcpFlags {
    pub const NONE: TcpFlags = TcpFlags(0);
    pub const FIN: TcpFlags = TcpFlags(0x01);
    pub const SYN: TcpFlags = TcpFlags(0x02);
    pub const RST: TcpFlags = TcpFlags(0x04);
    pub const ACK: TcpFlags = TcpFlags(0x10);
    pub const SYN_ACK: TcpFlags = TcpFlags(0x12);

    #[inline]
    pub const fn syn(self) -> bool {
        self.0 & 0x02 != 0
    }
    #[inline]
    pub const fn fin(self) -> bool {
        self.0 & 0x01 != 0
    }
    #[inline]
    pub const fn rst(self) -> bool {
        self.0 & 0x04 != 0
    }
}

/// Which side of the appliance a packet, port, address or route belongs
/// to: inside is IPv6 (the subscribers), outside is IPv4 (the internet).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
#[repr(u8)]
pub enum Side {
    /// The IPv6 (subscriber) side.
    Inside = 0,
    /// The IPv4 (internet) side.
    Outside = 1,
}

/// An IPv4 prefix, `a.b.c.d/len`, host bits kept (an interface address
/// is written this way too).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Ipv4Cidr {
    /// The address as written.
    pub addr: Ipv4Addr,
    /// Prefix length, 0..=32.
    pub len: u8,
}

impl Ipv4Cidr {
    /// The network address (host bits cleared).
    pub fn network(&self) -> Ipv4Addr {
        Ipv4Addr::from(u32::from(self.addr) & self.mask())
    }
    /// The netmask as a u32.
    pub fn mask(&self) -> u32 {
        u32::MAX.checked_shl(32 - u32::from(self.len)).unwrap_or(0)
    }
    /// True when `a` lies inside the prefix.
    pub fn contains(&self, a: Ipv4Addr) -> bool {
        u32::from(a) & self.mask() == u32::from(self.network())
    }
    /// Every address of the prefix, network to broadcast (a NAT64 pool
    /// uses them all: nothing on the pool is a host that needs them).
    pub fn addrs(&self) -> impl Iterator<Item = Ipv4Addr> {
        let first = u32::from(self.network());
        let last = first | !self.mask();
        (first..=last).map(Ipv4Addr::from)
    }
}

impl FromStr for Ipv4Cidr {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        let (a, l) = s.split_once('/').unwrap_or((s, "32"));
        let addr = a
            .parse()
            .map_err(|_| format!("`{a}` is not an IPv4 address"))?;
        let len: u8 = l
            .parse()
            .ok()
            .filter(|&l| l <= 32)
            .ok_or_else(|| format!("`/{l}` is not an IPv4 prefix length (0-32)"))?;
        Ok(Ipv4Cidr { addr, len })
    }
}

/// An IPv6 prefix, `x::y/len`, host bits kept.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Ipv6Cidr {
    /// The address as written.
    pub addr: Ipv6Addr,
    /// Prefix length, 0..=128.
    pub len: u8,
}

impl Ipv6Cidr {
    /// The netmask as a u128.
    pub fn mask(&self) -> u128 {
        u128::MAX
            .checked_shl(128 - u32::from(self.len))
            .unwrap_or(0)
    }
    /// The network address (host bits cleared).
    pub fn network(&self) -> Ipv6Addr {
        Ipv6Addr::from(u128::from(self.addr) & self.mask())
    }
    /// True when `a` lies inside the prefix.
    pub fn contains(&self, a: Ipv6Addr) -> bool {
        u128::from(a) & self.mask() == u128::from(self.network())
    }
}

impl FromStr for Ipv6Cidr {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        let (a, l) = s.split_once('/').unwrap_or((s, "128"));
        let addr = a
            .parse()
            .map_err(|_| format!("`{a}` is not an IPv6 address"))?;
        let len: u8 = l
            .parse()
            .ok()
            .filter(|&l| l <= 128)
            .ok_or_else(|| format!("`/{l}` is not an IPv6 prefix length (0-128)"))?;
        Ok(Ipv6Cidr { addr, len })
    }
}

impl fmt::Display for Ipv4Cidr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.addr, self.len)
    }
}

/// One address as a /128.
impl From<Ipv6Addr> for Ipv6Cidr {
    fn from(addr: Ipv6Addr) -> Self {
        Ipv6Cidr { addr, len: 128 }
    }
}

impl fmt::Display for Ipv6Cidr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.addr, self.len)
    }
}

/// Serializes a type as its `Display` text and deserializes it with its
/// `FromStr` (prefixes and MAC addresses travel as `192.0.2.0/24` text).
macro_rules! serde_as_text {
    ($t:ty) => {
        impl serde::Serialize for $t {
            fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.collect_str(self)
            }
        }
        impl<'de> serde::Deserialize<'de> for $t {
            fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let text = <std::borrow::Cow<'de, str>>::deserialize(d)?;
                text.parse().map_err(serde::de::Error::custom)
            }
        }
    };
}
pub(crate) use serde_as_text;
serde_as_text!(Ipv4Cidr);
serde_as_text!(Ipv6Cidr);

/// A session's handle inside its shard (a slab index; reused after the
/// session is deleted).
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize,
)]
#[serde(transparent)]
pub struct SessionId(pub u32);

/// RFC 6146 3.5.2.2 states.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[repr(u8)]
pub enum TcpState {
    Closed = 0,
    V6Init = 1,
    V4Init = 2,
    Established = 3,
    V4FinRcv = 4,
    V6FinRcv = 5,
    V6FinV4FinRcv = 6,
    Trans = 7,
}

impl TcpState {
    pub const ALL: [TcpState; 8] = [
        TcpState::Closed,
        TcpState::V6Init,
        TcpState::V4Init,
        TcpState::Established,
        TcpState::V4FinRcv,
        TcpState::V6FinRcv,
        TcpState::V6FinV4FinRcv,
        TcpState::Trans,
    ];

    pub const fn name(self) -> &'static str {
        match self {
            TcpState::Closed => "CLOSED",
            TcpState::V6Init => "V6 INIT",
            TcpState::V4Init => "V4 INIT",
            TcpState::Established => "ESTABLISHED",
            TcpState::V4FinRcv => "V4 FIN RCV",
            TcpState::V6FinRcv => "V6 FIN RCV",
            TcpState::V6FinV4FinRcv => "V6 FIN + V4 FIN RCV",
            TcpState::Trans => "TRANS",
        }
    }

    pub const fn from_u8(v: u8) -> Option<TcpState> {
        if v < 8 {
            Some(TcpState::ALL[v as usize])
        } else {
            None
        }
    }
}

/// A refused configuration: which field, and why.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("config field `{field}`: {reason}")]
pub struct ConfigError {
    /// Dotted path of the field, e.g. `inside.address`.
    pub field: String,
    /// What is wrong with it.
    pub reason: String,
}

impl ConfigError {
    pub(crate) fn new(field: impl Into<String>, reason: impl Into<String>) -> Self {
        ConfigError {
            field: field.into(),
            reason: reason.into(),
        }
    }
}
