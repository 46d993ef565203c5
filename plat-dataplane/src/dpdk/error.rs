//! The one error type of the DPDK wrappers: which call failed and why, in
//! DPDK's own words.

use std::ffi::CStr;

/// A failed DPDK call.
#[derive(Debug, thiserror::Error)]
pub enum DpdkError {
    /// A DPDK function returned an error code (negative errno or `rte_errno`).
    #[error("{call} failed: {reason} (errno {errno})")]
    Call {
        /// The DPDK function that failed.
        call: &'static str,
        /// The positive errno value.
        errno: i32,
        /// `rte_strerror` of it.
        reason: String,
    },
    /// The EAL can only be initialised once per process (DPDK refuses a
    /// second `rte_eal_init`, even after `rte_eal_cleanup`).
    #[error("the DPDK EAL was already initialised in this process")]
    EalAlreadyInitialised,
    /// A port cannot carry the MTU its link is configured with.
    #[error("port `{port}` ({driver}) carries MTUs {min}..={max}, not {mtu}{why}")]
    Mtu {
        /// The port's device name.
        port: String,
        /// Its driver.
        driver: String,
        /// The MTU asked for.
        mtu: u16,
        /// The smallest MTU the device takes.
        min: u16,
        /// The largest.
        max: u16,
        /// Where the limit comes from, when the device has a knob for it.
        why: String,
    },
    /// An argument that cannot cross into C (interior NUL, out of range).
    #[error("invalid argument for {call}: {reason}")]
    InvalidArgument {
        /// The call the argument was for.
        call: &'static str,
        /// What is wrong with it.
        reason: String,
    },
}

impl DpdkError {
    /// Builds the error for `call` from a DPDK return value or errno; the
    /// sign convention varies between DPDK calls, so both are accepted.
    pub(crate) fn from_code(call: &'static str, code: i32) -> Self {
        let errno = code.abs();
        // SAFETY: rte_strerror returns a pointer to a static or thread-local
        // NUL-terminated string for any input value.
        let reason = unsafe { CStr::from_ptr(dpdk_sys::rte_strerror(errno)) }
            .to_string_lossy()
            .into_owned();
        DpdkError::Call {
            call,
            errno,
            reason,
        }
    }

    /// Builds the error for `call` from the thread's `rte_errno`.
    pub(crate) fn from_rte_errno(call: &'static str) -> Self {
        // SAFETY: reads this thread's rte_errno through the shim; no
        // preconditions.
        Self::from_code(call, unsafe { dpdk_sys::plat_rte_errno() })
    }
}

/// Maps a DPDK `int` return (0 or positive = ok, negative = -errno).
pub(crate) fn check(call: &'static str, ret: i32) -> Result<i32, DpdkError> {
    if ret < 0 {
        Err(DpdkError::from_code(call, ret))
    } else {
        Ok(ret)
    }
}
