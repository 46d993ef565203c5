//! Where sessions live, by their IPv6-side key: two-choice buckets over
//! the session slab itself, so an established-flow lookup reads one
//! session line and nothing else from memory.
//!
//! The slab's first [`Homes::region`] slots are buckets of [`WAYS`]
//! sessions. A key hashes to one bucket in each half of the region
//! (d-left hashing: the new session goes to the emptier of the two) and
//! to a 16-bit tag; the tags of a bucket sit together in a 16-byte group,
//! four groups to a cache line, 2 bytes per slot in all. A lookup reads
//! the two tag groups (a table a tenth the size of the slab, which stays
//! in the last-level cache), then only the session lines whose tag
//! matches: about one line per lookup, where an index of slab positions
//! costs a second random line (the index slot) before it.
//!
//! The second bucket is derived from the first and the tag (as cuckoo
//! filters do), so a resident's other bucket is known from the tag group
//! alone: when both buckets of a new key are full, one resident moves to
//! its other bucket if that has room ([`Homes::kick`]; the shard fixes the
//! moved session's links). At 9/10 load with 8 ways that leaves about one
//! key in 30 000 without a bucket; those, and sessions without an IPv6
//! key (IPv4 SYNs held with no BIB entry) or held ones (whose id the
//! dataplane keeps), live in the stash after the region, found through a
//! small [`Tagged`] index.

use super::prefetch::prefetch;
use super::table::Tagged;

/// Sessions per bucket.
pub(crate) const WAYS: usize = 8;
/// Region slots per session of capacity, as tenths: the region is sized
/// for 9/10 load at full capacity.
const REGION_TENTHS_PER_SESSION: u64 = 10;
const REGION_TENTHS_LOAD: u64 = 9;

/// The tags of one bucket; 0 marks a free way.
type Group = [u16; WAYS];

#[derive(Debug)]
pub(crate) struct Homes {
    tags: Box<[Group]>,
    /// Buckets in each half of the region.
    half: u32,
    /// IPv6-keyed sessions in the stash.
    stash: Tagged,
    stash_len: u32,
}

/// A key's two buckets and its tag.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Place {
    b1: u32,
    b2: u32,
    tag: u16,
}

#[inline(always)]
fn mulhi(x: u32, n: u32) -> u32 {
    ((u64::from(x) * u64::from(n)) >> 32) as u32
}

/// Lanes of `g` equal to `tag`, one bit per lane (bit `w` for way `w`).
#[inline(always)]
fn matches(g: &Group, tag: u16) -> u32 {
    // Two words of four lanes; a lane is zero after the xor exactly where
    // it held the tag (the exact zero-lane test: no borrow between lanes).
    const LOW: u64 = 0x7fff_7fff_7fff_7fff;
    const HIGH: u64 = 0x8000_8000_8000_8000;
    let t = u64::from(tag) * 0x0001_0001_0001_0001;
    let mut bits = 0u32;
    for (k, quad) in g.chunks_exact(4).enumerate() {
        let w = quad
            .iter()
            .rev()
            .fold(0u64, |acc, &x| (acc << 16) | u64::from(x))
            ^ t;
        let zero = !(((w & LOW) + LOW) | w) & HIGH;
        // One bit per lane: lane j's high bit is bit 16j + 15.
        let lanes = ((zero >> 15).wrapping_mul(0x0001_0002_0004_0008) >> 48) & 0xf;
        bits |= (lanes as u32) << (4 * k);
    }
    bits
}

impl Homes {
    /// Homes for up to `capacity` sessions, with `stash` stash slots
    /// after the region.
    pub(crate) fn new(capacity: u32, stash: u32) -> Homes {
        let region = u64::from(capacity) * REGION_TENTHS_PER_SESSION / REGION_TENTHS_LOAD;
        let half = (region.div_ceil(2 * WAYS as u64)).max(2) as u32;
        let mut tags = vec![[0u16; WAYS]; 2 * half as usize].into_boxed_slice();
        // Fault the pages in now, not on the packet path.
        for i in (0..tags.len()).step_by(256) {
            tags[i] = std::hint::black_box([0; WAYS]);
        }
        Homes {
            tags,
            half,
            stash: Tagged::with_capacity(stash),
            stash_len: 0,
        }
    }

    /// Slots in the bucket region (the stash starts here).
    #[inline(always)]
    pub(crate) fn region(&self) -> u32 {
        2 * self.half * WAYS as u32
    }

    #[inline(always)]
    fn is_region(&self, i: u32) -> bool {
        i < self.region()
    }

    /// The distance from a key's first bucket to its second, from its tag.
    #[inline(always)]
    fn offset(&self, tag: u16) -> u32 {
        1 + mulhi(u32::from(tag).wrapping_mul(0x9e37_79b1), self.half - 1)
    }

    #[inline(always)]
    fn place(&self, h: u64) -> Place {
        let b1 = mulhi(h as u32, self.half);
        let tag = match (h >> 48) as u16 {
            0 => 1,
            t => t,
        };
        let mut b2 = b1 + self.offset(tag);
        if b2 >= self.half {
            b2 -= self.half;
        }
        Place {
            b1,
            b2: self.half + b2,
            tag,
        }
    }

    /// The other bucket of a resident of bucket `b` tagged `tag`.
    #[inline(always)]
    fn other(&self, b: u32, tag: u16) -> u32 {
        let off = self.offset(tag);
        if b < self.half {
            let b2 = b + off;
            self.half + if b2 >= self.half { b2 - self.half } else { b2 }
        } else {
            let b1 = b - self.half;
            if b1 >= off {
                b1 - off
            } else {
                b1 + self.half - off
            }
        }
    }

    #[inline(always)]
    fn stash_hash(h: u64) -> u32 {
        (h >> 32) as u32
    }

    /// Prefetches what a lookup of `h` reads first: its two tag groups.
    #[inline(always)]
    pub(crate) fn prefetch(&self, h: u64) {
        let p = self.place(h);
        prefetch(&self.tags[p.b1 as usize]);
        prefetch(&self.tags[p.b2 as usize]);
    }

    /// The likely slot of `h` (tags read, no key compared): a hint for
    /// prefetching the session line.
    #[inline(always)]
    pub(crate) fn first_candidate(&self, h: u64) -> Option<u32> {
        let p = self.place(h);
        for b in [p.b1, p.b2] {
            let m = matches(&self.tags[b as usize], p.tag);
            if m != 0 {
                return Some(b * WAYS as u32 + m.trailing_zeros());
            }
        }
        if self.stash_len == 0 {
            return None;
        }
        self.stash.first_candidate(Self::stash_hash(h))
    }

    /// The slot holding the key hashed `h`, for which `eq(slot)` holds.
    #[inline(always)]
    pub(crate) fn find(&self, h: u64, mut eq: impl FnMut(u32) -> bool) -> Option<u32> {
        let p = self.place(h);
        for b in [p.b1, p.b2] {
            let mut m = matches(&self.tags[b as usize], p.tag);
            while m != 0 {
                let i = b * WAYS as u32 + m.trailing_zeros();
                if eq(i) {
                    return Some(i);
                }
                m &= m - 1;
            }
        }
        if self.stash_len == 0 {
            return None;
        }
        self.stash.find(Self::stash_hash(h), eq)
    }

    /// A free region slot for a key hashed `h`: a free way of the emptier
    /// of its two buckets (the first on a tie). `None` when both are full.
    pub(crate) fn vacant(&self, h: u64) -> Option<u32> {
        let p = self.place(h);
        let free = |b: u32| matches(&self.tags[b as usize], 0);
        let (f1, f2) = (free(p.b1), free(p.b2));
        let (b, f) = if f1.count_ones() >= f2.count_ones() {
            (p.b1, f1)
        } else {
            (p.b2, f2)
        };
        (f != 0).then(|| b * WAYS as u32 + f.trailing_zeros())
    }

    /// With both buckets of `h` full: a resident slot of one of them, and
    /// a free slot in that resident's other bucket to move it to, if any.
    pub(crate) fn kick(&self, h: u64) -> Option<(u32, u32)> {
        let p = self.place(h);
        for b in [p.b1, p.b2] {
            for (w, &tag) in self.tags[b as usize].iter().enumerate() {
                let alt = self.other(b, tag);
                let free = matches(&self.tags[alt as usize], 0);
                if free != 0 {
                    let from = b * WAYS as u32 + w as u32;
                    return Some((from, alt * WAYS as u32 + free.trailing_zeros()));
                }
            }
        }
        None
    }

    /// Records the session in slot `i` under `h`: a region slot from
    /// [`Homes::vacant`] gets its tag; a stash slot enters the stash
    /// index. False only when the stash index refuses.
    pub(crate) fn insert(&mut self, h: u64, i: u32) -> bool {
        if self.is_region(i) {
            let (b, w) = (i as usize / WAYS, i as usize % WAYS);
            let p = self.place(h);
            debug_assert!(b as u32 == p.b1 || b as u32 == p.b2, "slot {i} is no home of its key");
            debug_assert_eq!(self.tags[b][w], 0, "slot {i} is taken");
            self.tags[b][w] = p.tag;
            return true;
        }
        let ok = self.stash.insert(Self::stash_hash(h), i);
        self.stash_len += u32::from(ok);
        ok
    }

    /// Forgets the session in slot `i`, recorded under `h`.
    pub(crate) fn remove(&mut self, h: u64, i: u32) -> bool {
        if self.is_region(i) {
            let (b, w) = (i as usize / WAYS, i as usize % WAYS);
            let was = self.tags[b][w] != 0;
            self.tags[b][w] = 0;
            return was;
        }
        let ok = self.stash.remove(Self::stash_hash(h), i);
        self.stash_len -= u32::from(ok);
        ok
    }

    /// The session of region slot `from` now lives in region slot `to`
    /// (a slot [`Homes::kick`] named).
    pub(crate) fn moved(&mut self, from: u32, to: u32) {
        let (fb, fw) = (from as usize / WAYS, from as usize % WAYS);
        let (tb, tw) = (to as usize / WAYS, to as usize % WAYS);
        debug_assert_eq!(self.tags[tb][tw], 0);
        self.tags[tb][tw] = self.tags[fb][fw];
        self.tags[fb][fw] = 0;
    }

    /// Whether slot `i` is a region slot with no session.
    #[cfg(test)]
    pub(crate) fn is_vacant_region_slot(&self, i: u32) -> bool {
        self.is_region(i) && self.tags[i as usize / WAYS][i as usize % WAYS] == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::nat::table::hash2;
    use std::collections::HashMap;

    #[test]
    fn lane_matches_are_exact() {
        let g: Group = [0, 7, 0x8007, 7, 0xffff, 0x0107, 0x7, 0];
        assert_eq!(matches(&g, 7), 0b0100_1010);
        assert_eq!(matches(&g, 0), 0b1000_0001);
        assert_eq!(matches(&g, 0xffff), 0b0001_0000);
        assert_eq!(matches(&g, 0x8007), 0b0000_0100);
        assert_eq!(matches(&g, 0x1234), 0);
    }

    #[test]
    fn a_residents_other_bucket_is_the_other_home_of_its_key() {
        let homes = Homes::new(10_000, 64);
        for k in 0..10_000u64 {
            let h = (u64::from(hash2(1, k, 0)) << 32) | u64::from(hash2(2, k, 0));
            let p = homes.place(h);
            assert!(p.b1 < homes.half && (homes.half..2 * homes.half).contains(&p.b2));
            assert_eq!(homes.other(p.b1, p.tag), p.b2);
            assert_eq!(homes.other(p.b2, p.tag), p.b1);
        }
    }

    /// Fill to capacity through vacant/kick/stash as the shard does, then
    /// find, move and remove every key against a model.
    #[test]
    fn fills_to_capacity_and_finds_every_key() {
        let cap = 50_000u32;
        let stash_slots = 1024u32;
        let mut homes = Homes::new(cap, stash_slots);
        let region = homes.region();
        let mut keys: HashMap<u32, u64> = HashMap::new(); // slot -> hash
        let mut stash_next = region;
        let hash = |k: u64| (u64::from(hash2(9, k, 1)) << 32) | u64::from(hash2(8, k, 2));
        let mut kicked = 0;
        for k in 0..u64::from(cap) {
            let h = hash(k);
            let slot = match homes.vacant(h) {
                Some(i) => i,
                None => match homes.kick(h) {
                    Some((from, to)) => {
                        let moved = keys.remove(&from).unwrap();
                        homes.moved(from, to);
                        keys.insert(to, moved);
                        kicked += 1;
                        homes.vacant(h).expect("the kick freed a way")
                    }
                    None => {
                        stash_next += 1;
                        stash_next - 1
                    }
                },
            };
            assert!(homes.insert(h, slot));
            keys.insert(slot, h);
        }
        assert!(kicked > 0, "9/10 load with 8 ways kicks now and then");
        assert!(stash_next - region < stash_slots);
        for (&slot, &h) in &keys {
            assert_eq!(homes.find(h, |i| keys.get(&i) == Some(&h)), Some(slot));
        }
        for (&slot, &h) in &keys {
            assert!(homes.remove(h, slot));
            assert_eq!(homes.find(h, |i| i == slot), None);
        }
        assert!((0..region).all(|i| homes.is_vacant_region_slot(i)));
        assert_eq!(homes.stash_len, 0);
    }
}
