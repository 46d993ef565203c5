//! Classify: each packet is parsed once, before its lookup, into the
//! small value ([`Classified`]) the rest of its way reads: the shard's
//! tuple, its hash, the TCP flags, and (after the prefetch stage) the
//! session its bucket named. The prefetch stage classifies a whole burst
//! into a [`Burst`], indexed by burst position; a packet handled without
//! a prefetch (tests, handed-off packets, hairpins) is classified on the
//! spot by the same function.
//!
//! Only the common shape is classified (no IPv6 extension header; TCP,
//! UDP or ICMP with 8 bytes of transport header): anything else has no
//! classification and takes the general path, which parses it whole.

use std::net::{Ipv4Addr, Ipv6Addr};

use super::Packet;
use super::{Nat64, PREFETCH_BURST};
use crate::addr::Prefixes;
use crate::nat::{Proto, SessionId, Shard, Tuple4 as NatTuple4, Tuple6 as NatTuple6};
use crate::wire::{be16, icmpv4, icmpv6, ipv4, ipv6, proto, tcp, udp};

/// What classifying one packet found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Classified<T> {
    /// The tuple the shard looks up (for IPv6, the destination already
    /// extracted from the prefix).
    pub(super) tuple: T,
    /// Its session-table hash.
    pub(super) hash: u32,
    /// The TCP flags (0 for UDP and ICMP).
    pub(super) tcp_flags: u8,
    /// The session the table's bucket named, once the prefetch stage has
    /// looked (and prefetched it).
    pub(super) likely: Option<SessionId>,
}

/// One burst's classifications, by burst position: slot `i` is the
/// packet `l3s[i]` of the prefetch call. Cleared at the end of every
/// burst.
#[derive(Debug)]
pub(super) struct Burst<T> {
    slots: [Option<Classified<T>>; PREFETCH_BURST],
    len: usize,
}

impl<T: Copy> Burst<T> {
    pub(super) fn new() -> Self {
        Burst {
            slots: [None; PREFETCH_BURST],
            len: 0,
        }
    }

    #[inline]
    pub(super) fn clear(&mut self) {
        self.len = 0;
    }

    /// The positions classified by the last prefetch call.
    #[cfg(test)]
    pub(super) fn slots(&self) -> &[Option<Classified<T>>] {
        &self.slots[..self.len]
    }
}

/// What differs between the two families for the prefetch stage: the parse
/// and the shard's table.
pub(super) trait Family {
    type Tuple: Copy + PartialEq + core::fmt::Debug;
    /// Classifies the packet `l3` (see the module doc).
    fn classify(prefixes: &Prefixes, shard: &Shard, l3: &[u8]) -> Option<Classified<Self::Tuple>>;
    /// Prefetches the session-table bucket of `hash`.
    fn prefetch_bucket(shard: &Shard, hash: u32);
    /// Prefetches the session the bucket names (or for a new flow what
    /// creating it will touch) and says which session that is.
    fn prefetch_session(shard: &Shard, c: &Classified<Self::Tuple>) -> Option<SessionId>;
    fn burst(bursts: &Bursts) -> &Burst<Self::Tuple>;
    fn burst_mut(bursts: &mut Bursts) -> &mut Burst<Self::Tuple>;
}

/// The current burst of each side.
#[derive(Debug)]
pub(super) struct Bursts {
    pub(super) v6: Burst<NatTuple6>,
    pub(super) v4: Burst<NatTuple4>,
}

impl Bursts {
    pub(super) fn new() -> Self {
        Bursts {
            v6: Burst::new(),
            v4: Burst::new(),
        }
    }
}

/// The IPv6 (inside) side.
pub(super) enum V6 {}
/// The IPv4 (outside) side.
pub(super) enum V4 {}

impl Family for V6 {
    type Tuple = NatTuple6;

    #[inline(always)]
    fn classify(prefixes: &Prefixes, shard: &Shard, l3: &[u8]) -> Option<Classified<NatTuple6>> {
        classify_v6(prefixes, shard, l3)
    }
    #[inline(always)]
    fn prefetch_bucket(shard: &Shard, hash: u32) {
        shard.prefetch6(hash);
    }
    #[inline(always)]
    fn prefetch_session(shard: &Shard, c: &Classified<NatTuple6>) -> Option<SessionId> {
        shard.prefetch6_new(c.hash, &c.tuple)
    }
    #[inline(always)]
    fn burst(bursts: &Bursts) -> &Burst<NatTuple6> {
        &bursts.v6
    }
    #[inline(always)]
    fn burst_mut(bursts: &mut Bursts) -> &mut Burst<NatTuple6> {
        &mut bursts.v6
    }
}

impl Family for V4 {
    type Tuple = NatTuple4;

    #[inline(always)]
    fn classify(_: &Prefixes, shard: &Shard, l3: &[u8]) -> Option<Classified<NatTuple4>> {
        classify_v4(shard, l3)
    }
    #[inline(always)]
    fn prefetch_bucket(shard: &Shard, hash: u32) {
        shard.prefetch4(hash);
    }
    #[inline(always)]
    fn prefetch_session(shard: &Shard, c: &Classified<NatTuple4>) -> Option<SessionId> {
        shard.prefetch4_session(c.hash)
    }
    #[inline(always)]
    fn burst(bursts: &Bursts) -> &Burst<NatTuple4> {
        &bursts.v4
    }
    #[inline(always)]
    fn burst_mut(bursts: &mut Bursts) -> &mut Burst<NatTuple4> {
        &mut bursts.v4
    }
}

/// The shard's protocol of a TCP, UDP or ICMP (`icmp`: the family's
/// number) packet.
#[inline(always)]
fn shard_proto(number: u8, icmp: u8) -> Option<Proto> {
    match number {
        proto::TCP => Some(Proto::Tcp),
        proto::UDP => Some(Proto::Udp),
        n if n == icmp => Some(Proto::Icmp),
        _ => None,
    }
}

// ICMP queries carry their identifier at the same offset in both families.
const _: () = assert!(icmpv4::OFFSET_IDENT == icmpv6::OFFSET_IDENT);

/// The ports and TCP flags of a transport header (for an ICMP query, the
/// identifier as both ports), if its first 8 bytes are there.
#[inline(always)]
fn transport(proto: Proto, l4: &[u8]) -> Option<(u16, u16, u8)> {
    let head = l4.first_chunk::<8>()?;
    Some(match proto {
        Proto::Icmp => {
            let id = be16(head, icmpv6::OFFSET_IDENT);
            (id, id, 0)
        }
        Proto::Tcp => (
            be16(head, tcp::OFFSET_SRC_PORT),
            be16(head, tcp::OFFSET_DST_PORT),
            l4.get(tcp::OFFSET_FLAGS).copied().unwrap_or(0),
        ),
        Proto::Udp => (
            be16(head, udp::OFFSET_SRC_PORT),
            be16(head, udp::OFFSET_DST_PORT),
            0,
        ),
    })
}

/// Classifies the IPv6 packet `l3`: its destination must be in one of
/// `prefixes`
/// (RFC 6146 3.5: the destination is an IPv4-embedded address).
#[inline(always)]
pub(super) fn classify_v6(
    prefixes: &Prefixes,
    shard: &Shard,
    l3: &[u8],
) -> Option<Classified<NatTuple6>> {
    let h = l3.first_chunk::<{ ipv6::HEADER_LEN }>()?;
    if ipv6::version_of(h[ipv6::OFFSET_VER_TC_FLOW]) != 6 {
        return None;
    }
    let proto = shard_proto(h[ipv6::OFFSET_NEXT_HEADER], proto::ICMPV6)?;
    let (prefix, dst) = prefixes.extract_octets(h[ipv6::OFFSET_DST..].first_chunk::<16>()?)?;
    // The transport header as the IPv6 header bounds it (the general
    // path parses no further): bytes past the payload length are not the
    // packet's.
    let payload = usize::from(be16(h, ipv6::OFFSET_PAYLOAD_LEN));
    let l4 = l3.get(ipv6::HEADER_LEN..ipv6::HEADER_LEN + payload)?;
    let (sport, dport, tcp_flags) = transport(proto, l4)?;
    let tuple = NatTuple6 {
        proto,
        src: Ipv6Addr::from(*h[ipv6::OFFSET_SRC..].first_chunk::<16>()?),
        sport,
        dst: Ipv4Addr::from(dst),
        dport,
        prefix,
    };
    Some(Classified {
        hash: shard.hash6(&tuple),
        tuple,
        tcp_flags,
        likely: None,
    })
}

/// Classifies the IPv4 packet `l3`.
#[inline(always)]
pub(super) fn classify_v4(shard: &Shard, l3: &[u8]) -> Option<Classified<NatTuple4>> {
    let h = l3.first_chunk::<{ ipv4::MIN_HEADER_LEN }>()?;
    let ver_ihl = h[ipv4::OFFSET_VER_IHL];
    if ipv4::version_of(ver_ihl) != 4 {
        return None;
    }
    let proto = shard_proto(h[ipv4::OFFSET_PROTOCOL], proto::ICMP)?;
    // Likewise bounded by the IPv4 total length.
    let total = usize::from(be16(h, ipv4::OFFSET_TOTAL_LEN));
    let l4 = l3.get(ipv4::header_len_of(ver_ihl)..total)?;
    let (sport, dport, tcp_flags) = transport(proto, l4)?;
    let tuple = NatTuple4 {
        proto,
        src: Ipv4Addr::from(*h[ipv4::OFFSET_SRC..].first_chunk::<4>()?),
        sport,
        dst: Ipv4Addr::from(*h[ipv4::OFFSET_DST..].first_chunk::<4>()?),
        dport,
    };
    Some(Classified {
        hash: shard.hash4(&tuple),
        tuple,
        tcp_flags,
        likely: None,
    })
}

impl Nat64 {
    /// Classifies a burst of IPv6 packets and prefetches what looking
    /// them up will touch, in two stages over the whole burst: first
    /// every session-table bucket, then (buckets now cached) every
    /// session they point at, or for a new flow what creating its session
    /// will touch ([`Shard::prefetch6_new`]), so the misses overlap
    /// instead of queueing. Handle packet `l3s[i]` with
    /// [`Nat64::from_v6`] given [`Packet::at`]`(i)`, before
    /// [`Nat64::end_burst`]; an empty slice holds a position without a
    /// packet. Bursts longer than [`PREFETCH_BURST`] are classified in
    /// part.
    #[inline]
    pub fn prefetch_v6(&mut self, l3s: &[&[u8]]) {
        self.prefetch::<V6>(l3s);
    }

    /// The IPv4 counterpart of [`Nat64::prefetch_v6`] (the IPv4-side
    /// buckets, then the sessions they name); handle `l3s[i]` with
    /// [`Nat64::from_v4`] given [`Packet::at`]`(i)`.
    #[inline]
    pub fn prefetch_v4(&mut self, l3s: &[&[u8]]) {
        self.prefetch::<V4>(l3s);
    }

    #[inline(always)]
    fn prefetch<F: Family>(&mut self, l3s: &[&[u8]]) {
        let (burst, shard, prefix) = (F::burst_mut(&mut self.bursts), &self.shard, &self.prefixes);
        let n = l3s.len().min(PREFETCH_BURST);
        for (slot, l3) in burst.slots.iter_mut().zip(&l3s[..n]) {
            *slot = F::classify(prefix, shard, l3);
            if let Some(c) = slot {
                F::prefetch_bucket(shard, c.hash);
            }
        }
        burst.len = n;
        for c in burst.slots[..n].iter_mut().flatten() {
            c.likely = F::prefetch_session(shard, c);
        }
    }

    /// Forgets the burst's classifications: call once the burst is
    /// handled (its buffers are recycled).
    #[inline]
    pub fn end_burst(&mut self) {
        self.bursts.v6.clear();
        self.bursts.v4.clear();
    }
}

impl Bursts {
    /// The classification of the packet at `buf[l3_start..l3_start +
    /// l3_len]`: the prefetch stage's for burst position `at` (in place),
    /// else worked out now into `here`.
    #[inline(always)]
    pub(super) fn classified<'a, F: Family>(
        &'a self,
        (prefix, shard): (&Prefixes, &Shard),
        pkt: &Packet<'_>,
        here: &'a mut Option<Classified<F::Tuple>>,
    ) -> Option<&'a Classified<F::Tuple>> {
        let burst = F::burst(self);
        let l3 = || {
            pkt.buf
                .get(pkt.l3_start..pkt.l3_start.checked_add(pkt.l3_len)?)
        };
        if let Some(i) = pkt.at.filter(|&i| i < burst.len) {
            let c = burst.slots[i].as_ref();
            debug_assert_eq!(
                c.map(|c| Classified { likely: None, ..*c }),
                l3().and_then(|l3| F::classify(prefix, shard, l3)),
                "burst position {i} holds another packet's classification"
            );
            return c;
        }
        *here = l3().and_then(|l3| F::classify(prefix, shard, l3));
        here.as_ref()
    }
}
