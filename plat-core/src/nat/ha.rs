//! High availability: the bulk dump an active shard sends a (re)joining
//! standby, and the standby applying the active node's records.

use super::event::{BibRec, BlockRec, Record, SessionRec};
use super::session::{h_bib4, h_bib6, Bib, Session, F_HAIRPIN, F_HELD, F_IN_V6, NIL};
use super::shard::{Shard, ShardError};
use super::timers::{class_of_state, push_back};
use super::{Endpoint4, Proto, Time, Tuple4};

impl Shard {
    /// Every live BIB entry and session as create records, for a standby
    /// (re)joining: the bulk dump.
    pub fn dump(&self, now: Time, out: &mut Vec<Record>) {
        let t = now.secs();
        // Port blocks first: the BIB entries in them follow.
        for (sub, record) in self.subscribers.slab.iter().enumerate() {
            if !record.live || self.subscribers.blocks.is_empty() {
                continue;
            }
            for proto in Proto::ALL {
                let n = usize::from(record.nblocks[proto.index()]);
                for &(a, k) in &self.subscribers.blocks[sub][proto.index()][..n] {
                    out.push(Record::BlockAlloc(
                        self.block_rec(sub as u32, proto, a, k, t),
                    ));
                }
            }
        }
        for bi in 0..self.bibs.len() as u32 {
            if self.bibs[bi as usize].proto != super::session::FREE {
                out.push(Record::BibCreate(self.bib_rec(bi, t)));
            }
        }
        for i in 0..self.sessions.len() as u32 {
            let s = &self.sessions[i as usize];
            if s.is_live() && s.flags & F_HELD == 0 {
                out.push(Record::SessionCreate(self.session_rec(i, s.stamp)));
            }
        }
    }

    /// Applies one sync record from the active node. A standby shard
    /// mirrors the active one's BIB entries and sessions with the active
    /// node's mappings; it allocates nothing itself. Records are
    /// idempotent where that is cheap (a create for an existing entry
    /// updates it). Port-block records are not mirrored yet: block
    /// ownership is rebuilt from the BIB entries' ports only.
    pub fn apply(&mut self, r: &Record) -> Result<(), ShardError> {
        match r {
            Record::BibCreate(b) => self.apply_bib(b),
            Record::BibDelete(b) => {
                let h = h_bib4(self.key, b.proto, u32::from(b.v4.addr), b.v4.port);
                if let Some(bi) = self.find_bib4(h, b.proto, b.v4) {
                    self.delete_bib(bi, b.time);
                }
                Ok(())
            }
            Record::SessionCreate(rec) => self.apply_session(rec),
            Record::SessionDelete(rec) => {
                if let Some(i) = self.find_key4(rec.proto, rec.v4, rec.remote) {
                    self.delete_session(i, rec.time);
                }
                Ok(())
            }
            Record::StateChange { time, key, state } => {
                if let Some(i) = self.find_key4(key.proto, key.v4, key.remote) {
                    self.sessions[i as usize].state = *state as u8;
                    self.set_timer(i, class_of_state(key.proto, *state), *time);
                }
                Ok(())
            }
            Record::Refresh { time, key } => {
                if let Some(i) = self.find_key4(key.proto, key.v4, key.remote) {
                    self.refresh(i, *time);
                }
                Ok(())
            }
            Record::BlockAlloc(b) => self.apply_block(b),
            Record::BlockFree(b) => {
                let src = b.subscriber.octets();
                if let (Some(a), Some(sub)) = (self.pool.idx(b.v4), self.subscribers.find(&src)) {
                    if self.pool.block_of_k(a, b.proto, b.block) == Some(sub) {
                        self.subscribers.remove_block(sub, b.proto, a, b.block);
                        self.pool.free_block(a, b.proto, b.block);
                        self.subscribers.release_if_idle(sub);
                    }
                }
                Ok(())
            }
            Record::AddressesExhausted { .. }
            | Record::PortsExhausted { .. }
            | Record::QuotaExceeded { .. } => Ok(()),
        }
    }

    pub(super) fn find_key4(&self, proto: Proto, v4: Endpoint4, remote: Endpoint4) -> Option<u32> {
        let t = Tuple4 {
            proto,
            src: remote.addr,
            sport: remote.port,
            dst: v4.addr,
            dport: v4.port,
        };
        self.peek_v4(&t).map(|i| i.id.0)
    }

    /// The active node gave a port block to a subscriber: the same block
    /// here. (The paired address needs no record: both nodes pick it by
    /// rendezvous hashing over the same pool4, which the pair checks.)
    fn apply_block(&mut self, b: &BlockRec) -> Result<(), ShardError> {
        let a = self.pool.idx(b.v4).ok_or(ShardError::NotInPool(b.v4))?;
        let sub = self
            .subscribers
            .get_or_create(&b.subscriber.octets())
            .ok_or(ShardError::BibFull)?;
        if self.pool.block_of_k(a, b.proto, b.block) == Some(sub) {
            return Ok(());
        }
        if !self.pool.claim_block(a, b.proto, b.block, sub) {
            self.subscribers.release_if_idle(sub);
            return Err(ShardError::PortUnavailable {
                proto: b.proto,
                v4: Endpoint4::new(b.v4, b.first),
            });
        }
        self.subscribers.add_block(sub, b.proto, a, b.block);
        Ok(())
    }

    pub(super) fn apply_bib(&mut self, b: &BibRec) -> Result<(), ShardError> {
        let h4 = h_bib4(self.key, b.proto, u32::from(b.v4.addr), b.v4.port);
        if self.find_bib4(h4, b.proto, b.v4).is_some() {
            return Ok(());
        }
        if b.is_static {
            return self.add_static_bib(b.proto, b.v6, b.v4, Time::from_secs(u64::from(b.time)));
        }
        let src = b.v6.addr.octets();
        let pi = self
            .pool
            .idx(b.v4.addr)
            .ok_or(ShardError::NotInPool(b.v4.addr))?;
        if self.free_bib == NIL {
            return Err(ShardError::BibFull);
        }
        let sub = self
            .subscribers
            .get_or_create(&src)
            .ok_or(ShardError::BibFull)?;
        if !self.pool.reserve_dynamic(pi, b.proto, b.v4.port) {
            self.subscribers.release_if_idle(sub);
            return Err(ShardError::PortUnavailable {
                proto: b.proto,
                v4: b.v4,
            });
        }
        let bi = self.free_bib;
        self.free_bib = self.bibs[bi as usize].head;
        self.bibs[bi as usize] = Bib {
            src6: src,
            addr4: u32::from(b.v4.addr),
            sport: b.v6.port,
            port4: b.v4.port,
            proto: b.proto as u8,
            is_static: false,
            pool: pi,
            head: NIL,
        };
        let h6 = h_bib6(self.key, b.proto, &src, b.v6.port);
        if !self.bib6.insert(h6, bi) || !self.bib4.insert(h4, bi) {
            self.bib6.remove(h6, bi);
            self.pool.release_static(pi, b.proto, b.v4.port);
            self.bibs[bi as usize] = Bib::EMPTY;
            self.bibs[bi as usize].head = self.free_bib;
            self.free_bib = bi;
            self.subscribers.release_if_idle(sub);
            return Err(ShardError::BibFull);
        }
        self.subscribers.add_port(sub, b.proto);
        self.stats.bib_added(b.proto);
        Ok(())
    }

    pub(super) fn apply_session(&mut self, rec: &SessionRec) -> Result<(), ShardError> {
        let class = class_of_state(rec.proto, rec.state);
        if let Some(i) = self.find_key4(rec.proto, rec.v4, rec.remote) {
            self.sessions[i as usize].state = rec.state as u8;
            self.set_timer(i, class, rec.time);
            return Ok(());
        }
        let h4b = h_bib4(self.key, rec.proto, u32::from(rec.v4.addr), rec.v4.port);
        let Some(bi) = self.find_bib4(h4b, rec.proto, rec.v4) else {
            return Err(ShardError::NoBib {
                proto: rec.proto,
                v4: rec.v4,
            });
        };
        if self.free_session == NIL {
            return Err(ShardError::BibFull);
        }
        let src6 = self.bibs[bi as usize].src6;
        let sub = self
            .subscribers
            .get_or_create(&src6)
            .ok_or(ShardError::BibFull)?;
        let icmp = rec.proto == Proto::Icmp;
        let i = self.free_session;
        self.free_session = self.sessions[i as usize].t_next;
        // Keep the list in stamp order: a record older than the tail is
        // stamped as the tail (it lives a little longer, never shorter).
        let tail = self.timers[class as usize].tail;
        let stamp = if tail == NIL {
            rec.time
        } else {
            rec.time.max(self.sessions[tail as usize].stamp)
        };
        self.sessions[i as usize] = Session {
            prefix: 0,
            src6,
            dst4: u32::from(rec.remote.addr),
            addr4: u32::from(rec.v4.addr),
            sport: rec.v6.port,
            dport: if icmp { 0 } else { rec.remote.port },
            port4: rec.v4.port,
            proto: rec.proto as u8,
            state: rec.state as u8,
            class: class as u8,
            flags: F_IN_V6
                | if self.pool.contains(rec.remote.addr) {
                    F_HAIRPIN
                } else {
                    0
                },
            bib: bi,
            t_prev: NIL,
            t_next: NIL,
            b_prev: NIL,
            b_next: NIL,
            stamp,
        };
        let (h6, h4) = (
            self.sessions[i as usize].h6(self.key),
            self.sessions[i as usize].h4(self.key),
        );
        if !self.sess6.insert(h6, i) {
            self.free_slot(i);
            self.subscribers.release_if_idle(sub);
            return Err(ShardError::BibFull);
        }
        if !self.sess4.insert(h4, i) {
            self.sess6.remove(h6, i);
            self.free_slot(i);
            self.subscribers.release_if_idle(sub);
            return Err(ShardError::BibFull);
        }
        self.bib_link(bi, i);
        push_back(&mut self.timers[class as usize], &mut self.sessions, i);
        self.subscribers.add_session(sub);
        self.stats.session_added(rec.proto);
        Ok(())
    }
}
