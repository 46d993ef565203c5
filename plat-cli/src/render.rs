//! What platctl prints: aligned tables and key/value lines for people,
//! the answer as JSON for scripts. Plain text only (no colour, no escape
//! codes), so a pipe gets what a terminal shows.

use std::fmt::{self, Write as _};

use plat_core::api::{
    Answer, Applied, ConfigText, HaStatus, Listing, Neighbor, OnWorker, PerProto, Pool4Status,
    PortStatus, Stats, Summary, WorkerStatus,
};
use plat_core::nat::{
    BibInfo, Holder, Pool4Use, PortRange, Proto, SessionInfo, Side, SubscriberInfo,
};

use plat_core::log::{format_time, HoldingKind, SearchQuery, SearchResult};

use crate::grammar::{state_word, View};

/// Columns aligned on their widest cell.
#[derive(Debug)]
pub struct Table {
    head: Vec<String>,
    right: Vec<bool>,
    rows: Vec<Vec<String>>,
}

impl Table {
    /// Columns named `head`; a name written `>NAME` is right-aligned (for
    /// numbers), as in `format!("{:>}")`.
    pub fn new(head: &[&str]) -> Table {
        Table {
            head: head
                .iter()
                .map(|h| h.trim_start_matches('>').to_string())
                .collect(),
            right: head.iter().map(|h| h.starts_with('>')).collect(),
            rows: Vec::new(),
        }
    }

    pub fn row<S: ToString>(&mut self, cells: impl IntoIterator<Item = S>) {
        self.rows
            .push(cells.into_iter().map(|c| c.to_string()).collect());
    }
}

impl fmt::Display for Table {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let width = |i: usize| {
            std::iter::once(&self.head)
                .chain(&self.rows)
                .filter_map(|r| r.get(i))
                .map(|c| c.chars().count())
                .max()
                .unwrap_or(0)
        };
        let widths: Vec<usize> = (0..self.head.len()).map(width).collect();
        for row in std::iter::once(&self.head).chain(&self.rows) {
            let mut line = String::new();
            for (i, cell) in row.iter().enumerate() {
                let w = widths.get(i).copied().unwrap_or(0);
                if i > 0 {
                    line.push_str("  ");
                }
                if self.right.get(i) == Some(&true) {
                    let _ = write!(line, "{cell:>w$}");
                } else {
                    let _ = write!(line, "{cell:<w$}");
                }
            }
            writeln!(f, "{}", line.trim_end())?;
        }
        Ok(())
    }
}

/// `key  value` lines, the values lined up.
fn pairs(lines: &[(&str, String)]) -> String {
    let w = lines.iter().map(|(k, _)| k.len()).max().unwrap_or(0);
    lines
        .iter()
        .map(|(k, v)| format!("{k:<w$}  {v}\n"))
        .collect()
}

/// The answer as one pretty JSON document.
pub fn json(answer: &Answer) -> String {
    let mut s = serde_json::to_string_pretty(answer).expect("an answer has only string keys");
    s.push('\n');
    s
}

/// The answer for people.
pub fn human(answer: &Answer, view: View) -> String {
    match answer {
        Answer::Summary(s) => summary(s),
        Answer::Stats(s) => stats(s, view.zeros),
        Answer::Sessions(l) => listing(l, "sessions", sessions),
        Answer::Bib(l) => listing(l, "BIB entries", bib),
        Answer::Subscriber(on) => subscriber(on),
        Answer::Pool4(p) => pool4(p),
        Answer::Config(c) => config(c),
        Answer::Applied(a) => applied(a),
        Answer::Cleared { sessions } => format!("{sessions} sessions cleared\n"),
        Answer::Neighbors(n) => neighbors(n),
        Answer::Workers(w) => workers(w),
        Answer::Who(on) => who(on),
        Answer::Ha(h) => ha(h),
    }
}

fn side(s: Side) -> &'static str {
    match s {
        Side::Inside => "inside",
        Side::Outside => "outside",
    }
}

fn yes(b: bool) -> &'static str {
    if b {
        "yes"
    } else {
        "no"
    }
}

/// A share (0.0-1.0) as a percentage.
pub fn percent(share: f64) -> String {
    format!("{:.1}%", share * 100.0)
}

/// `3d 04:05:06`.
fn uptime(s: u64) -> String {
    let hms = format!("{:02}:{:02}:{:02}", s / 3600 % 24, s / 60 % 60, s % 60);
    match s / 86_400 {
        0 => hms,
        d => format!("{d}d {hms}"),
    }
}

fn summary(s: &Summary) -> String {
    let mut out = pairs(&[
        ("version", s.version.clone()),
        ("uptime", uptime(s.uptime_s)),
        ("role", s.role.clone()),
        ("workers", s.workers.to_string()),
        ("steering", s.steering.clone()),
        ("subscribers", s.subscribers.to_string()),
        ("packets/s", s.packets_last_second.to_string()),
        ("drops/s", s.drops_last_second.to_string()),
        ("config generation", s.config_generation.to_string()),
    ]);
    out.push('\n');
    out += &ports(&s.ports).to_string();
    out.push('\n');
    out += &per_proto(&s.sessions, &s.bibs).to_string();
    out.push('\n');
    out += &pool4_use(&s.pool4).to_string();
    out
}

fn ports(ports: &[PortStatus]) -> Table {
    let mut t = Table::new(&[
        "PORT",
        "NAME",
        "MAC",
        "LINK",
        ">SPEED",
        ">RX PKTS",
        ">TX PKTS",
        ">RX BYTES",
        ">TX BYTES",
        ">RX MISSED",
        ">RX ERRORS",
        ">TX ERRORS",
    ]);
    for p in ports {
        t.row([
            side(p.side).to_string(),
            p.name.clone(),
            p.mac.clone(),
            (if p.up { "up" } else { "down" }).to_string(),
            match p.speed_mbps {
                0 => "-".to_string(),
                m if m % 1000 == 0 => format!("{}G", m / 1000),
                m => format!("{m}M"),
            },
            p.rx_packets.to_string(),
            p.tx_packets.to_string(),
            p.rx_bytes.to_string(),
            p.tx_bytes.to_string(),
            p.rx_missed.to_string(),
            p.rx_errors.to_string(),
            p.tx_errors.to_string(),
        ]);
    }
    t
}

fn per_proto(sessions: &PerProto, bibs: &PerProto) -> Table {
    let mut t = Table::new(&["PROTO", ">SESSIONS", ">BIB"]);
    for p in Proto::ALL {
        t.row([
            p.name().to_string(),
            sessions.get(p).to_string(),
            bibs.get(p).to_string(),
        ]);
    }
    t.row([
        "total".to_string(),
        sessions.total().to_string(),
        bibs.total().to_string(),
    ]);
    t
}

/// The share of its protocol's ports an address uses, for the protocol
/// nearest exhaustion (the one that refuses new sessions first).
fn fullest(u: &Pool4Use) -> f64 {
    Proto::ALL
        .iter()
        .map(|p| match u.total[p.index()] {
            0 => 0.0,
            t => f64::from(u.used[p.index()]) / f64::from(t),
        })
        .fold(0.0, f64::max)
}

fn pool4_use(addrs: &[Pool4Use]) -> Table {
    let mut t = Table::new(&["ADDRESS", ">TCP", ">UDP", ">ICMP", ">USE"]);
    for u in addrs {
        let mut row = vec![u.addr.to_string()];
        row.extend(Proto::ALL.map(|p| format!("{}/{}", u.used[p.index()], u.total[p.index()])));
        row.push(percent(fullest(u)));
        t.row(row);
    }
    t
}

fn stats(s: &Stats, zeros: bool) -> String {
    let mut out = match s.interval_ms {
        Some(ms) => format!("per second, over the last {ms} ms\n\n"),
        None => "totals since start\n\n".to_string(),
    };
    let mut head = vec!["NAME".to_string(), ">TOTAL".to_string()];
    head.extend(s.rows.iter().map(|r| format!(">{r}")));
    let head: Vec<&str> = head.iter().map(String::as_str).collect();
    let mut t = Table::new(&head);
    let shown = s
        .counters
        .iter()
        .filter(|c| zeros || c.total != 0 || c.values.iter().any(|&v| v != 0));
    let mut any = false;
    for c in shown {
        any = true;
        let mut row = vec![c.name.clone(), c.total.to_string()];
        row.extend(c.values.iter().map(u64::to_string));
        t.row(row);
    }
    if any {
        out += &t.to_string();
    } else {
        out += "every counter is at zero (--all shows them)\n";
    }
    if !s.busy.is_empty() {
        let busy: Vec<String> = s
            .busy
            .iter()
            .enumerate()
            .map(|(w, &b)| format!("worker {w} {}", percent(b)))
            .collect();
        let _ = writeln!(out, "\nbusy: {}", busy.join(", "));
    }
    out
}

/// A listing: its table, or its count alone (for scripts).
fn listing<T>(l: &Listing<T>, what: &str, table: fn(&[T]) -> Table) -> String {
    if let Some(n) = l.count {
        return format!("{n}\n");
    }
    if l.entries.is_empty() {
        return format!("no {what}\n");
    }
    let mut out = table(&l.entries).to_string();
    let _ = write!(out, "{} {what}", l.entries.len());
    if l.next.is_some() {
        out += "; more match (raise --limit, or --all)";
    }
    out.push('\n');
    out
}

fn sessions(entries: &[SessionInfo]) -> Table {
    let mut t = Table::new(&[
        "PROTO",
        "V6",
        "V4",
        "REMOTE",
        "STATE",
        ">EXPIRES IN",
        "FLAGS",
    ]);
    for s in entries {
        let flags: Vec<&str> = [(s.held, "held"), (s.hairpin, "hairpin")]
            .into_iter()
            .filter_map(|(on, name)| on.then_some(name))
            .collect();
        t.row([
            s.proto.to_string(),
            s.v6.to_string(),
            s.v4.to_string(),
            s.remote.to_string(),
            match s.proto {
                Proto::Tcp => state_word(s.state),
                _ => "-".to_string(),
            },
            format!("{}s", s.expires_in),
            flags.join(","),
        ]);
    }
    t
}

fn bib(entries: &[BibInfo]) -> Table {
    let mut t = Table::new(&["PROTO", "V6", "V4", "STATIC", ">SESSIONS"]);
    for b in entries {
        t.row([
            b.proto.to_string(),
            b.v6.to_string(),
            b.v4.to_string(),
            yes(b.is_static).to_string(),
            b.sessions.to_string(),
        ]);
    }
    t
}

/// `12 of 2000`, or `12 (no cap)` when the cap is 0.
fn of_cap(n: u32, cap: u32) -> String {
    match cap {
        0 => format!("{n} (no cap)"),
        c => format!("{n} of {c}"),
    }
}

fn subscriber(on: &[OnWorker<SubscriberInfo>]) -> String {
    if on.is_empty() {
        return "no worker holds state of this subscriber\n".to_string();
    }
    let mut out = String::new();
    for OnWorker { worker, info: s } in on {
        if !out.is_empty() {
            out.push('\n');
        }
        let ports: Vec<String> = Proto::ALL
            .iter()
            .map(|p| format!("{p} {}", of_cap(s.ports[p.index()], s.max_ports)))
            .collect();
        out += &pairs(&[
            ("worker", worker.to_string()),
            ("prefix", s.prefix.to_string()),
            ("sessions", of_cap(s.sessions, s.max_sessions)),
            ("ports", ports.join(", ")),
            (
                "pool4",
                s.pool4
                    .map_or_else(|| "none yet".to_string(), |a| a.to_string()),
            ),
        ]);
        if !s.blocks.is_empty() {
            let mut t = Table::new(&["PROTO", "ADDRESS", "PORTS"]);
            for b in &s.blocks {
                t.row([
                    b.proto.to_string(),
                    b.addr.to_string(),
                    range(PortRange::new(b.first, b.last)),
                ]);
            }
            out.push('\n');
            out += &t.to_string();
        }
    }
    out
}

/// What `log search` found: one row per holding, then what was read.
pub fn search(r: &SearchResult, q: &SearchQuery) -> String {
    let asked = format!(
        "{}{} at {}",
        q.v4,
        q.proto.map(|p| format!(" ({p})")).unwrap_or_default(),
        format_time(q.at_ms)
    );
    let read = match (r.first_line, r.last_line) {
        (Some(a), Some(b)) => format!(
            "{} lines from {} to {}",
            r.lines,
            format_time(a),
            format_time(b)
        ),
        _ => format!("{} lines, none of them a log line", r.lines),
    };
    if r.holdings.is_empty() {
        return format!("nobody held {asked} ({read})\n");
    }
    let mut t = Table::new(&[
        "KIND",
        "PROTO",
        "SUBSCRIBER",
        "V6",
        "V4",
        "FROM",
        "UNTIL",
        ">WORKER",
    ]);
    for h in &r.holdings {
        let kind = match h.kind {
            HoldingKind::Bib => "bib",
            HoldingKind::Session => "session",
            HoldingKind::Block => "block",
        };
        let subscriber = match (h.subscriber, h.prefix_len, h.v6) {
            (Some(s), Some(len), _) => format!("{s}/{len}"),
            (_, _, Some(v6)) => v6.addr.to_string(),
            _ => "-".to_string(),
        };
        let v4 = if h.first == h.last {
            format!("{}:{}", h.v4, h.first)
        } else {
            format!("{}:{}", h.v4, range(PortRange::new(h.first, h.last)))
        };
        let until = match h.until {
            None => "still held".to_string(),
            Some(u) if h.until_inferred => format!("{} (next holder)", format_time(u)),
            Some(u) => format_time(u),
        };
        t.row([
            kind.to_string(),
            h.proto.to_string(),
            subscriber,
            h.v6.map_or_else(|| "-".to_string(), |e| e.to_string()),
            v4,
            h.from
                .map_or_else(|| "before the logs".to_string(), format_time),
            until,
            h.worker.to_string(),
        ]);
    }
    format!("{t}{asked}: {read}\n")
}

/// Who holds a pool4 transport address: one row per protocol in use.
fn who(on: &[OnWorker<Holder>]) -> String {
    if on.is_empty() {
        return "no one holds it\n".to_string();
    }
    let mut t = Table::new(&[
        "PROTO",
        "SUBSCRIBER",
        "V6",
        "V4",
        "BLOCK",
        ">SESSIONS",
        ">WORKER",
    ]);
    let dash = || "-".to_string();
    for OnWorker { worker, info: h } in on {
        t.row([
            h.proto.to_string(),
            h.subscriber.to_string(),
            h.bib.as_ref().map_or_else(dash, |b| b.v6.to_string()),
            h.bib.as_ref().map_or_else(dash, |b| b.v4.to_string()),
            h.block.as_ref().map_or_else(dash, |b| {
                format!("{}:{}", b.addr, range(PortRange::new(b.first, b.last)))
            }),
            h.bib.as_ref().map_or_else(dash, |b| b.sessions.to_string()),
            worker.to_string(),
        ]);
    }
    t.to_string()
}

fn range(r: PortRange) -> String {
    format!("{}-{}", r.first, r.last)
}

fn pool4(p: &Pool4Status) -> String {
    if p.entries.is_empty() {
        return "no pool4 entries\n".to_string();
    }
    let mut t = Table::new(&["PREFIX", "TCP PORTS", "UDP PORTS", "ICMP IDS"]);
    for e in &p.entries {
        let mut row = vec![format!("{}/{}", e.prefix, e.prefix_len)];
        row.extend(e.ranges.map(range));
        t.row(row);
    }
    format!("{t}\n{}", pool4_use(&p.addrs))
}

fn config(c: &ConfigText) -> String {
    let mut out = format!("# {}, generation {}\n{}", c.path, c.generation, c.toml);
    if !out.ends_with('\n') {
        out.push('\n');
    }
    out
}

fn applied(a: &Applied) -> String {
    if a.changes.is_empty() {
        return format!("generation {}: no change\n", a.generation);
    }
    let mut out = format!("generation {}:\n", a.generation);
    for c in &a.changes {
        let _ = writeln!(out, "  {c}");
    }
    out
}

fn neighbors(n: &[Neighbor]) -> String {
    if n.is_empty() {
        return "no neighbors\n".to_string();
    }
    let mut t = Table::new(&["SIDE", "ADDRESS", "MAC", "STATE", ">AGE S"]);
    for e in n {
        t.row([
            side(e.side).to_string(),
            e.ip.to_string(),
            e.mac.clone().unwrap_or_else(|| "-".to_string()),
            e.state.clone(),
            e.age_s.to_string(),
        ]);
    }
    t.to_string()
}

fn workers(w: &[WorkerStatus]) -> String {
    let mut t = Table::new(&[
        ">WORKER",
        ">LCORE",
        ">BUSY",
        ">RX/S",
        ">SESSIONS",
        ">BIB",
        ">SUBSCRIBERS",
    ]);
    for s in w {
        let state = |f: fn(&plat_core::nat::ShardStats) -> u32| {
            s.state
                .as_ref()
                .map_or_else(|| "-".to_string(), |st| f(st).to_string())
        };
        t.row([
            s.worker.to_string(),
            s.lcore.to_string(),
            percent(s.busy),
            s.rx_per_second.to_string(),
            state(|st| st.sessions),
            state(|st| st.bibs),
            state(|st| st.subscribers),
        ]);
    }
    t.to_string()
}

fn ha(h: &HaStatus) -> String {
    let mut lines = vec![
        ("role", h.role.clone()),
        ("node", format!("{} (priority {})", h.node_id, h.priority)),
    ];
    let peer = h.peer.as_ref().map_or_else(
        || "never heard".to_string(),
        |p| {
            format!(
                "{} {} (priority {}), {}{}",
                p.node_id,
                p.role,
                p.priority,
                if p.alive { "alive" } else { "dead" },
                if p.compatible { "" } else { ", INCOMPATIBLE" },
            )
        },
    );
    lines.push(("peer", peer));
    let mut out = pairs(&lines);
    let mut t = Table::new(&[">WORKER", ">SEQ", ">ACKED", "IN-SYNC"]);
    for s in &h.streams {
        t.row([
            s.worker.to_string(),
            s.seq.to_string(),
            s.acked.to_string(),
            yes(s.in_sync).to_string(),
        ]);
    }
    out.push('\n');
    out.push_str(&t.to_string());
    let counters: Vec<(&str, String)> = h
        .counters
        .iter()
        .map(|(k, v)| (k.as_str(), v.to_string()))
        .collect();
    out.push('\n');
    out.push_str(&pairs(&counters));
    out
}

#[cfg(test)]
mod tests;
