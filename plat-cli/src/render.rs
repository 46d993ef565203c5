//! What platctl prints: aligned tables and key/value lines for people,
//! the answer as JSON for scripts. Plain text only (no colour, no escape
//! codes), so a pipe gets what a terminal shows.

use std::fmt::{self, Write as _};

use plat_core::api::{
    Answer, Applied, ConfigText, Listing, Neighbor, OnWorker, PerProto, Pool4Status, PortStatus,
    Stats, Summary, WorkerStatus,
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

#[cfg(test)]
mod tests {
    use std::net::{Ipv4Addr, Ipv6Addr};

    use plat_core::api::{Counter, Cursor};
    use plat_core::nat::{
        BlockInfo, Endpoint4, Endpoint6, Pool4Entry, SessionId, ShardStats, TcpState, TimerClass,
    };

    use super::*;

    fn has(text: &str, wanted: &[&str]) {
        for w in wanted {
            assert!(text.contains(w), "`{w}` missing from:\n{text}");
        }
    }

    fn show(a: &Answer) -> String {
        human(a, View::default())
    }

    fn pool_use() -> Pool4Use {
        Pool4Use {
            addr: Ipv4Addr::new(192, 0, 2, 1),
            used: [16128, 100, 0],
            total: [64512, 64512, 65536],
        }
    }

    #[test]
    fn a_table_lines_up_its_columns() {
        let mut t = Table::new(&["NAME", ">N"]);
        t.row(["a", "1"]);
        t.row(["long name", "1000"]);
        assert_eq!(
            t.to_string(),
            "NAME          N\na             1\nlong name  1000\n"
        );
    }

    #[test]
    fn a_summary_shows_ports_protocols_and_pool4() {
        let s = Summary {
            version: "plat 0.1.0 (DPDK 23.11)".into(),
            uptime_s: 90_061,
            role: "standalone".into(),
            workers: 2,
            steering: "rss".into(),
            ports: vec![PortStatus {
                side: Side::Outside,
                name: "0000:03:00.1".into(),
                mac: "02:00:00:00:00:02".into(),
                up: true,
                speed_mbps: 25_000,
                rx_packets: 123_456,
                tx_packets: 654_321,
                rx_bytes: 1,
                tx_bytes: 2,
                rx_missed: 3,
                rx_errors: 4,
                tx_errors: 5,
            }],
            sessions: PerProto {
                tcp: 11,
                udp: 22,
                icmp: 33,
            },
            bibs: PerProto {
                tcp: 7,
                udp: 8,
                icmp: 9,
            },
            subscribers: 42,
            pool4: vec![pool_use()],
            drops_last_second: 17,
            packets_last_second: 99_000,
            config_generation: 3,
        };
        let text = show(&Answer::Summary(s));
        has(
            &text,
            &[
                "plat 0.1.0 (DPDK 23.11)",
                "1d 01:01:01",
                "standalone",
                "outside",
                "0000:03:00.1",
                "25G",
                "123456",
                "654321",
                "total",
                "66",
                "192.0.2.1",
                "16128/64512",
                "25.0%",
                "99000",
            ],
        );
        assert!(
            text.lines()
                .any(|l| l.split_whitespace().eq(["udp", "22", "8"])),
            "{text}"
        );
    }

    #[test]
    fn stats_show_nonzero_counters_per_row_unless_all() {
        let counter = |name: &str, values: Vec<u64>| Counter {
            name: name.into(),
            kind: "counter".into(),
            help: String::new(),
            total: values.iter().sum(),
            values,
        };
        let s = Stats {
            interval_ms: None,
            rows: vec!["worker 0".into(), "worker 1".into(), "control".into()],
            counters: vec![
                counter("rx_inside", vec![5, 7, 0]),
                counter("drop_runt", vec![0, 0, 0]),
            ],
            busy: vec![0.25, 0.5],
        };
        let text = show(&Answer::Stats(s.clone()));
        has(
            &text,
            &[
                "totals since start",
                "worker 1",
                "control",
                "rx_inside",
                "12",
                "25.0%",
                "50.0%",
            ],
        );
        assert!(!text.contains("drop_runt"), "{text}");
        assert!(human(&Answer::Stats(s), View { zeros: true }).contains("drop_runt"));
    }

    fn session(proto: Proto) -> SessionInfo {
        SessionInfo {
            id: SessionId(3),
            proto,
            v6: Endpoint6::new("2001:db8::5".parse().unwrap(), 40000),
            v4: Endpoint4::new(Ipv4Addr::new(192, 0, 2, 1), 1025),
            remote: Endpoint4::new(Ipv4Addr::new(198, 51, 100, 7), 443),
            state: TcpState::V4FinRcv,
            timer: TimerClass::TcpEst,
            expires: 7440,
            expires_in: 7000,
            held: false,
            hairpin: true,
        }
    }

    #[test]
    fn sessions_show_endpoints_state_and_expiry() {
        let l = Listing {
            entries: vec![session(Proto::Tcp), session(Proto::Udp)],
            next: Some(Cursor { worker: 1, slot: 2 }),
            count: None,
        };
        let text = show(&Answer::Sessions(l));
        has(
            &text,
            &[
                "[2001:db8::5]:40000",
                "192.0.2.1:1025",
                "198.51.100.7:443",
                "v4-fin-rcv",
                "7000s",
                "hairpin",
                "2 sessions; more match",
            ],
        );
        let count: Listing<SessionInfo> = Listing {
            entries: Vec::new(),
            next: None,
            count: Some(1234),
        };
        assert_eq!(show(&Answer::Sessions(count)), "1234\n");
    }

    #[test]
    fn bib_entries_show_both_sides_and_their_sessions() {
        let l = Listing {
            entries: vec![BibInfo {
                proto: Proto::Icmp,
                v6: Endpoint6::new("2001:db8::9".parse().unwrap(), 77),
                v4: Endpoint4::new(Ipv4Addr::new(192, 0, 2, 3), 78),
                is_static: true,
                sessions: 4,
            }],
            next: None,
            count: None,
        };
        let text = show(&Answer::Bib(l));
        has(
            &text,
            &[
                "icmp",
                "[2001:db8::9]:77",
                "192.0.2.3:78",
                "yes",
                "1 BIB entries",
            ],
        );
        assert!(
            text.lines().nth(1).unwrap().trim_end().ends_with('4'),
            "{text}"
        );
    }

    #[test]
    fn a_subscriber_shows_its_use_caps_and_blocks() {
        let info = SubscriberInfo {
            prefix: "2001:db8:0:100::/56".parse().unwrap(),
            sessions: 12,
            ports: [3, 4, 0],
            pool4: Some(Ipv4Addr::new(192, 0, 2, 1)),
            blocks: vec![BlockInfo {
                proto: Proto::Udp,
                addr: Ipv4Addr::new(192, 0, 2, 1),
                first: 2048,
                last: 2175,
            }],
            max_sessions: 2000,
            max_ports: 0,
        };
        let text = show(&Answer::Subscriber(vec![OnWorker { worker: 1, info }]));
        has(
            &text,
            &[
                "2001:db8:0:100::/56",
                "12 of 2000",
                "udp 4 (no cap)",
                "192.0.2.1",
                "2048-2175",
            ],
        );
        assert!(show(&Answer::Subscriber(Vec::new())).contains("no worker holds state"));
    }

    #[test]
    fn pool4_shows_entries_ranges_and_use() {
        let p = Pool4Status {
            entries: vec![Pool4Entry::new(Ipv4Addr::new(192, 0, 2, 0), 28)
                .with_range(Proto::Tcp, PortRange::new(2000, 2999))],
            addrs: vec![pool_use()],
        };
        let text = show(&Answer::Pool4(p));
        has(
            &text,
            &[
                "192.0.2.0/28",
                "2000-2999",
                "1024-65535",
                "0-65535",
                "16128/64512",
                "25.0%",
            ],
        );
    }

    #[test]
    fn config_applied_and_cleared_say_what_they_hold() {
        let c = ConfigText {
            path: "/etc/plat/plat.toml".into(),
            generation: 4,
            toml: "[nat64]\nprefix = \"64:ff9b::/96\"".into(),
        };
        has(
            &show(&Answer::Config(c)),
            &["/etc/plat/plat.toml", "generation 4", "64:ff9b::/96\"\n"],
        );
        let a = Applied {
            generation: 5,
            changes: vec!["nat64.timeouts.udp: 300 -> 120".into()],
        };
        has(
            &show(&Answer::Applied(a)),
            &["generation 5", "nat64.timeouts.udp: 300 -> 120"],
        );
        has(
            &show(&Answer::Cleared { sessions: 17 }),
            &["17 sessions cleared"],
        );
    }

    #[test]
    fn neighbors_and_workers_are_tables() {
        let n = vec![Neighbor {
            side: Side::Inside,
            ip: Ipv6Addr::LOCALHOST.into(),
            mac: None,
            state: "incomplete".into(),
            age_s: 3,
        }];
        has(
            &show(&Answer::Neighbors(n)),
            &["inside", "::1", "incomplete", "-"],
        );
        let w = vec![WorkerStatus {
            worker: 1,
            lcore: 5,
            busy: 0.125,
            rx_per_second: 800_000,
            state: Some(ShardStats {
                sessions: 321,
                bibs: 123,
                subscribers: 9,
                ..ShardStats::default()
            }),
        }];
        has(
            &show(&Answer::Workers(w)),
            &["12.5%", "800000", "321", "123"],
        );
    }

    #[test]
    fn who_shows_the_subscriber_its_entry_and_its_block() {
        let v4 = Endpoint4::new(Ipv4Addr::new(192, 0, 2, 1), 2050);
        let holder = |proto, bib: bool| Holder {
            proto,
            subscriber: "2001:db8:0:100::/56".parse().unwrap(),
            bib: bib.then(|| BibInfo {
                proto,
                v6: Endpoint6::new("2001:db8:0:100::5".parse().unwrap(), 40000),
                v4,
                is_static: false,
                sessions: 3,
            }),
            block: Some(BlockInfo {
                proto,
                addr: v4.addr,
                first: 2048,
                last: 2175,
            }),
        };
        let text = show(&Answer::Who(vec![
            OnWorker {
                worker: 1,
                info: holder(Proto::Tcp, true),
            },
            OnWorker {
                worker: 1,
                info: holder(Proto::Udp, false),
            },
        ]));
        has(
            &text,
            &[
                "SUBSCRIBER",
                "2001:db8:0:100::/56",
                "[2001:db8:0:100::5]:40000",
                "192.0.2.1:2050",
                "192.0.2.1:2048-2175",
            ],
        );
        let rows: Vec<Vec<&str>> = text
            .lines()
            .map(|l| l.split_whitespace().collect())
            .collect();
        assert_eq!(rows[1].last(), Some(&"1"), "{text}");
        assert_eq!(rows[1][5], "3", "{text}");
        assert_eq!(rows[2][0], "udp", "{text}");
        assert_eq!(rows[2][2], "-", "no BIB entry on the port: {text}");
        assert_eq!(show(&Answer::Who(Vec::new())), "no one holds it\n");
    }

    #[test]
    fn a_search_shows_each_holding_and_what_was_read() {
        use plat_core::log::Holding;

        let q = SearchQuery {
            v4: Endpoint4::new(Ipv4Addr::new(192, 0, 2, 1), 2050),
            proto: None,
            at_ms: 1_796_454_000_000,
        };
        let bib = Holding {
            kind: HoldingKind::Bib,
            proto: Proto::Tcp,
            v6: Some(Endpoint6::new("2001:db8::5".parse().unwrap(), 40000)),
            subscriber: None,
            prefix_len: None,
            v4: q.v4.addr,
            first: 2050,
            last: 2050,
            remote: None,
            from: None,
            until: Some(1_796_454_060_000),
            until_inferred: true,
            worker: 3,
        };
        let block = Holding {
            kind: HoldingKind::Block,
            proto: Proto::Udp,
            v6: None,
            subscriber: Some("2001:db8:0:100::".parse().unwrap()),
            prefix_len: Some(56),
            first: 2048,
            last: 2175,
            from: Some(1_796_453_000_000),
            until: None,
            until_inferred: false,
            ..bib.clone()
        };
        let r = SearchResult {
            holdings: vec![bib, block],
            lines: 12,
            bad_lines: 1,
            first_line: Some(1_796_450_000_000),
            last_line: Some(1_796_460_000_000),
        };
        let text = search(&r, &q);
        has(
            &text,
            &[
                "bib",
                "2001:db8::5",
                "[2001:db8::5]:40000",
                "192.0.2.1:2050",
                "before the logs",
                "2026-12-05T07:01:00.000Z (next holder)",
                "2001:db8:0:100::/56",
                "192.0.2.1:2048-2175",
                "still held",
                "192.0.2.1:2050 at 2026-12-05T07:00:00.000Z: 12 lines from",
            ],
        );
        let none = SearchResult {
            holdings: Vec::new(),
            ..r
        };
        assert!(search(&none, &q).starts_with("nobody held 192.0.2.1:2050 at"));
    }

    #[test]
    fn json_is_the_answer_itself() {
        let a = Answer::Cleared { sessions: 2 };
        let text = json(&a);
        assert_eq!(serde_json::from_str::<Answer>(&text).unwrap(), a);
        assert!(text.contains("\n  "), "pretty: {text}");
    }
}
