//! RSS: the Toeplitz hash and the port-partitioning plan.
//!
//! Outside, the NIC hashes IPv4 packets on their destination (the pool4
//! address and port) and its redirection table (RETA) picks a queue, one
//! per worker. The plan computes, with the NIC's own key and RETA, which
//! worker every (pool address, port) returns to; each shard allocates
//! only from its own share, so return traffic needs no handoff. Inside,
//! the NIC hashes IPv6 on the source address (or its prefix), which keeps
//! one subscriber on one worker.
//!
//! How the NIC lays out the hash input when only some fields are hashed
//! differs between drivers: [`InputLayout::Compact`] concatenates the
//! selected fields, [`InputLayout::Zeroed`] keeps every field at its place
//! in the full tuple and zeroes the others. The dataplane should check the
//! plan against the hash the NIC reports in each mbuf at start-up.

use std::net::{Ipv4Addr, Ipv6Addr};
use std::sync::Arc;

use thiserror::Error;

use crate::nat::PortOwner;
pub use crate::nat::PortShare;

/// The Microsoft/DPDK default 40-byte RSS key.
pub const DEFAULT_KEY: [u8; 40] = [
    0x6d, 0x5a, 0x56, 0xda, 0x25, 0x5b, 0x0e, 0xc2, 0x41, 0x67, 0x25, 0x3d, 0x43, 0xa3, 0x8f, 0xb0,
    0xd0, 0xca, 0x2b, 0xcb, 0xae, 0x7b, 0x30, 0xb4, 0x77, 0xcb, 0x2d, 0xa3, 0x80, 0x30, 0xf2, 0x0c,
    0x6a, 0x42, 0xb7, 0x3b, 0xbe, 0xac, 0x01, 0xfa,
];

/// The Toeplitz hash, bit by bit (the reference definition): for every set
/// bit `i` of the input, XOR in the 32 key bits starting at bit `i`.
pub fn toeplitz_hash(key: &[u8], input: &[u8]) -> u32 {
    let mut h = 0u32;
    for (i, &byte) in input.iter().enumerate() {
        for b in 0..8 {
            if byte & (0x80 >> b) != 0 {
                h ^= key_window(key, i * 8 + b);
            }
        }
    }
    h
}

/// The 32 key bits starting at bit `bit` (zero past the key's end).
fn key_window(key: &[u8], bit: usize) -> u32 {
    let mut w = 0u64;
    for k in 0..5 {
        w = (w << 8) | u64::from(*key.get(bit / 8 + k).unwrap_or(&0));
    }
    (w >> (8 - bit % 8)) as u32
}

/// A table-driven Toeplitz hash for inputs up to a fixed length: one
/// 256-entry table per input byte.
#[derive(Clone, Debug)]
pub struct Toeplitz {
    tables: Vec<[u32; 256]>,
}

impl Toeplitz {
    pub fn new(key: &[u8], max_input: usize) -> Self {
        let tables = (0..max_input)
            .map(|i| {
                let mut t = [0u32; 256];
                for (v, e) in t.iter_mut().enumerate() {
                    for b in 0..8 {
                        if v & (0x80 >> b) != 0 {
                            *e ^= key_window(key, i * 8 + b);
                        }
                    }
                }
                t
            })
            .collect();
        Toeplitz { tables }
    }

    #[inline]
    pub fn hash(&self, input: &[u8]) -> u32 {
        input
            .iter()
            .zip(&self.tables)
            .fold(0, |h, (&b, t)| h ^ t[usize::from(b)])
    }
}

/// Which fields the outside NIC hashes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum OutsideFields {
    /// The L4 destination port only (`RTE_ETH_RSS_L4_DST_ONLY`).
    L4Dst,
    /// Destination address and port (`L3_DST_ONLY | L4_DST_ONLY`).
    L3DstL4Dst,
}

/// How the hashed fields are laid out in the Toeplitz input.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum InputLayout {
    /// The selected fields, concatenated in tuple order.
    Compact,
    /// The whole tuple (src addr, dst addr, src port, dst port) with the
    /// fields not selected set to zero.
    Zeroed,
}

#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum RssError {
    #[error("rss: the key has {0} bytes; at least 40 are needed")]
    ShortKey(usize),
    #[error("rss: the redirection table is empty")]
    EmptyReta,
    #[error("rss: {0} workers; 1..=1024 are supported")]
    Workers(usize),
    #[error("rss: RETA entry {index} names queue {queue}, but there are {workers} workers")]
    BadQueue {
        index: usize,
        queue: u16,
        workers: usize,
    },
}

/// The DPDK default RETA: entry `i` goes to queue `i % workers`.
pub fn round_robin_reta(size: usize, workers: usize) -> Vec<u16> {
    (0..size).map(|i| (i % workers.max(1)) as u16).collect()
}

/// Which worker each (pool address, port) and each subscriber belongs to.
#[derive(Clone, Debug)]
pub struct Plan {
    toeplitz: Toeplitz,
    reta: Vec<u16>,
    workers: usize,
    fields: OutsideFields,
    layout: InputLayout,
}

impl Plan {
    /// `reta[i]` is the queue (= worker) of RETA entry `i`; the NIC picks
    /// entry `hash % reta.len()`.
    pub fn new(
        key: &[u8],
        reta: Vec<u16>,
        workers: usize,
        fields: OutsideFields,
        layout: InputLayout,
    ) -> Result<Plan, RssError> {
        if key.len() < 40 {
            return Err(RssError::ShortKey(key.len()));
        }
        if reta.is_empty() {
            return Err(RssError::EmptyReta);
        }
        if workers == 0 || workers > 1024 {
            return Err(RssError::Workers(workers));
        }
        if let Some((index, &queue)) = reta
            .iter()
            .enumerate()
            .find(|(_, &q)| usize::from(q) >= workers)
        {
            return Err(RssError::BadQueue {
                index,
                queue,
                workers,
            });
        }
        Ok(Plan {
            toeplitz: Toeplitz::new(key, 36),
            reta,
            workers,
            fields,
            layout,
        })
    }

    pub fn workers(&self) -> usize {
        self.workers
    }

    /// The Toeplitz input for an IPv4 packet to (addr, port).
    pub fn outside_input(&self, addr: Ipv4Addr, port: u16) -> ([u8; 12], usize) {
        let mut b = [0u8; 12];
        let p = port.to_be_bytes();
        let a = addr.octets();
        match (self.layout, self.fields) {
            (InputLayout::Compact, OutsideFields::L4Dst) => {
                b[..2].copy_from_slice(&p);
                (b, 2)
            }
            (InputLayout::Compact, OutsideFields::L3DstL4Dst) => {
                b[..4].copy_from_slice(&a);
                b[4..6].copy_from_slice(&p);
                (b, 6)
            }
            (InputLayout::Zeroed, f) => {
                if f == OutsideFields::L3DstL4Dst {
                    b[4..8].copy_from_slice(&a);
                }
                b[10..12].copy_from_slice(&p);
                (b, 12)
            }
        }
    }

    /// The hash the outside NIC computes for a packet to (addr, port).
    pub fn outside_hash(&self, addr: Ipv4Addr, port: u16) -> u32 {
        let (b, n) = self.outside_input(addr, port);
        self.toeplitz.hash(&b[..n])
    }

    #[inline]
    fn queue(&self, hash: u32) -> usize {
        usize::from(self.reta[hash as usize % self.reta.len()])
    }

    /// The worker return traffic to (addr, port) lands on.
    pub fn worker_of(&self, addr: Ipv4Addr, port: u16) -> usize {
        self.queue(self.outside_hash(addr, port))
    }

    /// The inside rule: the worker an IPv6 packet from `src` lands on when
    /// the NIC hashes the source address, or its first `prefix_len` bits
    /// (DPDK's `RTE_ETH_RSS_L3_PRE*`; the other bits are taken as zero).
    pub fn inside_worker(&self, src: Ipv6Addr, prefix_len: u8) -> usize {
        let v = u128::from(src);
        let mask = match prefix_len {
            0 => 0,
            n if n >= 128 => !0,
            n => !0u128 << (128 - u32::from(n)),
        };
        self.queue(self.toeplitz.hash(&(v & mask).to_be_bytes()))
    }

    /// Ports of `range` at `addr` that each worker owns.
    pub fn shares(&self, addr: Ipv4Addr, first: u16, last: u16) -> Vec<u32> {
        let mut n = vec![0u32; self.workers];
        for p in first..=last {
            n[self.worker_of(addr, p)] += 1;
        }
        n
    }

    /// Worker `w`'s share, to hand to its shard.
    pub fn share(self: &Arc<Self>, worker: usize) -> PortShare {
        PortShare::Rss {
            plan: Arc::clone(self) as Arc<dyn PortOwner>,
            worker,
        }
    }
}

/// A plan answers a port share's one question: which worker return
/// traffic to (addr, port) lands on.
impl PortOwner for Plan {
    fn worker_of(&self, addr: Ipv4Addr, port: u16) -> usize {
        Plan::worker_of(self, addr, port)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::nat::Proto;

    fn v4_tuple(src: &str, dst: &str, sport: u16, dport: u16) -> Vec<u8> {
        let mut v = Vec::new();
        v.extend_from_slice(&src.parse::<Ipv4Addr>().unwrap().octets());
        v.extend_from_slice(&dst.parse::<Ipv4Addr>().unwrap().octets());
        v.extend_from_slice(&sport.to_be_bytes());
        v.extend_from_slice(&dport.to_be_bytes());
        v
    }

    fn v6_tuple(src: &str, dst: &str, sport: u16, dport: u16) -> Vec<u8> {
        let mut v = Vec::new();
        v.extend_from_slice(&src.parse::<Ipv6Addr>().unwrap().octets());
        v.extend_from_slice(&dst.parse::<Ipv6Addr>().unwrap().octets());
        v.extend_from_slice(&sport.to_be_bytes());
        v.extend_from_slice(&dport.to_be_bytes());
        v
    }

    // The Microsoft RSS verification suite, which DPDK's test_thash.c uses
    // for rte_softrss: (src, dst, sport, dport, L3 hash, L3+L4 hash).
    const V4: [(&str, &str, u16, u16, u32, u32); 5] = [
        (
            "66.9.149.187",
            "161.142.100.80",
            2794,
            1766,
            0x323e8fc2,
            0x51ccc178,
        ),
        (
            "199.92.111.2",
            "65.69.140.83",
            14230,
            4739,
            0xd718262a,
            0xc626b0ea,
        ),
        (
            "24.19.198.95",
            "12.22.207.184",
            12898,
            38024,
            0xd2d0a5de,
            0x5c2b394a,
        ),
        (
            "38.27.205.30",
            "209.142.163.6",
            48228,
            2217,
            0x82989176,
            0xafc7327f,
        ),
        (
            "153.39.163.191",
            "202.188.127.2",
            44251,
            1303,
            0x5d1809c5,
            0x10e828a2,
        ),
    ];
    const V6: [(&str, &str, u16, u16, u32, u32); 3] = [
        (
            "3ffe:2501:200:1fff::7",
            "3ffe:2501:200:3::1",
            2794,
            1766,
            0x2cc18cd5,
            0x40207d3d,
        ),
        (
            "3ffe:501:8::260:97ff:fe40:efab",
            "ff02::1",
            14230,
            4739,
            0x0f0c461c,
            0xdde51bbf,
        ),
        (
            "3ffe:1900:4545:3:200:f8ff:fe21:67cf",
            "fe80::200:f8ff:fe21:67cf",
            44251,
            38024,
            0x4b61e985,
            0x02d1feef,
        ),
    ];

    #[test]
    fn toeplitz_matches_published_ipv4_vectors() {
        let t = Toeplitz::new(&DEFAULT_KEY, 36);
        for (s, d, sp, dp, l3, l4) in V4 {
            let v = v4_tuple(s, d, sp, dp);
            assert_eq!(toeplitz_hash(&DEFAULT_KEY, &v[..8]), l3, "{s} -> {d}");
            assert_eq!(toeplitz_hash(&DEFAULT_KEY, &v), l4, "{s} -> {d}");
            assert_eq!(t.hash(&v[..8]), l3);
            assert_eq!(t.hash(&v), l4);
        }
    }

    #[test]
    fn toeplitz_matches_published_ipv6_vectors() {
        let t = Toeplitz::new(&DEFAULT_KEY, 36);
        for (s, d, sp, dp, l3, l4) in V6 {
            let v = v6_tuple(s, d, sp, dp);
            assert_eq!(toeplitz_hash(&DEFAULT_KEY, &v[..32]), l3, "{s} -> {d}");
            assert_eq!(toeplitz_hash(&DEFAULT_KEY, &v), l4, "{s} -> {d}");
            assert_eq!(t.hash(&v), l4);
        }
    }

    fn check_plan(fields: OutsideFields, layout: InputLayout) {
        let addrs: [Ipv4Addr; 3] = [
            Ipv4Addr::new(192, 0, 2, 1),
            Ipv4Addr::new(192, 0, 2, 2),
            Ipv4Addr::new(203, 0, 113, 77),
        ];
        for workers in [1usize, 2, 4, 8, 16] {
            let plan = Arc::new(
                Plan::new(
                    &DEFAULT_KEY,
                    round_robin_reta(128, workers),
                    workers,
                    fields,
                    layout,
                )
                .unwrap(),
            );
            let shares: Vec<PortShare> = (0..workers).map(|w| plan.share(w)).collect();
            for a in addrs {
                // Every port of every address goes to exactly one worker.
                for p in 0..=u16::MAX {
                    let owners = shares.iter().filter(|s| s.owns(Proto::Udp, a, p)).count();
                    assert_eq!(owners, 1, "{a}:{p} with {workers} workers");
                }
                let n = plan.shares(a, 1024, 65535);
                assert_eq!(n.iter().sum::<u32>(), 64512);
                let (min, max) = (*n.iter().min().unwrap(), *n.iter().max().unwrap());
                assert!(
                    f64::from(max - min) <= 0.10 * f64::from(max),
                    "{fields:?}/{layout:?} {workers} workers at {a}: {n:?}"
                );
            }
        }
    }

    #[test]
    fn plan_partitions_ports_l4_dst_compact() {
        check_plan(OutsideFields::L4Dst, InputLayout::Compact);
    }

    #[test]
    fn plan_partitions_ports_l3_l4_dst_compact() {
        check_plan(OutsideFields::L3DstL4Dst, InputLayout::Compact);
    }

    #[test]
    fn plan_partitions_ports_zeroed_layout() {
        check_plan(OutsideFields::L4Dst, InputLayout::Zeroed);
        check_plan(OutsideFields::L3DstL4Dst, InputLayout::Zeroed);
    }

    #[test]
    fn zeroed_layout_is_the_full_tuple_hash_with_zeros() {
        let plan = Plan::new(
            &DEFAULT_KEY,
            round_robin_reta(128, 4),
            4,
            OutsideFields::L3DstL4Dst,
            InputLayout::Zeroed,
        )
        .unwrap();
        let v = v4_tuple("0.0.0.0", "161.142.100.80", 0, 1766);
        assert_eq!(
            plan.outside_hash(Ipv4Addr::new(161, 142, 100, 80), 1766),
            toeplitz_hash(&DEFAULT_KEY, &v)
        );
    }

    #[test]
    fn inside_hash_keeps_a_subscriber_on_one_worker() {
        let plan = Plan::new(
            &DEFAULT_KEY,
            round_robin_reta(128, 8),
            8,
            OutsideFields::L4Dst,
            InputLayout::Compact,
        )
        .unwrap();
        // /128 subscribers: the hash sees only the source address, so no
        // destination or port can move a subscriber.
        let host: Ipv6Addr = "2001:db8:1:2::99".parse().unwrap();
        let w = plan.inside_worker(host, 128);
        let t = Toeplitz::new(&DEFAULT_KEY, 36);
        // A NIC that keeps the full tuple layout with only the source
        // selected zeroes the rest, which adds nothing to the hash.
        let v = v6_tuple("2001:db8:1:2::99", "::", 0, 0);
        assert_eq!(plan.queue(t.hash(&v)), w);
        // /64 subscribers with a prefix hash: every host of the /64 agrees.
        let w64 = plan.inside_worker("2001:db8:1:2::1".parse().unwrap(), 64);
        for h in 2..200u16 {
            let a = Ipv6Addr::new(0x2001, 0xdb8, 1, 2, h, 7, h, 1);
            assert_eq!(plan.inside_worker(a, 64), w64);
        }
        // And subscribers do spread over the workers.
        let mut seen = [false; 8];
        for s in 0..256u16 {
            seen[plan.inside_worker(Ipv6Addr::new(0x2001, 0xdb8, s, 0, 0, 0, 0, 1), 64)] = true;
        }
        assert!(seen.iter().all(|&x| x));
    }

    #[test]
    fn plan_rejects_bad_input() {
        assert_eq!(
            Plan::new(
                &[0; 8],
                vec![0],
                1,
                OutsideFields::L4Dst,
                InputLayout::Compact
            )
            .unwrap_err(),
            RssError::ShortKey(8)
        );
        assert!(matches!(
            Plan::new(
                &DEFAULT_KEY,
                vec![0, 3],
                2,
                OutsideFields::L4Dst,
                InputLayout::Compact
            ),
            Err(RssError::BadQueue { index: 1, .. })
        ));
    }
}
