//! The workers' clock: the TSC, read once per burst and scaled to the
//! milliseconds plat-core's timers count in.

/// Converts TSC cycles to milliseconds since the clock was made.
#[derive(Debug, Clone, Copy)]
pub struct TscClock {
    start: u64,
    cycles_per_ms: u64,
}

impl TscClock {
    /// A clock starting now.
    pub fn new() -> TscClock {
        // SAFETY: reading the TSC and its calibrated rate has no
        // preconditions once EAL has calibrated it (EAL init does).
        let (start, hz) = unsafe { (dpdk_sys::rte_rdtsc(), dpdk_sys::rte_get_tsc_hz()) };
        TscClock {
            start,
            cycles_per_ms: (hz / 1000).max(1),
        }
    }

    /// Milliseconds since the clock was made.
    #[inline]
    pub fn now_ms(&self) -> u64 {
        // SAFETY: as in `new`.
        let t = unsafe { dpdk_sys::rte_rdtsc() };
        t.wrapping_sub(self.start) / self.cycles_per_ms
    }
}

impl Default for TscClock {
    fn default() -> Self {
        Self::new()
    }
}
