//! The one prefetch hint the burst loop uses.

/// Asks the CPU to pull the cache line holding `r` into L1.
// The one `unsafe` of plat-core: the intrinsic is an `unsafe fn`.
#[allow(unsafe_code)]
#[inline(always)]
pub(crate) fn prefetch<T>(r: &T) {
    #[cfg(target_arch = "x86_64")]
    // SAFETY: PREFETCHT0 is a hint: it never faults and has no effect on
    // program state; the pointer comes from a live reference.
    unsafe {
        core::arch::x86_64::_mm_prefetch::<{ core::arch::x86_64::_MM_HINT_T0 }>(
            (r as *const T).cast::<i8>(),
        );
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = r;
}
