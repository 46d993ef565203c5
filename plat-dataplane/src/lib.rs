//! plat-dataplane: the only crate that touches DPDK and threads.
//!
//! The safe wrappers over `dpdk-sys` (EAL, mempools, mbufs, ports, rings,
//! lcores) live in [`dpdk`], the one module that holds `unsafe`; the
//! workers, the control thread and the engines build on those wrappers.
#![warn(missing_docs)]

pub mod appliance;
pub mod counters;
pub mod dpdk;
pub mod engine;
pub mod handoff;
pub mod nat64_engine;
pub mod neighbor;
pub mod slowpath;
pub mod worker;

pub use dpdk::{
    DeviceInfo, DpdkError, Eal, LinkStatus, Mbuf, MbufBurst, Mempool, MempoolConfig, Port,
    PortConfig, PortQueue, PortStats, Ring, RingSync, RssConfig, BURST_SIZE,
};
