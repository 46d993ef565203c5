//! What platd's servers (the management socket, the metrics endpoint)
//! share: the handle on the workers, the counters, the running
//! configuration, the control thread's status, and a sampler that keeps
//! the last two once-a-second readings so rates ("drops in the last
//! second", each worker's busy share) come from one place.

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use plat_core::api::Counter;
use plat_core::counters::Kind;
use plat_core::nat::{ShardStats, SHARD_STATS};
use plat_dataplane::appliance::SharedStatus;
use plat_dataplane::counters::CounterBoard;
use plat_dataplane::ha::HaShared;
use plat_dataplane::handle::ControlHandle;
use plat_dataplane::live::LiveConfig;

/// platd's version line.
pub const LONG_VERSION: &str = concat!(
    env!("CARGO_PKG_VERSION"),
    " (git ",
    env!("PLAT_GIT_HASH"),
    ", DPDK ",
    env!("PLAT_DPDK_BUILD_VERSION"),
    ")"
);

/// One reading of everything that counts.
#[derive(Debug, Clone)]
pub struct Sample {
    /// When it was taken.
    pub at: Instant,
    /// The board: one row per worker, then the control thread's.
    pub board: Vec<Vec<u64>>,
    /// Each worker's shard statistics (`None`: no NAT state, or no
    /// answer in time).
    pub shards: Vec<Option<ShardStats>>,
}

/// The older and the newer of the last two samples.
type Samples = (Option<Arc<Sample>>, Option<Arc<Sample>>);

/// Everything the servers share.
#[derive(Debug)]
pub struct Daemon {
    /// The workers.
    pub handle: ControlHandle,
    /// Their counters.
    pub board: Arc<CounterBoard>,
    /// The running configuration.
    pub live: Arc<LiveConfig>,
    /// Ports and neighbors.
    pub status: SharedStatus,
    /// Each worker's lcore.
    pub lcores: Vec<u32>,
    /// How return traffic reaches its worker.
    pub steering: String,
    /// The file `config reload` reads.
    pub config_path: PathBuf,
    /// Held while a configuration change is checked and published.
    pub changing: Mutex<()>,
    /// The HA pair's shared state (`None`: no `[ha]` section).
    pub ha: Option<Arc<HaShared>>,
    /// When platd started.
    pub started: Instant,
    /// The last two samples.
    samples: Mutex<Samples>,
}

impl Daemon {
    /// The servers' shared state.
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        handle: ControlHandle,
        board: Arc<CounterBoard>,
        live: Arc<LiveConfig>,
        status: SharedStatus,
        lcores: Vec<u32>,
        steering: String,
        config_path: PathBuf,
        ha: Option<Arc<HaShared>>,
    ) -> Arc<Daemon> {
        let d = Arc::new(Daemon {
            handle,
            board,
            live,
            status,
            lcores,
            steering,
            config_path,
            ha,
            changing: Mutex::new(()),
            started: Instant::now(),
            samples: Mutex::new((None, None)),
        });
        d.sample();
        d
    }

    /// Worker count.
    pub fn workers(&self) -> usize {
        self.handle.workers()
    }

    /// Takes a sample now (the sampler does, once a second).
    pub fn sample(&self) {
        let s = Arc::new(self.read());
        let mut samples = self.samples.lock().unwrap_or_else(|e| e.into_inner());
        *samples = (samples.1.take(), Some(s));
    }

    /// Reads everything now.
    pub fn read(&self) -> Sample {
        let board = (0..self.board.workers())
            .map(|r| {
                (0..self.board.descs().len())
                    .map(|i| self.board.get(r, i))
                    .collect()
            })
            .collect();
        let shards = self
            .handle
            .summary()
            .unwrap_or_else(|_| vec![None; self.workers()]);
        Sample {
            at: Instant::now(),
            board,
            shards,
        }
    }

    /// The newest sample and the one before it (when there is one).
    pub fn samples(&self) -> (Option<Arc<Sample>>, Arc<Sample>) {
        let samples = self.samples.lock().unwrap_or_else(|e| e.into_inner());
        let newest = samples.1.clone().expect("sampled at construction");
        (samples.0.clone(), newest)
    }

    /// Every counter: the board's, then the shards'. `rates` gives each
    /// counter's per-second rate between the last two samples (gauges
    /// keep their value). Values are per row: the workers, then (for the
    /// board's counters) the control thread.
    pub fn counters(&self, rates: bool) -> (Option<u64>, Vec<Counter>) {
        let (base, newest) = if rates {
            self.samples()
        } else {
            (None, Arc::new(self.read()))
        };
        let interval_ms = base
            .as_ref()
            .map(|b| newest.at.duration_since(b.at).as_millis().max(1) as u64);
        let per_second = |now: u64, then: u64| match interval_ms {
            Some(ms) => now.saturating_sub(then) * 1000 / ms,
            None => now,
        };
        let mut out = Vec::new();
        for (i, desc) in self.board.descs().iter().enumerate() {
            let values: Vec<u64> = newest
                .board
                .iter()
                .enumerate()
                .map(|(r, row)| match (&base, desc.kind) {
                    (Some(b), Kind::Counter) => per_second(row[i], b.board[r][i]),
                    _ => row[i],
                })
                .collect();
            out.push(Counter {
                name: desc.name.to_owned(),
                kind: kind_name(desc.kind).to_owned(),
                help: desc.help.to_owned(),
                total: values.iter().sum(),
                values,
            });
        }
        for stat in &SHARD_STATS {
            let value = |s: &Sample, w: usize| {
                s.shards
                    .get(w)
                    .copied()
                    .flatten()
                    .map_or(0, |s| (stat.read)(&s))
            };
            let mut values: Vec<u64> = (0..newest.shards.len())
                .map(|w| match (&base, stat.kind) {
                    (Some(b), Kind::Counter) => per_second(value(&newest, w), value(b, w)),
                    _ => value(&newest, w),
                })
                .collect();
            // No control-thread row for shard counters.
            values.push(0);
            out.push(Counter {
                name: stat.name.to_owned(),
                kind: kind_name(stat.kind).to_owned(),
                help: stat.help.to_owned(),
                total: values.iter().sum(),
                values,
            });
        }
        (interval_ms, out)
    }

    /// Each worker's share of polls that found work, between the last two
    /// samples (0 before there are two).
    pub fn busy(&self) -> Vec<f64> {
        let (older, newest) = self.samples();
        let (Some(p), Some(b)) = (self.board.index("polls"), self.board.index("polls_busy")) else {
            return vec![0.0; self.workers()];
        };
        (0..self.workers())
            .map(|w| {
                let Some(o) = &older else { return 0.0 };
                let polls = newest.board[w][p].saturating_sub(o.board[w][p]);
                let busy = newest.board[w][b].saturating_sub(o.board[w][b]);
                if polls == 0 {
                    0.0
                } else {
                    busy as f64 / polls as f64
                }
            })
            .collect()
    }

    /// The growth over the last sample interval of the board counters
    /// `pick` selects, summed over every row.
    pub fn last_second(&self, pick: impl Fn(&str) -> bool) -> u64 {
        let (older, newest) = self.samples();
        let Some(o) = older else { return 0 };
        self.board
            .descs()
            .iter()
            .enumerate()
            .filter(|(_, d)| d.kind == Kind::Counter && pick(d.name))
            .map(|(i, _)| {
                newest
                    .board
                    .iter()
                    .zip(&o.board)
                    .map(|(n, o)| n[i].saturating_sub(o[i]))
                    .sum::<u64>()
            })
            .sum()
    }

    /// The growth of one worker's board counter over the last interval.
    pub fn worker_last_second(&self, w: usize, name: &str) -> u64 {
        let (older, newest) = self.samples();
        match (older, self.board.index(name)) {
            (Some(o), Some(i)) => newest.board[w][i].saturating_sub(o.board[w][i]),
            _ => 0,
        }
    }
}

/// `counter` or `gauge`.
pub fn kind_name(kind: Kind) -> &'static str {
    match kind {
        Kind::Counter => "counter",
        Kind::Gauge => "gauge",
    }
}

/// Samples once a second until `stop` is set.
pub fn spawn_sampler(d: Arc<Daemon>, stop: Arc<AtomicBool>) -> std::thread::JoinHandle<()> {
    std::thread::Builder::new()
        .name("sampler".into())
        .spawn(move || {
            while !stop.load(Ordering::Relaxed) {
                std::thread::sleep(Duration::from_secs(1));
                d.sample();
            }
        })
        .expect("spawning the sampler thread")
}
