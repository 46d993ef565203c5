//! Per-worker counters, written by their worker alone and summed when read.
//!
//! A worker counts into a plain local array and publishes it with relaxed
//! stores once per poll iteration: no atomic read-modify-write and no
//! shared cache line on the hot path. Readers sum the published values.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

/// One worker's published counters, on their own cache lines.
#[derive(Debug)]
#[repr(align(64))]
struct Published {
    values: Box<[AtomicU64]>,
}

/// The counters of every worker, with their names.
#[derive(Debug)]
pub struct CounterBoard {
    names: Vec<String>,
    workers: Vec<Published>,
}

impl CounterBoard {
    /// A board for `workers` workers counting `names`.
    pub fn new(names: Vec<String>, workers: usize) -> Arc<CounterBoard> {
        let workers = (0..workers)
            .map(|_| Published {
                values: names.iter().map(|_| AtomicU64::new(0)).collect(),
            })
            .collect();
        Arc::new(CounterBoard { names, workers })
    }

    /// Counter names, in index order.
    pub fn names(&self) -> &[String] {
        &self.names
    }

    /// Index of a counter by name.
    pub fn index(&self, name: &str) -> Option<usize> {
        self.names.iter().position(|n| n == name)
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
    pub fn totals(&self) -> Vec<(String, u64)> {
        (0..self.names.len())
            .map(|i| (self.names[i].clone(), self.total(i)))
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
            values: vec![0; board.names.len()].into_boxed_slice(),
            board,
            worker,
        }
    }

    /// Adds `n` to counter `i`.
    #[inline]
    pub fn add(&mut self, i: usize, n: u64) {
        self.values[i] += n;
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

    #[test]
    fn values_are_invisible_until_published_then_summed_over_workers() {
        let board = CounterBoard::new(vec!["rx".into(), "tx".into()], 2);
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
        assert_eq!(board.totals(), vec![("rx".into(), 6), ("tx".into(), 7)]);
        assert_eq!(board.get(1, 1), 7);
        assert_eq!(board.total_of("nope"), 0);
    }
}
