//! plat-dataplane: the only crate that touches DPDK and threads.
//!
//! Safe wrappers over `dpdk-sys` (EAL, mempools, mbufs, ports, rings);
//! every `unsafe` block says why it is sound.
#![warn(missing_docs)]

pub mod appliance;
pub mod clock;
pub mod counters;
pub mod eal;
pub mod engine;
pub mod error;
pub mod handoff;
pub mod hugealloc;
pub mod lcore;
pub mod mbuf;
pub mod mempool;
pub mod nat64_engine;
pub mod neighbor;
pub mod port;
pub mod ring;
pub mod slowpath;
pub mod worker;

pub use eal::Eal;
pub use error::DpdkError;
pub use mbuf::{Mbuf, MbufBurst, BURST_SIZE};
pub use mempool::{Mempool, MempoolConfig};
pub use port::{DeviceInfo, LinkStatus, Port, PortConfig, PortQueue, PortStats, RssConfig};
pub use ring::{Ring, RingSync};
