//! A flat open-addressing index: hash -> u32 slab index.
//!
//! Robin Hood linear probing over one word per slot: the low bits hold
//! `index + 1` (0 is an empty slot), the top 8 bits the probe distance
//! from the entry's home slot. The distance lets a lookup compare keys only
//! for entries that share its home slot and lets a delete shift the run
//! back without reloading any key. Homes are `hash * homes >> 32`, so the
//! table can be sized at exactly 4/3 of its capacity; runs go on past the
//! last home into a slack of 256 slots rather than wrap.
//!
//! A [`Tagged`] table spends a `u64` per slot to keep 24 bits of the hash
//! next to the index. About 30% of keys at 3/4 load share their home slot
//! with an earlier entry; without the tag, their lookup reads that other
//! entry's record first, a second dependent cache miss that no prefetch
//! can hide. With it, a probe dereferences a wrong record about once in
//! 16 million, and the burst prefetch picks the right record. A
//! [`ByteTagged`] table keeps 8 bits of the hash in a fifth byte: a wrong
//! record once in 256 same-home entries, for a quarter of the memory.

use super::prefetch::prefetch;

const MAX_DIST: u32 = 255;
/// Slots past the last home: a run goes on into them instead of wrapping
/// to the start, so a probe only ever steps forward (no wrap test per
/// step) and a run is one stretch of memory. No entry is more than
/// [`MAX_DIST`] from its home, so no run reaches past them.
const SLACK: usize = MAX_DIST as usize + 1;
/// The largest index a table can hold.
pub(crate) const MAX_INDEX: u32 = 0x00ff_ffff - 1;

/// One slot word: `index + 1` in the low bits, the distance in the top 8.
pub(crate) trait Slot: Copy + Eq + core::fmt::Debug {
    const EMPTY: Self;
    /// A slot holding `idx` at distance `dist`, tagged with hash `h`.
    fn new(idx: u32, h: u32, dist: u32) -> Self;
    fn is_empty(self) -> bool;
    fn dist(self) -> u32;
    /// `index + 1`.
    fn idx1(self) -> u32;
    /// Whether an entry with hash `h` may be in this slot.
    fn may_be(self, h: u32) -> bool;
    /// The same entry one slot further from home.
    fn farther(self) -> Self;
    /// The same entry one slot closer to home.
    fn closer(self) -> Self;
}

/// An untagged slot: 24 bits of index, 8 of distance.
impl Slot for u32 {
    const EMPTY: u32 = 0;
    #[inline(always)]
    fn new(idx: u32, _h: u32, dist: u32) -> u32 {
        (dist << 24) | (idx + 1)
    }
    #[inline(always)]
    fn is_empty(self) -> bool {
        self == 0
    }
    #[inline(always)]
    fn dist(self) -> u32 {
        self >> 24
    }
    #[inline(always)]
    fn idx1(self) -> u32 {
        self & 0x00ff_ffff
    }
    #[inline(always)]
    fn may_be(self, _h: u32) -> bool {
        true
    }
    #[inline(always)]
    fn farther(self) -> u32 {
        self + (1 << 24)
    }
    #[inline(always)]
    fn closer(self) -> u32 {
        self - (1 << 24)
    }
}

/// A tagged slot: 32 bits of index, the low 24 bits of the hash (the home
/// comes from the high bits), 8 bits of distance.
impl Slot for u64 {
    const EMPTY: u64 = 0;
    #[inline(always)]
    fn new(idx: u32, h: u32, dist: u32) -> u64 {
        (u64::from(dist) << 56) | (u64::from(h & 0x00ff_ffff) << 32) | u64::from(idx + 1)
    }
    #[inline(always)]
    fn is_empty(self) -> bool {
        self == 0
    }
    #[inline(always)]
    fn dist(self) -> u32 {
        (self >> 56) as u32
    }
    #[inline(always)]
    fn idx1(self) -> u32 {
        self as u32
    }
    #[inline(always)]
    fn may_be(self, h: u32) -> bool {
        (self >> 32) as u32 & 0x00ff_ffff == h & 0x00ff_ffff
    }
    #[inline(always)]
    fn farther(self) -> u64 {
        self + (1 << 56)
    }
    #[inline(always)]
    fn closer(self) -> u64 {
        self - (1 << 56)
    }
}

/// A byte-tagged slot: the untagged word and 8 bits of the hash (the low
/// ones; the home comes from the high bits), 5 bytes packed. A lookup of a
/// key that is not there (a new flow's BIB entry) compares a record only
/// once in 256 times that another entry shares its home, for 1 byte a
/// slot where [`Tagged`] spends 4.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
#[repr(C, packed)]
pub(crate) struct ByteTag {
    word: u32,
    tag: u8,
}

impl Slot for ByteTag {
    const EMPTY: ByteTag = ByteTag { word: 0, tag: 0 };
    #[inline(always)]
    fn new(idx: u32, h: u32, dist: u32) -> ByteTag {
        ByteTag {
            word: u32::new(idx, h, dist),
            tag: h as u8,
        }
    }
    #[inline(always)]
    fn is_empty(self) -> bool {
        self.word == 0
    }
    #[inline(always)]
    fn dist(self) -> u32 {
        self.word.dist()
    }
    #[inline(always)]
    fn idx1(self) -> u32 {
        self.word.idx1()
    }
    #[inline(always)]
    fn may_be(self, h: u32) -> bool {
        self.tag == h as u8
    }
    #[inline(always)]
    fn farther(self) -> ByteTag {
        ByteTag {
            word: self.word.farther(),
            tag: self.tag,
        }
    }
    #[inline(always)]
    fn closer(self) -> ByteTag {
        ByteTag {
            word: self.word.closer(),
            tag: self.tag,
        }
    }
}

#[derive(Debug)]
pub(crate) struct Table<S: Slot> {
    /// The home slots, then [`SLACK`] more that only runs spill into.
    slots: Box<[S]>,
    /// How many slots are homes.
    homes: u64,
}

/// The index of IPv4-side BIB entries and of subscribers: 4 bytes a slot.
pub(crate) type IndexTable = Table<u32>;
/// The index of the IPv6 side, the established-flow hit path: 8 bytes a
/// slot, hash-tagged.
pub(crate) type Tagged = Table<u64>;
/// The index of IPv6-side BIB entries (looked up for every new flow,
/// mostly missing) and of IPv4-side sessions (the return traffic's
/// lookup, whose stage 2 prefetches the one session the tag names): 5
/// bytes a slot, byte-tagged.
pub(crate) type ByteTagged = Table<ByteTag>;

impl<S: Slot> Table<S> {
    /// A table for up to `entries` entries (load factor at most 3/4).
    pub(crate) fn with_capacity(entries: u32) -> Self {
        let homes = (u64::from(entries) * 4 / 3 + 16).next_multiple_of(16) as usize;
        let n = homes + SLACK;
        let mut slots = vec![S::EMPTY; n].into_boxed_slice();
        // Fault every page in now rather than on the packet path (the
        // zeroed allocation is mapped lazily).
        for i in (0..n).step_by(512) {
            slots[i] = std::hint::black_box(S::EMPTY);
        }
        Table {
            slots,
            homes: homes as u64,
        }
    }

    #[inline(always)]
    fn home(&self, h: u32) -> usize {
        ((u64::from(h) * self.homes) >> 32) as usize
    }

    /// Prefetches the home slot of `h`.
    #[inline(always)]
    pub(crate) fn prefetch(&self, h: u32) {
        prefetch(&self.slots[self.home(h)]);
    }

    /// The first entry whose home is the home of `h` (and, tagged, whose
    /// tag matches), the likely match: a hint for prefetching the entry;
    /// no key is compared.
    #[inline(always)]
    pub(crate) fn first_candidate(&self, h: u32) -> Option<u32> {
        self.find(h, |_| true)
    }

    /// Finds the entry with hash `h` for which `eq(index)` holds.
    #[inline(always)]
    pub(crate) fn find(&self, h: u32, mut eq: impl FnMut(u32) -> bool) -> Option<u32> {
        let mut p = self.home(h);
        let mut d = 0u32;
        loop {
            let s = self.slots[p];
            if s.is_empty() || s.dist() < d {
                return None;
            }
            if s.dist() == d && s.may_be(h) {
                let idx = s.idx1() - 1;
                if eq(idx) {
                    return Some(idx);
                }
            }
            p += 1;
            d += 1;
        }
    }

    /// Inserts `idx` under hash `h` (the caller knows the key is absent).
    /// Fails, changing nothing, only when an entry would end up more than
    /// 255 slots from its home.
    pub(crate) fn insert(&mut self, h: u32, idx: u32) -> bool {
        debug_assert!(idx <= MAX_INDEX);
        // One read pass: where the entry goes (the first slot that is
        // empty or holds an entry nearer its home), then where the run
        // it displaces ends. Then one write pass shifts that stretch a
        // slot on. (Two passes of compare-and-swap cost a mispredicted
        // branch more per insert.)
        let mut at = self.home(h);
        let mut d = 0u32;
        loop {
            let s = self.slots[at];
            if s.is_empty() || s.dist() < d {
                break;
            }
            at += 1;
            d += 1;
            if d > MAX_DIST {
                return false;
            }
        }
        let mut end = at;
        loop {
            let s = self.slots[end];
            if s.is_empty() {
                break;
            }
            if s.dist() == MAX_DIST {
                return false;
            }
            end += 1;
        }
        for p in (at..end).rev() {
            self.slots[p + 1] = self.slots[p].farther();
        }
        self.slots[at] = S::new(idx, h, d);
        true
    }

    /// Removes `idx`, stored under hash `h`. Returns whether it was there.
    pub(crate) fn remove(&mut self, h: u32, idx: u32) -> bool {
        let mut p = self.home(h);
        let mut d = 0u32;
        loop {
            let s = self.slots[p];
            if s.is_empty() || s.dist() < d {
                return false;
            }
            if s.idx1() == idx + 1 {
                break;
            }
            p += 1;
            d += 1;
        }
        // Backward shift: pull the rest of the run one slot closer to home.
        loop {
            let s = self.slots[p + 1];
            if s.is_empty() || s.dist() == 0 {
                self.slots[p] = S::EMPTY;
                return true;
            }
            self.slots[p] = s.closer();
            p += 1;
        }
    }
}

/// The key of a shard's table hashes.
///
/// Whoever knows the key can choose flows whose hashes all land in one
/// home slot of an index; past 256 such flows (an entry sits at most 255
/// slots from its home) the shard refuses every new session there
/// (`TableFull`) while the table is nearly empty.
/// So the key must be secret and differ per start: the dataplane draws
/// each shard's key from the OS random source when it builds the shard.
/// plat-core makes no OS calls, so the key is an input to
/// [`Shard::new`](super::Shard::new); tests use fixed keys.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct HashKey(u64);

impl HashKey {
    pub const fn new(key: u64) -> HashKey {
        HashKey(key)
    }
    pub const fn get(self) -> u64 {
        self.0
    }
}

/// The key stays out of logs.
impl core::fmt::Debug for HashKey {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str("HashKey(..)")
    }
}

// Hashing: a folded 64x64->128 multiply (the wyhash/foldhash mixer).
const P0: u64 = 0x243f_6a88_85a3_08d3;
const P1: u64 = 0x1319_8a2e_0370_7344;
const P2: u64 = 0xa409_3822_299f_31d0;
const P3: u64 = 0x082e_fa98_ec4e_6c89;

#[inline(always)]
pub(crate) fn fold(a: u64, b: u64) -> u64 {
    let r = u128::from(a) * u128::from(b);
    (r as u64) ^ ((r >> 64) as u64)
}

/// Hash of two words and a seed, reduced to the 32 bits a table uses.
#[inline(always)]
pub(crate) fn hash2(seed: u64, a: u64, b: u64) -> u32 {
    (fold(fold(a ^ seed ^ P0, b ^ P1), seed ^ P2) >> 32) as u32
}

/// Hash of three words and a seed.
#[inline(always)]
pub(crate) fn hash3(seed: u64, a: u64, b: u64, c: u64) -> u32 {
    let x = fold(a ^ seed ^ P0, b ^ P1);
    (fold(x ^ c ^ P3, seed ^ P2) >> 32) as u32
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn h(k: u64) -> u32 {
        hash2(7, k, 0)
    }

    #[test]
    fn insert_find_remove_against_a_model() {
        model_check::<u32>();
        model_check::<u64>();
        model_check::<ByteTag>();
    }

    #[test]
    fn a_tag_keeps_the_probe_off_other_entries_of_the_same_home() {
        same_home_check::<u64>();
        same_home_check::<ByteTag>();
    }

    #[test]
    fn a_byte_tagged_slot_is_five_bytes() {
        assert_eq!(core::mem::size_of::<ByteTag>(), 5);
    }

    fn same_home_check<S: Slot>() {
        let mut t = Table::<S>::with_capacity(64);
        // Same high bits (same home), different low bits (different tags).
        let hs: Vec<u32> = (0..8).map(|i| 0x8000_0000 | i).collect();
        for (i, &h) in hs.iter().enumerate() {
            assert!(t.insert(h, i as u32));
        }
        for (i, &h) in hs.iter().enumerate() {
            assert_eq!(t.first_candidate(h), Some(i as u32));
            let mut probed = 0;
            let found = t.find(h, |j| {
                probed += 1;
                j == i as u32
            });
            assert_eq!((found, probed), (Some(i as u32), 1));
        }
        assert!(t.remove(hs[3], 3));
        assert_eq!(t.find(hs[3], |_| true), None);
        assert_eq!(t.find(hs[7], |j| j == 7), Some(7));
    }

    fn model_check<S: Slot>() {
        let mut t = Table::<S>::with_capacity(1000);
        let mut keys = vec![0u64; 1000];
        let mut model: HashMap<u64, u32> = HashMap::new();
        let mut rng = 0x1234_5678_u64;
        for step in 0..20_000u32 {
            rng = rng
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            let idx = ((rng >> 33) % 1000) as u32;
            let key = rng >> 40;
            if let Some((&k, _)) = model.iter().find(|(_, &v)| v == idx) {
                assert!(t.remove(h(k), idx), "step {step}");
                model.remove(&k);
            } else if let std::collections::hash_map::Entry::Vacant(e) = model.entry(key) {
                assert!(t.insert(h(key), idx));
                keys[idx as usize] = key;
                e.insert(idx);
            }
            if step % 97 == 0 {
                for (&k, &v) in &model {
                    assert_eq!(t.find(h(k), |i| keys[i as usize] == k), Some(v));
                }
            }
        }
        for (&k, &v) in &model {
            assert_eq!(t.find(h(k), |i| keys[i as usize] == k), Some(v));
            assert!(t.remove(h(k), v));
            assert_eq!(t.find(h(k), |i| keys[i as usize] == k), None);
        }
        assert!(t.slots.iter().all(|s| s.is_empty()));
    }

    #[test]
    fn fills_to_capacity_without_refusal() {
        let n = 300_000;
        let mut t = IndexTable::with_capacity(n);
        for i in 0..n {
            assert!(t.insert(hash2(3, u64::from(i), 0), i), "{i}");
        }
    }

    #[test]
    fn a_run_longer_than_the_distance_field_is_refused_cleanly() {
        let mut t = IndexTable::with_capacity(1024);
        for i in 0..256 {
            assert!(t.insert(9, i), "{i}");
        }
        assert!(!t.insert(9, 999));
        for i in 0..256 {
            assert_eq!(t.find(9, |j| j == i), Some(i));
        }
        assert_eq!(t.find(9, |j| j == 999), None);
        // Other homes still insert past the long run.
        assert!(t.insert(hash2(1, 2, 3), 1000));
        assert_eq!(t.find(hash2(1, 2, 3), |j| j == 1000), Some(1000));
    }

    #[test]
    fn a_run_from_the_last_home_goes_on_into_the_slack() {
        let mut t = ByteTagged::with_capacity(1024);
        let last = u32::MAX; // home: the last home slot
        for i in 0..256 {
            assert!(t.insert(last, i), "{i}");
        }
        // Slot 255 past the last home is as far as an entry may go.
        assert!(!t.insert(last, 999));
        for i in 0..256 {
            assert_eq!(t.find(last, |j| j == i), Some(i));
        }
        // Nothing wrapped round to the first homes.
        assert!(t.slots[..256].iter().all(|s| s.is_empty()));
        assert!(t.remove(last, 0));
        assert!(t.insert(last, 999));
        assert_eq!(t.find(last, |j| j == 999), Some(999));
        assert_eq!(t.find(last, |j| j == 0), None);
    }

    #[test]
    fn colliding_hashes_are_told_apart_by_key() {
        let mut t = IndexTable::with_capacity(64);
        for i in 0..40 {
            assert!(t.insert(42, i));
        }
        for i in 0..40 {
            assert_eq!(t.find(42, |j| j == i), Some(i));
        }
        assert!(t.remove(42, 17));
        assert_eq!(t.find(42, |j| j == 17), None);
        assert_eq!(t.find(42, |j| j == 39), Some(39));
    }
}
