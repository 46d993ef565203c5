//! `[logging.nat]`: where NAT events go: IPFIX collectors (RFC 7011 over
//! UDP, RFC 8158 records) and a local file of JSON lines.

use std::net::SocketAddr;

use serde::Deserialize;

use super::ConfigError;

/// Default template refresh: RFC 7011 10.3.6 has the exporter resend
/// templates over UDP periodically; a minute bounds how long a collector
/// that restarts cannot decode.
pub const DEFAULT_TEMPLATE_REFRESH_S: u32 = 60;
/// Default size at which the local log is rotated.
pub const DEFAULT_FILE_MAX_BYTES: u64 = 100 * 1024 * 1024;
/// Default number of rotated files kept (`file.1` .. `file.N`).
pub const DEFAULT_FILE_KEEP: u32 = 10;
/// Default events each worker's ring holds for the log thread.
pub const DEFAULT_RING_EVENTS: u32 = 65_536;
/// Events a shard buffers between two drains by its worker (one poll:
/// two bursts of new flows with their BIB, block and alarm records plus
/// an expiry slice); past it they are counted lost.
pub const SHARD_EVENTS_PER_POLL: u32 = 8_192;
/// Bytes of the IPv6 and UDP headers: the room an IPFIX message leaves of
/// the path MTU (IPv6's 40 covers IPv4's 20).
const IP_UDP_HEADERS: u16 = 48;

/// Where NAT events are logged. Nothing is logged (and the packet path
/// builds no event) unless a collector or a file is named.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct NatLogConfig {
    /// IPFIX collectors (UDP), each sent every message.
    pub collectors: Vec<SocketAddr>,
    /// The IPFIX observation domain: one per appliance, so a collector
    /// that hears several tells them apart.
    pub observation_domain: u32,
    /// Seconds between template resends.
    pub template_refresh_s: u32,
    /// Path MTU towards the collectors; no message is larger than it
    /// allows.
    pub mtu: u16,
    /// Session records carry the destination (RFC 6888 REQ-12 asks a CGN
    /// not to log destinations unless the operator must: off by default).
    pub destination: bool,
    /// A local log of one JSON line per event.
    pub file: Option<String>,
    /// Size at which the file is rotated.
    pub file_max_bytes: u64,
    /// Rotated files kept.
    pub file_keep: u32,
    /// Events each worker's ring to the log thread holds.
    pub ring_events: u32,
}

impl Default for NatLogConfig {
    fn default() -> Self {
        NatLogConfig {
            collectors: Vec::new(),
            observation_domain: 1,
            template_refresh_s: DEFAULT_TEMPLATE_REFRESH_S,
            mtu: super::DEFAULT_MTU,
            destination: false,
            file: None,
            file_max_bytes: DEFAULT_FILE_MAX_BYTES,
            file_keep: DEFAULT_FILE_KEEP,
            ring_events: DEFAULT_RING_EVENTS,
        }
    }
}

impl NatLogConfig {
    /// Whether anything is logged.
    pub fn enabled(&self) -> bool {
        !self.collectors.is_empty() || self.file.is_some()
    }

    /// The largest IPFIX message: the path MTU less the IP and UDP
    /// headers.
    pub fn max_message_len(&self) -> usize {
        usize::from(self.mtu - IP_UDP_HEADERS)
    }
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawNatLog {
    #[serde(default)]
    collectors: Vec<String>,
    observation_domain: Option<u32>,
    template_refresh: Option<u32>,
    mtu: Option<u16>,
    #[serde(default)]
    destination: bool,
    file: Option<String>,
    file_max_bytes: Option<u64>,
    file_keep: Option<u32>,
    ring_events: Option<u32>,
}

fn bad(field: &str, reason: impl Into<String>) -> ConfigError {
    ConfigError::new(format!("logging.nat.{field}"), reason)
}

pub(super) fn nat_log(raw: RawNatLog) -> Result<NatLogConfig, ConfigError> {
    let d = NatLogConfig::default();
    let collectors = raw
        .collectors
        .iter()
        .enumerate()
        .map(|(i, c)| {
            c.parse::<SocketAddr>().map_err(|_| {
                bad(
                    &format!("collectors[{i}]"),
                    format!("`{c}` is not ADDRESS:PORT (\"192.0.2.10:4739\")"),
                )
            })
        })
        .collect::<Result<Vec<_>, _>>()?;
    let mtu = raw.mtu.unwrap_or(d.mtu);
    // RFC 791's 576 is the least any IPv4 path carries.
    if !(576..=9216).contains(&mtu) {
        return Err(bad("mtu", format!("{mtu} is outside 576..=9216")));
    }
    let template_refresh_s = raw.template_refresh.unwrap_or(d.template_refresh_s);
    if !(1..=86_400).contains(&template_refresh_s) {
        return Err(bad(
            "template_refresh",
            format!("{template_refresh_s} s is outside 1..=86400"),
        ));
    }
    if raw.file.as_deref().is_some_and(|f| f.trim().is_empty()) {
        return Err(bad("file", "must be a path"));
    }
    let file_max_bytes = raw.file_max_bytes.unwrap_or(d.file_max_bytes);
    if file_max_bytes < 64 * 1024 {
        return Err(bad(
            "file_max_bytes",
            format!("{file_max_bytes} is below 65536"),
        ));
    }
    let file_keep = raw.file_keep.unwrap_or(d.file_keep);
    if !(1..=1000).contains(&file_keep) {
        return Err(bad("file_keep", format!("{file_keep} is outside 1..=1000")));
    }
    let ring_events = raw.ring_events.unwrap_or(d.ring_events);
    if !(1024..=1 << 24).contains(&ring_events) {
        return Err(bad(
            "ring_events",
            format!("{ring_events} is outside 1024..=16777216"),
        ));
    }
    Ok(NatLogConfig {
        collectors,
        observation_domain: raw.observation_domain.unwrap_or(d.observation_domain),
        template_refresh_s,
        mtu,
        destination: raw.destination,
        file: raw.file,
        file_max_bytes,
        file_keep,
        ring_events,
    })
}
