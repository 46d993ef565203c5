//! Handoff rings: where the NIC cannot steer return traffic to the worker
//! that owns its session, the worker that received a packet passes it to
//! the owner through a single-producer single-consumer ring per ordered
//! pair of workers. Under `rss` steering only what the NIC cannot place by
//! port takes them (`nic_places_v4`, `nic_places_v6`).

use plat_core::wire::proto;

use crate::dpdk::eal::Eal;
use crate::dpdk::error::DpdkError;
use crate::dpdk::mbuf::MbufBurst;
use crate::dpdk::ring::{Ring, RingSync};

/// Slots per handoff ring: a few bursts of slack between two workers.
pub const HANDOFF_RING_SLOTS: u32 = 1024;

/// The rings between every ordered pair of `n` workers.
#[derive(Debug)]
pub struct HandoffMesh {
    workers: usize,
    /// `rings[from * workers + to]`; the diagonal is unused.
    rings: Vec<Option<Ring>>,
}

impl HandoffMesh {
    /// Creates the rings for `workers` workers (none for one worker).
    pub fn new(eal: &Eal, workers: usize, tag: &str) -> Result<HandoffMesh, DpdkError> {
        let mut rings = Vec::with_capacity(workers * workers);
        for from in 0..workers {
            for to in 0..workers {
                rings.push(if from == to {
                    None
                } else {
                    Some(Ring::new(
                        eal,
                        &format!("ho_{tag}_{from}_{to}"),
                        HANDOFF_RING_SLOTS,
                        RingSync::SingleProducerSingleConsumer,
                    )?)
                });
            }
        }
        Ok(HandoffMesh { workers, rings })
    }

    /// Number of workers the mesh joins.
    pub fn workers(&self) -> usize {
        self.workers
    }

    /// Moves what fits of `burst` to worker `to`; returns how many went.
    /// Only worker `from` may call this for a given `from`.
    #[inline]
    pub fn send<const N: usize>(&self, from: usize, to: usize, burst: &mut MbufBurst<N>) -> usize {
        match &self.rings[from * self.workers + to] {
            Some(r) => r.enqueue_burst(burst),
            None => 0,
        }
    }

    /// Fills `burst` with packets other workers handed to `to`, taking from
    /// each sender in turn. Only worker `to` may call this for its `to`.
    #[inline]
    pub fn receive<const N: usize>(&self, to: usize, burst: &mut MbufBurst<N>) -> usize {
        let mut n = 0;
        for from in 0..self.workers {
            if burst.is_full() {
                break;
            }
            if let Some(r) = &self.rings[from * self.workers + to] {
                n += r.dequeue_burst(burst);
            }
        }
        n
    }
}

impl Drop for HandoffMesh {
    fn drop(&mut self) {
        // Free what is still in flight before the rings go.
        let mut burst: MbufBurst<64> = MbufBurst::new();
        for r in self.rings.iter().flatten() {
            while r.dequeue_burst(&mut burst) > 0 {
                burst.clear();
            }
        }
    }
}

/// Whether an RSS NIC programmed from the rss plan puts this IPv4 packet
/// on its owner's queue: unfragmented TCP and UDP, hashed on the
/// destination port (`OUTSIDE_RSS`). ICMP, fragments and other protocols
/// land where the NIC's default puts them.
#[inline(always)]
pub(crate) fn nic_places_v4(l3: &[u8]) -> bool {
    let unfragmented = u16::from_be_bytes([l3[6], l3[7]]) & 0x3fff == 0;
    unfragmented && matches!(l3[9], proto::TCP | proto::UDP)
}

/// Whether an RSS NIC puts this IPv6 packet on its owner's queue: it
/// hashes the source address of IPv6 without extension headers
/// (`INSIDE_RSS`); a Fragment header (or any other) is not hashed.
#[inline(always)]
pub(crate) fn nic_places_v6(l3: &[u8]) -> bool {
    matches!(l3[6], proto::TCP | proto::UDP | proto::ICMPV6)
}
