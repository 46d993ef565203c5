//! [`ControlHandle`]: the one way platd's servers reach the running
//! workers. It posts queries to the workers' mailboxes and waits for their
//! answers (the workers answer between bursts); listings are fetched as
//! bounded pages, so a table of millions of sessions is read without
//! stalling a worker for more than a page at a time.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use plat_core::api::{PageQuery, WorkerAnswer, WorkerQuery, DEFAULT_SCAN};
use plat_core::nat::{BibInfo, Page, SessionFilter, SessionInfo, ShardStats};

use crate::mailbox::Mailbox;

/// How long a worker may take to answer one query.
pub const ANSWER_TIMEOUT: Duration = Duration::from_secs(1);
/// How often a waiting caller looks for its answer.
const POLL: Duration = Duration::from_micros(50);

/// Why a query got no answer.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HandleError {
    /// There is no such worker.
    #[error("no worker {0}")]
    NoWorker(usize),
    /// The worker's mailbox is full.
    #[error("worker {0}'s mailbox is full")]
    Busy(usize),
    /// The worker did not answer in time (it stopped, or is stuck).
    #[error("worker {0} did not answer within {ANSWER_TIMEOUT:?}")]
    Timeout(usize),
    /// The worker answered something else (a bug, reported).
    #[error("worker {0} answered another kind of query")]
    Mismatch(usize),
}

/// The control plane's handle on the workers; clones share it.
#[derive(Debug, Clone)]
pub struct ControlHandle {
    mailboxes: Arc<[Arc<Mailbox>]>,
    next_id: Arc<AtomicU64>,
    /// One caller at a time, so nobody takes another's answer.
    asking: Arc<Mutex<()>>,
}

impl ControlHandle {
    /// A handle on the workers owning `mailboxes`, in worker order.
    pub fn new(mailboxes: Vec<Arc<Mailbox>>) -> ControlHandle {
        ControlHandle {
            mailboxes: mailboxes.into(),
            next_id: Arc::new(AtomicU64::new(1)),
            asking: Arc::new(Mutex::new(())),
        }
    }

    /// Number of workers.
    pub fn workers(&self) -> usize {
        self.mailboxes.len()
    }

    /// Asks worker `w` and waits for its answer.
    pub fn ask(&self, w: usize, query: WorkerQuery) -> Result<WorkerAnswer, HandleError> {
        let mailbox = self.mailboxes.get(w).ok_or(HandleError::NoWorker(w))?;
        let _one = self.asking.lock().unwrap_or_else(|e| e.into_inner());
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        if !mailbox.post(id, query) {
            return Err(HandleError::Busy(w));
        }
        let deadline = Instant::now() + ANSWER_TIMEOUT;
        loop {
            // Answers to queries whose caller timed out are passed over.
            while let Some((got, answer)) = mailbox.take_answer() {
                if got == id {
                    return Ok(answer);
                }
            }
            if Instant::now() >= deadline {
                return Err(HandleError::Timeout(w));
            }
            std::thread::sleep(POLL);
        }
    }

    /// Each worker's state counts; `None` for a worker without NAT state.
    pub fn summary(&self) -> Result<Vec<Option<ShardStats>>, HandleError> {
        (0..self.workers())
            .map(|w| match self.ask(w, WorkerQuery::Summary)? {
                WorkerAnswer::Summary(s) => Ok(Some(s)),
                WorkerAnswer::NoState => Ok(None),
                _ => Err(HandleError::Mismatch(w)),
            })
            .collect()
    }

    /// Up to `limit` sessions matching `filter`, worker by worker.
    pub fn sessions(
        &self,
        filter: SessionFilter,
        limit: usize,
    ) -> Result<Vec<SessionInfo>, HandleError> {
        self.list(filter, limit, WorkerQuery::Sessions, |a| match a {
            WorkerAnswer::Sessions(p) => Some(p),
            _ => None,
        })
    }

    /// Up to `limit` BIB entries matching `filter`, worker by worker.
    pub fn bib(&self, filter: SessionFilter, limit: usize) -> Result<Vec<BibInfo>, HandleError> {
        self.list(filter, limit, WorkerQuery::Bib, |a| match a {
            WorkerAnswer::Bib(p) => Some(p),
            _ => None,
        })
    }

    /// Pages through every worker's table until `limit` entries are found.
    fn list<T>(
        &self,
        filter: SessionFilter,
        limit: usize,
        query: fn(PageQuery) -> WorkerQuery,
        page: fn(WorkerAnswer) -> Option<Page<T>>,
    ) -> Result<Vec<T>, HandleError> {
        let mut out = Vec::new();
        for w in 0..self.workers() {
            let mut from = Some(0);
            while let (Some(f), true) = (from, out.len() < limit) {
                let want = u32::try_from(limit - out.len()).unwrap_or(u32::MAX);
                let answer = self.ask(
                    w,
                    query(PageQuery {
                        filter,
                        from: f,
                        scan: DEFAULT_SCAN,
                        limit: want,
                    }),
                )?;
                let p = match answer {
                    WorkerAnswer::NoState => break,
                    other => page(other).ok_or(HandleError::Mismatch(w))?,
                };
                out.extend(p.entries);
                from = p.next;
            }
        }
        Ok(out)
    }
}
