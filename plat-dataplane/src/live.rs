//! The running configuration, published as immutable snapshots. The
//! management server publishes a new one (`config reload`, `pool4 add`);
//! each worker and the control thread compare the generation with the one
//! they run at the top of a poll (one relaxed load) and, when it moved,
//! load the snapshot and apply what changed. Nobody waits for anybody.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use arc_swap::ArcSwap;
use plat_core::config::Config;

/// One configuration and its generation.
#[derive(Debug)]
pub struct Snapshot {
    /// 1 at start, one more per published change.
    pub generation: u64,
    /// The configuration.
    pub config: Config,
}

/// The published configuration.
#[derive(Debug)]
pub struct LiveConfig {
    generation: AtomicU64,
    current: ArcSwap<Snapshot>,
}

impl LiveConfig {
    /// Generation 1: the configuration platd started with.
    pub fn new(config: Config) -> LiveConfig {
        LiveConfig {
            generation: AtomicU64::new(1),
            current: ArcSwap::from_pointee(Snapshot {
                generation: 1,
                config,
            }),
        }
    }

    /// The generation of the newest snapshot.
    #[inline]
    pub fn generation(&self) -> u64 {
        self.generation.load(Ordering::Acquire)
    }

    /// The newest snapshot.
    pub fn load(&self) -> Arc<Snapshot> {
        self.current.load_full()
    }

    /// Publishes `config` as the next generation and returns it. Callers
    /// that publish serialize among themselves (the management server
    /// holds its configuration lock).
    pub fn publish(&self, config: Config) -> u64 {
        let generation = self.load().generation + 1;
        self.current
            .store(Arc::new(Snapshot { generation, config }));
        // After the store: whoever sees the new number loads the new
        // snapshot (or a newer one).
        self.generation.store(generation, Ordering::Release);
        generation
    }
}
