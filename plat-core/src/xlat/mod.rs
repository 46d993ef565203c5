//! Stateless IP/ICMP translation (RFC 7915), both directions, in place.
//!
//! The translator rewrites the L3 packet inside the caller's buffer: IPv6
//! to IPv4 shrinks the header (the new packet starts later in the buffer),
//! IPv4 to IPv6 grows it into the headroom before `l3_start`. It takes the
//! translated addresses and ports as inputs ([`V6ToV4`], [`V4ToV6`]): the
//! stateful NAT (or [`stateless`] for RFC 6052 tests) decides them. Cheap
//! flow parsing ([`FlowV6`], [`FlowV4`]) gives the NAT the tuple it looks up
//! before translating.
//!
//! The common path (one packet in, one out) allocates nothing and touches
//! only the headers. Rare cases live behind one slow path each: ICMP errors
//! (translated with the packet they quote, or generated back to the sender
//! in place), and fragmentation, whose extra packets go to a [`Sink`].
//!
//! How the stateful NAT drives it, per packet from the IPv6 side:
//!
//! ```
//! use plat_core::xlat::{self, FlowV6, Outcome, Tuple4, V6ToV4, XlatConfig};
//! # let prefix = plat_core::addr::Prefix6052::well_known();
//! # let mut frame = vec![0u8; xlat::HEADROOM];
//! # let mut pkt = vec![0x60, 0, 0, 0, 0, 8, 17, 64];
//! # pkt.extend_from_slice(&"2001:db8::1".parse::<std::net::Ipv6Addr>().unwrap().octets());
//! # pkt.extend_from_slice(&prefix.embed("8.8.8.8".parse().unwrap()).octets());
//! # pkt.extend_from_slice(&[0x9c, 0x40, 0, 53, 0, 8, 0, 0]);
//! # frame.extend_from_slice(&pkt);
//! # let (l3_start, l3_len) = (xlat::HEADROOM, pkt.len());
//! let flow = FlowV6::parse(&frame[l3_start..l3_start + l3_len]).unwrap();
//! // ... the session lookup picks the pool address and port ...
//! let map = V6ToV4::new(
//!     Tuple4 {
//!         src: "203.0.113.1".parse().unwrap(),
//!         dst: prefix.extract_checked(flow.dst).unwrap(),
//!         src_port: 61000,
//!         dst_port: flow.dst_port,
//!     },
//!     1, // IPv4 Identification
//! );
//! let mut extra: Vec<Vec<u8>> = Vec::new();
//! match xlat::v6_to_v4(&mut frame, l3_start, l3_len, &map, &XlatConfig::default(), &mut extra) {
//!     Outcome::Forward { l3_len, .. } => assert_eq!(l3_len, 28),
//!     other => panic!("{other:?}"),
//! }
//! ```

mod flow;
mod frag;
mod icmp_error;
pub mod icmp_map;
mod l4;
pub mod mtu;
mod reply;
pub mod stateless;
mod v4_to_v6;
mod v6_to_v4;

pub use flow::{FlowHead, FlowV4, FlowV6, Fragment, IcmpInfo, InnerFlow};
pub use v4_to_v6::{v4_to_v6, FastV4};
pub use v6_to_v4::{v6_to_v4, FastV6};

use std::net::{Ipv4Addr, Ipv6Addr};

/// Bytes of headroom before `l3_start` every call needs at most: an IPv4
/// ICMP error grows by 48 bytes when translated (40 more for the outer and
/// the inner IPv6 header, 8 for an inner Fragment header), and an ICMPv6
/// error generated back to an IPv6 sender is 48 bytes of headers in front
/// of the packet it quotes. The common path needs 20 (28 with a Fragment
/// header); a call that lacks what it needs drops with
/// [`DropReason::NoHeadroom`]. (An ICMPv4 error carrying an RFC 4884
/// extension may need 4 bytes more to keep the extension; with less, the
/// extension is dropped and the error still translated.)
pub const HEADROOM: usize = 48;

/// The largest IPv4 packet sent without DF (the rule, RFC 7915 5, is
/// `v6_to_v4::dont_fragment`).
pub const DF_THRESHOLD: usize = 1260;

/// The hop limit or TTL a translated packet leaves with, or `None` when
/// it expires here. The same words in both directions, RFC 7915 4.1 and
/// 5.1: "Since the translator is a router, as part of forwarding the
/// packet it needs to decrement either the IPv4 TTL (before the
/// translation) or the IPv6 Hop Limit (after the translation). As part of
/// decrementing the TTL or Hop Limit, the translator (as any router) MUST
/// check for zero and send the ICMPv4 "TTL Exceeded" or ICMPv6 "Hop Limit
/// Exceeded" error."
#[inline(always)]
fn forwarded_hop_limit(hops: u8) -> Option<u8> {
    if hops <= 1 {
        None
    } else {
        Some(hops - 1)
    }
}

/// The IPv6 Traffic Class or IPv4 TOS a translated packet leaves with.
/// RFC 7915 4.1: "Traffic Class: By default, copied from the IP Type Of
/// Service (TOS) octet. [...] An implementation of a translator SHOULD
/// support an administratively configurable option to ignore the IPv4
/// TOS and always set the IPv6 traffic class (TC) to zero." And 5.1:
/// "Type of Service (TOS) Octets: By default, copied from the IPv6
/// Traffic Class (all 8 bits). [...] An implementation of a translator
/// SHOULD provide the ability to ignore the IPv6 traffic class and treat
/// it as zero in the IPv4 header." (`copy_traffic_class`)
#[inline(always)]
fn copied_class(class: u8, cfg: &XlatConfig) -> u8 {
    if cfg.copy_traffic_class {
        class
    } else {
        0
    }
}

/// RFC 1812 4.3.2.3 / RFC 7915 practice: an ICMPv4 error, quote included,
/// is at most 576 bytes.
pub const ICMPV4_ERROR_MAX: usize = 576;
/// RFC 4443 2.4 (c): an ICMPv6 error is at most the minimum IPv6 MTU.
pub const ICMPV6_ERROR_MAX: usize = 1280;
/// The minimum IPv6 link MTU (RFC 8200 5).
pub const IPV6_MIN_MTU: u16 = 1280;

crate::counters! {
    /// Why a packet was not forwarded (or was answered with an ICMP error
    /// instead). One counter per variant in the dataplane.
    pub enum DropReason {
        Malformed = "drop_malformed", Counter,
            "Headers shorter than they say, bad version or lengths.";
        BadIpv4Checksum = "drop_bad_ipv4_checksum", Counter,
            "IPv4 header checksum wrong.";
        IcmpWrongFamily = "drop_icmp_wrong_family", Counter,
            "ICMPv4 inside IPv6 or ICMPv6 inside IPv4: not translatable.";
        HopLimitExceeded = "drop_hop_limit_exceeded", Counter,
            "TTL / Hop Limit would reach zero (Time Exceeded sent back).";
        RoutingSegmentsLeft = "drop_routing_segments_left", Counter,
            "Routing header with Segments Left > 0 (Parameter Problem sent back).";
        Ipv4SourceRoute = "drop_ipv4_source_route", Counter,
            "IPv4 unexpired source route option (Source Route Failed sent back).";
        ExtHeaderAfterFragment = "drop_ext_header_after_fragment", Counter,
            "An extension header after the Fragment header.";
        FragmentedIcmp = "drop_fragmented_icmp", Counter,
            "Fragmented ICMP errors, and fragments of ICMP queries whose whole length is not known, are not translated (RFC 7915 1.2).";
        IcmpUntranslatable = "drop_icmp_untranslatable", Counter,
            "ICMP type or code the RFC 7915 tables drop.";
        IcmpPointerUntranslatable = "drop_icmp_pointer_untranslatable", Counter,
            "Parameter Problem whose pointer has no counterpart.";
        IcmpInnerMalformed = "drop_icmp_inner_malformed", Counter,
            "The packet quoted by an ICMP error is not a usable IP packet.";
        IcmpNestedError = "drop_icmp_nested_error", Counter,
            "An ICMP error quoting an ICMP error (RFC 7915 4.3/5.3).";
        L4Truncated = "drop_l4_truncated", Counter,
            "First fragment or packet too short for its TCP/UDP/ICMP header.";
        UdpZeroChecksum = "drop_udp_zero_checksum", Counter,
            "IPv4 UDP with checksum zero, translator configured to drop.";
        UdpZeroChecksumFragment = "drop_udp_zero_checksum_fragment", Counter,
            "Fragmented IPv4 UDP with checksum zero (RFC 7915 4.5).";
        PacketTooBig = "drop_packet_too_big", Counter,
            "IPv6 packet over the IPv4 MTU with DF (Packet Too Big sent back).";
        FragmentationNeeded = "drop_fragmentation_needed", Counter,
            "IPv4 packet with DF over the IPv6 MTU (Fragmentation Needed sent back).";
        WkpNonGlobal = "drop_wkp_non_global", Counter,
            "RFC 6052 3.1: a non-global IPv4 address with 64:ff9b::/96.";
        NotInPrefix = "drop_not_in_prefix", Counter,
            "An address outside the translation prefix.";
        NoHeadroom = "drop_no_headroom", Counter,
            "Not enough bytes before `l3_start` to grow the packet.";
        ExtHeaderProtocolInIpv4 = "drop_ext_header_protocol_in_ipv4", Counter,
            "IPv4 protocol 0, 43, 44 or 60: copied into Next Header it would read as a (bogus) IPv6 extension header.";
    }
}

impl From<crate::wire::WireError> for DropReason {
    fn from(_: crate::wire::WireError) -> Self {
        DropReason::Malformed
    }
}

impl From<crate::addr::AddrError> for DropReason {
    fn from(e: crate::addr::AddrError) -> Self {
        match e {
            crate::addr::AddrError::NotInPrefix => DropReason::NotInPrefix,
            crate::addr::AddrError::NonGlobalWithWellKnownPrefix => DropReason::WkpNonGlobal,
        }
    }
}

/// What a translation did. The caller forwards, sends back or frees.
#[must_use]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// Translated in place: send `buf[l3_start..l3_start + l3_len]` out of
    /// the other family's side.
    Forward { l3_start: usize, l3_len: usize },
    /// Translated into `count` fragments, all handed to the sink for the
    /// other side; the input buffer is spent.
    Fragmented { count: usize },
    /// Not translated: `buf[l3_start..l3_start + l3_len]` now holds an ICMP
    /// error for the sender, to send back out of the side the packet came
    /// in on. `reason` is the counter to bump.
    Reply {
        l3_start: usize,
        l3_len: usize,
        reason: DropReason,
    },
    /// Not translated, nothing to send.
    Drop(DropReason),
}

/// An IP version: which family a packet in place is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IpVersion {
    V4,
    V6,
}

/// Builds, in place in front of the packet at `buf[l3_start..l3_start +
/// len]` (of `version`), the ICMP error of its own family (`msg_type`,
/// `code`, `rest` word) that answers it: for drops decided outside the
/// translator (the stateful NAT's). Returns where the error is, or `None`
/// when the packet may not be answered (RFC 4443 2.4 (e), RFC 1812
/// 4.3.2.7: errors, multicast and unspecified sources) or there is no
/// headroom.
pub fn icmp_error(
    buf: &mut [u8],
    (l3_start, len): (usize, usize),
    version: IpVersion,
    (msg_type, code, rest): (u8, u8, u32),
    cfg: &XlatConfig,
) -> Option<(usize, usize)> {
    let l3 = buf.get(l3_start..l3_start.checked_add(len)?)?;
    type Reply = fn(
        &mut [u8],
        usize,
        usize,
        reply::Icmp,
        DropReason,
        bool,
        &XlatConfig,
    ) -> Result<Outcome, DropReason>;
    let (is_error, reply): (bool, Reply) = match version {
        IpVersion::V6 => (
            FlowV6::parse(l3).map_or(true, |f| f.is_icmp_error()),
            reply::v6,
        ),
        IpVersion::V4 => (
            FlowV4::parse(l3).map_or(true, |f| f.is_icmp_error()),
            reply::v4,
        ),
    };
    let icmp = reply::Icmp::with_word(msg_type, code, rest);
    match reply(
        buf,
        l3_start,
        len,
        icmp,
        DropReason::Malformed,
        is_error,
        cfg,
    ) {
        Ok(Outcome::Reply {
            l3_start, l3_len, ..
        }) => Some((l3_start, l3_len)),
        _ => None,
    }
}

/// A translator's straight line ([`FastV6`], [`FastV4`]): the common
/// packet (TCP or UDP right after a header without options, unfragmented,
/// not expiring, fitting the other side) in straight-line code. It applies
/// the same rule functions as the general path, which handles every other
/// packet. The stateful NAT checks first, so that it looks its session up
/// only for packets this path will take.
pub trait Straight: Sized {
    /// The addresses and ports to translate with.
    type Map;
    /// The packet at `buf[l3_start..l3_start + l3_len]`, if the straight
    /// line takes it.
    fn check(buf: &[u8], l3_start: usize, l3_len: usize, cfg: &XlatConfig) -> Option<Self>;
    /// Translates in place with the addresses and ports of `map`: the new
    /// packet's start and length.
    fn translate(self, buf: &mut [u8], map: &Self::Map, cfg: &XlatConfig) -> (usize, usize);
}

/// The straight line `F` if it takes the packet, else `None` for the
/// general path.
#[inline(always)]
fn straight<F: Straight>(
    buf: &mut [u8],
    l3_start: usize,
    l3_len: usize,
    map: &F::Map,
    cfg: &XlatConfig,
) -> Option<Outcome> {
    let (l3_start, l3_len) = F::check(buf, l3_start, l3_len, cfg)?.translate(buf, map, cfg);
    Some(Outcome::Forward { l3_start, l3_len })
}

/// Receives the extra packets fragmentation makes. Each packet is `header`
/// followed by `payload` (L3 bytes); the dataplane copies them into new
/// mbufs. Only fragmentation calls it: the common path never does.
pub trait Sink {
    fn emit(&mut self, header: &[u8], payload: &[u8]);
}

/// Collects packets, for tests and the slow path.
impl Sink for Vec<Vec<u8>> {
    fn emit(&mut self, header: &[u8], payload: &[u8]) {
        let mut p = Vec::with_capacity(header.len() + payload.len());
        p.extend_from_slice(header);
        p.extend_from_slice(payload);
        self.push(p);
    }
}

/// Translator settings. `Default` gives the documented defaults.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct XlatConfig {
    /// Next-hop MTU on the IPv6 side. Default 1500.
    pub ipv6_mtu: u16,
    /// Next-hop MTU on the IPv4 side. Default 1500.
    pub ipv4_mtu: u16,
    /// RFC 7915 4.1 "lowest-ipv6-mtu": IPv4 packets without DF that would
    /// become larger IPv6 packets are fragmented to this size. Default 1280.
    pub lowest_ipv6_mtu: u16,
    /// RFC 7915 5.1: set DF on translated IPv4 packets over 1260 bytes.
    /// Turning it off clears DF always (the translator then fragments
    /// oversized packets instead of sending Packet Too Big). Default on.
    pub df_over_1260: bool,
    /// RFC 7915 4.5 option 2: compute the checksum of unfragmented IPv4 UDP
    /// packets with checksum zero (else drop them). Default on.
    pub compute_udp_zero_checksum: bool,
    /// RFC 7915 4.5: drop fragmented IPv4 UDP with checksum zero (else
    /// translate it leaving the checksum zero). Default on.
    pub drop_udp_zero_checksum_fragments: bool,
    /// RFC 7915 4.1/5.1: copy TOS <-> Traffic Class (else write zero).
    /// Default on.
    pub copy_traffic_class: bool,
    /// RFC 7915 4.4/5.4: send ICMP errors back for dropped packets (Time
    /// Exceeded, Packet Too Big, ...). Default on; the dataplane rate-limits.
    pub send_icmp_errors: bool,
    /// Verify the IPv4 header checksum as a router does. Default on.
    pub verify_ipv4_checksum: bool,
    /// Source of ICMPv6 errors the translator originates. `None` (default)
    /// uses the destination of the packet in error: the IPv4-converted
    /// address the sender was talking to.
    pub icmpv6_error_source: Option<Ipv6Addr>,
    /// Source of ICMPv4 errors the translator originates. `None` (default)
    /// uses the destination of the packet in error (a pool address).
    pub icmpv4_error_source: Option<Ipv4Addr>,
    /// Hop limit / TTL of originated ICMP errors. Default 64.
    pub icmp_error_hop_limit: u8,
}

pub use crate::types::ConfigError;

impl XlatConfig {
    /// Checks the MTUs. The translator never panics on other values, but
    /// what it sends with them breaks the RFCs.
    pub fn validate(&self) -> Result<(), ConfigError> {
        // RFC 791: "Every internet module must be able to forward a
        // datagram of 68 octets without further fragmentation."
        if self.ipv4_mtu < 68 {
            return Err(ConfigError::new(
                "outside.mtu",
                format!("IPv4 MTU {} is below the IPv4 minimum of 68", self.ipv4_mtu),
            ));
        }
        // RFC 8200 5: "IPv6 requires that every link in the Internet have
        // an MTU of 1280 octets or greater".
        if self.ipv6_mtu < IPV6_MIN_MTU {
            return Err(ConfigError::new(
                "inside.mtu",
                format!(
                    "IPv6 MTU {} is below the IPv6 minimum of 1280",
                    self.ipv6_mtu
                ),
            ));
        }
        // RFC 7915 4.1 allows raising lowest-ipv6-mtu above 1280, not
        // lowering it.
        if self.lowest_ipv6_mtu < IPV6_MIN_MTU {
            return Err(ConfigError::new(
                "nat64.translation.lowest_ipv6_mtu",
                format!("{} is below 1280", self.lowest_ipv6_mtu),
            ));
        }
        Ok(())
    }
}

impl Default for XlatConfig {
    fn default() -> Self {
        XlatConfig {
            ipv6_mtu: 1500,
            ipv4_mtu: 1500,
            lowest_ipv6_mtu: IPV6_MIN_MTU,
            df_over_1260: true,
            compute_udp_zero_checksum: true,
            drop_udp_zero_checksum_fragments: true,
            copy_traffic_class: true,
            send_icmp_errors: true,
            verify_ipv4_checksum: true,
            icmpv6_error_source: None,
            icmpv4_error_source: None,
            icmp_error_hop_limit: 64,
        }
    }
}

/// Addresses and ports of one IPv4 packet after translation. For ICMP
/// queries the identifier is `src_port` in an Echo Request and `dst_port`
/// in an Echo Reply (the requester's identifier plays the port).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Tuple4 {
    pub src: Ipv4Addr,
    pub dst: Ipv4Addr,
    pub src_port: u16,
    pub dst_port: u16,
}

/// Addresses and ports of one IPv6 packet after translation (same port
/// convention as [`Tuple4`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Tuple6 {
    pub src: Ipv6Addr,
    pub dst: Ipv6Addr,
    pub src_port: u16,
    pub dst_port: u16,
}

/// The translation decided for an IPv6 packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct V6ToV4 {
    /// The packet itself (for an ICMP error, only the addresses are used).
    pub outer: Tuple4,
    /// For an ICMP error, the packet it quotes; ignored otherwise.
    pub inner: Tuple4,
    /// IPv4 Identification for unfragmented packets (RFC 7915 5.1 leaves
    /// the algorithm to the translator; RFC 6864 lets it be anything when
    /// DF is set). Fragments keep the low 16 bits of their own.
    pub ipv4_id: u16,
    /// See [`V4ToV6::icmp_len`].
    pub icmp_len: u32,
}

impl V6ToV4 {
    /// A mapping for a packet that is not an ICMP error.
    pub fn new(outer: Tuple4, ipv4_id: u16) -> Self {
        V6ToV4 {
            outer,
            inner: outer,
            ipv4_id,
            icmp_len: 0,
        }
    }
}

/// The translation decided for an IPv4 packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct V4ToV6 {
    pub outer: Tuple6,
    /// For an ICMP error, the packet it quotes; ignored otherwise.
    pub inner: Tuple6,
    /// For a fragment of an ICMP query: the whole message's length, which
    /// the ICMPv6 checksum's pseudo-header counts (RFC 4443 2.3) and no
    /// fragment tells. Zero when unknown, and then fragmented ICMP is not
    /// translated (RFC 7915 1.2); a stateful NAT64 tracking the datagram
    /// (RFC 6146 3.4) knows it.
    pub icmp_len: u32,
}

impl V4ToV6 {
    pub fn new(outer: Tuple6) -> Self {
        V4ToV6 {
            outer,
            inner: outer,
            icmp_len: 0,
        }
    }
}

#[cfg(test)]
mod tests;
