//! Who held IPv4 address A, port P (protocol optional) at time T, from
//! the JSON lines of one or more log files given in any order (a file and
//! its rotations: `nat.log`, `nat.log.1`, ...).
//!
//! Sans-IO: the caller hands in lines ([`Search::line`]) and takes the
//! answer ([`Search::finish`]). Creates and deletes of the same thing are
//! paired by time, whichever file they came from:
//!
//! - BIB entries by (protocol, pool address, port): a BIB entry owns its
//!   IPv4 transport address, so two never overlap;
//! - sessions by (protocol, pool endpoint, IPv6 endpoint, destination if
//!   logged), for a protocol whose lines have no BIB entry on the port
//!   (sessions of one BIB entry overlap, and all name the same subscriber);
//! - port blocks by (protocol, pool address, first and last port).
//!
//! A holding whose delete is not in the files is open-ended; one whose
//! create is not in them started before the first line, and answers only
//! for times from the first line on (the files say nothing of earlier
//! times). A line that does not parse, or lacks what its event needs, is
//! counted and skipped.

use std::collections::BTreeMap;
use std::net::{Ipv4Addr, Ipv6Addr};

use serde::{Deserialize, Serialize};

use super::line::{parse_line, LogLine};
use super::NatEvent;
use crate::nat::{Endpoint4, Endpoint6, Proto};

/// What to look for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SearchQuery {
    /// The pool4 address and port (an ICMP identifier for ICMP).
    pub v4: Endpoint4,
    /// One protocol, or all three.
    pub proto: Option<Proto>,
    /// The time, milliseconds since the Unix epoch.
    pub at_ms: u64,
}

/// What a holding was.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum HoldingKind {
    Bib,
    Session,
    Block,
}

/// Who held the port, and when.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Holding {
    pub kind: HoldingKind,
    pub proto: Proto,
    /// The subscriber's IPv6 source address and port (BIB entries and
    /// sessions).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub v6: Option<Endpoint6>,
    /// The subscriber's prefix (blocks).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subscriber: Option<Ipv6Addr>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prefix_len: Option<u8>,
    /// The pool address and the ports held: the one port, or the block.
    pub v4: Ipv4Addr,
    pub first: u16,
    pub last: u16,
    /// A session's destination, when the log has it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub remote: Option<Endpoint4>,
    /// From; `None`: before the first line of the files.
    #[serde(with = "opt_time")]
    pub from: Option<u64>,
    /// Until; `None`: no end in the files (still held when they end).
    #[serde(with = "opt_time")]
    pub until: Option<u64>,
    /// Whether `until` is the next holder's start rather than a logged
    /// end (the end's record was lost).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub until_inferred: bool,
    pub worker: u16,
}

/// The answer.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SearchResult {
    /// Every holding whose interval contains the time, oldest first.
    pub holdings: Vec<Holding>,
    /// Lines read (empty ones not counted).
    pub lines: u64,
    /// Lines skipped because they are not log lines.
    pub bad_lines: u64,
    /// The time of the first and the last good line, if any.
    #[serde(with = "opt_time")]
    pub first_line: Option<u64>,
    #[serde(with = "opt_time")]
    pub last_line: Option<u64>,
}

/// A search in progress.
#[derive(Debug)]
pub struct Search {
    q: SearchQuery,
    /// The lines about the query's address and port.
    found: Vec<LogLine>,
    lines: u64,
    bad: u64,
    span: Option<(u64, u64)>,
}

/// What one relevant line is about, for pairing.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Key {
    Bib(Proto),
    Session(Proto, Endpoint6, Option<Endpoint4>),
    Block(Proto, u16, u16),
}

impl Search {
    pub fn new(q: SearchQuery) -> Search {
        Search {
            q,
            found: Vec::new(),
            lines: 0,
            bad: 0,
            span: None,
        }
    }

    /// Reads one line (with or without its `\n`).
    pub fn line(&mut self, text: &str) {
        if text.trim().is_empty() {
            return;
        }
        self.lines += 1;
        let Ok(l) = parse_line(text) else {
            self.bad += 1;
            return;
        };
        let relevant = match self.relevant(&l) {
            Ok(r) => r,
            Err(()) => {
                self.bad += 1;
                return;
            }
        };
        self.span = Some(match self.span {
            None => (l.time, l.time),
            Some((a, b)) => (a.min(l.time), b.max(l.time)),
        });
        if relevant {
            self.found.push(l);
        }
    }

    /// Whether `l` is about the query's port; `Err` if it lacks what its
    /// event needs.
    fn relevant(&self, l: &LogLine) -> Result<bool, ()> {
        let binding = matches!(
            l.event,
            NatEvent::BibCreate
                | NatEvent::BibDelete
                | NatEvent::SessionCreate
                | NatEvent::SessionDelete
        );
        let block = matches!(l.event, NatEvent::BlockAlloc | NatEvent::BlockFree);
        if !binding && !block {
            return Ok(false);
        }
        let (Some(proto), Some(v4)) = (l.proto, l.v4) else {
            return Err(());
        };
        if binding && (l.v4_port.is_none() || l.v6.is_none() || l.v6_port.is_none()) {
            return Err(());
        }
        if block && (l.first.is_none() || l.last.is_none() || l.subscriber.is_none()) {
            return Err(());
        }
        let q = &self.q;
        let port = q.v4.port;
        Ok(q.proto.is_none_or(|p| p == proto)
            && v4 == q.v4.addr
            && if binding {
                l.v4_port == Some(port)
            } else {
                l.first.is_some_and(|f| f <= port) && l.last.is_some_and(|t| port <= t)
            })
    }

    fn key(l: &LogLine, bib_protos: &[Proto]) -> Option<Key> {
        let proto = l.proto?;
        Some(match l.event {
            NatEvent::BibCreate | NatEvent::BibDelete => Key::Bib(proto),
            NatEvent::SessionCreate | NatEvent::SessionDelete if !bib_protos.contains(&proto) => {
                let remote = l
                    .remote
                    .map(|a| Endpoint4::new(a, l.remote_port.unwrap_or(0)));
                Key::Session(proto, Endpoint6::new(l.v6?, l.v6_port?), remote)
            }
            NatEvent::BlockAlloc | NatEvent::BlockFree => Key::Block(proto, l.first?, l.last?),
            _ => return None,
        })
    }

    /// Pairs what was read and answers.
    pub fn finish(self) -> SearchResult {
        let mut found = self.found;
        // Files come in any order; within one, lines are in order, and a
        // stable sort keeps that order among lines of the same millisecond.
        found.sort_by_key(|l| l.time);
        let bib_protos: Vec<Proto> = found
            .iter()
            .filter(|l| matches!(l.event, NatEvent::BibCreate | NatEvent::BibDelete))
            .filter_map(|l| l.proto)
            .collect();
        let mut by_key: BTreeMap<Key, (Vec<&LogLine>, Vec<&LogLine>)> = BTreeMap::new();
        for l in &found {
            if let Some(k) = Search::key(l, &bib_protos) {
                let e = by_key.entry(k).or_default();
                if l.event.is_create() {
                    e.0.push(l);
                } else {
                    e.1.push(l);
                }
            }
        }
        let first_line = self.span.map(|(a, _)| a);
        let at = self.q.at_ms;
        let mut holdings: Vec<Holding> = by_key
            .iter()
            .flat_map(|(k, (creates, deletes))| pair(k, creates, deletes))
            .filter(|h| {
                let from = h.from.or(first_line).unwrap_or(0);
                from <= at && h.until.is_none_or(|u| at <= u)
            })
            .collect();
        holdings.sort_by_key(|h| (h.from, h.kind, h.proto));
        SearchResult {
            holdings,
            lines: self.lines,
            bad_lines: self.bad,
            first_line,
            last_line: self.span.map(|(_, b)| b),
        }
    }
}

/// The holdings of one key from its creates and deletes, each in time
/// order: each create takes the first delete at or after it that no
/// earlier create took. For a key only one holder has at a time (BIB
/// entries, blocks), a create whose delete is missing ends where the next
/// create starts.
fn pair(k: &Key, creates: &[&LogLine], deletes: &[&LogLine]) -> Vec<Holding> {
    let unique = !matches!(k, Key::Session(..));
    let mut out = Vec::new();
    let mut j = 0;
    for (i, c) in creates.iter().enumerate() {
        // A delete before this create that no earlier create took: its
        // create is not in the files.
        while let Some(d) = deletes.get(j).filter(|d| d.time < c.time) {
            out.push(holding(k, d, None, Some(d.time), false));
            j += 1;
        }
        let next = creates.get(i + 1).filter(|_| unique).map(|n| n.time);
        match deletes.get(j) {
            Some(d) if next.is_none_or(|n| d.time <= n) => {
                out.push(holding(k, c, Some(c.time), Some(d.time), false));
                j += 1;
            }
            _ => out.push(holding(k, c, Some(c.time), next, next.is_some())),
        }
    }
    for d in &deletes[j.min(deletes.len())..] {
        out.push(holding(k, d, None, Some(d.time), false));
    }
    out
}

fn holding(k: &Key, l: &LogLine, from: Option<u64>, until: Option<u64>, inferred: bool) -> Holding {
    let (kind, proto, remote) = match *k {
        Key::Bib(p) => (HoldingKind::Bib, p, None),
        Key::Session(p, _, r) => (HoldingKind::Session, p, r),
        Key::Block(p, ..) => (HoldingKind::Block, p, None),
    };
    let port = l.v4_port.unwrap_or(0);
    Holding {
        kind,
        proto,
        v6: l.v6.zip(l.v6_port).map(|(a, p)| Endpoint6::new(a, p)),
        subscriber: l.subscriber.filter(|_| kind == HoldingKind::Block),
        prefix_len: l.prefix_len.filter(|_| kind == HoldingKind::Block),
        v4: l.v4.unwrap_or(Ipv4Addr::UNSPECIFIED),
        first: l.first.unwrap_or(port),
        last: l.last.unwrap_or(port),
        remote,
        from,
        until,
        until_inferred: inferred,
        worker: l.worker,
    }
}

/// An optional time as RFC 3339 text (`null` when absent).
mod opt_time {
    use serde::{Deserialize, Deserializer, Serializer};

    use crate::log::line::{format_time, parse_time};

    pub fn serialize<S: Serializer>(t: &Option<u64>, s: S) -> Result<S::Ok, S::Error> {
        match t {
            Some(ms) => s.collect_str(&format_time(*ms)),
            None => s.serialize_none(),
        }
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<u64>, D::Error> {
        let text = <Option<String>>::deserialize(d)?;
        text.map(|t| parse_time(&t).map_err(serde::de::Error::custom))
            .transpose()
    }
}

#[cfg(test)]
mod tests;
