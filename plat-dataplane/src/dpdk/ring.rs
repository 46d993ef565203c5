//! DPDK rings: lock-free FIFOs of mbufs between lcores (worker handoff) or
//! behind a `net_ring` port.

use std::ffi::CString;
use std::ptr::NonNull;

use super::eal::Eal;
use super::error::DpdkError;
use super::mbuf::MbufBurst;

/// Who may use a ring's ends concurrently.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RingSync {
    /// One producer and one consumer thread (the cheapest).
    SingleProducerSingleConsumer,
    /// Any number of producers and consumers.
    MultiProducerMultiConsumer,
}

/// A ring of mbuf pointers. Freed when dropped (after its users).
#[derive(Debug)]
pub struct Ring {
    raw: NonNull<dpdk_sys::rte_ring>,
    _eal: Eal,
}

// SAFETY: rte_ring is built for use across lcores within its sync mode.
unsafe impl Send for Ring {}
// SAFETY: as above.
unsafe impl Sync for Ring {}

impl Ring {
    /// Creates a ring of `count` slots (a power of two).
    pub fn new(eal: &Eal, name: &str, count: u32, sync: RingSync) -> Result<Ring, DpdkError> {
        let n = CString::new(name).map_err(|e| DpdkError::InvalidArgument {
            call: "rte_ring_create",
            reason: e.to_string(),
        })?;
        let flags = match sync {
            RingSync::SingleProducerSingleConsumer => {
                dpdk_sys::RING_F_SP_ENQ | dpdk_sys::RING_F_SC_DEQ
            }
            RingSync::MultiProducerMultiConsumer => 0,
        };
        // SAFETY: valid name; EAL running.
        let raw = unsafe {
            dpdk_sys::rte_ring_create(n.as_ptr(), count, dpdk_sys::rte_socket_id() as i32, flags)
        };
        let raw = NonNull::new(raw).ok_or_else(|| DpdkError::from_rte_errno("rte_ring_create"))?;
        Ok(Ring {
            raw,
            _eal: eal.clone(),
        })
    }

    /// The raw ring, for `rte_eth_from_rings`.
    pub fn as_ptr(&self) -> *mut dpdk_sys::rte_ring {
        self.raw.as_ptr()
    }

    /// Moves as many mbufs of `burst` into the ring as fit.
    #[inline]
    pub fn enqueue_burst<const N: usize>(&self, burst: &mut MbufBurst<N>) -> usize {
        let (ptr, len) = burst.held_raw();
        // SAFETY: ptr holds len owned mbuf pointers; the ring takes the
        // first n.
        let n = unsafe {
            dpdk_sys::rte_ring_enqueue_burst(
                self.raw.as_ptr(),
                ptr.cast(),
                u32::from(len),
                std::ptr::null_mut(),
            )
        } as usize;
        burst.consumed(n);
        n
    }

    /// Moves mbufs from the ring into the free slots of `burst`.
    #[inline]
    pub fn dequeue_burst<const N: usize>(&self, burst: &mut MbufBurst<N>) -> usize {
        let (ptr, free) = burst.spare_raw();
        // SAFETY: ptr has room for `free` pointers.
        let n = unsafe {
            dpdk_sys::rte_ring_dequeue_burst(
                self.raw.as_ptr(),
                ptr.cast(),
                u32::from(free),
                std::ptr::null_mut(),
            )
        } as usize;
        // SAFETY: the ring handed over n owned mbufs.
        unsafe { burst.commit(n) };
        n
    }

    /// Entries in the ring now.
    pub fn count(&self) -> u32 {
        // SAFETY: valid ring.
        unsafe { dpdk_sys::rte_ring_count(self.raw.as_ptr()) }
    }
}

impl Drop for Ring {
    fn drop(&mut self) {
        // SAFETY: created by rte_ring_create, freed once. Mbufs still in it
        // are not ours to free here (the owner drains before dropping).
        unsafe { dpdk_sys::rte_ring_free(self.raw.as_ptr()) }
    }
}
