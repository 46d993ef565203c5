//! What the control plane asks a worker and what the worker answers: the
//! queries behind `platctl show sessions`, `show bib` and `show summary`.
//! A worker answers between bursts, so every query is bounded: a listing
//! examines at most [`PageQuery::scan`] slots of the session or BIB slab
//! per answer and says where to go on ([`Page::next`]); the caller pages.
//! `api` reads `nat`, never the reverse.

use crate::nat::{BibInfo, SessionFilter, SessionInfo, ShardStats};

pub use crate::nat::Page;

/// The version of these types; a management client and server agree on it.
pub const VERSION: u32 = 1;

/// Slab slots a worker examines for one listing answer by default: about
/// 20 µs of a worker's time, so a listing of millions of sessions never
/// stalls its packets for long.
pub const DEFAULT_SCAN: u32 = 16_384;

/// One bounded step of a listing.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PageQuery {
    /// What to list.
    pub filter: SessionFilter,
    /// The slab slot to start at (0, then the last answer's `next`).
    pub from: u32,
    /// Slots to examine at most.
    pub scan: u32,
    /// Entries to return at most.
    pub limit: u32,
}

/// A query for one worker.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum WorkerQuery {
    /// The worker's state counts (sessions, BIB entries, subscribers, ...).
    Summary,
    /// A page of sessions.
    Sessions(PageQuery),
    /// A page of BIB entries.
    Bib(PageQuery),
}

/// A worker's answer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum WorkerAnswer {
    /// For [`WorkerQuery::Summary`].
    Summary(ShardStats),
    /// For [`WorkerQuery::Sessions`].
    Sessions(Page<SessionInfo>),
    /// For [`WorkerQuery::Bib`].
    Bib(Page<BibInfo>),
    /// The worker's engine keeps no NAT state (the forward-only engine).
    NoState,
}
