//! The DPDK Environment Abstraction Layer: initialised once per process,
//! cleaned up when the last handle goes.
//!
//! DPDK cannot run `rte_eal_init` twice in one process, not even after
//! `rte_eal_cleanup`, so the process-wide state lives in a static and a
//! second `Eal::init` is an error rather than undefined behaviour.

use std::ffi::{c_char, CStr, CString};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use super::error::DpdkError;

static EAL_CLAIMED: AtomicBool = AtomicBool::new(false);

/// A handle on the running EAL. Cheap to clone; everything that needs the
/// EAL alive (mempools, ports, rings) holds one, and `rte_eal_cleanup`
/// runs when the last one is dropped.
#[derive(Clone, Debug)]
pub struct Eal {
    inner: Arc<EalInner>,
}

#[derive(Debug)]
struct EalInner {
    /// The arguments EAL was started with, kept for `platd` diagnostics.
    args: Vec<String>,
}

impl Eal {
    /// Initialises the EAL from an argument list (`args[0]` is the program
    /// name, as in `argv`). Fails if the EAL was initialised before in
    /// this process.
    pub fn init<S: AsRef<str>>(args: &[S]) -> Result<Eal, DpdkError> {
        let args: Vec<String> = args.iter().map(|a| a.as_ref().to_owned()).collect();
        let c_args = args
            .iter()
            .map(|a| CString::new(a.as_str()))
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| DpdkError::InvalidArgument {
                call: "rte_eal_init",
                reason: e.to_string(),
            })?;
        if EAL_CLAIMED.swap(true, Ordering::SeqCst) {
            return Err(DpdkError::EalAlreadyInitialised);
        }
        // rte_eal_init may permute argv: hand it a scratch pointer array
        // while the CStrings stay owned here.
        let mut argv: Vec<*mut c_char> = c_args.iter().map(|a| a.as_ptr() as *mut c_char).collect();
        let argc = i32::try_from(argv.len()).map_err(|_| DpdkError::InvalidArgument {
            call: "rte_eal_init",
            reason: "too many arguments".into(),
        })?;
        // SAFETY: argv holds argc valid NUL-terminated strings that outlive
        // the call; EAL_CLAIMED guarantees this is the only init.
        let ret = unsafe { dpdk_sys::rte_eal_init(argc, argv.as_mut_ptr()) };
        if ret < 0 {
            return Err(DpdkError::from_rte_errno("rte_eal_init"));
        }
        Ok(Eal {
            inner: Arc::new(EalInner { args }),
        })
    }

    /// The arguments the EAL was started with.
    pub fn args(&self) -> &[String] {
        &self.inner.args
    }

    /// Number of lcores the EAL runs (`-l`/`--lcores`).
    pub fn lcore_count(&self) -> u32 {
        // SAFETY: valid after a successful rte_eal_init (self proves it).
        unsafe { dpdk_sys::rte_lcore_count() }
    }
}

impl Drop for EalInner {
    fn drop(&mut self) {
        // SAFETY: every DPDK object holds an Eal clone, so none is alive now.
        unsafe {
            dpdk_sys::rte_eal_cleanup();
        }
    }
}

/// The DPDK version of the library this process runs on (`rte_version()`),
/// which may differ from the one it was built against.
pub fn runtime_version() -> String {
    // SAFETY: rte_version returns a pointer to a static string and needs no
    // EAL.
    unsafe { CStr::from_ptr(dpdk_sys::rte_version()) }
        .to_string_lossy()
        .into_owned()
}

/// The DPDK version plat was built against.
pub const BUILD_VERSION: &str = dpdk_sys::DPDK_BUILD_VERSION;
