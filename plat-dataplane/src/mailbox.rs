//! Per-worker mailboxes: the control plane's queries go in, the worker's
//! answers come out. A worker looks at its mailbox between bursts and
//! answers at most [`BUDGET`] queries a poll; it never blocks and never
//! takes a lock (the queues are bounded lock-free rings). Every query
//! carries an id, so a caller that gave up waiting can tell a late answer
//! from the one it waits for.

use crossbeam_queue::ArrayQueue;
use plat_core::api::{WorkerAnswer, WorkerQuery};

/// Queries a worker answers per poll at most.
pub const BUDGET: usize = 2;
/// Queries (and answers) a mailbox holds at most.
pub const SLOTS: usize = 64;

/// One worker's mailbox.
#[derive(Debug)]
pub struct Mailbox {
    queries: ArrayQueue<(u64, WorkerQuery)>,
    answers: ArrayQueue<(u64, WorkerAnswer)>,
}

impl Default for Mailbox {
    fn default() -> Self {
        Mailbox {
            queries: ArrayQueue::new(SLOTS),
            answers: ArrayQueue::new(SLOTS),
        }
    }
}

impl Mailbox {
    /// Posts query `id`; `false` when the mailbox is full.
    pub fn post(&self, id: u64, query: WorkerQuery) -> bool {
        self.queries.push((id, query)).is_ok()
    }

    /// The oldest answer, if any.
    pub fn take_answer(&self) -> Option<(u64, WorkerAnswer)> {
        self.answers.pop()
    }

    /// The worker's side: answers up to [`BUDGET`] waiting queries with
    /// `answer`. Returns how many it answered. An answer that finds the
    /// answer queue full (its caller stopped reading) is dropped.
    #[inline]
    pub fn serve(&self, mut answer: impl FnMut(&WorkerQuery) -> WorkerAnswer) -> usize {
        let mut n = 0;
        while n < BUDGET {
            let Some((id, query)) = self.queries.pop() else {
                break;
            };
            let _ = self.answers.push((id, answer(&query)));
            n += 1;
        }
        n
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_worker_answers_at_most_its_budget_per_poll_in_order() {
        let mb = Mailbox::default();
        for id in 0..3 {
            assert!(mb.post(id, WorkerQuery::Summary));
        }
        assert_eq!(mb.serve(|_| WorkerAnswer::NoState), BUDGET);
        assert_eq!(mb.serve(|_| WorkerAnswer::NoState), 1);
        assert_eq!(mb.serve(|_| WorkerAnswer::NoState), 0);
        let ids: Vec<u64> = std::iter::from_fn(|| mb.take_answer().map(|(id, _)| id)).collect();
        assert_eq!(ids, [0, 1, 2]);
    }

    #[test]
    fn a_full_mailbox_refuses_instead_of_blocking() {
        let mb = Mailbox::default();
        for id in 0..SLOTS as u64 {
            assert!(mb.post(id, WorkerQuery::Summary));
        }
        assert!(!mb.post(99, WorkerQuery::Summary));
    }
}
