//! A worker's share of the port space: the (pool4 address, port) pairs
//! its shard may allocate, because return traffic to them reaches this
//! worker. The data type lives here, with the state that uses it; the
//! `rss` module computes it from the NIC's Toeplitz key and RETA.

use std::fmt;
use std::net::Ipv4Addr;
use std::sync::Arc;

use super::Proto;

/// Which worker return traffic to a (pool4 address, port) lands on.
pub trait PortOwner: fmt::Debug + Send + Sync {
    fn worker_of(&self, addr: Ipv4Addr, port: u16) -> usize;
}

/// The (address, port) pairs a shard may allocate.
#[derive(Clone, Debug, Default)]
pub enum PortShare {
    /// Every port: a single worker.
    #[default]
    All,
    /// The ports whose return traffic the plan sends to `worker`. ICMP
    /// identifiers follow the same plan; since NICs cannot hash them, the
    /// dataplane hands ICMP replies to `worker_of(addr, id)`.
    /// `plan` is the `rss::Plan` that built the share.
    Rss {
        plan: Arc<dyn PortOwner>,
        worker: usize,
    },
}

impl PortShare {
    pub fn owns(&self, _proto: Proto, addr: Ipv4Addr, port: u16) -> bool {
        match self {
            PortShare::All => true,
            PortShare::Rss { plan, worker } => plan.worker_of(addr, port) == *worker,
        }
    }
}
