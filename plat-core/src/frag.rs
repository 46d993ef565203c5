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
//! The first fragment of an ICMP query waits too, for the last: its
//! checksum counts the whole message's length (RFC 4443 2.3), which only
//! the last fragment tells.

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
    /// A second first fragment of an ICMP query while one waits.
    Duplicate,
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

/// What the first fragment of an ICMP query needs before it can be
/// translated: the whole message's length (the ICMPv6 checksum counts it
/// in its pseudo-header, RFC 4443 2.3), known once the last fragment came.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum WholeLen {
    /// The last fragment came: the message is this long.
    Known(u32),
    /// Keep the first under its token until [`FragStore::take_ready`]
    /// hands it back (the last came) or [`FragStore::expire`] does (it
    /// did not).
    Wait,
    /// Drop it, and count why.
    Drop(FragDrop),
}

#[derive(Debug)]
struct Datagram<T> {
    /// The first fragment's translation, once it came.
    first: Option<T>,
    /// The upper-layer length of the whole datagram, once the last
    /// fragment (More Fragments clear) came.
    whole_len: Option<u32>,
    /// Tokens and sizes of fragments waiting for the first.
    waiting: Vec<(u32, u32)>,
    /// Token and size of the first of an ICMP query, waiting for the
    /// last (for the whole length).
    held_first: Option<(u32, u32)>,
    deadline: u64,
}

impl<T> Datagram<T> {
    fn new(deadline: u64) -> Self {
        Datagram {
            first: None,
            whole_len: None,
            waiting: Vec::new(),
            held_first: None,
            deadline,
        }
    }
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
    /// Tokens of waiting fragments whose time came, in arrival order.
    ready: Vec<u32>,
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
            ready: Vec::new(),
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

    /// Bytes of fragments waiting.
    pub fn waiting_bytes(&self) -> u32 {
        self.waiting_bytes
    }

    fn deadline(&self, now: Time) -> u64 {
        now.as_millis() + self.limits.timeout_ms
    }

    /// The tokens of waiting fragments to handle again now (their first,
    /// or for a waiting first its last, came), in arrival order.
    pub fn take_ready(&mut self, out: &mut Vec<u32>) {
        out.append(&mut self.ready);
    }

    /// Whether some waiting fragment is ready ([`FragStore::take_ready`]).
    pub fn has_ready(&self) -> bool {
        !self.ready.is_empty()
    }

    /// The entry of `key`, made (deadline `now` + timeout) if new; `None`
    /// when the store is full.
    fn entry(&mut self, key: FragKey, now: Time) -> Option<&mut Datagram<T>> {
        if !self.datagrams.contains_key(&key) && self.full() {
            return None;
        }
        let deadline = self.deadline(now);
        let order = &mut self.order;
        Some(self.datagrams.entry(key).or_insert_with(|| {
            order.push_back((deadline, key));
            Datagram::new(deadline)
        }))
    }

    /// The first fragment of `key`'s datagram was translated as `xlat`
    /// says: later fragments follow it, and those that waited for it are
    /// ready ([`FragStore::take_ready`]). `false` when the store is full
    /// (the first itself still translates; its later fragments will find
    /// no entry and wait or drop).
    pub fn first(&mut self, key: FragKey, xlat: T, now: Time) -> bool {
        let deadline = self.deadline(now);
        let Some(d) = self.entry(key, now) else {
            return false;
        };
        d.first = Some(xlat);
        d.deadline = deadline;
        let released: Vec<(u32, u32)> = d
            .held_first
            .take()
            .into_iter()
            .chain(d.waiting.drain(..))
            .collect();
        self.release(&key, &released);
        true
    }

    /// A fragment of `key`'s datagram that is not the first, `len` bytes,
    /// which the caller would keep under `token`; `end`, for the last
    /// (More Fragments clear), is where it ends: the upper-layer length of
    /// the whole datagram.
    pub fn later(
        &mut self,
        key: FragKey,
        token: u32,
        len: u32,
        end: Option<u32>,
        now: Time,
    ) -> Later<T> {
        let deadline = self.deadline(now);
        if let Some(d) = self.datagrams.get_mut(&key) {
            if end.is_some() {
                d.whole_len = end;
            }
            if let Some(xlat) = d.first {
                d.deadline = deadline;
                return Later::Follow(xlat);
            }
            if let Some(held) = d.held_first.filter(|_| d.whole_len.is_some()) {
                // The first waited for this one's length: it goes now.
                d.held_first = None;
                self.release(&key, &[held]);
            }
        } else if self.full() {
            return Later::Drop(FragDrop::Datagrams);
        }
        if let Err(d) = self.room(&key, len) {
            return Later::Drop(d);
        }
        // RFC 6146 3.4: a fragment before its first waits at least
        // FRAGMENT_MIN; the clock starts at the datagram's first arrival.
        let Some(d) = self.entry(key, now) else {
            return Later::Drop(FragDrop::Datagrams);
        };
        if end.is_some() {
            d.whole_len = end;
        }
        d.waiting.push((token, len));
        self.wait(&key.src, len);
        Later::Wait
    }

    /// The first fragment of an ICMP query (`len` bytes, which the caller
    /// would keep under `token`) asks for its message's whole length.
    pub fn whole_len(&mut self, key: FragKey, token: u32, len: u32, now: Time) -> WholeLen {
        if let Some(n) = self.datagrams.get(&key).and_then(|d| d.whole_len) {
            return WholeLen::Known(n);
        }
        if !self.datagrams.contains_key(&key) && self.full() {
            return WholeLen::Drop(FragDrop::Datagrams);
        }
        if let Err(d) = self.room(&key, len) {
            return WholeLen::Drop(d);
        }
        let Some(d) = self.entry(key, now) else {
            return WholeLen::Drop(FragDrop::Datagrams);
        };
        if d.held_first.is_some() {
            return WholeLen::Drop(FragDrop::Duplicate);
        }
        // Later fragments that came before it go on waiting for its
        // translation, which `first` records once the length is known.
        d.held_first = Some((token, len));
        self.wait(&key.src, len);
        WholeLen::Wait
    }

    /// Forgets datagrams whose time is up; the tokens of fragments that
    /// waited in vain go to `dropped` (the caller drops them and counts).
    /// Returns how many datagrams it forgot.
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
                let gone = d.held_first.iter().chain(d.waiting.iter());
                let waited: u32 = gone.clone().map(|&(_, n)| n).sum();
                dropped.extend(gone.map(|&(t, _)| t));
                self.unwait(&key.src, waited);
                n += 1;
            }
        }
        n
    }

    fn full(&self) -> bool {
        self.datagrams.len() >= self.limits.datagrams as usize
    }

    /// Whether `len` more bytes from `key`'s source may wait.
    fn room(&self, key: &FragKey, len: u32) -> Result<(), FragDrop> {
        if self.waiting_bytes.saturating_add(len) > self.limits.waiting_bytes {
            return Err(FragDrop::WaitingBytes);
        }
        let share = self.per_source.get(&key.src).copied().unwrap_or(0);
        if share.saturating_add(len) > self.limits.waiting_bytes_per_source {
            return Err(FragDrop::SourceShare);
        }
        Ok(())
    }

    /// Waiting fragments of `key` whose time came: to `ready`, their room
    /// given back.
    fn release(&mut self, key: &FragKey, released: &[(u32, u32)]) {
        let bytes: u32 = released.iter().map(|&(_, n)| n).sum();
        self.ready.extend(released.iter().map(|&(t, _)| t));
        self.unwait(&key.src, bytes);
    }

    fn wait(&mut self, src: &[u8; 16], bytes: u32) {
        self.waiting_bytes += bytes;
        *self.per_source.entry(*src).or_insert(0) += bytes;
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

    /// `first`, and what it made ready into `ready`.
    fn first(f: &mut FragStore<u16>, k: FragKey, x: u16, now: Time, ready: &mut Vec<u32>) -> bool {
        let ok = f.first(k, x, now);
        f.take_ready(ready);
        ok
    }

    /// `later` of a fragment that is not the last.
    fn later(f: &mut FragStore<u16>, k: FragKey, token: u32, len: u32, now: Time) -> Later<u16> {
        f.later(k, token, len, None, now)
    }

    #[test]
    fn rfc6146_3_4_later_fragments_follow_the_first() {
        let mut f: FragStore<u16> = FragStore::new(FragLimits::default());
        let mut ready = Vec::new();
        assert!(first(&mut f, key(1, 7), 4242, at(0), &mut ready));
        assert!(ready.is_empty());
        assert_eq!(
            later(&mut f, key(1, 7), 1, 1000, at(10)),
            Later::Follow(4242)
        );
        assert_eq!(
            later(&mut f, key(1, 7), 2, 500, at(20)),
            Later::Follow(4242)
        );
        // Another identification is another datagram.
        assert_eq!(later(&mut f, key(1, 8), 3, 500, at(20)), Later::Wait);
        assert_eq!(f.waiting_bytes(), 500);
    }

    #[test]
    fn rfc6146_3_4_fragments_out_of_order_wait_for_their_first() {
        let mut f: FragStore<u16> = FragStore::new(FragLimits::default());
        assert_eq!(later(&mut f, key(1, 7), 10, 1000, at(0)), Later::Wait);
        assert_eq!(later(&mut f, key(1, 7), 11, 800, at(5)), Later::Wait);
        assert_eq!(f.waiting_bytes(), 1800);
        let mut ready = Vec::new();
        assert!(first(&mut f, key(1, 7), 99, at(50), &mut ready));
        assert_eq!(ready, vec![10, 11], "released in arrival order");
        assert_eq!(f.waiting_bytes(), 0);
        assert_eq!(later(&mut f, key(1, 7), 12, 100, at(60)), Later::Follow(99));
    }

    #[test]
    fn rfc6146_3_4_a_fragment_waits_fragment_min_then_is_dropped() {
        let mut f: FragStore<u16> = FragStore::new(FragLimits {
            timeout_ms: 500, // raised to FRAGMENT_MIN
            ..FragLimits::default()
        });
        assert_eq!(later(&mut f, key(1, 7), 10, 1000, at(0)), Later::Wait);
        let mut dropped = Vec::new();
        assert_eq!(f.expire(at(1_999), &mut dropped), 0, "not before 2 s");
        assert!(dropped.is_empty());
        assert_eq!(f.expire(at(2_000), &mut dropped), 1);
        assert_eq!(dropped, vec![10]);
        assert!(f.is_empty());
        assert_eq!(f.waiting_bytes(), 0);
        // A first arriving after that finds nothing waiting.
        let mut ready = Vec::new();
        assert!(first(&mut f, key(1, 7), 5, at(2_100), &mut ready));
        assert!(ready.is_empty());
    }

    #[test]
    fn a_datagram_in_use_stays_and_an_idle_one_goes() {
        let mut f: FragStore<u16> = FragStore::new(FragLimits::default());
        let mut v = Vec::new();
        first(&mut f, key(1, 7), 1, at(0), &mut v);
        first(&mut f, key(2, 7), 2, at(0), &mut v);
        assert_eq!(later(&mut f, key(1, 7), 3, 10, at(1_500)), Later::Follow(1));
        assert_eq!(f.expire(at(2_000), &mut v), 1, "the idle one");
        assert_eq!(later(&mut f, key(1, 7), 4, 10, at(2_100)), Later::Follow(1));
        assert_eq!(f.expire(at(4_200), &mut v), 1);
        assert!(f.is_empty());
        assert!(v.is_empty(), "nothing was waiting");
    }

    #[test]
    fn the_expiry_queue_holds_one_record_per_datagram() {
        let mut f: FragStore<u16> = FragStore::new(FragLimits::default());
        let mut v = Vec::new();
        first(&mut f, key(1, 7), 1, at(0), &mut v);
        for t in 0..1000 {
            assert_eq!(
                later(&mut f, key(1, 7), t, 10, at(u64::from(t))),
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
        assert_eq!(later(&mut f, key(1, 1), 1, 1000, at(0)), Later::Wait);
        assert_eq!(
            later(&mut f, key(1, 2), 2, 1000, at(0)),
            Later::Drop(FragDrop::SourceShare)
        );
        // ...and others still fit.
        assert_eq!(later(&mut f, key(2, 1), 3, 1000, at(0)), Later::Wait);
        assert_eq!(
            later(&mut f, key(3, 1), 4, 1500, at(0)),
            Later::Drop(FragDrop::WaitingBytes)
        );
        assert_eq!(later(&mut f, key(3, 1), 5, 900, at(0)), Later::Wait);
        // Three datagrams tracked: a fourth is refused, first or not.
        assert_eq!(
            later(&mut f, key(4, 1), 6, 10, at(0)),
            Later::Drop(FragDrop::Datagrams)
        );
        let mut v = Vec::new();
        assert!(!first(&mut f, key(4, 9), 7, at(0), &mut v));
        assert_eq!(f.len(), 3);
        // Released fragments give their room back.
        assert!(first(&mut f, key(1, 1), 8, at(1), &mut v));
        assert_eq!(v, vec![1]);
        assert_eq!(f.waiting_bytes(), 1900);
        assert_eq!(
            later(&mut f, key(1, 2), 9, 1000, at(0)),
            Later::Drop(FragDrop::Datagrams)
        );
    }

    #[test]
    fn rfc6146_3_4_an_icmp_first_waits_for_the_last_fragments_length() {
        let mut f: FragStore<u16> = FragStore::new(FragLimits::default());
        let mut ready = Vec::new();
        // A middle fragment before anything: it waits for the first.
        assert_eq!(later(&mut f, key(1, 7), 1, 1000, at(0)), Later::Wait);
        // The first cannot be translated before the length is known.
        assert_eq!(f.whole_len(key(1, 7), 2, 1200, at(1)), WholeLen::Wait);
        assert_eq!(
            f.whole_len(key(1, 7), 9, 1200, at(1)),
            WholeLen::Drop(FragDrop::Duplicate)
        );
        assert!(!f.has_ready());
        // The last tells it: 1200 + 1000 + 300 bytes. It waits for the
        // first's translation; the first goes again now.
        assert_eq!(f.later(key(1, 7), 3, 300, Some(2500), at(2)), Later::Wait);
        f.take_ready(&mut ready);
        assert_eq!(ready, vec![2]);
        assert_eq!(
            f.whole_len(key(1, 7), 4, 1200, at(3)),
            WholeLen::Known(2500)
        );
        assert!(first(&mut f, key(1, 7), 77, at(3), &mut ready));
        assert_eq!(ready, vec![2, 1, 3]);
        assert_eq!(f.waiting_bytes(), 0);
    }

    #[test]
    fn rfc6146_3_4_the_last_before_the_first_gives_the_length_at_once() {
        let mut f: FragStore<u16> = FragStore::new(FragLimits::default());
        assert_eq!(f.later(key(1, 7), 1, 300, Some(1500), at(0)), Later::Wait);
        assert_eq!(
            f.whole_len(key(1, 7), 2, 1200, at(1)),
            WholeLen::Known(1500)
        );
    }

    #[test]
    fn rfc6146_3_4_an_icmp_first_whose_last_never_comes_is_dropped() {
        let mut f: FragStore<u16> = FragStore::new(FragLimits::default());
        assert_eq!(f.whole_len(key(1, 7), 2, 1200, at(0)), WholeLen::Wait);
        assert_eq!(f.waiting_bytes(), 1200);
        let mut dropped = Vec::new();
        assert_eq!(f.expire(at(2_000), &mut dropped), 1);
        assert_eq!(dropped, vec![2]);
        assert_eq!(f.waiting_bytes(), 0);
    }
}
