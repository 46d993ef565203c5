//! The appliance's configuration: the TOML file `platd --config` reads,
//! parsed and validated into typed values before anything starts.
//!
//! Every refusal names the field and the reason (`ConfigError`), so an
//! operator can fix the file without reading code.

use std::net::{Ipv4Addr, Ipv6Addr};
use std::str::FromStr;

use serde::Deserialize;

use crate::addr::{Prefix6052, Prefixes};
use crate::nat::{
    Endpoint4, Endpoint6, Filtering, Limits, NatConfig, Pool4Entry, PortRange, Proto, Timeouts,
};
use crate::xlat::XlatConfig;

pub use crate::types::{ConfigError, Ipv4Cidr, Ipv6Cidr};

mod ha;
mod live;
mod nat_log;

pub use ha::{HaConfig, HaKey};
pub use nat_log::{NatLogConfig, SHARD_EVENTS_PER_POLL};

/// An Ethernet MAC address, written `02:00:00:00:00:01`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct MacAddr(pub [u8; 6]);

impl FromStr for MacAddr {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        let mut out = [0u8; 6];
        let mut parts = s.split([':', '-']);
        for byte in &mut out {
            let p = parts
                .next()
                .ok_or_else(|| format!("`{s}` is not a MAC address (six hex bytes)"))?;
            if p.len() != 2 {
                return Err(format!("`{s}` is not a MAC address (six hex bytes)"));
            }
            *byte = u8::from_str_radix(p, 16)
                .map_err(|_| format!("`{s}` is not a MAC address (bad hex `{p}`)"))?;
        }
        if parts.next().is_some() {
            return Err(format!("`{s}` is not a MAC address (more than six bytes)"));
        }
        Ok(MacAddr(out))
    }
}

crate::types::serde_as_text!(MacAddr);

impl std::fmt::Display for MacAddr {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let m = self.0;
        write!(
            f,
            "{:02x}:{:02x}:{:02x}:{:02x}:{:02x}:{:02x}",
            m[0], m[1], m[2], m[3], m[4], m[5]
        )
    }
}

/// The prefix a pool4 entry covers (its port ranges set aside).
impl From<&Pool4Entry> for Ipv4Cidr {
    fn from(entry: &Pool4Entry) -> Self {
        Ipv4Cidr {
            addr: entry.prefix,
            len: entry.prefix_len,
        }
    }
}

pub use crate::types::Side;

/// How return traffic reaches the worker that owns its session.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Steering {
    /// RSS where both ports can be programmed for it, handoff otherwise.
    #[default]
    Auto,
    /// Program the NICs' RSS key and redirection table (refused at start
    /// when a port cannot).
    Rss,
    /// Workers pass packets they do not own to the owner through rings.
    Handoff,
}

/// A route: destinations in `prefix` go to `via` (or are on-link when
/// `via` is absent).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct Route<C, A> {
    /// Destination prefix.
    pub prefix: C,
    /// Next hop; `None` for on-link.
    pub via: Option<A>,
}

/// A neighbor with a fixed MAC (for testers that never answer ARP/ND).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct StaticNeighbor<A> {
    /// The neighbor's address.
    pub ip: A,
    /// Its MAC.
    pub mac: MacAddr,
}

/// One side's link: the DPDK port and the appliance's presence on it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct LinkConfig<C, A> {
    /// DPDK port name (`net_af_packet0`, a PCI address, ...).
    pub port: String,
    /// The appliance's own addresses on the link, with their on-link
    /// prefix.
    pub addresses: Vec<C>,
    /// Link MTU (IP packet size).
    pub mtu: u16,
    /// Routes, most specific wins; destinations inside an address's
    /// prefix are on-link without one.
    pub routes: Vec<Route<C, A>>,
    /// Neighbors with fixed MACs.
    pub neighbors: Vec<StaticNeighbor<A>>,
    /// MAC to give the port (replays and testers that send to a fixed
    /// MAC); `None` keeps the device's.
    pub mac: Option<MacAddr>,
}

/// The inside (IPv6) link.
pub type InsideConfig = LinkConfig<Ipv6Cidr, Ipv6Addr>;
/// The outside (IPv4) link.
pub type OutsideConfig = LinkConfig<Ipv4Cidr, Ipv4Addr>;

/// Workers and how they poll.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct WorkersConfig {
    /// Return-traffic steering.
    pub steering: Steering,
    /// Packets per rx burst.
    pub burst: u16,
    /// Microseconds to sleep after a run of empty polls (0: pure polling,
    /// the production setting; labs sharing cores with test hosts want
    /// some).
    pub idle_sleep_us: u32,
    /// Pass frames through untranslated (an I/O-ceiling benchmark mode,
    /// never for production).
    pub forward_only: bool,
    /// ICMP errors each worker may originate per second (RFC 4443 2.4 (f)
    /// requires a limit); 0 sends none.
    pub icmp_errors_per_second: u32,
    /// Packet buffers in the pool; `None` sizes it from the queues and
    /// rings. Replays that preload a capture (`net_pcap` `infinite_rx`)
    /// need one per captured frame on top.
    pub mbufs: Option<u32>,
}

/// Where the management socket listens, and who may use it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct MgmtConfig {
    /// Unix socket path.
    pub socket: String,
    /// The socket file's permission bits (0660: owner and group).
    pub mode: u32,
    /// The group that owns the socket (its members may use `platctl`);
    /// `None` keeps platd's own group.
    pub group: Option<String>,
}

/// The Prometheus endpoint.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct MetricsConfig {
    /// Where `/metrics` is served over HTTP; `None`: not served.
    pub listen: Option<std::net::SocketAddr>,
}

/// How platd logs.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct LoggingConfig {
    /// Lines for people or JSON objects for a log pipeline.
    pub format: LogFormat,
    /// A `tracing` filter (`info`, `warn,platd=debug`); `RUST_LOG` wins.
    pub level: Option<String>,
    /// NAT event logging (bindings, port blocks, exhaustion).
    pub nat: NatLogConfig,
}

/// The log line format.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    /// One human-readable line per event.
    #[default]
    Human,
    /// One JSON object per event.
    Json,
}

/// Smallest IPv6 link MTU (RFC 8200 5).
pub const MIN_MTU: u16 = crate::xlat::IPV6_MIN_MTU;
/// Smallest IPv4 link MTU (RFC 791: every internet module must forward a
/// datagram of 68 octets without further fragmentation). Tunnels of
/// 1000-1400 are common; the translator fragments (DF clear) or answers
/// Packet Too Big with at least 1280 (RFC 7915 5.1, 5.2).
pub const MIN_IPV4_MTU: u16 = 68;
/// Default link MTU.
pub const DEFAULT_MTU: u16 = 1500;
/// Default rx burst.
pub const DEFAULT_BURST: u16 = 32;
/// Largest rx burst a worker accepts.
pub const MAX_BURST: u16 = 64;
/// Default ICMP error rate per worker (Linux's default for ICMP errors is
/// 1000/s, `net.ipv4.icmp_msgs_per_sec`).
pub const DEFAULT_ICMP_ERRORS_PER_SECOND: u32 = 1000;
/// Default management socket.
pub const DEFAULT_MGMT_SOCKET: &str = "/run/plat/platd.sock";
/// The largest pool4 entry: a /16 (65,536 addresses).
pub const MIN_POOL4_PREFIX_LEN: u8 = 16;
/// Default management socket mode: owner and group read and write.
pub const DEFAULT_MGMT_MODE: u32 = 0o660;

/// A static BIB entry: IPv4-initiated traffic to `v4` reaches `v6`
/// (port forwarding).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct StaticBib {
    /// Protocol.
    pub proto: Proto,
    /// The IPv6 host and port.
    pub v6: Endpoint6,
    /// The pool4 address and port it is reached at.
    pub v4: Endpoint4,
}

/// The NAT64 itself: prefix, pool4, state and translation settings.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Nat64Config {
    /// The RFC 6052 prefixes IPv4 addresses are embedded in, the first
    /// primary (RFC 8683 4.5: the Well-Known Prefix beside a
    /// network-specific one).
    pub prefix: Prefixes,
    /// IPv4 transport addresses the NAT64 allocates from.
    pub pool4: Vec<Pool4Entry>,
    /// Port forwardings.
    pub static_bib: Vec<StaticBib>,
    /// Timeouts, filtering, limits (each worker's shard gets these).
    pub nat: NatConfig,
    /// RFC 7915 translation switches, with the links' MTUs.
    pub xlat: XlatConfig,
}

/// The file's `[eal]` table.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize, serde::Serialize)]
#[serde(deny_unknown_fields)]
pub struct EalConfig {
    /// EAL arguments (cores, memory, devices), without the program name.
    pub args: Vec<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRoute {
    prefix: String,
    via: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawNeighbor {
    ip: String,
    mac: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawLink {
    port: String,
    addresses: Vec<String>,
    mtu: Option<u16>,
    #[serde(default)]
    routes: Vec<RawRoute>,
    #[serde(default)]
    neighbors: Vec<RawNeighbor>,
    mac: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawWorkers {
    #[serde(default)]
    steering: Steering,
    burst: Option<u16>,
    #[serde(default)]
    idle_sleep_us: u32,
    #[serde(default)]
    forward_only: bool,
    mbufs: Option<u32>,
    icmp_errors_per_second: Option<u32>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawMgmt {
    socket: Option<String>,
    mode: Option<String>,
    group: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawMetrics {
    listen: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawLogging {
    #[serde(default)]
    format: LogFormat,
    level: Option<String>,
    #[serde(default)]
    nat: nat_log::RawNatLog,
}

#[derive(Debug, Deserialize)]
#[serde(untagged)]
enum RawPool4 {
    Prefix(String),
    Detailed {
        prefix: String,
        tcp: Option<String>,
        udp: Option<String>,
        icmp: Option<String>,
    },
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawStaticBib {
    proto: String,
    v6: String,
    v4: String,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawTranslation {
    lowest_ipv6_mtu: Option<u16>,
    df_over_1260: Option<bool>,
    compute_udp_zero_checksum: Option<bool>,
    drop_udp_zero_checksum_fragments: Option<bool>,
    copy_traffic_class: Option<bool>,
    send_icmp_errors: Option<bool>,
    verify_ipv4_checksum: Option<bool>,
    icmpv6_error_source: Option<String>,
    icmpv4_error_source: Option<String>,
}

/// `prefix = "64:ff9b::/96"` or `prefix = ["64:ff9b::/96", "2001:db8:64::/96"]`.
#[derive(Debug, Deserialize)]
#[serde(untagged)]
enum RawPrefixes {
    One(String),
    Many(Vec<String>),
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawNat64 {
    prefix: RawPrefixes,
    pool4: Vec<RawPool4>,
    #[serde(default)]
    static_bib: Vec<RawStaticBib>,
    filtering: Option<Filtering>,
    port_block: Option<u16>,
    v4_initiated_tcp: Option<bool>,
    timeouts: Option<Timeouts>,
    limits: Option<Limits>,
    #[serde(default)]
    translation: RawTranslation,
}

/// The file as written, before validation.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawConfig {
    eal: EalConfig,
    inside: RawLink,
    outside: RawLink,
    nat64: RawNat64,
    #[serde(default)]
    workers: RawWorkers,
    #[serde(default)]
    mgmt: RawMgmt,
    #[serde(default)]
    metrics: RawMetrics,
    #[serde(default)]
    logging: RawLogging,
    ha: Option<ha::RawHa>,
}

fn parse_field<T: FromStr<Err = String>>(field: &str, s: &str) -> Result<T, ConfigError> {
    s.parse().map_err(|r| ConfigError::new(field, r))
}

/// An address field: the reason names what the text is not.
fn parse_addr<T: FromStr>(field: &str, s: &str) -> Result<T, ConfigError> {
    s.parse()
        .map_err(|_| ConfigError::new(field, format!("`{s}` is not an address")))
}

fn link<C, A>(side: &str, raw: RawLink) -> Result<LinkConfig<C, A>, ConfigError>
where
    C: FromStr<Err = String>,
    A: FromStr,
{
    if raw.port.trim().is_empty() {
        return Err(ConfigError::new(
            format!("{side}.port"),
            "must name a DPDK port",
        ));
    }
    if raw.addresses.is_empty() {
        return Err(ConfigError::new(
            format!("{side}.addresses"),
            "the appliance needs at least one address on the link",
        ));
    }
    let addresses = raw
        .addresses
        .iter()
        .enumerate()
        .map(|(i, a)| parse_field(&format!("{side}.addresses[{i}]"), a))
        .collect::<Result<Vec<C>, _>>()?;
    let mtu = raw.mtu.unwrap_or(DEFAULT_MTU);
    let min = if side == "inside" {
        MIN_MTU
    } else {
        MIN_IPV4_MTU
    };
    if mtu < min {
        return Err(ConfigError::new(
            format!("{side}.mtu"),
            format!("{mtu} is below the minimum {side} link MTU {min}"),
        ));
    }
    let addr = |field: String, s: &str| -> Result<A, ConfigError> {
        s.parse()
            .map_err(|_| ConfigError::new(field, format!("`{s}` is not an address of this side")))
    };
    let mut routes = Vec::with_capacity(raw.routes.len());
    for (i, r) in raw.routes.iter().enumerate() {
        routes.push(Route {
            prefix: parse_field(&format!("{side}.routes[{i}].prefix"), &r.prefix)?,
            via: r
                .via
                .as_deref()
                .map(|v| addr(format!("{side}.routes[{i}].via"), v))
                .transpose()?,
        });
    }
    let mut neighbors = Vec::with_capacity(raw.neighbors.len());
    for (i, n) in raw.neighbors.iter().enumerate() {
        neighbors.push(StaticNeighbor {
            ip: addr(format!("{side}.neighbors[{i}].ip"), &n.ip)?,
            mac: parse_field(&format!("{side}.neighbors[{i}].mac"), &n.mac)?,
        });
    }
    let mac = raw
        .mac
        .as_deref()
        .map(|m| parse_field(&format!("{side}.mac"), m))
        .transpose()?;
    Ok(LinkConfig {
        port: raw.port,
        addresses,
        mtu,
        routes,
        neighbors,
        mac,
    })
}

fn mgmt(raw: RawMgmt) -> Result<MgmtConfig, ConfigError> {
    let socket = raw.socket.unwrap_or_else(|| DEFAULT_MGMT_SOCKET.to_owned());
    if socket.trim().is_empty() {
        return Err(ConfigError::new("mgmt.socket", "must be a path"));
    }
    let mode = match raw.mode {
        None => DEFAULT_MGMT_MODE,
        Some(m) => u32::from_str_radix(m.trim_start_matches("0o"), 8)
            .ok()
            .filter(|&m| m <= 0o777)
            .ok_or_else(|| {
                ConfigError::new(
                    "mgmt.mode",
                    format!("`{m}` is not an octal mode (\"0660\")"),
                )
            })?,
    };
    if raw.group.as_deref().is_some_and(|g| g.trim().is_empty()) {
        return Err(ConfigError::new("mgmt.group", "must name a group"));
    }
    Ok(MgmtConfig {
        socket,
        mode,
        group: raw.group,
    })
}

fn port_range(field: &str, s: &str) -> Result<PortRange, ConfigError> {
    let bad = || ConfigError::new(field, format!("`{s}` is not a port range FIRST-LAST"));
    let (a, b) = s.split_once('-').ok_or_else(bad)?;
    let (first, last): (u16, u16) = (
        a.trim().parse().map_err(|_| bad())?,
        b.trim().parse().map_err(|_| bad())?,
    );
    if first > last {
        return Err(ConfigError::new(
            field,
            format!("`{s}`: {first} is above {last}"),
        ));
    }
    Ok(PortRange::new(first, last))
}

fn endpoint6(field: &str, s: &str) -> Result<Endpoint6, ConfigError> {
    s.parse::<std::net::SocketAddrV6>()
        .map(|a| Endpoint6::new(*a.ip(), a.port()))
        .map_err(|_| ConfigError::new(field, format!("`{s}` is not [IPv6]:port")))
}

fn endpoint4(field: &str, s: &str) -> Result<Endpoint4, ConfigError> {
    s.parse::<std::net::SocketAddrV4>()
        .map(|a| Endpoint4::new(*a.ip(), a.port()))
        .map_err(|_| ConfigError::new(field, format!("`{s}` is not IPv4:port")))
}

fn nat64(raw: RawNat64, inside_mtu: u16, outside_mtu: u16) -> Result<Nat64Config, ConfigError> {
    let texts = match raw.prefix {
        RawPrefixes::One(p) => vec![p],
        RawPrefixes::Many(list) => list,
    };
    let list = texts
        .iter()
        .enumerate()
        .map(|(i, t)| {
            t.parse::<Prefix6052>().map_err(|e| {
                let field = if texts.len() == 1 {
                    "nat64.prefix".to_owned()
                } else {
                    format!("nat64.prefix[{i}]")
                };
                ConfigError::new(field, format!("`{t}`: {e}"))
            })
        })
        .collect::<Result<Vec<_>, _>>()?;
    let prefix =
        Prefixes::new(list).map_err(|e| ConfigError::new("nat64.prefix", e.to_string()))?;
    if raw.pool4.is_empty() {
        return Err(ConfigError::new(
            "nat64.pool4",
            "needs at least one IPv4 prefix",
        ));
    }
    let mut pool4 = Vec::with_capacity(raw.pool4.len());
    for (i, e) in raw.pool4.iter().enumerate() {
        let field = format!("nat64.pool4[{i}]");
        let (pfx, ranges) = match e {
            RawPool4::Prefix(p) => (p.as_str(), [None, None, None]),
            RawPool4::Detailed {
                prefix,
                tcp,
                udp,
                icmp,
            } => (
                prefix.as_str(),
                [tcp.as_deref(), udp.as_deref(), icmp.as_deref()],
            ),
        };
        let c: Ipv4Cidr = parse_field(&field, pfx)?;
        if c.addr != c.network() {
            return Err(ConfigError::new(
                &field,
                format!("`{pfx}` has host bits set"),
            ));
        }
        let mut entry = Pool4Entry::new(c.network(), c.len);
        for (proto, r) in [Proto::Tcp, Proto::Udp, Proto::Icmp]
            .into_iter()
            .zip(ranges)
        {
            if let Some(r) = r {
                entry = entry.with_range(proto, port_range(&format!("{field}.{proto}"), r)?);
            }
        }
        pool4.push(entry);
    }
    let mut static_bib = Vec::with_capacity(raw.static_bib.len());
    for (i, b) in raw.static_bib.iter().enumerate() {
        let field = format!("nat64.static_bib[{i}]");
        let proto = match b.proto.as_str() {
            "tcp" => Proto::Tcp,
            "udp" => Proto::Udp,
            "icmp" => Proto::Icmp,
            other => {
                return Err(ConfigError::new(
                    format!("{field}.proto"),
                    format!("`{other}` is not tcp, udp or icmp"),
                ))
            }
        };
        let v4 = endpoint4(&format!("{field}.v4"), &b.v4)?;
        if !pool4.iter().any(|e| {
            Ipv4Cidr {
                addr: e.prefix,
                len: e.prefix_len,
            }
            .contains(v4.addr)
        }) {
            return Err(ConfigError::new(
                format!("{field}.v4"),
                format!("{} is not a pool4 address", v4.addr),
            ));
        }
        static_bib.push(StaticBib {
            proto,
            v6: endpoint6(&format!("{field}.v6"), &b.v6)?,
            v4,
        });
    }
    let defaults = NatConfig::default();
    let nat = NatConfig {
        timeouts: raw.timeouts.unwrap_or(defaults.timeouts),
        filtering: raw.filtering.unwrap_or(defaults.filtering),
        limits: raw.limits.unwrap_or(defaults.limits),
        port_block: raw.port_block.unwrap_or(defaults.port_block),
        v4_initiated_tcp: raw.v4_initiated_tcp.unwrap_or(defaults.v4_initiated_tcp),
        ..defaults
    };
    nat.validate()?;
    let t = raw.translation;
    let d = XlatConfig::default();
    let xlat = XlatConfig {
        ipv6_mtu: inside_mtu,
        ipv4_mtu: outside_mtu,
        lowest_ipv6_mtu: t.lowest_ipv6_mtu.unwrap_or(d.lowest_ipv6_mtu),
        df_over_1260: t.df_over_1260.unwrap_or(d.df_over_1260),
        compute_udp_zero_checksum: t
            .compute_udp_zero_checksum
            .unwrap_or(d.compute_udp_zero_checksum),
        drop_udp_zero_checksum_fragments: t
            .drop_udp_zero_checksum_fragments
            .unwrap_or(d.drop_udp_zero_checksum_fragments),
        copy_traffic_class: t.copy_traffic_class.unwrap_or(d.copy_traffic_class),
        send_icmp_errors: t.send_icmp_errors.unwrap_or(d.send_icmp_errors),
        verify_ipv4_checksum: t.verify_ipv4_checksum.unwrap_or(d.verify_ipv4_checksum),
        icmpv6_error_source: t
            .icmpv6_error_source
            .map(|a| parse_addr::<Ipv6Addr>("nat64.translation.icmpv6_error_source", &a))
            .transpose()?,
        icmpv4_error_source: t
            .icmpv4_error_source
            .map(|a| parse_addr::<Ipv4Addr>("nat64.translation.icmpv4_error_source", &a))
            .transpose()?,
        ..d
    };
    if xlat.lowest_ipv6_mtu < MIN_MTU || xlat.lowest_ipv6_mtu > inside_mtu {
        return Err(ConfigError::new(
            "nat64.translation.lowest_ipv6_mtu",
            format!(
                "{} is outside {MIN_MTU}..={inside_mtu} (the inside MTU)",
                xlat.lowest_ipv6_mtu
            ),
        ));
    }
    Ok(Nat64Config {
        prefix,
        pool4,
        static_bib,
        nat,
        xlat,
    })
}

/// The whole validated configuration.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Config {
    /// EAL arguments.
    pub eal: EalConfig,
    /// The IPv6 side.
    pub inside: InsideConfig,
    /// The IPv4 side.
    pub outside: OutsideConfig,
    /// The NAT64.
    pub nat64: Nat64Config,
    /// Workers.
    pub workers: WorkersConfig,
    /// Management socket.
    pub mgmt: MgmtConfig,
    /// Prometheus endpoint.
    pub metrics: MetricsConfig,
    /// Logging.
    pub logging: LoggingConfig,
    /// The active/standby pair; `None`: HA off.
    pub ha: Option<HaConfig>,
}

impl Config {
    /// Checks what a file cannot say by its shape alone and what an edit
    /// of a running configuration (`pool4 add`) may break: pool4 entries
    /// of a usable size that do not overlap, static BIB entries on pool4.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let pool4 = &self.nat64.pool4;
        if pool4.is_empty() {
            return Err(ConfigError::new(
                "nat64.pool4",
                "needs at least one IPv4 prefix",
            ));
        }
        for (i, e) in pool4.iter().enumerate() {
            let c = Ipv4Cidr::from(e);
            if c.addr != c.network() {
                return Err(ConfigError::new(
                    format!("nat64.pool4[{i}]"),
                    format!("`{c}` has host bits set"),
                ));
            }
            if c.len < MIN_POOL4_PREFIX_LEN {
                return Err(ConfigError::new(
                    format!("nat64.pool4[{i}]"),
                    format!("`{c}` is larger than a /{MIN_POOL4_PREFIX_LEN}"),
                ));
            }
            if let Some(j) = pool4[..i].iter().position(|o| {
                let o = Ipv4Cidr::from(o);
                o.contains(c.addr) || c.contains(o.addr)
            }) {
                return Err(ConfigError::new(
                    format!("nat64.pool4[{i}]"),
                    format!("`{c}` overlaps nat64.pool4[{j}]"),
                ));
            }
        }
        for (i, b) in self.nat64.static_bib.iter().enumerate() {
            if !pool4.iter().any(|e| Ipv4Cidr::from(e).contains(b.v4.addr)) {
                return Err(ConfigError::new(
                    format!("nat64.static_bib[{i}].v4"),
                    format!("{} is not a pool4 address", b.v4.addr),
                ));
            }
        }
        Ok(())
    }

    /// Parses and validates a TOML configuration.
    pub fn from_toml(text: &str) -> Result<Config, ConfigError> {
        let raw: RawConfig = toml::from_str(text).map_err(|e| {
            // toml names the key in its message; the line locates it.
            let line = e
                .span()
                .map(|s| {
                    1 + text.as_bytes()[..s.start.min(text.len())]
                        .iter()
                        .filter(|&&b| b == b'\n')
                        .count()
                })
                .unwrap_or(0);
            ConfigError::new(format!("line {line}"), e.message().trim().to_owned())
        })?;
        let inside: InsideConfig = link("inside", raw.inside)?;
        let outside: OutsideConfig = link("outside", raw.outside)?;
        if inside.port == outside.port {
            return Err(ConfigError::new(
                "outside.port",
                format!("`{}` is also the inside port", outside.port),
            ));
        }
        let mut nat64 = nat64(raw.nat64, inside.mtu, outside.mtu)?;
        // RFC 4443 2.2 (c): an error the translator originates comes from
        // an address of the interface it leaves on, so traceroute shows
        // platd as the hop, not the IPv4 host behind it (RFC 792 likewise
        // for IPv4): the first inside and outside addresses, unless the
        // operator names others.
        let x = &mut nat64.xlat;
        x.icmpv6_error_source = x
            .icmpv6_error_source
            .or(inside.addresses.first().map(|c| c.addr));
        x.icmpv4_error_source = x
            .icmpv4_error_source
            .or(outside.addresses.first().map(|c| c.addr));
        let nat_log = nat_log::nat_log(raw.logging.nat)?;
        if nat_log.enabled() && nat64.nat.event_capacity == 0 {
            nat64.nat.event_capacity = SHARD_EVENTS_PER_POLL;
            // Port blocks replace the per-flow records in the log
            // (`log::is_logged`), and nothing else reads them yet.
            nat64.nat.binding_events = nat64.nat.port_block == 0;
        }
        // HA streams every per-flow record to the standby.
        if raw.ha.is_some() {
            nat64.nat.event_capacity = SHARD_EVENTS_PER_POLL;
            nat64.nat.binding_events = true;
        }
        let burst = raw.workers.burst.unwrap_or(DEFAULT_BURST);
        if burst == 0 || burst > MAX_BURST {
            return Err(ConfigError::new(
                "workers.burst",
                format!("{burst} is outside 1..={MAX_BURST}"),
            ));
        }
        let cfg = Config {
            eal: raw.eal,
            inside,
            outside,
            nat64,
            workers: WorkersConfig {
                steering: raw.workers.steering,
                burst,
                idle_sleep_us: raw.workers.idle_sleep_us,
                forward_only: raw.workers.forward_only,
                mbufs: raw.workers.mbufs,
                icmp_errors_per_second: raw
                    .workers
                    .icmp_errors_per_second
                    .unwrap_or(DEFAULT_ICMP_ERRORS_PER_SECOND),
            },
            mgmt: mgmt(raw.mgmt)?,
            metrics: MetricsConfig {
                listen: raw
                    .metrics
                    .listen
                    .map(|l| {
                        l.parse().map_err(|_| {
                            ConfigError::new(
                                "metrics.listen",
                                format!("`{l}` is not ADDRESS:PORT (`[::1]:9464`)"),
                            )
                        })
                    })
                    .transpose()?,
            },
            logging: LoggingConfig {
                format: raw.logging.format,
                level: raw.logging.level,
                nat: nat_log,
            },
            ha: raw.ha.map(ha::ha).transpose()?,
        };
        cfg.validate()?;
        Ok(cfg)
    }
}

#[cfg(test)]
mod tests;
