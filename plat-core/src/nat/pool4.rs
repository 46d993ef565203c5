//! pool4: the IPv4 transport addresses a shard may hand out.
//!
//! Each address has, per protocol, the set of ports this shard may use:
//! the configured range intersected with the worker's RSS share (the ports
//! whose return traffic the NIC steers to this worker). Used ports are a
//! bitmap next to it, so allocation scans 64 ports per word.

use std::net::Ipv4Addr;

use thiserror::Error;

use super::share::PortShare;
use super::table::fold;
use super::Proto;

/// An inclusive port (or ICMP identifier) range.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct PortRange {
    pub first: u16,
    pub last: u16,
}

impl PortRange {
    pub const fn new(first: u16, last: u16) -> Self {
        PortRange { first, last }
    }
    /// 1024-65535, the default for TCP and UDP.
    pub const PORTS: PortRange = PortRange::new(1024, 65535);
    /// 0-65535, the default for ICMP identifiers.
    pub const IDENTIFIERS: PortRange = PortRange::new(0, 65535);

    pub const fn contains(&self, p: u16) -> bool {
        self.first <= p && p <= self.last
    }
}

/// A pool4 entry: an address or prefix with per-protocol ranges.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Pool4Entry {
    pub prefix: Ipv4Addr,
    pub prefix_len: u8,
    /// Indexed by [`Proto::index`]: TCP, UDP, ICMP.
    pub ranges: [PortRange; Proto::COUNT],
}

impl Pool4Entry {
    /// An entry with the default ranges.
    pub const fn new(prefix: Ipv4Addr, prefix_len: u8) -> Self {
        Pool4Entry {
            prefix,
            prefix_len,
            ranges: [PortRange::PORTS, PortRange::PORTS, PortRange::IDENTIFIERS],
        }
    }

    pub fn with_range(mut self, proto: Proto, r: PortRange) -> Self {
        self.ranges[proto.index()] = r;
        self
    }

    fn addrs(&self) -> Result<std::ops::RangeInclusive<u32>, Pool4Error> {
        if self.prefix_len > 32 || self.prefix_len < 16 {
            return Err(Pool4Error::BadPrefix(self.prefix, self.prefix_len));
        }
        let host_bits = 32 - u32::from(self.prefix_len);
        let base = u32::from(self.prefix);
        let mask = if host_bits == 32 {
            0
        } else {
            !0u32 << host_bits
        };
        if base & !mask != 0 {
            return Err(Pool4Error::BadPrefix(self.prefix, self.prefix_len));
        }
        Ok(base..=(base | !mask))
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum Pool4Error {
    #[error("pool4: {0}/{1} is not a prefix of length 16..=32 with zero host bits")]
    BadPrefix(Ipv4Addr, u8),
    #[error("pool4: {0} is already in the pool")]
    Overlap(Ipv4Addr),
    #[error("pool4: {0}/{1} is not in the pool")]
    NotFound(Ipv4Addr, u8),
    #[error("pool4: {proto} range {first}-{last} is empty")]
    EmptyRange { proto: Proto, first: u16, last: u16 },
    #[error("pool4: more than {0} addresses")]
    TooMany(usize),
}

/// Addresses one shard's pool4 may hold.
pub const MAX_POOL4_ADDRS: usize = 16384;

const WORDS: usize = 1024; // 65536 bits

/// Port blocks of one (address, protocol): block `k` is the `k`-th run of
/// `size` ports in this shard's sorted share.
#[derive(Debug)]
pub(crate) struct Blocks {
    ports: Vec<u16>,
    owner: Vec<u32>,
    used: Vec<u16>,
    cursor: usize,
    pub(crate) free: u32,
}

#[derive(Debug)]
pub(crate) struct PortSet {
    /// The ports of this shard's share.
    allowed: Box<[u64]>,
    /// The ports of the share not in use: what an allocation reads, one
    /// line for both facts (a port is in use when it is allowed and not
    /// free).
    free_map: Box<[u64]>,
    pub(crate) free: u32,
    /// Ports in the share (free or not).
    pub(crate) total: u32,
    pub(crate) blocks: Option<Blocks>,
}

impl PortSet {
    fn new(addr: Ipv4Addr, range: PortRange, share: &PortShare, proto: Proto, block: u16) -> Self {
        let mut allowed = vec![0u64; WORDS].into_boxed_slice();
        let mut free = 0;
        for p in range.first..=range.last {
            if share.owns(proto, addr, p) {
                allowed[usize::from(p) / 64] |= 1 << (p % 64);
                free += 1;
            }
        }
        let blocks = (block != 0).then(|| {
            let ports: Vec<u16> = (range.first..=range.last)
                .filter(|&p| allowed[usize::from(p) / 64] & (1 << (p % 64)) != 0)
                .collect();
            let n = ports.len() / usize::from(block);
            Blocks {
                ports,
                owner: vec![u32::MAX; n],
                used: vec![0; n],
                cursor: 0,
                free: n as u32,
            }
        });
        PortSet {
            free_map: allowed.clone(),
            allowed,
            free,
            total: free,
            blocks,
        }
    }

    #[inline]
    fn is_free(&self, p: u16) -> bool {
        let (w, b) = (usize::from(p) / 64, p % 64);
        self.free_map[w] >> b & 1 != 0
    }

    /// Frees `p` if it is a port of the share in use; whether it was.
    fn give_back(&mut self, p: u16) -> bool {
        let (w, b) = (usize::from(p) / 64, p % 64);
        if (self.allowed[w] & !self.free_map[w]) >> b & 1 == 0 {
            return false;
        }
        self.free_map[w] |= 1 << b;
        self.free += 1;
        true
    }

    #[inline]
    fn take(&mut self, p: u16) {
        self.free_map[usize::from(p) / 64] &= !(1 << (p % 64));
        self.free -= 1;
    }

    /// Scans words `lo..hi`, from the one `salt` picks, for a free port
    /// matching `mask`.
    fn scan(&self, lo: usize, hi: usize, mask: u64, salt: u32) -> Option<u16> {
        // The start by multiply-shift, and the wrap as two ranges: no
        // division on the way.
        let start = lo + ((u64::from(salt) * (hi - lo) as u64) >> 32) as usize;
        (start..hi).chain(lo..start).find_map(|w| {
            let avail = self.free_map[w] & mask;
            (avail != 0).then(|| (w * 64) as u16 + avail.trailing_zeros() as u16)
        })
    }

    /// The port [`PortSet::alloc`] takes for `want`, changing nothing:
    /// the port itself if free (RFC 6146 3.5.1.1, RFC 4787 REQ-1 port
    /// preservation), else one of its range and parity. Where the search
    /// goes comes from `salt`, a keyed hash of the subscriber's endpoint:
    /// the choice cannot be guessed from outside (RFC 6056), does not
    /// depend on the other flows of a burst (so the prefetch stage can
    /// name it) and spreads over the whole range.
    fn choose(&self, proto: Proto, want: u16, salt: u32) -> Option<u16> {
        if self.free == 0 {
            return None;
        }
        if self.is_free(want) {
            return Some(want);
        }
        if proto == Proto::Icmp {
            return self.scan(0, WORDS, !0, salt);
        }
        // RFC 6146 3.5.1.1: "If the source transport address ... is in
        // the range 0-1023 ... the NAT64 SHOULD choose a port in the
        // same range" (and likewise 1024-65535, per RFC 4787 REQ-3).
        // RFC 4787 REQ-4: "It is RECOMMENDED that a NAT have a 'Port
        // parity preservation' behavior of 'Yes'."
        let parity = if want & 1 == 0 {
            0x5555_5555_5555_5555
        } else {
            0xaaaa_aaaa_aaaa_aaaa
        };
        let (lo, hi) = if want < 1024 { (0, 16) } else { (16, WORDS) };
        self.scan(lo, hi, parity, salt)
            .or_else(|| self.scan(lo, hi, !0, salt))
            .or_else(|| self.scan(0, WORDS, parity, salt))
            .or_else(|| self.scan(0, WORDS, !0, salt))
    }

    /// Port-by-port allocation: takes the port [`PortSet::choose`] names.
    fn alloc(&mut self, proto: Proto, want: u16, salt: u32) -> Option<u16> {
        let p = self.choose(proto, want, salt)?;
        self.take(p);
        Some(p)
    }

    /// Frees `p`; in block mode returns the block it belonged to.
    fn release(&mut self, p: u16) -> Option<u32> {
        if !self.give_back(p) {
            return None;
        }
        let k = self.block_of_port(p)?;
        let b = self.blocks.as_mut()?;
        b.used[k as usize] = b.used[k as usize].saturating_sub(1);
        Some(k)
    }

    fn block_of_port(&self, p: u16) -> Option<u32> {
        let b = self.blocks.as_ref()?;
        let size = b.ports.len() / b.owner.len().max(1);
        let pos = b.ports.binary_search(&p).ok()?;
        let k = pos / size.max(1);
        (k < b.owner.len()).then_some(k as u32)
    }
}

#[derive(Debug)]
pub(crate) struct PoolAddr {
    pub addr: Ipv4Addr,
    pub sets: [PortSet; Proto::COUNT],
}

/// The shard's pool4.
#[derive(Debug)]
pub(crate) struct Pool4 {
    addrs: Vec<Option<PoolAddr>>,
    /// (address, index into `addrs`), sorted by address.
    index: Vec<(u32, u16)>,
    entries: Vec<Pool4Entry>,
    share: PortShare,
    block: u16,
}

impl Pool4 {
    pub(crate) fn new(share: PortShare, block: u16) -> Self {
        Pool4 {
            addrs: Vec::new(),
            index: Vec::new(),
            entries: Vec::new(),
            share,
            block,
        }
    }

    pub(crate) fn entries(&self) -> &[Pool4Entry] {
        &self.entries
    }

    pub(crate) fn share(&self) -> &PortShare {
        &self.share
    }

    /// Adds an entry; existing addresses and their ports are untouched.
    pub(crate) fn add(&mut self, e: Pool4Entry) -> Result<(), Pool4Error> {
        let range = e.addrs()?;
        for (i, r) in e.ranges.iter().enumerate() {
            if r.first > r.last {
                return Err(Pool4Error::EmptyRange {
                    proto: Proto::ALL[i],
                    first: r.first,
                    last: r.last,
                });
            }
        }
        for a in range.clone() {
            if self.idx(Ipv4Addr::from(a)).is_some() {
                return Err(Pool4Error::Overlap(Ipv4Addr::from(a)));
            }
        }
        let n = (range.end() - range.start()) as usize + 1;
        if self.index.len() + n > MAX_POOL4_ADDRS {
            return Err(Pool4Error::TooMany(MAX_POOL4_ADDRS));
        }
        for a in range {
            let addr = Ipv4Addr::from(a);
            let pa = PoolAddr {
                addr,
                sets: Proto::ALL
                    .map(|p| PortSet::new(addr, e.ranges[p.index()], &self.share, p, self.block)),
            };
            let slot = match self.addrs.iter().position(Option::is_none) {
                Some(s) => {
                    self.addrs[s] = Some(pa);
                    s
                }
                None => {
                    self.addrs.push(Some(pa));
                    self.addrs.len() - 1
                }
            };
            let pos = self.index.partition_point(|&(x, _)| x < a);
            self.index.insert(pos, (a, slot as u16));
        }
        self.entries.push(e);
        Ok(())
    }

    /// The pool indices an entry covers (to delete their state first).
    pub(crate) fn indices_of(&self, prefix: Ipv4Addr, len: u8) -> Result<Vec<u16>, Pool4Error> {
        let pos = self
            .entries
            .iter()
            .position(|e| e.prefix == prefix && e.prefix_len == len)
            .ok_or(Pool4Error::NotFound(prefix, len))?;
        let range = self.entries[pos].addrs()?;
        Ok(range.filter_map(|a| self.idx(Ipv4Addr::from(a))).collect())
    }

    /// Drops an entry whose state the shard has already deleted.
    pub(crate) fn remove(&mut self, prefix: Ipv4Addr, len: u8) -> Result<(), Pool4Error> {
        let idxs = self.indices_of(prefix, len)?;
        for i in idxs {
            if let Some(pa) = self.addrs[usize::from(i)].take() {
                let a = u32::from(pa.addr);
                let pos = self.index.partition_point(|&(x, _)| x < a);
                self.index.remove(pos);
            }
        }
        self.entries
            .retain(|e| !(e.prefix == prefix && e.prefix_len == len));
        Ok(())
    }

    #[inline]
    pub(crate) fn idx(&self, addr: Ipv4Addr) -> Option<u16> {
        let a = u32::from(addr);
        // Most addresses asked about (every new flow's destination, for
        // hairpinning) are far outside the pool: settle those by its ends.
        match (self.index.first(), self.index.last()) {
            (Some(&(lo, _)), Some(&(hi, _))) if (lo..=hi).contains(&a) => {}
            _ => return None,
        }
        self.index
            .binary_search_by_key(&a, |&(x, _)| x)
            .ok()
            .map(|p| self.index[p].1)
    }

    pub(crate) fn contains(&self, addr: Ipv4Addr) -> bool {
        self.idx(addr).is_some()
    }

    pub(crate) fn get(&self, i: u16) -> Option<&PoolAddr> {
        self.addrs.get(usize::from(i)).and_then(Option::as_ref)
    }

    fn set(&mut self, i: u16, proto: Proto) -> Option<&mut PortSet> {
        self.addrs
            .get_mut(usize::from(i))
            .and_then(Option::as_mut)
            .map(|pa| &mut pa.sets[proto.index()])
    }

    fn set_ref(&self, i: u16, proto: Proto) -> Option<&PortSet> {
        self.get(i).map(|pa| &pa.sets[proto.index()])
    }

    /// This shard may use (addr, port) for `proto`.
    pub(crate) fn owns(&self, proto: Proto, addr: Ipv4Addr, port: u16) -> bool {
        self.idx(addr)
            .and_then(|i| self.get(i))
            .map(|pa| {
                let s = &pa.sets[proto.index()];
                s.allowed[usize::from(port) / 64] >> (port % 64) & 1 != 0
            })
            .unwrap_or(false)
    }

    pub(crate) fn addr(&self, i: u16) -> Ipv4Addr {
        self.get(i)
            .map(|pa| pa.addr)
            .unwrap_or(Ipv4Addr::UNSPECIFIED)
    }

    /// Every live address with its index.
    pub(crate) fn addrs(&self) -> impl Iterator<Item = (u16, &PoolAddr)> + '_ {
        self.addrs
            .iter()
            .enumerate()
            .filter_map(|(i, a)| a.as_ref().map(|a| (i as u16, a)))
    }

    pub(crate) fn free_ports(&self, i: u16, proto: Proto) -> u32 {
        self.get(i)
            .map(|pa| pa.sets[proto.index()].free)
            .unwrap_or(0)
    }

    /// RFC 6888 REQ-2 / RFC 4787 REQ-2 paired pooling: the address a
    /// subscriber's flows leave from, by rendezvous hashing of the
    /// subscriber over the live addresses. Unseeded on purpose: every
    /// worker must pick the same address for the same subscriber.
    pub(crate) fn paired(&self, subscriber: &[u8; 16]) -> Option<u16> {
        let v = u128::from_le_bytes(*subscriber);
        let s = fold(
            v as u64 ^ 0x9e37_79b9_7f4a_7c15,
            (v >> 64) as u64 ^ 0xc2b2_ae3d_27d4_eb4f,
        );
        self.index
            .iter()
            .max_by_key(|&&(a, _)| fold(s ^ u64::from(a), 0xff51_afd7_ed55_8ccd ^ u64::from(a)))
            .map(|&(_, i)| i)
    }

    /// Live pool indices in address order, starting after `i` (for the
    /// fallback when the paired address is exhausted).
    pub(crate) fn others(&self, i: u16) -> impl Iterator<Item = u16> + '_ {
        let a = u32::from(self.addr(i));
        let pos = self.index.partition_point(|&(x, _)| x <= a);
        let (l, r) = self.index.split_at(pos);
        r.iter()
            .chain(l.iter())
            .map(|&(_, j)| j)
            .filter(move |&j| j != i)
    }

    /// Takes a port of address `i` for a flow from port `want`; `salt`
    /// is a keyed hash of the flow's IPv6-side endpoint.
    pub(crate) fn alloc(&mut self, i: u16, proto: Proto, want: u16, salt: u32) -> Option<u16> {
        self.set(i, proto)?.alloc(proto, want, salt)
    }

    /// The port [`Pool4::alloc`] would take now, changing nothing (for
    /// prefetching what the allocation will touch).
    pub(crate) fn choose(&self, i: u16, proto: Proto, want: u16, salt: u32) -> Option<u16> {
        self.set_ref(i, proto)?.choose(proto, want, salt)
    }

    /// Marks a chosen port used (static BIB); false if not ours or taken.
    pub(crate) fn reserve(&mut self, i: u16, proto: Proto, port: u16) -> bool {
        match self.set(i, proto) {
            Some(s) if s.is_free(port) => {
                s.take(port);
                true
            }
            _ => false,
        }
    }

    /// Marks a port of a dynamic BIB entry used, counted in its block in
    /// block mode (a standby mirroring the active node's entry); false if
    /// not ours or taken.
    pub(crate) fn reserve_dynamic(&mut self, i: u16, proto: Proto, port: u16) -> bool {
        let Some(s) = self.set(i, proto) else {
            return false;
        };
        if !s.is_free(port) {
            return false;
        }
        s.take(port);
        if let Some(k) = s.block_of_port(port) {
            if let Some(b) = s.blocks.as_mut() {
                b.used[k as usize] += 1;
            }
        }
        true
    }

    /// Gives block `k` of (i, proto) to `owner` (a standby mirroring the
    /// active node's allocation); true if it is now `owner`'s.
    pub(crate) fn claim_block(&mut self, i: u16, proto: Proto, k: u32, owner: u32) -> bool {
        let Some(b) = self.set(i, proto).and_then(|s| s.blocks.as_mut()) else {
            return false;
        };
        match b.owner.get(k as usize).copied() {
            Some(u32::MAX) => {
                b.owner[k as usize] = owner;
                b.free -= 1;
                true
            }
            Some(o) => o == owner,
            None => false,
        }
    }

    /// Frees a port; in block mode returns the block and whether it is
    /// now empty.
    pub(crate) fn release(&mut self, i: u16, proto: Proto, port: u16) -> Option<(u32, bool)> {
        let s = self.set(i, proto)?;
        let k = s.release(port)?;
        let empty = s.blocks.as_ref().map(|b| b.used[k as usize] == 0)?;
        Some((k, empty))
    }

    /// Frees a static BIB's port without touching block accounting.
    pub(crate) fn release_static(&mut self, i: u16, proto: Proto, port: u16) {
        if let Some(s) = self.set(i, proto) {
            s.give_back(port);
        }
    }

    /// Gives a free block of (i, proto) to `owner`.
    pub(crate) fn alloc_block(&mut self, i: u16, proto: Proto, owner: u32) -> Option<u32> {
        let b = self.set(i, proto)?.blocks.as_mut()?;
        if b.free == 0 {
            return None;
        }
        let n = b.owner.len();
        for k in 0..n {
            let j = (b.cursor + k) % n;
            if b.owner[j] == u32::MAX {
                b.owner[j] = owner;
                b.free -= 1;
                b.cursor = (j + 1) % n;
                return Some(j as u32);
            }
        }
        None
    }

    pub(crate) fn free_block(&mut self, i: u16, proto: Proto, k: u32) {
        if let Some(b) = self.set(i, proto).and_then(|s| s.blocks.as_mut()) {
            if b.owner[k as usize] != u32::MAX {
                b.owner[k as usize] = u32::MAX;
                b.free += 1;
            }
        }
    }

    /// First and last port of block `k` (the block's ports are the `k`-th
    /// run of `port_block` ports of this shard's share).
    pub(crate) fn block_span(&self, i: u16, proto: Proto, k: u32) -> (u16, u16) {
        let size = usize::from(self.block);
        self.get(i)
            .and_then(|pa| pa.sets[proto.index()].blocks.as_ref())
            .map(|b| {
                let s = k as usize * size;
                (b.ports[s], b.ports[s + size - 1])
            })
            .unwrap_or((0, 0))
    }

    /// A free port inside block `k`: `want` itself, else the same parity,
    /// else any.
    pub(crate) fn alloc_in_block(
        &mut self,
        i: u16,
        proto: Proto,
        k: u32,
        want: u16,
    ) -> Option<u16> {
        let size = usize::from(self.block);
        let s = self.set(i, proto)?;
        let b = s.blocks.as_ref()?;
        let ports = &b.ports[k as usize * size..(k as usize + 1) * size];
        let pick = if ports.binary_search(&want).is_ok() && s.is_free(want) {
            Some(want)
        } else {
            let par = ports
                .iter()
                .copied()
                .find(|&p| (proto == Proto::Icmp || p & 1 == want & 1) && s.is_free(p));
            par.or_else(|| ports.iter().copied().find(|&p| s.is_free(p)))
        }?;
        s.take(pick);
        if let Some(b) = s.blocks.as_mut() {
            b.used[k as usize] += 1;
        }
        Some(pick)
    }

    /// The block of (i, proto) that holds `port`, with its owner, while
    /// one is given out (port-block mode).
    pub(crate) fn block_of(&self, i: u16, proto: Proto, port: u16) -> Option<(u32, u32)> {
        let b = self.get(i)?.sets[proto.index()].blocks.as_ref()?;
        let at = b.ports.iter().position(|&p| p == port)?;
        let k = at / usize::from(self.block);
        let owner = *b.owner.get(k)?;
        (owner != u32::MAX).then_some((k as u32, owner))
    }

    /// The owner of block `k` of (i, proto), while it is given out.
    pub(crate) fn block_of_k(&self, i: u16, proto: Proto, k: u32) -> Option<u32> {
        let b = self.get(i)?.sets[proto.index()].blocks.as_ref()?;
        b.owner.get(k as usize).copied().filter(|&o| o != u32::MAX)
    }

    pub(crate) fn free_blocks(&self, i: u16, proto: Proto) -> u32 {
        self.get(i)
            .and_then(|pa| pa.sets[proto.index()].blocks.as_ref())
            .map(|b| b.free)
            .unwrap_or(0)
    }

    pub(crate) fn block_size(&self) -> u16 {
        self.block
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The prefetch stage relies on it: what `choose` names is what
    /// `alloc` then takes, preserved, parity-kept or scanned, to the end
    /// of the range.
    #[test]
    fn choose_names_the_port_alloc_takes() {
        let mut pool = Pool4::new(PortShare::All, 0);
        pool.add(
            Pool4Entry::new(Ipv4Addr::new(192, 0, 2, 1), 32)
                .with_range(Proto::Udp, PortRange::new(40_000, 40_999)),
        )
        .unwrap();
        let mut rng = 0x9e37_79b9_u32;
        let mut taken = std::collections::HashSet::new();
        for _ in 0..1000 {
            rng = rng.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
            let (want, salt) = (40_000 + (rng >> 16) as u16 % 1200, rng.rotate_left(7));
            let named = pool.choose(0, Proto::Udp, want, salt);
            let got = pool.alloc(0, Proto::Udp, want, salt);
            assert_eq!(named, got);
            let p = got.expect("1000 ports for 1000 flows");
            assert!((40_000..=40_999).contains(&p), "{p} out of range");
            assert!(taken.insert(p), "{p} given twice");
        }
        assert_eq!(pool.choose(0, Proto::Udp, 40_000, 1), None);
        assert_eq!(pool.alloc(0, Proto::Udp, 40_000, 1), None);
    }
}
