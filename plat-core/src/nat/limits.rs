//! Subscribers: the IPv6 source masked to the configured prefix length,
//! with their session and port counts (RFC 6888 REQ-4/REQ-5), their paired
//! pool4 address (RFC 6888 REQ-2) and, in port-block mode, their blocks.
//! Every per-subscriber cap is checked here, in `Subscribers::admit_*`.

use super::config::{Limits, MAX_BLOCKS_PER_PROTO};
use super::session::NIL;
use super::table::{hash2, IndexTable};
use super::{NatDrop, Proto};

pub(crate) const NO_POOL: u16 = u16::MAX;

#[derive(Clone, Copy, Debug)]
pub(crate) struct Subscriber {
    pub prefix: [u8; 16],
    pub sessions: u32,
    pub ports: [u32; Proto::COUNT],
    /// Paired pool4 index, chosen once and kept while the subscriber lives.
    pub pool: u16,
    pub live: bool,
    pub nblocks: [u8; Proto::COUNT],
    pub next_free: u32,
}

impl Subscriber {
    const EMPTY: Subscriber = Subscriber {
        prefix: [0; 16],
        sessions: 0,
        ports: [0; Proto::COUNT],
        pool: NO_POOL,
        live: false,
        nblocks: [0; Proto::COUNT],
        next_free: NIL,
    };

    fn idle(&self) -> bool {
        self.sessions == 0 && self.ports == [0; Proto::COUNT] && self.nblocks == [0; Proto::COUNT]
    }
}

/// A subscriber's port blocks: (pool index, block number) per protocol.
pub(crate) type BlockList = [[(u16, u32); MAX_BLOCKS_PER_PROTO]; Proto::COUNT];

#[derive(Debug)]
pub(crate) struct Subscribers {
    pub slab: Vec<Subscriber>,
    /// Per subscriber, in port-block mode only (empty otherwise).
    pub blocks: Vec<BlockList>,
    free: u32,
    pub len: u32,
    table: IndexTable,
    prefix_len: u8,
    seed: u64,
}

impl Subscribers {
    pub(crate) fn new(capacity: u32, prefix_len: u8, seed: u64, block_mode: bool) -> Self {
        let mut slab = vec![Subscriber::EMPTY; capacity as usize];
        for (i, s) in slab.iter_mut().enumerate() {
            s.next_free = if i + 1 < capacity as usize {
                i as u32 + 1
            } else {
                NIL
            };
        }
        let blocks = if block_mode {
            vec![[[(0, 0); MAX_BLOCKS_PER_PROTO]; Proto::COUNT]; capacity as usize]
        } else {
            Vec::new()
        };
        Subscribers {
            slab,
            blocks,
            free: if capacity > 0 { 0 } else { NIL },
            len: 0,
            table: IndexTable::with_capacity(capacity),
            prefix_len,
            seed: seed ^ 0x5b5b_5b5b,
        }
    }

    pub(crate) fn prefix_len(&self) -> u8 {
        self.prefix_len
    }

    /// The subscriber an IPv6 source address belongs to.
    #[inline]
    pub(crate) fn key(&self, src: &[u8; 16]) -> [u8; 16] {
        let v = u128::from_be_bytes(*src);
        let mask = if self.prefix_len >= 128 {
            !0
        } else {
            !0u128 << (128 - u32::from(self.prefix_len))
        };
        (v & mask).to_be_bytes()
    }

    #[inline]
    fn hash(&self, key: &[u8; 16]) -> u32 {
        let v = u128::from_le_bytes(*key);
        hash2(self.seed, v as u64, (v >> 64) as u64)
    }

    pub(crate) fn find(&self, src: &[u8; 16]) -> Option<u32> {
        let key = self.key(src);
        self.table
            .find(self.hash(&key), |i| self.slab[i as usize].prefix == key)
    }

    pub(crate) fn get_or_create(&mut self, src: &[u8; 16]) -> Option<u32> {
        let key = self.key(src);
        let h = self.hash(&key);
        if let Some(i) = self.table.find(h, |i| self.slab[i as usize].prefix == key) {
            return Some(i);
        }
        let i = self.free;
        if i == NIL || !self.table.insert(h, i) {
            return None;
        }
        let s = &mut self.slab[i as usize];
        self.free = s.next_free;
        *s = Subscriber::EMPTY;
        s.prefix = key;
        s.live = true;
        self.len += 1;
        Some(i)
    }

    /// The subscriber of `src` (created if new) when it may have one more
    /// session.
    // RFC 6888 REQ-5: "A CGN MUST support limiting the number of
    // simultaneous (or concurrent) mappings (or sessions) per subscriber."
    pub(crate) fn admit_session(
        &mut self,
        src: &[u8; 16],
        limits: &Limits,
    ) -> Result<u32, NatDrop> {
        let sub = self
            .get_or_create(src)
            .ok_or(NatDrop::SubscriberTableFull)?;
        let cap = limits.sessions_per_subscriber;
        if cap != 0 && self.slab[sub as usize].sessions >= cap {
            self.release_if_idle(sub);
            return Err(NatDrop::SubscriberSessionLimit);
        }
        Ok(sub)
    }

    /// Whether subscriber `sub` may have one more `proto` port.
    // RFC 6888 REQ-4: "A CGN MUST support limiting the number of external
    // ports (or, equivalently, 'identifiers' for ICMP) that are assigned
    // per subscriber."
    pub(crate) fn admit_port(
        &self,
        sub: u32,
        proto: Proto,
        limits: &Limits,
    ) -> Result<(), NatDrop> {
        let cap = limits.ports_per_subscriber;
        if cap != 0 && self.slab[sub as usize].ports[proto.index()] >= cap {
            return Err(NatDrop::SubscriberPortLimit);
        }
        Ok(())
    }

    /// Whether subscriber `sub` may have one more `proto` block of `block`
    /// ports (the port cap of REQ-4, counted in whole blocks).
    pub(crate) fn admit_block(
        &self,
        sub: u32,
        proto: Proto,
        limits: &Limits,
        block: u16,
    ) -> Result<(), NatDrop> {
        let max = limits.ports_per_subscriber.div_ceil(u32::from(block));
        if u32::from(self.slab[sub as usize].nblocks[proto.index()]) >= max {
            return Err(NatDrop::SubscriberPortLimit);
        }
        Ok(())
    }

    /// Counts a session of subscriber `sub` (admitted by
    /// [`Subscribers::admit_session`]).
    #[inline]
    pub(crate) fn add_session(&mut self, sub: u32) {
        self.slab[sub as usize].sessions += 1;
    }

    /// Uncounts a session of the subscriber of `src`, freeing the
    /// subscriber once nothing refers to it.
    pub(crate) fn remove_session(&mut self, src: &[u8; 16]) {
        if let Some(sub) = self.find(src) {
            let record = &mut self.slab[sub as usize];
            record.sessions = record.sessions.saturating_sub(1);
            self.release_if_idle(sub);
        }
    }

    /// Counts a `proto` port (a BIB entry) of subscriber `sub`.
    #[inline]
    pub(crate) fn add_port(&mut self, sub: u32, proto: Proto) {
        self.slab[sub as usize].ports[proto.index()] += 1;
    }

    /// Uncounts a `proto` port of the subscriber of `src` (which stays:
    /// its blocks may still refer to it; see [`Subscribers::release_idle`]).
    pub(crate) fn remove_port(&mut self, src: &[u8; 16], proto: Proto) {
        if let Some(sub) = self.find(src) {
            let record = &mut self.slab[sub as usize];
            record.ports[proto.index()] = record.ports[proto.index()].saturating_sub(1);
        }
    }

    /// Adds block `k` of `pool` to subscriber `sub`'s `proto` blocks
    /// (admitted by [`Subscribers::admit_block`]).
    pub(crate) fn add_block(&mut self, sub: u32, proto: Proto, pool: u16, k: u32) {
        let p = proto.index();
        let record = &mut self.slab[sub as usize];
        let at = usize::from(record.nblocks[p]);
        record.nblocks[p] += 1;
        self.blocks[sub as usize][p][at] = (pool, k);
    }

    /// Frees the subscriber of `src` if nothing refers to it any more.
    pub(crate) fn release_idle(&mut self, src: &[u8; 16]) {
        if let Some(sub) = self.find(src) {
            self.release_if_idle(sub);
        }
    }

    /// Drops block `k` of `pool` from subscriber `i`'s list.
    pub(crate) fn remove_block(&mut self, i: u32, proto: Proto, pool: u16, k: u32) {
        let p = proto.index();
        let n = usize::from(self.slab[i as usize].nblocks[p]);
        let list = &mut self.blocks[i as usize][p];
        if let Some(j) = list[..n].iter().position(|&b| b == (pool, k)) {
            list[j] = list[n - 1];
            self.slab[i as usize].nblocks[p] -= 1;
        }
    }

    /// Frees the subscriber if nothing refers to it any more.
    pub(crate) fn release_if_idle(&mut self, i: u32) {
        let s = self.slab[i as usize];
        if !s.live || !s.idle() {
            return;
        }
        let h = self.hash(&s.prefix);
        self.table.remove(h, i);
        let s = &mut self.slab[i as usize];
        *s = Subscriber::EMPTY;
        s.next_free = self.free;
        self.free = i;
        self.len -= 1;
    }
}

// Default capacity is one subscriber per 4 sessions: keep the record small.
const _: () = assert!(core::mem::size_of::<Subscriber>() <= 48);
