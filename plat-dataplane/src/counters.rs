//! Per-worker counters, written by their worker alone and summed when read.
//!
//! A worker counts into a plain local array and publishes it with relaxed
//! stores once per poll iteration: no atomic read-modify-write and no
//! shared cache line on the hot path. Readers sum the published values.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use plat_core::counters::Desc;

/// One worker's published counters, on their own cache lines.
#[derive(Debug)]
#[repr(align(64))]
struct Published {
    values: Box<[AtomicU64]>,
}

/// The counters of every worker, with their descriptions (from the
/// `plat_core::counters!` registry).
#[derive(Debug)]
pub struct CounterBoard {
    descs: Vec<&'static Desc>,
    workers: Vec<Published>,
}

impl CounterBoard {
    /// A board for `workers` workers counting `descs`.
    pub fn new(descs: Vec<&'static Desc>, workers: usize) -> Arc<CounterBoard> {
        let workers = (0..workers)
            .map(|_| Published {
                values: descs.iter().map(|_| AtomicU64::new(0)).collect(),
            })
            .collect();
        Arc::new(CounterBoard { descs, workers })
    }

    /// What each counter is, in index order.
    pub fn descs(&self) -> &[&'static Desc] {
        &self.descs
    }

    /// Counter names, in index order.
    pub fn names(&self) -> impl Iterator<Item = &'static str> + '_ {
        self.descs.iter().map(|d| d.name)
    }

    /// Index of a counter by name.
    pub fn index(&self, name: &str) -> Option<usize> {
        self.names().position(|n| n == name)
    }

    /// Worker `w`'s published value of counter `i`.
    pub fn get(&self, w: usize, i: usize) -> u64 {
        self.workers[w].values[i].load(Ordering::Relaxed)
    }

    /// Counter `i` summed over workers.
    pub fn total(&self, i: usize) -> u64 {
        (0..self.workers.len()).map(|w| self.get(w, i)).sum()
    }

    /// Counter `name` summed over workers (0 when unknown).
    pub fn total_of(&self, name: &str) -> u64 {
        self.index(name).map_or(0, |i| self.total(i))
    }

    /// Every counter with its total, in index order.
    pub fn totals(&self) -> Vec<(&'static str, u64)> {
        self.names()
            .enumerate()
            .map(|(i, name)| (name, self.total(i)))
            .collect()
    }

    /// Number of workers.
    pub fn workers(&self) -> usize {
        self.workers.len()
    }
}

/// A worker's own counters.
#[derive(Debug)]
pub struct LocalCounters {
    values: Box<[u64]>,
    board: Arc<CounterBoard>,
    worker: usize,
}

impl LocalCounters {
    /// Counters of worker `worker` on `board`.
    pub fn new(board: Arc<CounterBoard>, worker: usize) -> Self {
        assert!(worker < board.workers(), "worker {worker} has no row");
        LocalCounters {
            values: vec![0; board.descs.len()].into_boxed_slice(),
            board,
            worker,
        }
    }

    /// Adds `n` to counter `i`.
    #[inline]
    pub fn add(&mut self, i: usize, n: u64) {
        self.values[i] += n;
    }

    /// Sets counter `i` (for a count kept elsewhere and copied in).
    #[inline]
    pub fn set(&mut self, i: usize, v: u64) {
        self.values[i] = v;
    }

    /// Adds one to counter `i`.
    #[inline]
    pub fn inc(&mut self, i: usize) {
        self.values[i] += 1;
    }

    /// Makes the current values visible to readers.
    #[inline]
    pub fn publish(&self) {
        for (p, v) in self.board.workers[self.worker]
            .values
            .iter()
            .zip(self.values.iter())
        {
            p.store(*v, Ordering::Relaxed);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use plat_core::counters::Kind;

    const RX: Desc = Desc {
        name: "rx",
        kind: Kind::Counter,
        help: "Received.",
    };
    const TX: Desc = Desc {
        name: "tx",
        kind: Kind::Counter,
        help: "Sent.",
    };

    #[test]
    fn values_are_invisible_until_published_then_summed_over_workers() {
        let board = CounterBoard::new(vec![&RX, &TX], 2);
        let mut w0 = LocalCounters::new(Arc::clone(&board), 0);
        let mut w1 = LocalCounters::new(Arc::clone(&board), 1);
        w0.add(0, 5);
        w1.inc(0);
        w1.add(1, 7);
        assert_eq!(board.total_of("rx"), 0);
        w0.publish();
        assert_eq!(board.total_of("rx"), 5);
        w1.publish();
        assert_eq!(board.total_of("rx"), 6);
        assert_eq!(board.totals(), vec![("rx", 6), ("tx", 7)]);
        assert_eq!(board.get(1, 1), 7);
        assert_eq!(board.total_of("nope"), 0);
    }
}
