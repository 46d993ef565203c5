//! The BIB (RFC 6146 3.1): creating an entry for a new (X',x), linking
//! its sessions, deleting it with them, and static entries (port
//! forwarding).

use super::event::Record;
use super::session::{h_bib4, h_bib6, Bib, NIL};
use super::shard::{Shard, ShardError};
use super::{Endpoint4, Endpoint6, NatDrop, Proto, Time, Tuple6};

impl Shard {
    /// Allocates (T,t) for (X',x) of `t` (BIB hash `hb`) and creates the
    /// BIB entry; `dport` is the session's remote port.
    pub(super) fn bib_create(
        &mut self,
        sub: u32,
        hb: u32,
        t: &Tuple6,
        dport: u16,
        now_s: u32,
    ) -> Result<u32, NatDrop> {
        if self.free_bib == NIL {
            return Err(NatDrop::TableFull);
        }
        let (proto, src, sport) = (t.proto, t.src.octets(), t.sport);
        let (pi, port4) = self.alloc_port(sub, proto, sport, hb, now_s)?;
        let addr4 = u32::from(self.pool.addr(pi));
        // What the inserts below touch, in flight together (where the
        // prefetch stage guessed the port right, already there).
        let h4 = self.prefetch_v4_side(proto, (u32::from(t.dst), dport), (addr4, port4));
        let bi = self.free_bib;
        self.free_bib = self.bibs[bi as usize].head;
        self.bibs[bi as usize] = Bib {
            src6: src,
            addr4,
            sport,
            port4,
            proto: proto as u8,
            is_static: false,
            pool: pi,
            head: NIL,
        };
        if !self.bib6.insert(hb, bi) || !self.bib4.insert(h4, bi) {
            self.bib6.remove(hb, bi);
            self.release_port(pi, proto, port4, &src, now_s);
            self.bibs[bi as usize] = Bib::EMPTY;
            self.bibs[bi as usize].head = self.free_bib;
            self.free_bib = bi;
            return Err(NatDrop::TableFull);
        }
        self.subscribers.add_port(sub, proto);
        self.stats.bib_added(proto);
        self.stats.bibs_created += 1;
        self.emit_binding(|shard| Record::BibCreate(shard.bib_rec(bi, now_s)));
        Ok(bi)
    }

    pub(super) fn bib_link(&mut self, bi: u32, i: u32) {
        let head = self.bibs[bi as usize].head;
        self.sessions[i as usize].b_prev = NIL;
        self.sessions[i as usize].b_next = head;
        if head != NIL {
            self.sessions[head as usize].b_prev = i;
        }
        self.bibs[bi as usize].head = i;
    }

    pub(super) fn bib_unlink(&mut self, bi: u32, i: u32) {
        let (p, n) = (
            self.sessions[i as usize].b_prev,
            self.sessions[i as usize].b_next,
        );
        if p == NIL {
            self.bibs[bi as usize].head = n;
        } else {
            self.sessions[p as usize].b_next = n;
        }
        if n != NIL {
            self.sessions[n as usize].b_prev = p;
        }
    }

    pub(super) fn delete_bib(&mut self, bi: u32, now_s: u32) {
        while self.bibs[bi as usize].head != NIL {
            let i = self.bibs[bi as usize].head;
            // Deleting the last session would recurse into us; detach first.
            self.bib_unlink(bi, i);
            self.sessions[i as usize].bib = NIL;
            self.delete_session(i, now_s);
        }
        let b = self.bibs[bi as usize];
        self.bib6.remove(b.h6(self.key), bi);
        self.bib4.remove(b.h4(self.key), bi);
        self.emit_binding(|shard| Record::BibDelete(shard.bib_rec(bi, now_s)));
        let proto = b.proto();
        if b.is_static {
            self.pool.release_static(b.pool, proto, b.port4);
        } else {
            self.subscribers.remove_port(&b.src6, proto);
            self.release_port(b.pool, proto, b.port4, &b.src6, now_s);
            self.subscribers.release_idle(&b.src6);
        }
        self.bibs[bi as usize] = Bib::EMPTY;
        self.bibs[bi as usize].head = self.free_bib;
        self.free_bib = bi;
        self.stats.bib_removed(proto);
    }

    /// Adds a static BIB entry (port forwarding): IPv4-initiated traffic
    /// to `v4` reaches `v6`. `v4` must be a pool4 transport address in this
    /// worker's share (the control plane asks the owner, see `rss`).
    pub fn add_static_bib(
        &mut self,
        proto: Proto,
        v6: Endpoint6,
        v4: Endpoint4,
        now: Time,
    ) -> Result<(), ShardError> {
        let src = v6.addr.octets();
        let hb6 = h_bib6(self.key, proto, &src, v6.port);
        let hb4 = h_bib4(self.key, proto, u32::from(v4.addr), v4.port);
        if self.find_bib6(hb6, proto, &src, v6.port).is_some() {
            return Err(ShardError::BibExists(v6.to_string(), proto));
        }
        if self.find_bib4(hb4, proto, v4).is_some() {
            return Err(ShardError::BibExists(v4.to_string(), proto));
        }
        let pi = self
            .pool
            .idx(v4.addr)
            .ok_or(ShardError::NotInPool(v4.addr))?;
        if self.free_bib == NIL {
            return Err(ShardError::BibFull);
        }
        if !self.pool.reserve(pi, proto, v4.port) {
            return Err(ShardError::PortUnavailable { proto, v4 });
        }
        let bi = self.free_bib;
        self.free_bib = self.bibs[bi as usize].head;
        self.bibs[bi as usize] = Bib {
            src6: src,
            addr4: u32::from(v4.addr),
            sport: v6.port,
            port4: v4.port,
            proto: proto as u8,
            is_static: true,
            pool: pi,
            head: NIL,
        };
        if !self.bib6.insert(hb6, bi) || !self.bib4.insert(hb4, bi) {
            self.bib6.remove(hb6, bi);
            self.pool.release_static(pi, proto, v4.port);
            self.bibs[bi as usize] = Bib::EMPTY;
            self.bibs[bi as usize].head = self.free_bib;
            self.free_bib = bi;
            return Err(ShardError::BibFull);
        }
        self.stats.bib_added(proto);
        self.emit_binding(|shard| Record::BibCreate(shard.bib_rec(bi, now.secs())));
        Ok(())
    }

    /// Removes a static BIB entry and its sessions.
    pub fn remove_static_bib(
        &mut self,
        proto: Proto,
        v4: Endpoint4,
        now: Time,
    ) -> Result<(), ShardError> {
        let hb4 = h_bib4(self.key, proto, u32::from(v4.addr), v4.port);
        match self.find_bib4(hb4, proto, v4) {
            Some(bi) if self.bibs[bi as usize].is_static => {
                self.delete_bib(bi, now.secs());
                Ok(())
            }
            _ => Err(ShardError::NoStaticBib { proto, v4 }),
        }
    }

    /// The BIB entry of (X',x) = (`src`, `port`), hashed `h`.
    #[inline(always)]
    pub(super) fn find_bib6(&self, h: u32, proto: Proto, src: &[u8; 16], port: u16) -> Option<u32> {
        self.bib6.find(h, |j| {
            let bib = &self.bibs[j as usize];
            bib.src6 == *src && bib.sport == port && bib.proto == proto as u8
        })
    }

    /// The BIB entry of (T,t) = `v4`, hashed `h`.
    #[inline(always)]
    pub(super) fn find_bib4(&self, h: u32, proto: Proto, v4: Endpoint4) -> Option<u32> {
        self.bib4.find(h, |j| {
            let bib = &self.bibs[j as usize];
            bib.addr4 == u32::from(v4.addr) && bib.port4 == v4.port && bib.proto == proto as u8
        })
    }
}
