//! platd's Prometheus endpoint: what one scrape shows ([`MetricsView`]),
//! its text exposition ([`exposition`], format 0.0.4, written by
//! prometheus-client) and the small HTTP/1.1 server that answers
//! `GET /metrics` ([`spawn`]).
//!
//! Every scrape is built anew from values the caller has just read (the
//! counter board, the shards' stats and pool4 use through the
//! `ControlHandle`), so this module keeps no state between scrapes and
//! the dataplane never sees a Prometheus type. Names come from the one
//! counter registry (`plat_core::counters`): a registry counter `x` is
//! `plat_x_total` here, a registry gauge `plat_x`.

mod http;

use std::borrow::Cow;

use plat_core::api::{HaStatus, HaStream};
use plat_core::counters::Kind;
use plat_core::nat::{Pool4Use, Proto, ShardStats, SHARD_STATS};
use plat_dataplane::counters::CounterBoard;
use prometheus_client::collector::Collector;
use prometheus_client::encoding::{prometheus_text, DescriptorEncoder, EncodeMetric};
use prometheus_client::metrics::counter::ConstCounter;
use prometheus_client::metrics::gauge::ConstGauge;
use prometheus_client::metrics::info::Info;
use prometheus_client::metrics::MetricType;
use prometheus_client::registry::Registry;

pub use http::{spawn, Render};

/// The prefix of every metric platd exports.
pub const NAMESPACE: &str = "plat";

/// `Content-Type` of the exposition (Prometheus text format 0.0.4).
pub const CONTENT_TYPE: &str = prometheus_text::CONTENT_TYPE;

/// The `worker` label of the counter board's last row.
const CONTROL_ROW: &str = "control";

/// What one scrape shows, all of it read by the caller.
#[derive(Debug, Clone, Copy)]
pub struct MetricsView<'a> {
    /// Every registry counter: rows are the workers `0..n-1`, then the
    /// control thread (the last row).
    pub board: &'a CounterBoard,
    /// Each worker's NAT state (`None`: a worker without NAT state).
    pub shards: &'a [Option<ShardStats>],
    /// Port use per pool4 address, summed over the workers.
    pub pool4: &'a [Pool4Use],
    /// Each worker's busy share of its polls over the last second (0..1).
    pub busy: &'a [f64],
    /// Seconds since platd started.
    pub uptime_s: f64,
    /// How many configurations platd has applied (1 for the first).
    pub config_generation: u64,
    /// platd's version, as `platd --version` prints it.
    pub version: &'a str,
    /// The HA pair as the sync thread last saw it (`None`: not paired).
    pub ha: Option<&'a HaStatus>,
}

/// The Prometheus text exposition (format 0.0.4) of `view`.
pub fn exposition(view: &MetricsView) -> String {
    let mut registry = Registry::with_prefix(NAMESPACE);
    registry.register_collector(Box::new(Scrape(families(view))));
    let mut out = String::new();
    // Writing into a String cannot fail, and the collector fails only
    // with its writer.
    prometheus_text::encode(&mut out, &registry).expect("encoding into a String");
    out
}

// ---------------------------------------------------------------------
// The exposition: one scrape as metric families, encoded in order by a
// prometheus-client collector.

/// A sample's labels, in the order they are written.
type Labels = Vec<(&'static str, String)>;

/// A gauge's value.
#[derive(Debug, Clone, Copy)]
enum Level {
    Count(u64),
    Ratio(f64),
}

/// One metric family's samples.
#[derive(Debug)]
enum Samples {
    Counter(Vec<(Labels, u64)>),
    Gauge(Vec<(Labels, Level)>),
    /// A constant 1 whose labels carry the information (`_info`).
    Info(Labels),
}

impl Samples {
    fn metric_type(&self) -> MetricType {
        match self {
            Samples::Counter(_) => MetricType::Counter,
            Samples::Gauge(_) => MetricType::Gauge,
            Samples::Info(_) => MetricType::Info,
        }
    }

    fn is_empty(&self) -> bool {
        match self {
            Samples::Counter(s) => s.is_empty(),
            Samples::Gauge(s) => s.is_empty(),
            Samples::Info(_) => false,
        }
    }
}

/// One metric family: its name without the namespace (nor, for a
/// counter, `_total`: the encoder adds both), its help and samples.
#[derive(Debug)]
struct Family {
    name: Cow<'static, str>,
    help: Cow<'static, str>,
    samples: Samples,
}

/// A scrape as the registry's one collector, so that families and series
/// come out in a fixed order (workers ascending, protocols in
/// `Proto::ALL` order) rather than a hash map's.
#[derive(Debug)]
struct Scrape(Vec<Family>);

impl Collector for Scrape {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        for f in self.0.iter().filter(|f| !f.samples.is_empty()) {
            let mut metric =
                encoder.encode_descriptor(&f.name, &f.help, None, f.samples.metric_type())?;
            match &f.samples {
                Samples::Counter(samples) => {
                    for (labels, v) in samples {
                        ConstCounter::new(*v).encode(metric.encode_family(labels)?)?;
                    }
                }
                Samples::Gauge(samples) => {
                    for (labels, v) in samples {
                        let series = metric.encode_family(labels)?;
                        match *v {
                            Level::Count(v) => ConstGauge::new(v).encode(series)?,
                            Level::Ratio(v) => ConstGauge::new(v).encode(series)?,
                        }
                    }
                }
                Samples::Info(labels) => Info::new(labels.clone()).encode(metric)?,
            }
        }
        Ok(())
    }
}

/// NAT state gauges per worker and protocol: name, help, values.
type PerProto = (
    &'static str,
    &'static str,
    fn(&ShardStats) -> [u32; Proto::COUNT],
);
const SHARD_PER_PROTO: &[PerProto] = &[
    (
        "sessions",
        "NAT64 sessions in the worker's table, by protocol.",
        |s| s.sessions_by_proto,
    ),
    (
        "bib_entries",
        "BIB entries (bindings of an IPv6 transport address to a pool4 one) in the worker's table, by protocol.",
        |s| s.bibs_by_proto,
    ),
];

/// Pool4 gauges per address and protocol: name, help, value from
/// (used, total).
type Pool4Gauge = (&'static str, &'static str, fn(u32, u32) -> Level);
const POOL4_GAUGES: &[Pool4Gauge] = &[
    (
        "pool4_ports_used",
        "Ports (ICMP identifiers) of the pool4 address in use, summed over workers.",
        |used, _| Level::Count(used.into()),
    ),
    (
        // Not `_total`: that suffix is for counters.
        "pool4_ports_capacity",
        "Ports (ICMP identifiers) of the pool4 address the workers may hand out.",
        |_, total| Level::Count(total.into()),
    ),
    (
        "pool4_utilisation_ratio",
        "Share of the pool4 address's ports in use (0 when it has none).",
        |used, total| Level::Ratio(utilisation(used, total)),
    ),
];

/// `used` over `total`, 0 for an address without ports (so an unused
/// protocol does not show as NaN).
fn utilisation(used: u32, total: u32) -> f64 {
    if total == 0 {
        0.0
    } else {
        f64::from(used) / f64::from(total)
    }
}

/// The `worker` label of the board's row `row` out of `rows`.
fn row_label(row: usize, rows: usize) -> String {
    if row + 1 == rows {
        CONTROL_ROW.to_owned()
    } else {
        row.to_string()
    }
}

/// Every family of one scrape, in exposition order.
fn families(view: &MetricsView) -> Vec<Family> {
    let mut out = Vec::new();

    let board = view.board;
    let rows = board.workers();
    for (i, desc) in board.descs().iter().enumerate() {
        let labels = |row| vec![("worker", row_label(row, rows))];
        let samples = match desc.kind {
            Kind::Counter => {
                Samples::Counter((0..rows).map(|r| (labels(r), board.get(r, i))).collect())
            }
            Kind::Gauge => Samples::Gauge(
                (0..rows)
                    .map(|r| (labels(r), Level::Count(board.get(r, i))))
                    .collect(),
            ),
        };
        out.push(Family {
            name: desc.name.into(),
            help: desc.help.into(),
            samples,
        });
    }

    let shards = || {
        view.shards
            .iter()
            .enumerate()
            .filter_map(|(w, s)| s.as_ref().map(|s| (w.to_string(), s)))
    };
    for &(name, help, values) in SHARD_PER_PROTO {
        let samples = shards()
            .flat_map(|(w, s)| {
                let values = values(s);
                Proto::ALL.map(|p| {
                    let labels = vec![("proto", p.name().to_owned()), ("worker", w.clone())];
                    (labels, Level::Count(values[p.index()].into()))
                })
            })
            .collect();
        out.push(Family {
            name: name.into(),
            help: help.into(),
            samples: Samples::Gauge(samples),
        });
    }
    for stat in &SHARD_STATS {
        let samples = match stat.kind {
            Kind::Counter => Samples::Counter(
                shards()
                    .map(|(w, s)| (vec![("worker", w)], (stat.read)(s)))
                    .collect(),
            ),
            Kind::Gauge => Samples::Gauge(
                shards()
                    .map(|(w, s)| (vec![("worker", w)], Level::Count((stat.read)(s))))
                    .collect(),
            ),
        };
        out.push(Family {
            name: stat.name.into(),
            help: stat.help.into(),
            samples,
        });
    }

    for &(name, help, level) in POOL4_GAUGES {
        let samples = view
            .pool4
            .iter()
            .flat_map(|u| {
                Proto::ALL.map(|p| {
                    let labels = vec![
                        ("address", u.addr.to_string()),
                        ("proto", p.name().to_owned()),
                    ];
                    (labels, level(u.used[p.index()], u.total[p.index()]))
                })
            })
            .collect();
        out.push(Family {
            name: name.into(),
            help: help.into(),
            samples: Samples::Gauge(samples),
        });
    }

    out.push(Family {
        name: "worker_busy_ratio".into(),
        help: "Share of the worker's polls over the last second that found packets.".into(),
        samples: Samples::Gauge(
            view.busy
                .iter()
                .enumerate()
                .map(|(w, b)| (vec![("worker", w.to_string())], Level::Ratio(*b)))
                .collect(),
        ),
    });
    if let Some(ha) = view.ha {
        ha_families(ha, &mut out);
    }
    out.push(Family {
        name: "uptime_seconds".into(),
        help: "Seconds since platd started.".into(),
        samples: Samples::Gauge(vec![(Vec::new(), Level::Ratio(view.uptime_s))]),
    });
    out.push(Family {
        name: "config_generation".into(),
        help: "Configurations platd has applied since it started (1: the first).".into(),
        samples: Samples::Gauge(vec![(Vec::new(), Level::Count(view.config_generation))]),
    });
    out.push(Family {
        name: "build".into(),
        help: "platd's version; the value is always 1.".into(),
        samples: Samples::Info(vec![("version", view.version.to_owned())]),
    });
    out
}

/// The HA pair: role, peer, each worker's stream, and every HA counter
/// (`plat_ha_<name>_total`, the names `platctl ha show` prints).
fn ha_families(ha: &HaStatus, out: &mut Vec<Family>) {
    let gauge = |name: &'static str, help: &'static str, samples| Family {
        name: name.into(),
        help: help.into(),
        samples: Samples::Gauge(samples),
    };
    let flag = |b: bool| Level::Count(u64::from(b));
    out.push(gauge(
        "ha_active",
        "1 while this node is the pair's active (translating), 0 while standby.",
        vec![(Vec::new(), flag(ha.role == "active"))],
    ));
    out.push(gauge(
        "ha_peer_alive",
        "1 while the peer's heartbeats arrive within the dead interval.",
        vec![(Vec::new(), flag(ha.peer.as_ref().is_some_and(|p| p.alive)))],
    ));
    let per_worker = |f: fn(&HaStream) -> Level| {
        ha.streams
            .iter()
            .map(|s| (vec![("worker", s.worker.to_string())], f(s)))
            .collect()
    };
    out.push(gauge(
        "ha_stream_sequence",
        "Last sync message sent (active) or applied in order (standby), per worker.",
        per_worker(|s| Level::Count(s.seq)),
    ));
    out.push(gauge(
        "ha_stream_unacked",
        "Active: sync messages sent and not yet acknowledged by the standby (the sync lag).",
        per_worker(|s| Level::Count(s.seq.saturating_sub(s.acked))),
    ));
    out.push(gauge(
        "ha_stream_in_sync",
        "1 while the worker's stream is whole (no dump under way, no open gap).",
        per_worker(|s| Level::Count(u64::from(s.in_sync))),
    ));
    for (name, v) in &ha.counters {
        out.push(Family {
            name: format!("ha_{name}").into(),
            help: format!("HA sync: {} (platctl ha show).", name.replace('_', " ")).into(),
            samples: Samples::Counter(vec![(Vec::new(), *v)]),
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::{BTreeMap, BTreeSet};
    use std::io::Write;
    use std::net::Ipv4Addr;
    use std::sync::Arc;

    use plat_dataplane::appliance::board_descs;
    use plat_dataplane::counters::LocalCounters;

    const VERSION: &str = "0.1.0 (git abc123, DPDK 23.11.0)";

    /// A small scrape: two workers and the control thread; worker 1 has
    /// no NAT state.
    fn small_exposition() -> (String, Arc<CounterBoard>) {
        let board = CounterBoard::new(board_descs(), 3);
        let rx = board.index("rx_inside").unwrap();
        let replies = board.index("host_replies").unwrap();
        let mut w0 = LocalCounters::new(Arc::clone(&board), 0);
        let mut w1 = LocalCounters::new(Arc::clone(&board), 1);
        let mut control = LocalCounters::new(Arc::clone(&board), 2);
        w0.add(rx, 5);
        w1.add(rx, 7);
        control.add(replies, 3);
        for c in [&w0, &w1, &control] {
            c.publish();
        }
        let stats = ShardStats {
            sessions: 4,
            bibs: 3,
            sessions_by_proto: [1, 2, 1],
            bibs_by_proto: [1, 1, 1],
            subscribers: 2,
            held_syns: 1,
            sessions_created: 10,
            sessions_expired: 6,
            bibs_created: 8,
            events_lost: 2,
            ..ShardStats::default()
        };
        let pool4 = [Pool4Use {
            addr: Ipv4Addr::new(192, 0, 2, 1),
            used: [16, 32, 0],
            total: [64, 64, 0],
        }];
        let ha = HaStatus {
            role: "active".into(),
            node_id: 1,
            priority: 200,
            peer: None,
            streams: vec![HaStream {
                worker: 0,
                seq: 10,
                acked: 7,
                in_sync: true,
            }],
            counters: [
                ("gaps_unrecovered".to_string(), 2),
                ("sent".to_string(), 10),
            ]
            .into(),
        };
        let view = MetricsView {
            board: &board,
            shards: &[Some(stats), None],
            pool4: &pool4,
            busy: &[0.25, 0.0],
            uptime_s: 12.5,
            config_generation: 2,
            version: VERSION,
            ha: Some(&ha),
        };
        (exposition(&view), board)
    }

    /// The families of an exposition, checked line by line against the
    /// text format 0.0.4: each family's HELP and TYPE once and before its
    /// samples, valid names and labels, every sample of its family, no
    /// series twice, numeric values. Returns each series (name and labels
    /// as written) with its value, and each family's type.
    fn parse(text: &str) -> (BTreeMap<String, f64>, BTreeMap<String, String>) {
        fn valid_name(n: &str) -> bool {
            let mut b = n.bytes();
            b.next()
                .is_some_and(|c| c.is_ascii_alphabetic() || c == b'_' || c == b':')
                && b.all(|c| c.is_ascii_alphanumeric() || c == b'_' || c == b':')
        }
        /// The label set `{...}` at the start of `s`, checked, and the rest.
        fn labels(s: &str) -> (&str, &str) {
            let bytes = s.as_bytes();
            let mut i = 1;
            let mut names = BTreeSet::new();
            while bytes[i] != b'}' {
                let eq = s[i..].find('=').expect("label without =") + i;
                let name = &s[i..eq];
                assert!(valid_name(name) && !name.contains(':'), "label {name:?}");
                assert!(names.insert(name), "label {name} twice in {s}");
                assert_eq!(bytes[eq + 1], b'"', "unquoted value in {s}");
                i = eq + 2;
                while bytes[i] != b'"' {
                    if bytes[i] == b'\\' {
                        assert!(matches!(bytes[i + 1], b'\\' | b'"' | b'n'), "escape in {s}");
                        i += 1;
                    }
                    i += 1;
                }
                i += 1;
                match bytes[i] {
                    b',' => i += 1,
                    b'}' => {}
                    _ => panic!("after a label value: {s}"),
                }
            }
            (&s[..=i], &s[i + 1..])
        }

        let mut series = BTreeMap::new();
        let mut types = BTreeMap::new();
        let mut helps = BTreeSet::new();
        let mut current: Option<String> = None;
        for line in text.lines() {
            if let Some(rest) = line.strip_prefix("# HELP ") {
                let (name, help) = rest.split_once(' ').expect("HELP without text");
                assert!(valid_name(name), "HELP name {name:?}");
                assert!(!help.trim().is_empty(), "{name}: empty help");
                assert!(helps.insert(name.to_owned()), "{name}: HELP twice");
                assert!(!types.contains_key(name), "{name}: HELP after TYPE");
            } else if let Some(rest) = line.strip_prefix("# TYPE ") {
                let (name, kind) = rest.split_once(' ').expect("TYPE without type");
                assert!(valid_name(name), "TYPE name {name:?}");
                assert!(
                    matches!(kind, "counter" | "gauge" | "untyped"),
                    "{name}: {kind}"
                );
                assert!(helps.contains(name), "{name}: no HELP");
                let old = types.insert(name.to_owned(), kind.to_owned());
                assert!(old.is_none(), "{name}: TYPE twice");
                current = Some(name.to_owned());
            } else {
                assert!(!line.starts_with('#') && !line.is_empty(), "line {line:?}");
                let end = line.find(['{', ' ']).expect("sample without value");
                let name = &line[..end];
                assert_eq!(Some(name), current.as_deref(), "sample outside its family");
                let (labels, rest) = if line[end..].starts_with('{') {
                    labels(&line[end..])
                } else {
                    ("", &line[end..])
                };
                let value = rest.strip_prefix(' ').expect("no space before the value");
                let value: f64 = value.parse().unwrap_or_else(|_| panic!("value in {line}"));
                let old = series.insert(format!("{name}{labels}"), value);
                assert!(old.is_none(), "series twice: {line}");
            }
        }
        (series, types)
    }

    #[test]
    fn every_registry_counter_has_help_type_and_a_sample_per_worker_and_control() {
        let (text, board) = small_exposition();
        let (series, types) = parse(&text);
        for desc in board.descs() {
            let (name, kind) = match desc.kind {
                Kind::Counter => (format!("plat_{}_total", desc.name), "counter"),
                Kind::Gauge => (format!("plat_{}", desc.name), "gauge"),
            };
            assert!(
                text.contains(&format!("# HELP {name} {}\n", desc.help)),
                "{name}: help"
            );
            assert_eq!(types.get(&name).map(String::as_str), Some(kind), "{name}");
            for worker in ["0", "1", "control"] {
                assert!(
                    series.contains_key(&format!("{name}{{worker=\"{worker}\"}}")),
                    "{name} of worker {worker}"
                );
            }
        }
        assert_eq!(series["plat_rx_inside_total{worker=\"0\"}"], 5.0);
        assert_eq!(series["plat_rx_inside_total{worker=\"1\"}"], 7.0);
        assert_eq!(series["plat_rx_inside_total{worker=\"control\"}"], 0.0);
        assert_eq!(series["plat_host_replies_total{worker=\"control\"}"], 3.0);
    }

    #[test]
    fn ha_role_streams_and_losses_are_exposed() {
        let (text, _) = small_exposition();
        let (series, types) = parse(&text);
        assert_eq!(series["plat_ha_active"], 1.0);
        assert_eq!(series["plat_ha_peer_alive"], 0.0);
        assert_eq!(series["plat_ha_stream_unacked{worker=\"0\"}"], 3.0);
        assert_eq!(series["plat_ha_stream_sequence{worker=\"0\"}"], 10.0);
        assert_eq!(series["plat_ha_gaps_unrecovered_total"], 2.0);
        assert_eq!(types["plat_ha_sent_total"], "counter");
    }

    #[test]
    fn nat_state_pool4_and_process_metrics_are_labelled_and_valued() {
        let (text, _) = small_exposition();
        let (series, types) = parse(&text);
        let expect = [
            ("plat_sessions{proto=\"tcp\",worker=\"0\"}", 1.0),
            ("plat_sessions{proto=\"udp\",worker=\"0\"}", 2.0),
            ("plat_bib_entries{proto=\"icmp\",worker=\"0\"}", 1.0),
            ("plat_nat_subscribers{worker=\"0\"}", 2.0),
            ("plat_nat_held_syns{worker=\"0\"}", 1.0),
            ("plat_nat_sessions_created_total{worker=\"0\"}", 10.0),
            ("plat_nat_sessions_expired_total{worker=\"0\"}", 6.0),
            ("plat_nat_bib_entries_created_total{worker=\"0\"}", 8.0),
            ("plat_nat_events_lost_total{worker=\"0\"}", 2.0),
            (
                "plat_pool4_ports_used{address=\"192.0.2.1\",proto=\"udp\"}",
                32.0,
            ),
            (
                "plat_pool4_ports_capacity{address=\"192.0.2.1\",proto=\"udp\"}",
                64.0,
            ),
            (
                "plat_pool4_utilisation_ratio{address=\"192.0.2.1\",proto=\"tcp\"}",
                0.25,
            ),
            (
                "plat_pool4_utilisation_ratio{address=\"192.0.2.1\",proto=\"udp\"}",
                0.5,
            ),
            // An address without ICMP identifiers is not NaN.
            (
                "plat_pool4_utilisation_ratio{address=\"192.0.2.1\",proto=\"icmp\"}",
                0.0,
            ),
            ("plat_worker_busy_ratio{worker=\"0\"}", 0.25),
            ("plat_worker_busy_ratio{worker=\"1\"}", 0.0),
            ("plat_uptime_seconds", 12.5),
            ("plat_config_generation", 2.0),
            (
                "plat_build_info{version=\"0.1.0 (git abc123, DPDK 23.11.0)\"}",
                1.0,
            ),
        ];
        for (s, v) in expect {
            assert_eq!(series.get(s), Some(&v), "{s}");
        }
        // Worker 1 keeps no NAT state: no NAT series for it.
        assert!(!series
            .keys()
            .any(|s| s.starts_with("plat_sessions{") && s.contains("worker=\"1\"")));
        assert_eq!(types["plat_nat_sessions_created_total"], "counter");
        assert_eq!(types["plat_sessions"], "gauge");
        assert_eq!(types["plat_build_info"], "gauge");
        // Families come out in a fixed order (no hash map in between).
        assert_eq!(text, small_exposition().0);
    }

    #[test]
    fn promtool_accepts_the_exposition_without_lint_problems() {
        if std::process::Command::new("promtool")
            .arg("--version")
            .output()
            .is_err()
        {
            println!("promtool is not on PATH (Debian package `prometheus`): check skipped");
            return;
        }
        let (text, _) = small_exposition();
        let mut child = std::process::Command::new("promtool")
            .args(["check", "metrics"])
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .expect("running promtool");
        let mut stdin = child.stdin.take().unwrap();
        stdin.write_all(text.as_bytes()).unwrap();
        drop(stdin);
        let out = child.wait_with_output().unwrap();
        let said = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        // promtool: 0 clean, 3 lint problems, 1 not parsed.
        assert_eq!(out.status.code(), Some(0), "promtool: {said}");
    }
}
