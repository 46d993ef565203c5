//! plat-dataplane: the only crate that touches DPDK and threads.
//!
//! The safe wrappers over `dpdk-sys` (EAL, mempools, mbufs, ports, rings,
//! lcores) live in [`dpdk`], the one module exempt from the lint below
//! (it says so itself); the workers, the control thread and the engines
//! build on those wrappers alone.
#![warn(missing_docs)]
#![deny(unsafe_code)]

pub mod appliance;
pub mod control;
pub mod counters;
pub mod dpdk;
pub mod engine;
pub mod events;
pub mod frag_steer;
pub mod ha;
pub mod handle;
pub mod handoff;
pub mod live;
pub mod log_export;
pub mod mailbox;
pub mod nat64_engine;
pub mod neighbor;
pub mod slowpath;
pub mod worker;

pub use dpdk::{
    DeviceInfo, DpdkError, Eal, LinkStatus, Mbuf, MbufBurst, Mempool, MempoolConfig, Port,
    PortConfig, PortQueue, PortStats, Ring, RingSync, RssConfig, BURST_SIZE,
};
