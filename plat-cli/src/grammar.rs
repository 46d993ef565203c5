//! The command grammar: one clap parser for a one-shot command line and
//! for every line typed in the shell, and what each command asks platd
//! (its [`Plan`]).

use std::net::{Ipv4Addr, Ipv6Addr, SocketAddrV4};
use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, Parser, Subcommand};
use plat_core::api::{Command, ListQuery, MAX_LIMIT};
use plat_core::log::{parse_time, SearchQuery};
use plat_core::nat::{Endpoint4, Pool4Entry, PortRange, Proto, SessionFilter, TcpState};
use plat_core::types::{Ipv4Cidr, Ipv6Cidr};

/// Where platd serves its management socket unless told otherwise.
pub const DEFAULT_SOCKET: &str = "/run/plat/platd.sock";

/// A platctl command line; the shell parses each of its lines with it too.
#[derive(Parser, Debug)]
#[command(
    name = "platctl",
    version,
    about = "Admin CLI of the plat NAT64 appliance (no command: the interactive shell)"
)]
pub struct Line {
    /// Path of platd's management socket [default: /run/plat/platd.sock].
    #[arg(long, global = true, value_name = "PATH")]
    pub socket: Option<PathBuf>,
    /// Print each answer as JSON, for scripts.
    #[arg(long, global = true)]
    pub json: bool,
    #[command(subcommand)]
    pub command: Option<Cmd>,
}

/// Every platctl command.
#[derive(Parser, Debug, Clone, PartialEq)]
pub enum Cmd {
    /// Show platd's state.
    #[command(subcommand)]
    Show(Show),
    /// A live view, refreshed until Ctrl-C.
    #[command(subcommand)]
    Watch(Watch),
    /// Change pool4 in the running configuration.
    #[command(subcommand)]
    Pool4(Pool4),
    /// Check or reload the configuration.
    #[command(subcommand)]
    Config(Config),
    /// Act on sessions.
    #[command(subcommand)]
    Session(Session),
    /// Who holds a pool4 address and port now: subscriber, BIB entry, block.
    Who(WhoArgs),
    /// The local NAT event log (read here, no platd needed).
    #[command(subcommand)]
    Log(Log),
    /// The HA pair: its state, or a planned switchover.
    #[command(subcommand)]
    Ha(Ha),
    /// The interactive shell (what platctl runs without a command).
    Shell,
    /// Print a completion script for a shell (bash, zsh, fish, ...).
    Completions {
        /// The shell the script is for.
        shell: clap_complete::Shell,
    },
}

#[derive(Subcommand, Debug, Clone, PartialEq)]
pub enum Show {
    /// Version, uptime, ports, state counts, pool4 use and recent drops.
    Summary,
    /// Every counter, in total and per worker.
    Stats(StatsArgs),
    /// Sessions matching a filter.
    Sessions(ListArgs),
    /// BIB entries matching a filter.
    Bib(ListArgs),
    /// One subscriber's state and caps.
    Subscriber {
        /// Any IPv6 address of the subscriber.
        addr: Ipv6Addr,
    },
    /// pool4 entries and their port use.
    Pool4,
    /// The running configuration.
    Config,
    /// The neighbor (ARP/NDP) cache.
    Neighbors,
    /// Each worker's lcore, load and state counts.
    Workers,
    /// The HA pair: roles, the peer, each worker's sync stream, losses.
    Ha,
}

#[derive(Subcommand, Debug, Clone, PartialEq)]
pub enum Ha {
    /// Roles, the peer, each worker's sync stream, losses (= show ha).
    Show,
    /// Become active now (the peer, if alive, demotes itself).
    Takeover,
    /// Hand the active role to the peer (refused while it is not in sync).
    Release,
}

#[derive(Args, Debug, Clone, PartialEq)]
pub struct StatsArgs {
    /// One worker's counters only.
    #[arg(long, value_name = "N")]
    pub worker: Option<u32>,
    /// Per-second rates over the last second instead of totals.
    #[arg(long)]
    pub rates: bool,
    /// Every counter, also those at zero.
    #[arg(long)]
    pub all: bool,
}

#[derive(Args, Debug, Clone, PartialEq)]
pub struct ListArgs {
    #[command(flatten)]
    pub filter: Filter,
    /// Entries to show at most.
    #[arg(long, value_name = "N", default_value_t = 100,
          value_parser = clap::value_parser!(u64).range(1..))]
    pub limit: u64,
    /// Every matching entry, however many.
    #[arg(long, conflicts_with = "limit")]
    pub all: bool,
    /// Only count the matching entries.
    #[arg(long)]
    pub count: bool,
}

/// Which sessions (or BIB entries); every flag left out matches anything.
#[derive(Args, Debug, Clone, Default, PartialEq)]
pub struct Filter {
    /// tcp, udp or icmp.
    #[arg(long)]
    pub proto: Option<Proto>,
    /// The subscriber's IPv6 address or prefix (ADDR[/LEN]).
    #[arg(long, value_name = "ADDR[/LEN]")]
    pub v6: Option<Ipv6Cidr>,
    /// A pool4 address or remote IPv4 address.
    #[arg(long, value_name = "ADDR")]
    pub v4: Option<Ipv4Addr>,
    /// The subscriber's, the pool4 or the remote port.
    #[arg(long, value_name = "N")]
    pub port: Option<u16>,
    /// A TCP state: established, v6-init, v4-init, v4-fin-rcv, ...
    #[arg(long, value_parser = parse_state)]
    pub state: Option<TcpState>,
}

impl From<&Filter> for SessionFilter {
    fn from(f: &Filter) -> SessionFilter {
        SessionFilter {
            proto: f.proto,
            v6: f.v6,
            v4: f.v4,
            port: f.port,
            state: f.state,
        }
    }
}

#[derive(Subcommand, Debug, Clone, PartialEq)]
pub enum Watch {
    /// Packets, bytes, new sessions, drops and worker load, per second.
    Stats {
        /// Time between two screens.
        #[arg(long, value_name = "MS", default_value_t = 1000,
              value_parser = clap::value_parser!(u64).range(100..))]
        interval_ms: u64,
        /// Stop after this many screens (default: at Ctrl-C).
        #[arg(long, value_name = "N")]
        iterations: Option<u64>,
    },
}

#[derive(Subcommand, Debug, Clone, PartialEq)]
pub enum Pool4 {
    /// Add a pool4 entry (ports 1024-65535 and ICMP ids 0-65535 unless given).
    Add {
        /// An IPv4 address or prefix (ADDR[/LEN]).
        prefix: Ipv4Cidr,
        /// TCP ports to hand out.
        #[arg(long, value_name = "FIRST-LAST", value_parser = parse_range)]
        tcp: Option<PortRange>,
        /// UDP ports to hand out.
        #[arg(long, value_name = "FIRST-LAST", value_parser = parse_range)]
        udp: Option<PortRange>,
        /// ICMP identifiers to hand out.
        #[arg(long, value_name = "FIRST-LAST", value_parser = parse_range)]
        icmp: Option<PortRange>,
    },
    /// Remove a pool4 entry and the state on its addresses.
    Remove {
        /// The entry's prefix, as configured.
        prefix: Ipv4Cidr,
    },
}

#[derive(Subcommand, Debug, Clone, PartialEq)]
pub enum Config {
    /// Validate a configuration file and say what reloading it would change.
    Check {
        /// The file (platctl reads it and sends its text).
        file: PathBuf,
    },
    /// Re-read platd's configuration file and apply what changed.
    Reload,
}

#[derive(Subcommand, Debug, Clone, PartialEq)]
pub enum Session {
    /// Delete the sessions matching a filter (no filter: every session).
    Clear(Filter),
}

#[derive(Args, Debug, Clone, PartialEq)]
pub struct WhoArgs {
    /// The pool4 address and port (for ICMP, the identifier).
    #[arg(value_name = "ADDRESS:PORT", value_parser = parse_endpoint4)]
    pub address: Endpoint4,
    /// tcp, udp or icmp (default: all three).
    #[arg(long)]
    pub proto: Option<Proto>,
}

#[derive(Subcommand, Debug, Clone, PartialEq)]
pub enum Log {
    /// Who held a pool4 address and port at a time, from log files
    /// (exits 0 when it found a holder, 1 when none, 2 on errors).
    Search(LogSearchArgs),
}

#[derive(Args, Debug, Clone, PartialEq)]
pub struct LogSearchArgs {
    /// The pool4 address and port (for ICMP, the identifier).
    #[arg(long, value_name = "ADDRESS:PORT", value_parser = parse_endpoint4)]
    pub v4: Endpoint4,
    /// When: RFC 3339 in UTC (2026-12-05T07:00:00Z) or Unix seconds.
    #[arg(long, value_name = "TIME", value_parser = parse_at)]
    pub at: u64,
    /// tcp, udp or icmp (default: all three).
    #[arg(long)]
    pub proto: Option<Proto>,
    /// The log files, rotated ones too (nat.log nat.log.1 ...), in any order.
    #[arg(value_name = "FILES", required = true)]
    pub files: Vec<PathBuf>,
}

/// What a command does.
#[derive(Clone, Debug, PartialEq)]
pub enum Plan {
    /// One request and its answer, shown as `View` says.
    Ask(Command, View),
    /// A listing, paged.
    List(ListPlan),
    /// `ShowStats` with rates, shown anew every `every`.
    Watch {
        every: Duration,
        /// Screens to show; `None`: until Ctrl-C.
        iterations: Option<u64>,
    },
    /// `ConfigCheck` with this file's text.
    CheckConfig(PathBuf),
    /// A search of local log files; no platd involved.
    LogSearch {
        query: SearchQuery,
        files: Vec<PathBuf>,
    },
    /// The interactive shell.
    Shell,
    /// A completion script for this shell, from the grammar; no platd
    /// involved.
    Completions(clap_complete::Shell),
}

/// How an answer is shown beyond what it holds.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct View {
    /// Counters at zero are shown too.
    pub zeros: bool,
}

/// A listing: requests follow `next` until `want` entries are in.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ListPlan {
    pub of: Listed,
    /// The first request (later ones carry a cursor and what is left).
    pub query: ListQuery,
    /// Entries wanted; `None`: all of them.
    pub want: Option<u64>,
}

/// What a listing lists.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Listed {
    Sessions,
    Bib,
}

impl Listed {
    /// The request for one page.
    pub fn command(self, query: ListQuery) -> Command {
        match self {
            Listed::Sessions => Command::ShowSessions(query),
            Listed::Bib => Command::ShowBib(query),
        }
    }
}

impl ListPlan {
    fn new(of: Listed, a: &ListArgs) -> ListPlan {
        let want = (!a.all).then_some(a.limit);
        ListPlan {
            of,
            query: ListQuery {
                filter: (&a.filter).into(),
                limit: page_limit(want),
                cursor: None,
                count: a.count,
            },
            want,
        }
    }
}

/// The `limit` of a request when `left` entries are still wanted.
pub fn page_limit(left: Option<u64>) -> u32 {
    left.map_or(MAX_LIMIT, |n| n.min(u64::from(MAX_LIMIT)) as u32)
}

impl Cmd {
    /// What this command does.
    pub fn plan(&self) -> Plan {
        let ask = |c| Plan::Ask(c, View::default());
        match self {
            Cmd::Show(s) => match s {
                Show::Summary => ask(Command::ShowSummary),
                Show::Stats(a) => Plan::Ask(
                    Command::ShowStats {
                        worker: a.worker,
                        rates: a.rates,
                    },
                    View { zeros: a.all },
                ),
                Show::Sessions(a) => Plan::List(ListPlan::new(Listed::Sessions, a)),
                Show::Bib(a) => Plan::List(ListPlan::new(Listed::Bib, a)),
                Show::Subscriber { addr } => ask(Command::ShowSubscriber { addr: *addr }),
                Show::Pool4 => ask(Command::ShowPool4),
                Show::Config => ask(Command::ShowConfig),
                Show::Neighbors => ask(Command::ShowNeighbors),
                Show::Workers => ask(Command::ShowWorkers),
                Show::Ha => ask(Command::HaShow),
            },
            Cmd::Ha(Ha::Show) => ask(Command::HaShow),
            Cmd::Ha(Ha::Takeover) => ask(Command::HaTakeover),
            Cmd::Ha(Ha::Release) => ask(Command::HaRelease),
            Cmd::Watch(Watch::Stats {
                interval_ms,
                iterations,
            }) => Plan::Watch {
                every: Duration::from_millis(*interval_ms),
                iterations: *iterations,
            },
            Cmd::Pool4(Pool4::Add {
                prefix,
                tcp,
                udp,
                icmp,
            }) => {
                let mut e = Pool4Entry::new(prefix.addr, prefix.len);
                for (proto, range) in [(Proto::Tcp, tcp), (Proto::Udp, udp), (Proto::Icmp, icmp)] {
                    if let Some(r) = range {
                        e = e.with_range(proto, *r);
                    }
                }
                ask(Command::Pool4Add(e))
            }
            Cmd::Pool4(Pool4::Remove { prefix }) => ask(Command::Pool4Remove { prefix: *prefix }),
            Cmd::Config(Config::Check { file }) => Plan::CheckConfig(file.clone()),
            Cmd::Config(Config::Reload) => ask(Command::ConfigReload),
            Cmd::Session(Session::Clear(f)) => ask(Command::SessionClear { filter: f.into() }),
            Cmd::Who(WhoArgs { address, proto }) => ask(Command::Who {
                v4: *address,
                proto: *proto,
            }),
            Cmd::Log(Log::Search(a)) => Plan::LogSearch {
                query: SearchQuery {
                    v4: a.v4,
                    proto: a.proto,
                    at_ms: a.at,
                },
                files: a.files.clone(),
            },
            Cmd::Shell => Plan::Shell,
            Cmd::Completions { shell } => Plan::Completions(*shell),
        }
    }
}

/// A TCP state as platctl spells it: `V6 FIN + V4 FIN RCV` is
/// `v6-fin-v4-fin-rcv`, a word the shell can complete.
pub fn state_word(s: TcpState) -> String {
    as_word(s.name())
}

fn as_word(name: &str) -> String {
    name.trim()
        .to_ascii_lowercase()
        .replace(" + ", "-")
        .replace(['_', ' '], "-")
}

/// Reads a TCP state in any case, with `-`, `_` or spaces between words.
fn parse_state(s: &str) -> Result<TcpState, String> {
    let word = as_word(s);
    TcpState::ALL
        .into_iter()
        .find(|&t| state_word(t) == word)
        .ok_or_else(|| {
            let all: Vec<String> = TcpState::ALL.into_iter().map(state_word).collect();
            format!("`{s}` is not a TCP state ({})", all.join(", "))
        })
}

/// Reads `ADDRESS:PORT`, an IPv4 transport address.
fn parse_endpoint4(s: &str) -> Result<Endpoint4, String> {
    s.trim()
        .parse::<SocketAddrV4>()
        .map(|a| Endpoint4::new(*a.ip(), a.port()))
        .map_err(|_| format!("`{s}` is not an IPv4 address and port (ADDRESS:PORT)"))
}

/// Reads a time (RFC 3339 UTC or Unix seconds) as milliseconds since
/// the Unix epoch.
fn parse_at(s: &str) -> Result<u64, String> {
    parse_time(s).map_err(|e| e.to_string())
}

/// Reads `FIRST-LAST` (or one port).
fn parse_range(s: &str) -> Result<PortRange, String> {
    let (a, b) = s.split_once('-').unwrap_or((s, s));
    let port = |p: &str| {
        p.trim()
            .parse::<u16>()
            .map_err(|_| format!("`{p}` is not a port (0-65535)"))
    };
    let (first, last) = (port(a)?, port(b)?);
    if first > last {
        return Err(format!("`{s}` starts above its end"));
    }
    Ok(PortRange::new(first, last))
}

#[cfg(test)]
mod tests {
    use super::*;
    use plat_core::api::Cursor;

    fn plan(line: &str) -> Result<Plan, String> {
        let words = shlex::split(line).expect("balanced quotes");
        let parsed = Line::try_parse_from(std::iter::once("platctl".to_string()).chain(words))
            .map_err(|e| e.to_string())?;
        Ok(parsed.command.expect("a command").plan())
    }

    fn ask(c: Command) -> Plan {
        Plan::Ask(c, View::default())
    }

    fn list(of: Listed, filter: SessionFilter, want: Option<u64>, count: bool) -> Plan {
        Plan::List(ListPlan {
            of,
            query: ListQuery {
                filter,
                limit: page_limit(want),
                cursor: None,
                count,
            },
            want,
        })
    }

    #[test]
    fn every_command_line_plans_its_request() {
        let tcp = SessionFilter {
            proto: Some(Proto::Tcp),
            ..SessionFilter::default()
        };
        let full = SessionFilter {
            proto: Some(Proto::Udp),
            v6: Some("2001:db8::/56".parse().unwrap()),
            v4: Some(Ipv4Addr::new(192, 0, 2, 1)),
            port: Some(5353),
            state: None,
        };
        let est = SessionFilter {
            state: Some(TcpState::Established),
            ..SessionFilter::default()
        };
        let any = SessionFilter::default();
        let table: &[(&str, Plan)] = &[
            ("show summary", ask(Command::ShowSummary)),
            (
                "show stats",
                ask(Command::ShowStats {
                    worker: None,
                    rates: false,
                }),
            ),
            (
                "show stats --worker 1 --rates --all",
                Plan::Ask(
                    Command::ShowStats {
                        worker: Some(1),
                        rates: true,
                    },
                    View { zeros: true },
                ),
            ),
            (
                "watch stats",
                Plan::Watch {
                    every: Duration::from_secs(1),
                    iterations: None,
                },
            ),
            (
                "watch stats --interval-ms 250 --iterations 3",
                Plan::Watch {
                    every: Duration::from_millis(250),
                    iterations: Some(3),
                },
            ),
            ("show sessions", list(Listed::Sessions, any, Some(100), false)),
            (
                "show sessions --proto tcp --json",
                list(Listed::Sessions, tcp, Some(100), false),
            ),
            (
                "show sessions --proto UDP --v6 2001:db8::/56 --v4 192.0.2.1 --port 5353 --limit 20000",
                list(Listed::Sessions, full, Some(20_000), false),
            ),
            (
                "show sessions --state ESTABLISHED --all",
                list(Listed::Sessions, est, None, false),
            ),
            (
                "show sessions --state established --count",
                list(Listed::Sessions, est, Some(100), true),
            ),
            (
                "show bib --proto tcp --limit 5",
                list(Listed::Bib, tcp, Some(5), false),
            ),
            ("show bib --count", list(Listed::Bib, any, Some(100), true)),
            (
                "show subscriber 2001:db8::7",
                ask(Command::ShowSubscriber {
                    addr: "2001:db8::7".parse().unwrap(),
                }),
            ),
            ("show pool4", ask(Command::ShowPool4)),
            (
                "pool4 add 192.0.2.0/28",
                ask(Command::Pool4Add(Pool4Entry::new(
                    Ipv4Addr::new(192, 0, 2, 0),
                    28,
                ))),
            ),
            (
                "pool4 add 192.0.2.9 --tcp 2000-2999 --icmp 7",
                ask(Command::Pool4Add(
                    Pool4Entry::new(Ipv4Addr::new(192, 0, 2, 9), 32)
                        .with_range(Proto::Tcp, PortRange::new(2000, 2999))
                        .with_range(Proto::Icmp, PortRange::new(7, 7)),
                )),
            ),
            (
                "pool4 remove 192.0.2.0/28",
                ask(Command::Pool4Remove {
                    prefix: "192.0.2.0/28".parse().unwrap(),
                }),
            ),
            ("show config", ask(Command::ShowConfig)),
            (
                "config check '/etc/plat/new plat.toml'",
                Plan::CheckConfig("/etc/plat/new plat.toml".into()),
            ),
            ("config reload", ask(Command::ConfigReload)),
            ("session clear", ask(Command::SessionClear { filter: any })),
            (
                "session clear --state v6_fin_v4_fin_rcv",
                ask(Command::SessionClear {
                    filter: SessionFilter {
                        state: Some(TcpState::V6FinV4FinRcv),
                        ..any
                    },
                }),
            ),
            ("show neighbors", ask(Command::ShowNeighbors)),
            ("show workers", ask(Command::ShowWorkers)),
            ("show ha", ask(Command::HaShow)),
            ("ha show", ask(Command::HaShow)),
            ("ha takeover", ask(Command::HaTakeover)),
            ("ha release", ask(Command::HaRelease)),
            (
                "who 192.0.2.1:2050",
                ask(Command::Who {
                    v4: Endpoint4::new(Ipv4Addr::new(192, 0, 2, 1), 2050),
                    proto: None,
                }),
            ),
            (
                "who 192.0.2.1:7 --proto icmp",
                ask(Command::Who {
                    v4: Endpoint4::new(Ipv4Addr::new(192, 0, 2, 1), 7),
                    proto: Some(Proto::Icmp),
                }),
            ),
            (
                "log search --v4 192.0.2.1:2050 --at 2026-12-05T07:00:00Z nat.log.1 nat.log",
                Plan::LogSearch {
                    query: SearchQuery {
                        v4: Endpoint4::new(Ipv4Addr::new(192, 0, 2, 1), 2050),
                        proto: None,
                        at_ms: 1_796_454_000_000,
                    },
                    files: vec!["nat.log.1".into(), "nat.log".into()],
                },
            ),
            (
                "log search nat.log --proto udp --at 1796454000 --v4 192.0.2.1:53",
                Plan::LogSearch {
                    query: SearchQuery {
                        v4: Endpoint4::new(Ipv4Addr::new(192, 0, 2, 1), 53),
                        proto: Some(Proto::Udp),
                        at_ms: 1_796_454_000_000,
                    },
                    files: vec!["nat.log".into()],
                },
            ),
            ("shell", Plan::Shell),
            (
                "completions bash",
                Plan::Completions(clap_complete::Shell::Bash),
            ),
            ("completions fish", Plan::Completions(clap_complete::Shell::Fish)),
        ];
        for (line, want) in table {
            assert_eq!(&plan(line).unwrap(), want, "{line}");
        }
    }

    #[test]
    fn a_large_limit_is_asked_a_page_at_a_time() {
        assert_eq!(page_limit(Some(20_000)), MAX_LIMIT);
        assert_eq!(page_limit(Some(7)), 7);
        assert_eq!(page_limit(None), MAX_LIMIT);
        let Plan::List(p) = plan("show sessions --limit 20000").unwrap() else {
            panic!("a listing")
        };
        let next = ListQuery {
            cursor: Some(Cursor { worker: 1, slot: 9 }),
            ..p.query
        };
        assert_eq!(p.of.command(next), Command::ShowSessions(next));
    }

    #[test]
    fn bad_input_says_what_is_wrong() {
        let table = [
            ("show sessions --proto sctp", "`sctp` is not a protocol"),
            (
                "show sessions --v6 nonsense",
                "`nonsense` is not an IPv6 address",
            ),
            (
                "show bib --v6 2001:db8::/129",
                "`/129` is not an IPv6 prefix length",
            ),
            ("pool4 add 1.2.3.4/33", "`/33` is not an IPv4 prefix length"),
            (
                "pool4 add 1.2.3.4 --tcp 3000-2000",
                "`3000-2000` starts above its end",
            ),
            ("pool4 add 1.2.3.4 --udp 70000", "`70000` is not a port"),
            (
                "show sessions --state open",
                "`open` is not a TCP state (closed, v6-init",
            ),
            ("show sessions --limit 0", "--limit"),
            ("show sessions --all --limit 5", "cannot be used with"),
            ("show subscriber 10.0.0.1", "invalid IPv6 address"),
            ("show everything", "unrecognized subcommand 'everything'"),
            ("watch stats --interval-ms 5", "--interval-ms"),
            (
                "who 192.0.2.1",
                "`192.0.2.1` is not an IPv4 address and port",
            ),
            ("who [2001:db8::1]:80", "is not an IPv4 address and port"),
            ("who 192.0.2.1:80 --proto gre", "`gre` is not a protocol"),
            (
                "log search --v4 192.0.2.1:80 --at 1796454000",
                "the following required arguments were not provided",
            ),
            (
                "log search --v4 192.0.2.1:80 --at noon nat.log",
                "`noon` is neither an RFC 3339 UTC time",
            ),
            ("log search --at 1796454000 nat.log", "--v4"),
            ("completions tcsh", "invalid value 'tcsh'"),
        ];
        for (line, want) in table {
            let err = plan(line).expect_err(line);
            assert!(err.contains(want), "{line}: {err}");
        }
    }

    #[test]
    fn every_tcp_state_reads_back_from_its_word() {
        for s in TcpState::ALL {
            assert_eq!(parse_state(&state_word(s)), Ok(s));
            assert_eq!(parse_state(s.name()), Ok(s), "{}", s.name());
        }
        assert_eq!(state_word(TcpState::V4Init), "v4-init");
    }
}
