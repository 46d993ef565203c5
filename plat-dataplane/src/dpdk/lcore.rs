//! Running code on EAL worker lcores.
//!
//! Workers run on lcores EAL launched (`rte_eal_remote_launch`) rather than
//! on std threads: those are pinned by EAL and have a mempool cache, which
//! threads EAL did not start lack.

use std::ffi::c_void;

use super::eal::Eal;
use super::error::{check, DpdkError};

type Job = Box<dyn FnOnce() -> i32 + Send>;

unsafe extern "C" fn run_job(arg: *mut c_void) -> i32 {
    // SAFETY: `arg` is the Box<Job> leaked by `launch`, handed to exactly
    // one lcore, which takes it back here once.
    let job: Box<Job> = unsafe { Box::from_raw(arg.cast()) };
    // A panic must not unwind into C: report it as a failed lcore.
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(job)).unwrap_or(-1)
}

/// The worker lcores EAL runs (every enabled lcore but the main one).
pub fn worker_lcores(_eal: &Eal) -> Vec<u32> {
    let mut out = Vec::new();
    // SAFETY: EAL is initialised; rte_get_next_lcore walks its lcore table.
    let mut id = unsafe { dpdk_sys::rte_get_next_lcore(u32::MAX, 1, 0) };
    while id < dpdk_sys::RTE_MAX_LCORE {
        out.push(id);
        // SAFETY: as above.
        id = unsafe { dpdk_sys::rte_get_next_lcore(id, 1, 0) };
    }
    out
}

/// The lcore the calling thread runs on (`u32::MAX` outside EAL lcores).
pub fn current() -> u32 {
    // SAFETY: reads a thread-local; no preconditions.
    unsafe { dpdk_sys::rte_lcore_id() }
}

/// A job running on a worker lcore; `join` waits for its return code.
#[derive(Debug)]
#[must_use = "an lcore job should be joined"]
pub struct LcoreJob {
    lcore: u32,
    _eal: Eal,
}

impl LcoreJob {
    /// Starts `job` on worker `lcore`, which must be idle.
    pub fn launch(
        eal: &Eal,
        lcore: u32,
        job: impl FnOnce() -> i32 + Send + 'static,
    ) -> Result<LcoreJob, DpdkError> {
        let boxed: Box<Job> = Box::new(Box::new(job));
        let arg = Box::into_raw(boxed);
        // SAFETY: run_job takes back `arg` exactly once; on failure we
        // reclaim it below.
        let ret = unsafe { dpdk_sys::rte_eal_remote_launch(Some(run_job), arg.cast(), lcore) };
        if ret < 0 {
            // SAFETY: the launch failed, so no lcore owns `arg`.
            drop(unsafe { Box::from_raw(arg) });
            check("rte_eal_remote_launch", ret)?;
        }
        Ok(LcoreJob {
            lcore,
            _eal: eal.clone(),
        })
    }

    /// The lcore the job runs on.
    pub fn lcore(&self) -> u32 {
        self.lcore
    }

    /// Whether the job is still running (a worker that returned while the
    /// appliance runs has failed).
    pub fn is_running(&self) -> bool {
        // SAFETY: reads the lcore's state; valid for any launched lcore.
        unsafe { dpdk_sys::rte_eal_get_lcore_state(self.lcore) == dpdk_sys::RUNNING }
    }

    /// Waits for the job to finish and returns its return code.
    pub fn join(self) -> i32 {
        // SAFETY: the lcore was launched by us; waiting is always allowed.
        unsafe { dpdk_sys::rte_eal_wait_lcore(self.lcore) }
    }
}
