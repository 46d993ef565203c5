//! Packet-buffer pools (`rte_pktmbuf_pool_create`).

use std::ffi::CString;
use std::ptr::NonNull;

use super::eal::Eal;
use super::error::DpdkError;
use super::mbuf::{Mbuf, MbufBurst};

/// Default data room: DPDK's 2048-byte buffer plus its 128-byte headroom,
/// which leaves room to grow a translated IPv4 header to IPv6 in place.
pub const DEFAULT_DATA_ROOM: u16 = dpdk_sys::RTE_MBUF_DEFAULT_BUF_SIZE as u16;

/// Bytes in front of the data of a received mbuf (`RTE_PKTMBUF_HEADROOM`),
/// part of the data room.
pub const HEADROOM: u16 = dpdk_sys::RTE_PKTMBUF_HEADROOM as u16;

/// The data room (headroom included) of mbufs whose data holds `bytes`
/// after the headroom, never below [`DEFAULT_DATA_ROOM`]; `None` past what
/// an mbuf's 16-bit lengths can describe.
pub fn data_room_for(bytes: u32) -> Option<u16> {
    let room = u16::try_from(u32::from(HEADROOM).checked_add(bytes)?).ok()?;
    Some(room.max(DEFAULT_DATA_ROOM))
}

/// Socket id meaning "any NUMA node".
pub const SOCKET_ID_ANY: i32 = -1;

/// Parameters of a packet-buffer pool.
#[derive(Clone, Debug)]
pub struct MempoolConfig {
    /// Pool name, unique within the process.
    pub name: String,
    /// Number of mbufs.
    pub size: u32,
    /// Per-lcore cache size (0 for none).
    pub cache_size: u32,
    /// Data room per mbuf, headroom included.
    pub data_room: u16,
    /// NUMA socket, or [`SOCKET_ID_ANY`].
    pub socket_id: i32,
}

impl MempoolConfig {
    /// A pool of `size` default-sized mbufs with a 256-entry lcore cache.
    pub fn new(name: &str, size: u32) -> Self {
        MempoolConfig {
            name: name.to_owned(),
            size,
            cache_size: 256.min(size / 2),
            data_room: DEFAULT_DATA_ROOM,
            socket_id: SOCKET_ID_ANY,
        }
    }

    /// The same pool with mbufs of `data_room` bytes (headroom included).
    pub fn with_data_room(self, data_room: u16) -> Self {
        MempoolConfig { data_room, ..self }
    }

    /// Memory the pool's buffers take (mbuf headers and data rooms), in
    /// bytes, for the operator who has to give DPDK that much.
    pub fn buffer_bytes(&self) -> u64 {
        let mbuf = std::mem::size_of::<dpdk_sys::rte_mbuf>() as u64;
        u64::from(self.size) * (mbuf + u64::from(self.data_room))
    }
}

/// A pool of packet buffers. Freed when dropped; every mbuf taken from it
/// must have gone back by then (the pool's owner keeps it alive longer than
/// the ports and workers that use it).
#[derive(Debug)]
pub struct Mempool {
    raw: NonNull<dpdk_sys::rte_mempool>,
    _eal: Eal,
}

// SAFETY: an rte_mempool is designed for concurrent use from many lcores.
unsafe impl Send for Mempool {}
// SAFETY: as above; every method is thread-safe in DPDK.
unsafe impl Sync for Mempool {}

impl Mempool {
    /// Creates a packet-buffer pool.
    pub fn new(eal: &Eal, cfg: &MempoolConfig) -> Result<Mempool, DpdkError> {
        let name = CString::new(cfg.name.as_str()).map_err(|e| DpdkError::InvalidArgument {
            call: "rte_pktmbuf_pool_create",
            reason: e.to_string(),
        })?;
        // SAFETY: the EAL is initialised (eal proves it); name outlives the
        // call.
        let raw = unsafe {
            dpdk_sys::rte_pktmbuf_pool_create(
                name.as_ptr(),
                cfg.size,
                cfg.cache_size,
                0,
                cfg.data_room,
                cfg.socket_id,
            )
        };
        let raw = NonNull::new(raw)
            .ok_or_else(|| DpdkError::from_rte_errno("rte_pktmbuf_pool_create"))?;
        Ok(Mempool {
            raw,
            _eal: eal.clone(),
        })
    }

    /// Takes one mbuf, or `None` when the pool is empty.
    pub fn alloc(&self) -> Option<Mbuf> {
        // SAFETY: the pool is valid for self's lifetime.
        let m = unsafe { dpdk_sys::rte_pktmbuf_alloc(self.raw.as_ptr()) };
        // SAFETY: a fresh mbuf from rte_pktmbuf_alloc is owned by us alone.
        NonNull::new(m).map(|m| unsafe { Mbuf::from_raw(m) })
    }

    /// Adds `n` fresh mbufs to `burst` in one bulk take (all or none, so
    /// a tester's generator pays one pool access per burst): false when
    /// the pool has fewer than `n` or the burst no room for them.
    pub fn alloc_into<const N: usize>(&self, burst: &mut MbufBurst<N>, n: usize) -> bool {
        let (slots, free) = burst.spare_raw();
        if n > usize::from(free) {
            return false;
        }
        // SAFETY: `slots` has room for `free` >= n pointers; on success
        // DPDK wrote n owned mbufs there, which `commit` hands to the burst.
        let ret = unsafe { dpdk_sys::rte_pktmbuf_alloc_bulk(self.raw.as_ptr(), slots, n as u32) };
        if ret != 0 {
            return false;
        }
        // SAFETY: the n slots after the burst's length now hold owned mbufs.
        unsafe { burst.commit(n) };
        true
    }

    /// Mbufs currently taken from the pool (in rings, ports or our hands).
    pub fn in_use(&self) -> u32 {
        // SAFETY: valid pool.
        unsafe { dpdk_sys::rte_mempool_in_use_count(self.raw.as_ptr()) }
    }

    /// Mbufs available in the pool.
    pub fn available(&self) -> u32 {
        // SAFETY: valid pool.
        unsafe { dpdk_sys::rte_mempool_avail_count(self.raw.as_ptr()) }
    }

    /// The raw pool, for DPDK calls that take one (queue setup).
    pub fn as_ptr(&self) -> *mut dpdk_sys::rte_mempool {
        self.raw.as_ptr()
    }
}

impl Drop for Mempool {
    fn drop(&mut self) {
        // SAFETY: the pool was created by rte_pktmbuf_pool_create and is
        // freed once.
        unsafe { dpdk_sys::rte_mempool_free(self.raw.as_ptr()) }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn data_room_grows_past_the_default_and_stops_at_sixteen_bits() {
        assert_eq!(data_room_for(1518), Some(DEFAULT_DATA_ROOM));
        assert_eq!(data_room_for(9184), Some(9184 + HEADROOM));
        assert_eq!(
            data_room_for(u32::from(u16::MAX - HEADROOM)),
            Some(u16::MAX)
        );
        assert_eq!(data_room_for(u32::from(u16::MAX - HEADROOM) + 1), None);
        assert_eq!(data_room_for(u32::MAX), None);
    }
}
