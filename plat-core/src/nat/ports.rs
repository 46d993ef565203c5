//! Port allocation (RFC 6146 3.5.1.1, RFC 6888 REQ-2/REQ-4): the
//! subscriber's paired pool4 address, port by port or in port blocks.

use super::limits::NO_POOL;
use super::shard::Shard;
use super::{NatDrop, Proto};
use crate::sync::Record;

impl Shard {
    /// The subscriber's paired address (RFC 6888 REQ-2: "A CGN MUST have a
    /// default 'IP address pooling' behavior of 'Paired'"), chosen once.
    pub(super) fn paired(&mut self, si: u32) -> Option<u16> {
        let sub = &self.subscribers.slab[si as usize];
        if sub.pool != NO_POOL && self.pool.get(sub.pool).is_some() {
            return Some(sub.pool);
        }
        let p = self.pool.paired(&sub.prefix)?;
        self.subscribers.slab[si as usize].pool = p;
        Some(p)
    }

    /// The address and port [`Shard::alloc_port`] would give subscriber
    /// `si` now, if that is plain to see (port-by-port allocation from
    /// the address it is already paired with), changing nothing.
    #[inline]
    pub(super) fn likely_port(
        &self,
        si: u32,
        proto: Proto,
        want: u16,
        salt: u32,
    ) -> Option<(u32, u16)> {
        let sub = &self.subscribers.slab[si as usize];
        if self.cfg.port_block != 0 || sub.pool == NO_POOL {
            return None;
        }
        let port = self.pool.choose(sub.pool, proto, want, salt)?;
        Some((u32::from(self.pool.addr(sub.pool)), port))
    }

    /// A port for subscriber `si`'s flow from port `want`; `salt` is the
    /// flow's BIB hash (see [`Pool4::alloc`]).
    pub(super) fn alloc_port(
        &mut self,
        si: u32,
        proto: Proto,
        want: u16,
        salt: u32,
        now_s: u32,
    ) -> Result<(u16, u16), NatDrop> {
        if self.cfg.port_block != 0 {
            return self.alloc_port_block(si, proto, want, now_s);
        }
        // RFC 6888 REQ-4: "A CGN MUST support limiting the number of
        // external ports (or, equivalently, 'identifiers' for ICMP) that
        // are assigned per subscriber."
        let cap = self.cfg.limits.ports_per_subscriber;
        if cap != 0 && self.subscribers.slab[si as usize].ports[proto.index()] >= cap {
            return Err(NatDrop::SubscriberPortLimit);
        }
        let paired = self.paired(si).ok_or(NatDrop::PoolExhausted)?;
        if let Some(p) = self.pool.alloc(paired, proto, want, salt) {
            return Ok((paired, p));
        }
        // Paired address exhausted: fall back, and count it.
        let other = self
            .pool
            .others(paired)
            .find(|&j| self.pool.free_ports(j, proto) > 0)
            .ok_or(NatDrop::PoolExhausted)?;
        let p = self
            .pool
            .alloc(other, proto, want, salt)
            .ok_or(NatDrop::PoolExhausted)?;
        self.stats.paired_fallback += 1;
        Ok((other, p))
    }

    pub(super) fn alloc_port_block(
        &mut self,
        si: u32,
        proto: Proto,
        want: u16,
        now_s: u32,
    ) -> Result<(u16, u16), NatDrop> {
        let pi = proto.index();
        let sub = self.subscribers.slab[si as usize];
        let list = self.subscribers.blocks[si as usize][pi];
        for &(a, k) in &list[..usize::from(sub.nblocks[pi])] {
            if let Some(p) = self.pool.alloc_in_block(a, proto, k, want) {
                return Ok((a, p));
            }
        }
        let block = u32::from(self.cfg.port_block);
        let max = self.cfg.limits.ports_per_subscriber.div_ceil(block);
        if u32::from(sub.nblocks[pi]) >= max {
            return Err(NatDrop::SubscriberPortLimit);
        }
        let paired = self.paired(si).ok_or(NatDrop::PoolExhausted)?;
        let a = if self.pool.free_blocks(paired, proto) > 0 {
            paired
        } else {
            let o = self
                .pool
                .others(paired)
                .find(|&j| self.pool.free_blocks(j, proto) > 0)
                .ok_or(NatDrop::PoolExhausted)?;
            self.stats.paired_fallback += 1;
            o
        };
        let k = self
            .pool
            .alloc_block(a, proto, si)
            .ok_or(NatDrop::PoolExhausted)?;
        let sub = &mut self.subscribers.slab[si as usize];
        let at = usize::from(sub.nblocks[pi]);
        sub.nblocks[pi] += 1;
        self.subscribers.blocks[si as usize][pi][at] = (a, k);
        if self.events_on() {
            let rec = self.block_rec(si, proto, a, k, now_s);
            self.emit(Record::BlockAlloc(rec));
        }
        match self.pool.alloc_in_block(a, proto, k, want) {
            Some(p) => Ok((a, p)),
            None => {
                // Every port of the fresh block is a static BIB entry.
                self.subscribers.remove_block(si, proto, a, k);
                self.pool.free_block(a, proto, k);
                Err(NatDrop::PoolExhausted)
            }
        }
    }

    pub(super) fn release_port(
        &mut self,
        pi: u16,
        proto: Proto,
        port: u16,
        src6: &[u8; 16],
        now_s: u32,
    ) {
        if let Some((k, true)) = self.pool.release(pi, proto, port) {
            if let Some(si) = self.subscribers.find(src6) {
                if self.events_on() {
                    let rec = self.block_rec(si, proto, pi, k, now_s);
                    self.emit(Record::BlockFree(rec));
                }
                self.subscribers.remove_block(si, proto, pi, k);
                self.pool.free_block(pi, proto, k);
                self.subscribers.release_if_idle(si);
            } else {
                self.pool.free_block(pi, proto, k);
            }
        }
    }
}
