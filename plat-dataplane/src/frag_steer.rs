//! IPv4 fragments to the worker that owns their session (RFC 6146 3.4
//! with port-partitioned workers).
//!
//! An IPv4 packet's owner is the worker of its pool port, and only the
//! first fragment of a datagram carries the port. So every IPv4 fragment
//! goes first to its datagram's *director*, a worker chosen by a hash of
//! (source, destination, protocol, identification) that every fragment
//! shares. The director learns the owner from the first fragment and
//! hands the others after it; fragments that come before the first wait
//! there (RFC 6146 3.4's FRAGMENT_MIN) in a [`FragStore`]. The owner then
//! translates them as its NAT64 does any fragment. IPv6 fragments need
//! none of this: their owner is their source's worker, which every
//! fragment names. One worker (or no handoff mesh): no director.

use std::collections::HashMap;

use plat_core::frag::{FragDrop, FragKey, FragLimits, FragStore, Later};
use plat_core::nat::Time;
use plat_core::wire::ipv4;

use crate::dpdk::mbuf::Mbuf;

/// Fragments one director keeps waiting at most.
pub const MAX_DIRECTOR_WAITING: usize = 1024;

/// A waiting fragment is charged at least this many bytes against the
/// store's bounds: it holds a whole mbuf, whatever it carries.
const MIN_CHARGE: u32 = 512;

/// What the director does with a fragment.
#[derive(Debug)]
pub enum Direct {
    /// Hand it to this worker (its owner; maybe this one).
    To(usize, Mbuf),
    /// Kept waiting for its first.
    Waits,
    /// Dropped: no room to track or keep it.
    Drop(FragDrop),
}

/// The fields of an IPv4 fragment the director reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct V4Fragment {
    /// Its datagram.
    pub key: FragKey,
    /// Offset zero: it carries the ports.
    pub first: bool,
    /// Bytes of the datagram it carries.
    pub len: u32,
}

impl V4Fragment {
    /// The fragment fields of the IPv4 packet `l3`, if it is a fragment.
    pub fn of(l3: &[u8]) -> Option<V4Fragment> {
        let h = l3.get(..ipv4::MIN_HEADER_LEN)?;
        let flags_frag = u16::from_be_bytes([h[6], h[7]]);
        if flags_frag & (ipv4::FLAG_MF | ipv4::OFFSET_MASK) == 0 {
            return None;
        }
        let addr = |at: usize| {
            let mut a = [0u8; 16];
            a[10] = 0xff;
            a[11] = 0xff;
            a[12..].copy_from_slice(&h[at..at + 4]);
            a
        };
        let total = u32::from(u16::from_be_bytes([h[2], h[3]]));
        let hlen = u32::from(ipv4::header_len_of(h[0]) as u16);
        Some(V4Fragment {
            key: FragKey {
                src: addr(ipv4::OFFSET_SRC),
                dst: addr(ipv4::OFFSET_DST),
                proto: h[ipv4::OFFSET_PROTOCOL],
                ident: u32::from(u16::from_be_bytes([h[4], h[5]])),
            },
            first: flags_frag & ipv4::OFFSET_MASK == 0,
            len: total.saturating_sub(hlen),
        })
    }

    /// The director of its datagram among `workers`: the same for every
    /// fragment of it.
    pub fn director(&self, workers: usize) -> usize {
        let k = &self.key;
        let word = |a: &[u8; 16]| u32::from_be_bytes([a[12], a[13], a[14], a[15]]);
        let mut h = word(&k.src).wrapping_mul(0x9e37_79b1);
        h ^= word(&k.dst).wrapping_mul(0x85eb_ca77);
        h ^= (k.ident << 8 | u32::from(k.proto)).wrapping_mul(0xc2b2_ae3d);
        h ^= h >> 15;
        (h as usize) % workers.max(1)
    }
}

/// One worker's director state.
#[derive(Debug)]
pub struct Director {
    store: FragStore<u16>,
    next_token: u32,
    waiting: HashMap<u32, Mbuf>,
    tokens: Vec<u32>,
}

impl Director {
    /// A director with nothing waiting.
    pub fn new() -> Director {
        Director {
            store: FragStore::new(FragLimits::default()),
            next_token: 0,
            waiting: HashMap::new(),
            tokens: Vec::new(),
        }
    }

    /// Directs the fragment `f` in `m`; `owner` names the owner of a
    /// first fragment (from its port).
    pub fn direct(&mut self, f: &V4Fragment, m: Mbuf, owner: usize, now: Time) -> Direct {
        if f.first {
            self.store.first(f.key, owner as u16, now);
            return Direct::To(owner, m);
        }
        if self.waiting.len() >= MAX_DIRECTOR_WAITING {
            return Direct::Drop(FragDrop::WaitingBytes);
        }
        self.next_token = self.next_token.wrapping_add(1);
        let token = self.next_token;
        match self
            .store
            .later(f.key, token, f.len.max(MIN_CHARGE), None, now)
        {
            Later::Follow(o) => Direct::To(usize::from(o), m),
            Later::Wait => {
                self.waiting.insert(token, m);
                Direct::Waits
            }
            Later::Drop(d) => Direct::Drop(d),
        }
    }

    /// Fragments whose first came, to direct again now (in arrival order).
    pub fn ready(&mut self, out: &mut Vec<Mbuf>) {
        if !self.store.has_ready() {
            return;
        }
        self.store.take_ready(&mut self.tokens);
        out.extend(
            self.tokens
                .drain(..)
                .filter_map(|t| self.waiting.remove(&t)),
        );
    }

    /// Drops fragments that waited FRAGMENT_MIN for their first in vain;
    /// returns how many.
    pub fn expire(&mut self, now: Time) -> usize {
        self.store.expire(now, &mut self.tokens);
        let n = self.tokens.len();
        for t in self.tokens.drain(..) {
            self.waiting.remove(&t);
        }
        n
    }
}

impl Default for Director {
    fn default() -> Self {
        Director::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frag4(ident: u16, offset: u16, more: bool, src: u8) -> Vec<u8> {
        let mut h = vec![0u8; 28];
        h[0] = 0x45;
        h[2..4].copy_from_slice(&28u16.to_be_bytes());
        h[4..6].copy_from_slice(&ident.to_be_bytes());
        let ff = offset | if more { ipv4::FLAG_MF } else { 0 };
        h[6..8].copy_from_slice(&ff.to_be_bytes());
        h[9] = 17;
        h[12..16].copy_from_slice(&[203, 0, 113, src]);
        h[16..20].copy_from_slice(&[198, 51, 100, 1]);
        h
    }

    #[test]
    fn every_fragment_of_a_datagram_has_one_director() {
        let first = V4Fragment::of(&frag4(7, 0, true, 2)).unwrap();
        let mid = V4Fragment::of(&frag4(7, 185, true, 2)).unwrap();
        let last = V4Fragment::of(&frag4(7, 370, false, 2)).unwrap();
        assert!(first.first && !mid.first && !last.first);
        assert_eq!(first.len, 8);
        for w in 1..8 {
            assert_eq!(first.director(w), mid.director(w));
            assert_eq!(first.director(w), last.director(w));
        }
        // Datagrams spread over the workers.
        let mut seen = [false; 4];
        for id in 0..64 {
            seen[V4Fragment::of(&frag4(id, 0, true, 2)).unwrap().director(4)] = true;
        }
        assert_eq!(seen, [true; 4]);
    }

    #[test]
    fn whole_packets_are_not_fragments() {
        assert!(V4Fragment::of(&frag4(7, 0, false, 2)).is_none());
        assert!(V4Fragment::of(&[0x45, 0, 0]).is_none());
    }
}
