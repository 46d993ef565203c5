//! Every `unsafe` of plat-dataplane: the thin, safe wrappers over
//! `dpdk-sys` (EAL, mempools, mbufs, ports, rings, lcores, the TSC clock,
//! DPDK's errors) and the huge-page global allocator. Each `unsafe` block
//! here says why it is sound in a `// SAFETY:` line (the workspace lint
//! `clippy::undocumented_unsafe_blocks` refuses one that does not); the
//! rest of the crate is `#![deny(unsafe_code)]` and builds on these types.
#![allow(unsafe_code)]

pub mod clock;
pub mod eal;
pub mod error;
pub mod hugealloc;
pub mod lcore;
pub mod mbuf;
pub mod mempool;
pub mod port;
pub mod ring;

pub use clock::TscClock;
pub use eal::Eal;
pub use error::DpdkError;
pub use hugealloc::HugePageAlloc;
pub use mbuf::{Mbuf, MbufBurst, BURST_SIZE};
pub use mempool::{Mempool, MempoolConfig};
pub use port::{DeviceInfo, LinkStatus, Port, PortConfig, PortQueue, PortStats, RssConfig};
pub use ring::{Ring, RingSync};
