//! [`ControlHandle`]: the one way platd's servers reach the running
//! workers. It posts queries to the workers' mailboxes and waits for their
//! answers (the workers answer between bursts); listings are fetched as
//! bounded pages, so a table of millions of sessions is read without
//! stalling a worker for more than a page at a time.

use std::net::Ipv6Addr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use plat_core::api::{add_pool4_use, PageQuery, WorkerAnswer, WorkerQuery, DEFAULT_SCAN};
use plat_core::nat::{
    BibInfo, Endpoint4, Holder, Page, Pool4Use, Proto, SessionFilter, SessionInfo, ShardStats,
    SubscriberInfo,
};

use crate::mailbox::Mailbox;

/// How long a worker may take to answer one query.
pub const ANSWER_TIMEOUT: Duration = Duration::from_secs(1);
/// How often a waiting caller looks for its answer.
const POLL: Duration = Duration::from_micros(50);
/// The least time between two pages of one listing: a page costs a
/// worker about 40 µs, so a listing takes at most ~4 % of its time
/// however large the table (a million slots: ~250 pages, ~0.25 s).
pub const PAGE_INTERVAL: Duration = Duration::from_millis(1);

/// Spaces the pages of one listing [`PAGE_INTERVAL`] apart.
#[derive(Debug, Default)]
struct Pacer(Option<Instant>);

impl Pacer {
    fn wait(&mut self) {
        if let Some(last) = self.0 {
            let due = last + PAGE_INTERVAL;
            let now = Instant::now();
            if due > now {
                std::thread::sleep(due - now);
            }
        }
        self.0 = Some(Instant::now());
    }
}

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

    /// Up to `limit` sessions matching `filter` from `at` (worker, slot)
    /// on, and where the next page starts (`None`: nothing is left).
    pub fn sessions(
        &self,
        filter: SessionFilter,
        at: Option<(usize, u32)>,
        limit: usize,
    ) -> Result<Listed<SessionInfo>, HandleError> {
        self.list(filter, at, limit, WorkerQuery::Sessions, |a| match a {
            WorkerAnswer::Sessions(p) => Some(p),
            _ => None,
        })
    }

    /// [`ControlHandle::sessions`] for BIB entries.
    pub fn bib(
        &self,
        filter: SessionFilter,
        at: Option<(usize, u32)>,
        limit: usize,
    ) -> Result<Listed<BibInfo>, HandleError> {
        self.list(filter, at, limit, WorkerQuery::Bib, |a| match a {
            WorkerAnswer::Bib(p) => Some(p),
            _ => None,
        })
    }

    /// How many sessions match `filter`, over every worker.
    pub fn count_sessions(&self, filter: SessionFilter) -> Result<u64, HandleError> {
        self.sweep(filter, WorkerQuery::CountSessions)
    }

    /// How many BIB entries match `filter`, over every worker.
    pub fn count_bib(&self, filter: SessionFilter) -> Result<u64, HandleError> {
        self.sweep(filter, WorkerQuery::CountBib)
    }

    /// Deletes the sessions matching `filter` on every worker, a slice of
    /// its table per answer; returns how many went.
    pub fn clear(&self, filter: SessionFilter) -> Result<u64, HandleError> {
        self.sweep(filter, WorkerQuery::Clear)
    }

    /// The subscriber `addr` belongs to, on each worker that has state of it.
    pub fn subscriber(&self, addr: Ipv6Addr) -> Result<Vec<(usize, SubscriberInfo)>, HandleError> {
        let mut out = Vec::new();
        for w in 0..self.workers() {
            match self.ask(w, WorkerQuery::Subscriber(addr))? {
                WorkerAnswer::Subscriber(Some(s)) => out.push((w, s)),
                WorkerAnswer::Subscriber(None) | WorkerAnswer::NoState => {}
                _ => return Err(HandleError::Mismatch(w)),
            }
        }
        Ok(out)
    }

    /// Who holds the pool4 transport address `v4`, on each worker that
    /// owns state on it (ports are partitioned, so one at most per
    /// protocol).
    pub fn who(
        &self,
        v4: Endpoint4,
        proto: Option<Proto>,
    ) -> Result<Vec<(usize, Holder)>, HandleError> {
        let mut out = Vec::new();
        for w in 0..self.workers() {
            match self.ask(w, WorkerQuery::Who { v4, proto })? {
                WorkerAnswer::Who(h) => out.extend(h.into_iter().map(|h| (w, h))),
                WorkerAnswer::NoState => {}
                _ => return Err(HandleError::Mismatch(w)),
            }
        }
        Ok(out)
    }

    /// Port use per pool4 address, summed over the workers.
    pub fn pool4_use(&self) -> Result<Vec<Pool4Use>, HandleError> {
        let mut sum = Vec::new();
        for w in 0..self.workers() {
            match self.ask(w, WorkerQuery::Pool4Use)? {
                WorkerAnswer::Pool4Use(u) => add_pool4_use(&mut sum, &u),
                WorkerAnswer::NoState => {}
                _ => return Err(HandleError::Mismatch(w)),
            }
        }
        Ok(sum)
    }

    /// Runs a counting query over every worker's whole table.
    fn sweep(
        &self,
        filter: SessionFilter,
        query: fn(PageQuery) -> WorkerQuery,
    ) -> Result<u64, HandleError> {
        let mut total = 0;
        let mut pacer = Pacer::default();
        for w in 0..self.workers() {
            let mut from = Some(0);
            while let Some(f) = from {
                let q = query(PageQuery {
                    filter,
                    from: f,
                    scan: DEFAULT_SCAN,
                    limit: 0,
                });
                pacer.wait();
                match self.ask(w, q)? {
                    WorkerAnswer::Counted { n, next } => {
                        total += u64::from(n);
                        from = next;
                    }
                    WorkerAnswer::NoState => break,
                    _ => return Err(HandleError::Mismatch(w)),
                }
            }
        }
        Ok(total)
    }

    /// Pages through the workers' tables from `at` until `limit` entries
    /// are found or every table is read.
    fn list<T>(
        &self,
        filter: SessionFilter,
        at: Option<(usize, u32)>,
        limit: usize,
        query: fn(PageQuery) -> WorkerQuery,
        page: fn(WorkerAnswer) -> Option<Page<T>>,
    ) -> Result<Listed<T>, HandleError> {
        let mut entries = Vec::new();
        let mut pacer = Pacer::default();
        let mut at = Some(at.unwrap_or((0, 0)));
        while let Some((w, from)) = at {
            if w >= self.workers() {
                at = None;
                break;
            }
            if entries.len() >= limit {
                break;
            }
            let want = u32::try_from(limit - entries.len()).unwrap_or(u32::MAX);
            pacer.wait();
            let answer = self.ask(
                w,
                query(PageQuery {
                    filter,
                    from,
                    scan: DEFAULT_SCAN,
                    limit: want,
                }),
            )?;
            let next = match answer {
                WorkerAnswer::NoState => None,
                other => {
                    let p = page(other).ok_or(HandleError::Mismatch(w))?;
                    entries.extend(p.entries);
                    p.next
                }
            };
            at = match next {
                Some(slot) => Some((w, slot)),
                None if w + 1 < self.workers() => Some((w + 1, 0)),
                None => None,
            };
        }
        Ok(Listed { entries, next: at })
    }
}

/// A page of a listing over every worker.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Listed<T> {
    /// The entries, worker by worker, in slot order.
    pub entries: Vec<T>,
    /// (worker, slot) the next page starts at; `None` when done.
    pub next: Option<(usize, u32)>,
}
