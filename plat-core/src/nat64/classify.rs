//! The prefetch stage: what a burst's packets will look up, worked out
//! before the lookups so the cache misses overlap.

use std::net::{Ipv4Addr, Ipv6Addr};

use super::{Nat64, PREFETCH_BURST};
use crate::nat::{Proto, SessionId, Tuple4 as NatTuple4, Tuple6 as NatTuple6};
use crate::wire::proto;

/// The prefetch stage's findings on one IPv6 packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Hint {
    /// Session-table hash of its tuple.
    pub(super) hash: u32,
    /// Its tuple (the destination already extracted from the prefix).
    pub(super) tuple: NatTuple6,
    /// The session the table's bucket pointed at (prefetched).
    pub(super) likely: Option<SessionId>,
}

impl Hint {
    pub(super) const NONE: Hint = Hint {
        hash: 0,
        tuple: NatTuple6 {
            proto: Proto::Udp,
            src: Ipv6Addr::UNSPECIFIED,
            sport: 0,
            dst: Ipv4Addr::UNSPECIFIED,
            dport: 0,
        },
        likely: None,
    };
}

/// The hint of the packet starting at `addr` among a burst's `hints`
/// (keyed by packet address, in burst order), searching on from `*next`:
/// packets are handled in burst order, some skipped, so the search only
/// moves forward.
#[inline(always)]
fn take_hint<T: Copy>(hints: &[(usize, T)], next: &mut usize, addr: usize) -> Option<T> {
    while let Some(&(a, h)) = hints.get(*next) {
        *next += 1;
        if a == addr {
            return Some(h);
        }
    }
    None
}

/// Ports of a TCP/UDP header, or the identifier twice for an ICMP query,
/// read without checks beyond the 8 bytes the caller guarantees: the
/// prefetch stage's cheap look at a packet (the full parse comes later).
#[inline]
pub(super) fn quick_ports(proto: Proto, l4: &[u8]) -> (u16, u16) {
    if proto == Proto::Icmp {
        let id = u16::from_be_bytes([l4[4], l4[5]]);
        (id, id)
    } else {
        (
            u16::from_be_bytes([l4[0], l4[1]]),
            u16::from_be_bytes([l4[2], l4[3]]),
        )
    }
}

impl Nat64 {
    /// The tuple of the IPv6 packet `l3` and its session-table hash, for
    /// prefetching. Only the common case (no extension header) is looked
    /// at; anything else is simply not prefetched.
    #[inline]
    pub(super) fn hash_v6(&self, l3: &[u8]) -> Option<(u32, NatTuple6)> {
        if l3.len() < 48 || l3[0] >> 4 != 6 {
            return None;
        }
        let proto = match l3[6] {
            proto::TCP => Proto::Tcp,
            proto::UDP => Proto::Udp,
            proto::ICMPV6 => Proto::Icmp,
            _ => return None,
        };
        let mut a = [0u8; 16];
        a.copy_from_slice(&l3[24..40]);
        let dst = self.prefix.extract_octets(&a).ok()?;
        a.copy_from_slice(&l3[8..24]);
        let l4 = &l3[40..];
        let (sport, dport) = quick_ports(proto, l4);
        let t = NatTuple6 {
            proto,
            src: Ipv6Addr::from(a),
            sport,
            dst: Ipv4Addr::from(dst),
            dport,
        };
        Some((self.shard.hash6(&t), t))
    }

    /// Prefetches what looking up a burst of IPv6 packets will touch, in
    /// two stages over the whole burst: first every session-table bucket,
    /// then (buckets now cached) every session they point at, or for a new
    /// flow what creating its session will touch
    /// ([`Shard::prefetch6_new`]), so the misses overlap instead of
    /// queueing. What the stages found is kept for the lookups of this
    /// burst (until [`Nat64::end_burst`]). Bursts longer than
    /// [`PREFETCH_BURST`] are prefetched in part.
    #[inline]
    pub fn prefetch_v6(&mut self, l3s: &[&[u8]]) {
        self.hint_len = 0;
        self.hint_next = 0;
        for l3 in l3s.iter().take(PREFETCH_BURST) {
            if let Some((hash, tuple)) = self.hash_v6(l3) {
                self.shard.prefetch6(hash);
                self.hints[self.hint_len] = (
                    l3.as_ptr() as usize,
                    Hint {
                        hash,
                        tuple,
                        likely: None,
                    },
                );
                self.hint_len += 1;
            }
        }
        for (_, hint) in &mut self.hints[..self.hint_len] {
            hint.likely = self.shard.prefetch6_new(hint.hash, &hint.tuple);
        }
    }

    /// Forgets the burst's hashes: call once the burst is handled.
    #[inline]
    pub fn end_burst(&mut self) {
        self.hint_len = 0;
        self.hint_next = 0;
        self.hint4_len = 0;
        self.hint4_next = 0;
    }

    /// What the prefetch stage found of the packet starting at `addr`, if
    /// this burst has it.
    #[inline]
    pub(super) fn take_hint(&mut self, addr: usize) -> Option<Hint> {
        take_hint(&self.hints[..self.hint_len], &mut self.hint_next, addr)
    }

    /// The IPv4 counterpart of [`Nat64::prefetch_v6`]: the IPv4-side
    /// session bucket of every packet, then the session each names. What
    /// the stages found is kept for the lookups until
    /// [`Nat64::end_burst`].
    #[inline]
    pub fn prefetch_v4(&mut self, l3s: &[&[u8]]) {
        self.hint4_len = 0;
        self.hint4_next = 0;
        for l3 in l3s.iter().take(PREFETCH_BURST) {
            if let Some(h) = self.hash_v4(l3) {
                self.shard.prefetch4(h);
                self.hints4[self.hint4_len] = (l3.as_ptr() as usize, (h, None));
                self.hint4_len += 1;
            }
        }
        for (_, (h, likely)) in &mut self.hints4[..self.hint4_len] {
            *likely = self.shard.prefetch4_session(*h);
        }
    }

    /// The IPv4-side session hash of the IPv4 packet `l3`, for
    /// prefetching (TCP, UDP, ICMP; anything else is not prefetched).
    #[inline]
    pub(super) fn hash_v4(&self, l3: &[u8]) -> Option<u32> {
        if l3.len() < 28 || l3[0] >> 4 != 4 {
            return None;
        }
        let ihl = usize::from(l3[0] & 0x0f) * 4;
        let l4 = l3.get(ihl..ihl + 8)?;
        let proto = match l3[9] {
            proto::TCP => Proto::Tcp,
            proto::UDP => Proto::Udp,
            proto::ICMP => Proto::Icmp,
            _ => return None,
        };
        let (sport, dport) = quick_ports(proto, l4);
        let t = NatTuple4 {
            proto,
            src: Ipv4Addr::new(l3[12], l3[13], l3[14], l3[15]),
            sport,
            dst: Ipv4Addr::new(l3[16], l3[17], l3[18], l3[19]),
            dport,
        };
        Some(self.shard.hash4(&t))
    }

    /// [`Nat64::take_hint`] for the IPv4 side: hash and named session.
    #[inline]
    pub(super) fn take_hint4(&mut self, addr: usize) -> Option<(u32, Option<SessionId>)> {
        take_hint(&self.hints4[..self.hint4_len], &mut self.hint4_next, addr)
    }
}
