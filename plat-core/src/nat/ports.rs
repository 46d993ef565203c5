//! Port allocation (RFC 6146 3.5.1.1, RFC 6888 REQ-2/REQ-4): the
//! subscriber's paired pool4 address, port by port or in port blocks.

use super::event::{Alarm, Record};
use super::limits::NO_POOL;
use super::shard::Shard;
use super::{NatDrop, Proto};

impl Shard {
    /// The subscriber's paired address (RFC 6888 REQ-2: "A CGN MUST have a
    /// default 'IP address pooling' behavior of 'Paired'"), chosen once.
    pub(super) fn paired(&mut self, sub: u32) -> Option<u16> {
        let record = &self.subscribers.slab[sub as usize];
        if record.pool != NO_POOL && self.pool.get(record.pool).is_some() {
            return Some(record.pool);
        }
        let p = self.pool.paired(&record.prefix)?;
        self.subscribers.slab[sub as usize].pool = p;
        Some(p)
    }

    /// The address and port [`Shard::alloc_port`] would give subscriber
    /// `sub` now, if that is plain to see (port-by-port allocation from
    /// the address it is already paired with), changing nothing.
    #[inline]
    pub(super) fn likely_port(
        &self,
        sub: u32,
        proto: Proto,
        want: u16,
        salt: u32,
    ) -> Option<(u32, u16)> {
        let record = &self.subscribers.slab[sub as usize];
        if self.cfg.port_block != 0 || record.pool == NO_POOL {
            return None;
        }
        let port = self.pool.choose(record.pool, proto, want, salt)?;
        Some((u32::from(self.pool.addr(record.pool)), port))
    }

    /// A port for subscriber `sub`'s flow from port `want`; `salt` is the
    /// flow's BIB hash (see [`Pool4::alloc`]).
    pub(super) fn alloc_port(
        &mut self,
        sub: u32,
        proto: Proto,
        want: u16,
        salt: u32,
        now_s: u32,
    ) -> Result<(u16, u16), NatDrop> {
        if self.cfg.port_block != 0 {
            return self.alloc_port_block(sub, proto, want, now_s);
        }
        self.subscribers.admit_port(sub, proto, &self.cfg.limits)?;
        let paired = self.paired(sub).ok_or(NatDrop::PoolExhausted)?;
        if let Some(p) = self.pool.alloc(paired, proto, want, salt) {
            return Ok((paired, p));
        }
        // Paired address exhausted: fall back, and count it.
        self.ports_exhausted(paired, proto, now_s);
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
        sub: u32,
        proto: Proto,
        want: u16,
        now_s: u32,
    ) -> Result<(u16, u16), NatDrop> {
        let pi = proto.index();
        let record = self.subscribers.slab[sub as usize];
        let list = self.subscribers.blocks[sub as usize][pi];
        for &(a, k) in &list[..usize::from(record.nblocks[pi])] {
            if let Some(p) = self.pool.alloc_in_block(a, proto, k, want) {
                return Ok((a, p));
            }
        }
        self.subscribers
            .admit_block(sub, proto, &self.cfg.limits, self.cfg.port_block)?;
        let paired = self.paired(sub).ok_or(NatDrop::PoolExhausted)?;
        let a = if self.pool.free_blocks(paired, proto) > 0 {
            paired
        } else {
            self.ports_exhausted(paired, proto, now_s);
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
            .alloc_block(a, proto, sub)
            .ok_or(NatDrop::PoolExhausted)?;
        self.subscribers.add_block(sub, proto, a, k);
        self.emit(|shard| Record::BlockAlloc(shard.block_rec(sub, proto, a, k, now_s)));
        match self.pool.alloc_in_block(a, proto, k, want) {
            Some(p) => Ok((a, p)),
            None => {
                // Every port of the fresh block is a static BIB entry.
                self.subscribers.remove_block(sub, proto, a, k);
                self.pool.free_block(a, proto, k);
                Err(NatDrop::PoolExhausted)
            }
        }
    }

    #[cold]
    fn ports_exhausted(&mut self, a: u16, proto: Proto, now_s: u32) {
        self.alarm(Alarm::PortsExhausted, now_s, |shard| {
            Record::PortsExhausted {
                time: now_s,
                proto,
                v4: shard.pool.addr(a),
            }
        });
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
            if let Some(sub) = self.subscribers.find(src6) {
                self.emit(|shard| Record::BlockFree(shard.block_rec(sub, proto, pi, k, now_s)));
                self.subscribers.remove_block(sub, proto, pi, k);
                self.pool.free_block(pi, proto, k);
                self.subscribers.release_if_idle(sub);
            } else {
                self.pool.free_block(pi, proto, k);
            }
        }
    }
}
