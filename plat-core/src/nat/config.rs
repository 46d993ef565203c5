//! The configuration of one shard's NAT64 state, validated once.

pub use crate::types::ConfigError;

use super::shard::MAX_SESSIONS;

/// Idle timeouts in seconds, named as operators (and Jool) name them.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Timeouts {
    // RFC 6146 3.5.1: "The UDP session lifetime ... MUST NOT be less than 2
    // minutes ... The default value ... SHOULD be 5 minutes."
    pub udp: u32,
    // RFC 6146 3.5.2.2 / RFC 5382 REQ-5: TCP_EST "the established connection
    // idle-timeout ... MUST NOT be less than 2 hours 4 minutes".
    pub tcp_est: u32,
    // RFC 6146 3.5.2.2: TCP_TRANS, "the transitory connection idle-timeout
    // as defined in [RFC5382]", 4 minutes.
    pub tcp_trans: u32,
    // RFC 6146 3.5.3: "ICMP_DEFAULT ... The default value ... is 60 seconds."
    pub icmp: u32,
    // RFC 6146 3.5.2.2: an IPv4 SYN is held "for at least 6 seconds"
    // (TCP_INCOMING_SYN).
    pub tcp_syn: u32,
}

impl Timeouts {
    pub const UDP_MIN: u32 = 120;
    pub const SYN_MIN: u32 = 6;
    /// Upper bound on every timeout (a week): keeps `stamp + timeout` far
    /// from u32 overflow and catches millisecond values given as seconds.
    pub const MAX: u32 = 7 * 24 * 3600;
}

impl Default for Timeouts {
    fn default() -> Self {
        Timeouts {
            udp: 300,
            tcp_est: 7440,
            tcp_trans: 240,
            icmp: 60,
            tcp_syn: 6,
        }
    }
}

/// Filtering on the IPv4 side (RFC 4787 section 5).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Filtering {
    /// Endpoint-independent filtering: any IPv4 host may use a BIB entry.
    Eif,
    /// Address-dependent filtering: only hosts the IPv6 side talked to.
    #[default]
    Adf,
}

/// Capacities and per-subscriber caps (RFC 6888 REQ-4, REQ-5).
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Limits {
    /// Session table capacity of this shard.
    pub sessions: u32,
    /// BIB capacity; 0 means `sessions + static_bibs`.
    pub bibs: u32,
    /// Room reserved for static BIB entries when `bibs` is 0.
    pub static_bibs: u32,
    /// Subscriber table capacity; 0 means `sessions / 4 + 16`.
    pub subscribers: u32,
    /// A subscriber is the IPv6 source address masked to this length
    /// (128: one host; 64 or 56: a phone or a CPE).
    pub subscriber_prefix_len: u8,
    /// Sessions per subscriber, all protocols; 0 = no cap.
    pub sessions_per_subscriber: u32,
    /// Ports (or ICMP identifiers) per subscriber and protocol; 0 = no cap.
    pub ports_per_subscriber: u32,
    /// IPv4 SYNs held at once (RFC 6146 3.5.2.2).
    pub held_syns: u32,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            sessions: 65536,
            bibs: 0,
            static_bibs: 1024,
            subscribers: 0,
            subscriber_prefix_len: 128,
            sessions_per_subscriber: 0,
            ports_per_subscriber: 0,
            held_syns: 1024,
        }
    }
}

/// Blocks one subscriber may hold per protocol (port-block mode).
pub const MAX_BLOCKS_PER_PROTO: usize = 4;

/// Everything a shard's NAT64 state is configured with.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(default)]
pub struct NatConfig {
    pub timeouts: Timeouts,
    pub filtering: Filtering,
    pub limits: Limits,
    /// Port-block size: 0 allocates port by port; N > 0 gives a
    /// subscriber ports in blocks of N so one log line covers N ports.
    pub port_block: u16,
    /// Accept IPv4-initiated TCP connections (RFC 6146 3.5.2.2 lets a
    /// security policy drop them).
    pub v4_initiated_tcp: bool,
    /// Emit a sync `Refresh` event when a session's refresh crosses a
    /// multiple of this many seconds; 0 = never.
    pub sync_refresh_interval: u32,
    /// Capacity of the shard's event buffer (HA sync and binding logs).
    /// 0, the default, turns events off: no record is built, so the
    /// packet path pays nothing until something drains them. Set it where
    /// logging or HA drains [`Shard::drain_events`](super::Shard); past it
    /// an event is counted in `events_lost`.
    pub event_capacity: u32,
    /// Whether events include the per-flow records (BIB entries,
    /// sessions, TCP states, refreshes) besides port blocks and alarms.
    /// A port-block log without a standby reads none of them, and
    /// building two records a new flow costs a worker some 10 % of its
    /// creation rate (`deploy/bench/logging.sh`).
    pub binding_events: bool,
}

impl Default for NatConfig {
    fn default() -> Self {
        NatConfig {
            timeouts: Timeouts::default(),
            filtering: Filtering::Adf,
            limits: Limits::default(),
            port_block: 0,
            v4_initiated_tcp: true,
            sync_refresh_interval: 60,
            event_capacity: 0,
            binding_events: true,
        }
    }
}

/// Errors name the field as the TOML file does (`nat64.limits.sessions`).
fn bad(field: &str, reason: impl Into<String>) -> ConfigError {
    ConfigError::new(format!("nat64.{field}"), reason)
}

impl NatConfig {
    /// Checks every field; the error names the first bad one.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let t = &self.timeouts;
        if t.udp < Timeouts::UDP_MIN {
            return Err(bad(
                "timeouts.udp",
                format!(
                    "{} s is below the RFC 6146 minimum of {} s",
                    t.udp,
                    Timeouts::UDP_MIN
                ),
            ));
        }
        if t.tcp_syn < Timeouts::SYN_MIN {
            return Err(bad(
                "timeouts.tcp_syn",
                format!("{} s is below the RFC 6146 minimum of 6 s", t.tcp_syn),
            ));
        }
        for (field, v) in [
            ("timeouts.udp", t.udp),
            ("timeouts.tcp_est", t.tcp_est),
            ("timeouts.tcp_trans", t.tcp_trans),
            ("timeouts.icmp", t.icmp),
            ("timeouts.tcp_syn", t.tcp_syn),
        ] {
            if v == 0 {
                return Err(bad(field, "must be at least 1 s"));
            }
            if v > Timeouts::MAX {
                return Err(bad(field, format!("{v} s exceeds one week")));
            }
        }
        let l = &self.limits;
        if l.sessions == 0 || l.sessions > MAX_SESSIONS {
            return Err(bad(
                "limits.sessions",
                format!("{} not in 1..={MAX_SESSIONS}", l.sessions),
            ));
        }
        if l.bibs > MAX_SESSIONS || l.sessions.saturating_add(l.static_bibs) > MAX_SESSIONS {
            return Err(bad(
                "limits.bibs",
                format!("more than {MAX_SESSIONS} BIB entries"),
            ));
        }
        if l.subscribers > MAX_SESSIONS {
            return Err(bad(
                "limits.subscribers",
                format!("{} exceeds {MAX_SESSIONS}", l.subscribers),
            ));
        }
        if l.subscriber_prefix_len == 0 || l.subscriber_prefix_len > 128 {
            return Err(bad(
                "limits.subscriber_prefix_len",
                format!("{} not in 1..=128", l.subscriber_prefix_len),
            ));
        }
        if self.port_block != 0 {
            if l.ports_per_subscriber == 0 {
                return Err(bad(
                    "port_block",
                    "port blocks need limits.ports_per_subscriber",
                ));
            }
            let blocks = l.ports_per_subscriber.div_ceil(u32::from(self.port_block));
            if blocks as usize > MAX_BLOCKS_PER_PROTO {
                return Err(bad(
                    "port_block",
                    format!(
                        "{} ports per subscriber need {blocks} blocks of {}; at most {MAX_BLOCKS_PER_PROTO}",
                        l.ports_per_subscriber, self.port_block
                    ),
                ));
            }
        }
        Ok(())
    }

    pub(crate) fn bib_capacity(&self) -> u32 {
        if self.limits.bibs != 0 {
            self.limits.bibs
        } else {
            self.limits.sessions + self.limits.static_bibs
        }
    }

    pub(crate) fn subscriber_capacity(&self) -> u32 {
        if self.limits.subscribers != 0 {
            self.limits.subscribers
        } else {
            (self.limits.sessions / 4 + 16).min(MAX_SESSIONS)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc6146_3_5_1_udp_timeout_never_below_two_minutes() {
        let mut c = NatConfig::default();
        assert_eq!(c.timeouts.udp, 300);
        c.timeouts.udp = 119;
        let e = c.validate().unwrap_err();
        assert_eq!(e.field, "nat64.timeouts.udp");
        c.timeouts.udp = 120;
        c.validate().unwrap();
    }

    #[test]
    fn rfc6146_defaults() {
        let t = Timeouts::default();
        assert_eq!(
            (t.tcp_est, t.tcp_trans, t.icmp, t.tcp_syn),
            (7440, 240, 60, 6)
        );
        NatConfig::default().validate().unwrap();
        assert_eq!(NatConfig::default().filtering, Filtering::Adf);
    }

    #[test]
    fn config_errors_name_the_field() {
        let mut c = NatConfig::default();
        c.limits.sessions = 0;
        assert_eq!(c.validate().unwrap_err().field, "nat64.limits.sessions");
        let mut c = NatConfig {
            port_block: 64,
            ..Default::default()
        };
        assert_eq!(c.validate().unwrap_err().field, "nat64.port_block");
        c.limits.ports_per_subscriber = 1024;
        assert_eq!(c.validate().unwrap_err().field, "nat64.port_block");
        c.limits.ports_per_subscriber = 256;
        c.validate().unwrap();
        let mut c = NatConfig::default();
        c.limits.subscriber_prefix_len = 129;
        assert!(c
            .validate()
            .unwrap_err()
            .to_string()
            .contains("subscriber_prefix_len"));
        let mut c = NatConfig::default();
        c.timeouts.icmp = 0;
        assert_eq!(c.validate().unwrap_err().field, "nat64.timeouts.icmp");
    }
}
