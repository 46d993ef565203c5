//! RFC 6146 3.4 fragment handling, the state half: which translation the
//! later fragments of a datagram follow, and where fragments that arrive
//! before the first one wait. RFC 6146 3.4 has a NAT64 handle fragments,
//! out-of-order ones too, and keep those that come before the first for
//! at least FRAGMENT_MIN (2 s) before it may drop them.
//!
//! Only the first fragment carries the ports a session is found by; the
//! others are told apart by (source, destination, protocol,
//! identification). One store per worker, bounded three ways (datagrams
//! tracked, bytes waiting, bytes waiting per source, so one host cannot
//! take the room of all), and driven by the caller's `now` like the
//! shard. Sans-IO: the caller keeps the waiting packets (mbufs) under a
//! token of its own and the store keeps only the tokens.
//!
//! The dataplane does not use it yet (issue 17 goes on): the worker's
//! side (holding mbufs, handing fragments to the worker that owns their
//! datagram) comes next.

use std::collections::{HashMap, VecDeque};

use crate::types::Time;

/// RFC 6146 3.4's FRAGMENT_MIN: how long a fragment that came before its
/// first waits at least.
pub const FRAGMENT_MIN_MS: u64 = 2_000;

/// A datagram's identity: addresses (IPv4 ones as IPv4-mapped IPv6), the
/// upper protocol and the identification (IPv4's 16 bits or the IPv6
/// Fragment header's 32).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct FragKey {
    pub src: [u8; 16],
    pub dst: [u8; 16],
    pub proto: u8,
    pub ident: u32,
}

/// The store's bounds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FragLimits {
    /// Datagrams tracked at once.
    pub datagrams: u32,
    /// Bytes of fragments waiting for their first, in all.
    pub waiting_bytes: u32,
    /// Bytes of fragments waiting from one source.
    pub waiting_bytes_per_source: u32,
    /// How long a datagram is tracked after its last fragment (at least
    /// [`FRAGMENT_MIN_MS`]).
    pub timeout_ms: u64,
}

impl Default for FragLimits {
    fn default() -> Self {
        FragLimits {
            datagrams: 4096,
            waiting_bytes: 4 << 20,
            waiting_bytes_per_source: 256 << 10,
            timeout_ms: FRAGMENT_MIN_MS,
        }
    }
}

/// Why a fragment was not kept.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FragDrop {
    /// As many datagrams as the store tracks.
    Datagrams,
    /// As many bytes waiting as the store holds.
    WaitingBytes,
    /// Its source's share of the waiting bytes is used up.
    SourceShare,
}

/// What to do with a fragment that is not the first.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Later<T> {
    /// The first came: translate it as the first was.
    Follow(T),
    /// Keep it under its token until [`FragStore::first`] or
    /// [`FragStore::expire`] hands the token back.
    Wait,
    /// Drop it, and count why.
    Drop(FragDrop),
}

#[derive(Debug)]
struct Datagram<T> {
    /// The first fragment's translation, once it came.
    first: Option<T>,
    /// Tokens and sizes of fragments waiting for it.
    waiting: Vec<(u32, u32)>,
    deadline: u64,
}

/// One worker's fragment state; `T` is what the first fragment's
/// translation leaves for the rest to follow (addresses, for instance).
#[derive(Debug)]
pub struct FragStore<T> {
    limits: FragLimits,
    datagrams: HashMap<FragKey, Datagram<T>>,
    /// One record per datagram, in the order they came: a datagram whose
    /// deadline moved on when its record comes up goes to the back again
    /// (so the queue never holds more records than datagrams).
    order: VecDeque<(u64, FragKey)>,
    waiting_bytes: u32,
    per_source: HashMap<[u8; 16], u32>,
}

impl<T: Copy> FragStore<T> {
    /// An empty store with room for `limits.datagrams`.
    pub fn new(limits: FragLimits) -> FragStore<T> {
        let limits = FragLimits {
            timeout_ms: limits.timeout_ms.max(FRAGMENT_MIN_MS),
            ..limits
        };
        FragStore {
            limits,
            datagrams: HashMap::with_capacity(limits.datagrams as usize),
            order: VecDeque::with_capacity(limits.datagrams as usize),
            waiting_bytes: 0,
            per_source: HashMap::new(),
        }
    }

    /// Datagrams tracked now.
    pub fn len(&self) -> usize {
        self.datagrams.len()
    }

    /// Whether no datagram is tracked.
    pub fn is_empty(&self) -> bool {
        self.datagrams.is_empty()
    }

    /// Bytes of fragments waiting for their first.
    pub fn waiting_bytes(&self) -> u32 {
        self.waiting_bytes
    }

    fn deadline(&self, now: Time) -> u64 {
        now.as_millis() + self.limits.timeout_ms
    }

    /// The first fragment of `key`'s datagram was translated as `xlat`
    /// says: later fragments follow it. The tokens of fragments that
    /// waited for it go to `ready`, in arrival order, to be translated
    /// now. `false` when the store is full (the first itself still
    /// translates; its later fragments will find no entry and wait or
    /// drop).
    pub fn first(&mut self, key: FragKey, xlat: T, now: Time, ready: &mut Vec<u32>) -> bool {
        if !self.datagrams.contains_key(&key) && self.full() {
            return false;
        }
        let deadline = self.deadline(now);
        let order = &mut self.order;
        let d = self.datagrams.entry(key).or_insert_with(|| {
            order.push_back((deadline, key));
            Datagram {
                first: None,
                waiting: Vec::new(),
                deadline,
            }
        });
        d.first = Some(xlat);
        d.deadline = deadline;
        let waited: u32 = d.waiting.iter().map(|&(_, n)| n).sum();
        ready.extend(d.waiting.drain(..).map(|(t, _)| t));
        self.unwait(&key.src, waited);
        true
    }

    /// A fragment of `key`'s datagram that is not the first, `len` bytes,
    /// which the caller would keep under `token`.
    pub fn later(&mut self, key: FragKey, token: u32, len: u32, now: Time) -> Later<T> {
        if let Some(d) = self.datagrams.get(&key) {
            if let Some(xlat) = d.first {
                let deadline = self.deadline(now);
                if let Some(d) = self.datagrams.get_mut(&key) {
                    d.deadline = deadline;
                }
                return Later::Follow(xlat);
            }
        } else if self.full() {
            return Later::Drop(FragDrop::Datagrams);
        }
        if self.waiting_bytes.saturating_add(len) > self.limits.waiting_bytes {
            return Later::Drop(FragDrop::WaitingBytes);
        }
        let share = self.per_source.get(&key.src).copied().unwrap_or(0);
        if share.saturating_add(len) > self.limits.waiting_bytes_per_source {
            return Later::Drop(FragDrop::SourceShare);
        }
        // RFC 6146 3.4: a fragment before its first waits at least
        // FRAGMENT_MIN; the clock starts at the datagram's first arrival.
        let deadline = self.deadline(now);
        let order = &mut self.order;
        self.datagrams
            .entry(key)
            .or_insert_with(|| {
                order.push_back((deadline, key));
                Datagram {
                    first: None,
                    waiting: Vec::new(),
                    deadline,
                }
            })
            .waiting
            .push((token, len));
        self.waiting_bytes += len;
        *self.per_source.entry(key.src).or_insert(0) += len;
        Later::Wait
    }

    /// Forgets datagrams whose time is up; the tokens of fragments that
    /// waited for a first that never came go to `dropped` (the caller
    /// drops them and counts). Returns how many datagrams it forgot.
    pub fn expire(&mut self, now: Time, dropped: &mut Vec<u32>) -> usize {
        let now = now.as_millis();
        let mut n = 0;
        while let Some(&(deadline, key)) = self.order.front() {
            if deadline > now {
                break;
            }
            self.order.pop_front();
            // Traffic moved the deadline on: back of the queue.
            match self.datagrams.get(&key).map(|d| d.deadline) {
                Some(later) if later > now => {
                    self.order.push_back((later, key));
                    continue;
                }
                Some(_) => {}
                None => continue,
            }
            if let Some(d) = self.datagrams.remove(&key) {
                let waited: u32 = d.waiting.iter().map(|&(_, n)| n).sum();
                dropped.extend(d.waiting.iter().map(|&(t, _)| t));
                self.unwait(&key.src, waited);
                n += 1;
            }
        }
        n
    }

    fn full(&self) -> bool {
        self.datagrams.len() >= self.limits.datagrams as usize
    }

    fn unwait(&mut self, src: &[u8; 16], bytes: u32) {
        if bytes == 0 {
            return;
        }
        self.waiting_bytes -= bytes;
        if let Some(s) = self.per_source.get_mut(src) {
            *s -= bytes;
            if *s == 0 {
                self.per_source.remove(src);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(src: u8, ident: u32) -> FragKey {
        let mut s = [0u8; 16];
        s[15] = src;
        FragKey {
            src: s,
            dst: [9; 16],
            proto: 17,
            ident,
        }
    }

    fn at(ms: u64) -> Time {
        Time::from_millis(ms)
    }

    #[test]
    fn rfc6146_3_4_later_fragments_follow_the_first() {
        let mut f: FragStore<u16> = FragStore::new(FragLimits::default());
        let mut ready = Vec::new();
        assert!(f.first(key(1, 7), 4242, at(0), &mut ready));
        assert!(ready.is_empty());
        assert_eq!(f.later(key(1, 7), 1, 1000, at(10)), Later::Follow(4242));
        assert_eq!(f.later(key(1, 7), 2, 500, at(20)), Later::Follow(4242));
        // Another identification is another datagram.
        assert_eq!(f.later(key(1, 8), 3, 500, at(20)), Later::Wait);
        assert_eq!(f.waiting_bytes(), 500);
    }

    #[test]
    fn rfc6146_3_4_fragments_out_of_order_wait_for_their_first() {
        let mut f: FragStore<u16> = FragStore::new(FragLimits::default());
        assert_eq!(f.later(key(1, 7), 10, 1000, at(0)), Later::Wait);
        assert_eq!(f.later(key(1, 7), 11, 800, at(5)), Later::Wait);
        assert_eq!(f.waiting_bytes(), 1800);
        let mut ready = Vec::new();
        assert!(f.first(key(1, 7), 99, at(50), &mut ready));
        assert_eq!(ready, vec![10, 11], "released in arrival order");
        assert_eq!(f.waiting_bytes(), 0);
        assert_eq!(f.later(key(1, 7), 12, 100, at(60)), Later::Follow(99));
    }

    #[test]
    fn rfc6146_3_4_a_fragment_waits_fragment_min_then_is_dropped() {
        let mut f: FragStore<u16> = FragStore::new(FragLimits {
            timeout_ms: 500, // raised to FRAGMENT_MIN
            ..FragLimits::default()
        });
        assert_eq!(f.later(key(1, 7), 10, 1000, at(0)), Later::Wait);
        let mut dropped = Vec::new();
        assert_eq!(f.expire(at(1_999), &mut dropped), 0, "not before 2 s");
        assert!(dropped.is_empty());
        assert_eq!(f.expire(at(2_000), &mut dropped), 1);
        assert_eq!(dropped, vec![10]);
        assert!(f.is_empty());
        assert_eq!(f.waiting_bytes(), 0);
        // A first arriving after that finds nothing waiting.
        let mut ready = Vec::new();
        assert!(f.first(key(1, 7), 5, at(2_100), &mut ready));
        assert!(ready.is_empty());
    }

    #[test]
    fn a_datagram_in_use_stays_and_an_idle_one_goes() {
        let mut f: FragStore<u16> = FragStore::new(FragLimits::default());
        let mut v = Vec::new();
        f.first(key(1, 7), 1, at(0), &mut v);
        f.first(key(2, 7), 2, at(0), &mut v);
        assert_eq!(f.later(key(1, 7), 3, 10, at(1_500)), Later::Follow(1));
        assert_eq!(f.expire(at(2_000), &mut v), 1, "the idle one");
        assert_eq!(f.later(key(1, 7), 4, 10, at(2_100)), Later::Follow(1));
        assert_eq!(f.expire(at(4_200), &mut v), 1);
        assert!(f.is_empty());
        assert!(v.is_empty(), "nothing was waiting");
    }

    #[test]
    fn the_expiry_queue_holds_one_record_per_datagram() {
        let mut f: FragStore<u16> = FragStore::new(FragLimits::default());
        let mut v = Vec::new();
        f.first(key(1, 7), 1, at(0), &mut v);
        for t in 0..1000 {
            assert_eq!(
                f.later(key(1, 7), t, 10, at(u64::from(t))),
                Later::Follow(1)
            );
        }
        assert_eq!(f.order.len(), 1);
        assert_eq!(f.expire(at(2_500), &mut v), 0, "in use until 999 ms");
        assert_eq!(f.expire(at(2_999), &mut v), 1);
        assert!(f.order.is_empty());
    }

    #[test]
    fn bounds_datagrams_bytes_and_each_sources_share() {
        let mut f: FragStore<u16> = FragStore::new(FragLimits {
            datagrams: 3,
            waiting_bytes: 3000,
            waiting_bytes_per_source: 1500,
            timeout_ms: FRAGMENT_MIN_MS,
        });
        // One source cannot take more than its share...
        assert_eq!(f.later(key(1, 1), 1, 1000, at(0)), Later::Wait);
        assert_eq!(
            f.later(key(1, 2), 2, 1000, at(0)),
            Later::Drop(FragDrop::SourceShare)
        );
        // ...and others still fit.
        assert_eq!(f.later(key(2, 1), 3, 1000, at(0)), Later::Wait);
        assert_eq!(
            f.later(key(3, 1), 4, 1500, at(0)),
            Later::Drop(FragDrop::WaitingBytes)
        );
        assert_eq!(f.later(key(3, 1), 5, 900, at(0)), Later::Wait);
        // Three datagrams tracked: a fourth is refused, first or not.
        assert_eq!(
            f.later(key(4, 1), 6, 10, at(0)),
            Later::Drop(FragDrop::Datagrams)
        );
        let mut v = Vec::new();
        assert!(!f.first(key(4, 9), 7, at(0), &mut v));
        assert_eq!(f.len(), 3);
        // Released fragments give their room back.
        assert!(f.first(key(1, 1), 8, at(1), &mut v));
        assert_eq!(v, vec![1]);
        assert_eq!(f.waiting_bytes(), 1900);
        assert_eq!(
            f.later(key(1, 2), 9, 1000, at(0)),
            Later::Drop(FragDrop::Datagrams)
        );
    }
}
