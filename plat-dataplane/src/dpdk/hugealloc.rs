//! A global allocator that backs large allocations (the session tables of
//! the shards) with transparent huge pages: at 1M+ sessions, 4 KiB pages
//! turn every table lookup into a TLB miss as well as a cache miss. DPDK
//! applications keep such tables in hugepage memory; plat-core is
//! DPDK-free, so platd gets the same effect from the kernel's THP.

use std::alloc::{GlobalAlloc, Layout, System};

/// Allocations at least this large are aligned to it and advised
/// `MADV_HUGEPAGE`.
pub const HUGE_PAGE: usize = 2 << 20;

/// `System`, with huge pages for large blocks.
#[derive(Debug, Default)]
pub struct HugePageAlloc;

#[inline]
fn adjusted(l: Layout) -> Layout {
    if l.size() >= HUGE_PAGE {
        // Cannot fail: the size is unchanged and HUGE_PAGE is a power of two
        // no smaller than any alignment the original layout could have had
        // below it.
        Layout::from_size_align(l.size(), l.align().max(HUGE_PAGE)).unwrap_or(l)
    } else {
        l
    }
}

// SAFETY: every call forwards to `System` with a layout derived the same way
// on allocation and deallocation; `madvise` only changes how the kernel backs
// memory we own.
unsafe impl GlobalAlloc for HugePageAlloc {
    unsafe fn alloc(&self, l: Layout) -> *mut u8 {
        let a = adjusted(l);
        // SAFETY: a has a non-zero size (l had) and a valid alignment.
        let p = unsafe { System.alloc(a) };
        if !p.is_null() && l.size() >= HUGE_PAGE {
            // SAFETY: p..p+size is our fresh allocation, 2 MiB aligned.
            unsafe { libc::madvise(p.cast(), l.size(), libc::MADV_HUGEPAGE) };
        }
        p
    }

    unsafe fn alloc_zeroed(&self, l: Layout) -> *mut u8 {
        let a = adjusted(l);
        // SAFETY: as in alloc.
        let p = unsafe { System.alloc_zeroed(a) };
        if !p.is_null() && l.size() >= HUGE_PAGE {
            // SAFETY: as in alloc.
            unsafe { libc::madvise(p.cast(), l.size(), libc::MADV_HUGEPAGE) };
        }
        p
    }

    unsafe fn dealloc(&self, p: *mut u8, l: Layout) {
        // SAFETY: p came from alloc/alloc_zeroed with adjusted(l).
        unsafe { System.dealloc(p, adjusted(l)) }
    }
}
