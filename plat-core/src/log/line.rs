//! The local event log: one JSON object per line, the same facts an IPFIX
//! collector gets, for operators without a collector and for
//! `platctl log search`.
//!
//! ```text
//! {"time":"2026-12-05T07:00:00.123Z","event":"session_create","nat_event":6,"worker":1,"proto":"tcp","v6":"2001:db8::5","v6_port":40000,"v4":"192.0.2.1","v4_port":2050}
//! {"time":"2026-12-05T07:00:00.124Z","event":"block_alloc","nat_event":16,"worker":1,"proto":"udp","v4":"192.0.2.9","subscriber":"2001:db8:0:100::","prefix_len":56,"first":2048,"last":2175}
//! ```
//!
//! A field a record does not have is left out. `remote` and
//! `remote_port` (the destination) are written only when the log is told
//! to include destinations (RFC 6888 REQ-12: off by default).

use std::net::{Ipv4Addr, Ipv6Addr};
use std::time::{Duration, UNIX_EPOCH};

use serde::{Deserialize, Serialize};

use super::{LogEvent, NatEvent};
use crate::nat::{Proto, Quota, Record};

/// One line of the log.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct LogLine {
    /// When: milliseconds since the Unix epoch, written in RFC 3339 UTC
    /// with milliseconds.
    #[serde(with = "rfc3339_ms")]
    pub time: u64,
    /// What happened.
    pub event: NatEvent,
    /// Its natEvent value (RFC 8158), as a collector would see it.
    pub nat_event: u8,
    /// The worker whose shard logged it.
    pub worker: u16,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub proto: Option<Proto>,
    /// The subscriber's IPv6 source address and port (sessions, BIB
    /// entries).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub v6: Option<Ipv6Addr>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub v6_port: Option<u16>,
    /// The pool4 address, and port for sessions and BIB entries.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub v4: Option<Ipv4Addr>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub v4_port: Option<u16>,
    /// The destination of a session, when destinations are logged.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub remote: Option<Ipv4Addr>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub remote_port: Option<u16>,
    /// The subscriber (its prefix) of a port block or a per-subscriber
    /// quota.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subscriber: Option<Ipv6Addr>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prefix_len: Option<u8>,
    /// A port block's first and last port.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub first: Option<u16>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last: Option<u16>,
    /// A static BIB entry.
    #[serde(default, rename = "static", skip_serializing_if = "Option::is_none")]
    pub is_static: Option<bool>,
    /// Which limit a quota event reports, its natQuotaExceededEvent value
    /// (RFC 8158) and the limit.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub quota: Option<Quota>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub quota_event: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub limit: Option<u32>,
}

impl LogLine {
    /// The line of `ev`; `None` for records no log carries (timer
    /// refreshes, TCP state steps).
    pub fn from_event(ev: &LogEvent, include_destination: bool) -> Option<LogLine> {
        let event = NatEvent::of(&ev.record)?;
        let mut l = LogLine {
            time: ev.unix_ms,
            event,
            nat_event: event.code(),
            worker: ev.worker,
            proto: None,
            v6: None,
            v6_port: None,
            v4: None,
            v4_port: None,
            remote: None,
            remote_port: None,
            subscriber: None,
            prefix_len: None,
            first: None,
            last: None,
            is_static: None,
            quota: None,
            quota_event: None,
            limit: None,
        };
        match ev.record {
            Record::SessionCreate(s) | Record::SessionDelete(s) => {
                l.proto = Some(s.proto);
                (l.v6, l.v6_port) = (Some(s.v6.addr), Some(s.v6.port));
                (l.v4, l.v4_port) = (Some(s.v4.addr), Some(s.v4.port));
                if include_destination {
                    (l.remote, l.remote_port) = (Some(s.remote.addr), Some(s.remote.port));
                }
            }
            Record::BibCreate(b) | Record::BibDelete(b) => {
                l.proto = Some(b.proto);
                (l.v6, l.v6_port) = (Some(b.v6.addr), Some(b.v6.port));
                (l.v4, l.v4_port) = (Some(b.v4.addr), Some(b.v4.port));
                l.is_static = Some(b.is_static);
            }
            Record::BlockAlloc(b) | Record::BlockFree(b) => {
                l.proto = Some(b.proto);
                l.v4 = Some(b.v4);
                (l.subscriber, l.prefix_len) = (Some(b.subscriber), Some(b.prefix_len));
                (l.first, l.last) = (Some(b.first), Some(b.last));
            }
            Record::AddressesExhausted { proto, .. } => l.proto = Some(proto),
            Record::PortsExhausted { proto, v4, .. } => {
                l.proto = Some(proto);
                l.v4 = Some(v4);
            }
            Record::QuotaExceeded {
                quota,
                limit,
                subscriber,
                ..
            } => {
                (l.quota, l.quota_event, l.limit) = (Some(quota), Some(quota.code()), Some(limit));
                l.subscriber = subscriber;
            }
            Record::StateChange { .. } | Record::Refresh { .. } => return None,
        }
        Some(l)
    }
}

/// Appends `ev`'s line, with its `\n`, to `out`; returns whether it
/// wrote one (records no log carries write nothing).
pub fn write_line(ev: &LogEvent, include_destination: bool, out: &mut Vec<u8>) -> bool {
    let Some(line) = LogLine::from_event(ev, include_destination) else {
        return false;
    };
    // Writing plain fields to a Vec cannot fail.
    if serde_json::to_writer(&mut *out, &line).is_err() {
        return false;
    }
    out.push(b'\n');
    true
}

/// Why a line is not a log line.
#[derive(Debug, thiserror::Error)]
pub enum LineError {
    #[error("not a log line: {0}")]
    Json(#[from] serde_json::Error),
    #[error("nat_event {got} is not that of `{event:?}` ({})", .event.code())]
    NatEvent { event: NatEvent, got: u8 },
    #[error("`{0}` is neither an RFC 3339 UTC time (2026-12-05T07:00:00Z) nor Unix seconds")]
    Time(String),
}

/// Reads one line back (without or with its `\n`).
pub fn parse_line(line: &str) -> Result<LogLine, LineError> {
    let l: LogLine = serde_json::from_str(line)?;
    if l.nat_event != l.event.code() {
        return Err(LineError::NatEvent {
            event: l.event,
            got: l.nat_event,
        });
    }
    Ok(l)
}

/// `ms` since the Unix epoch as RFC 3339 UTC with milliseconds
/// (`2026-12-05T07:00:00.123Z`).
pub fn format_time(ms: u64) -> String {
    humantime::format_rfc3339_millis(UNIX_EPOCH + Duration::from_millis(ms)).to_string()
}

/// Reads a time as an operator writes it: RFC 3339 in UTC
/// (`2026-12-05T07:00:00Z`, fractions and a space for the `T` allowed)
/// or Unix seconds (`1796454000`, a fraction allowed). Returns
/// milliseconds since the Unix epoch.
pub fn parse_time(s: &str) -> Result<u64, LineError> {
    let t = s.trim();
    let bad = || LineError::Time(s.to_string());
    if let Ok(secs) = t.parse::<u64>() {
        return secs.checked_mul(1000).ok_or_else(bad);
    }
    if t.bytes().all(|b| b.is_ascii_digit() || b == b'.') {
        let secs: f64 = t.parse().map_err(|_| bad())?;
        return Ok((secs * 1000.0).round() as u64);
    }
    let at = humantime::parse_rfc3339_weak(t).map_err(|_| bad())?;
    let since = at.duration_since(UNIX_EPOCH).map_err(|_| bad())?;
    u64::try_from(since.as_millis()).map_err(|_| bad())
}

/// `time` as RFC 3339 text.
mod rfc3339_ms {
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(ms: &u64, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(&super::format_time(*ms))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<u64, D::Error> {
        let text = <std::borrow::Cow<'de, str>>::deserialize(d)?;
        let t = text.trim();
        // Only the RFC 3339 form: a bare number is not a log's time.
        if !t.contains('T') {
            return Err(serde::de::Error::custom(format!(
                "`{t}` is not an RFC 3339 time"
            )));
        }
        super::parse_time(t).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;
    use crate::nat::{BibRec, BlockRec, Endpoint4, Endpoint6, Key4, SessionRec, TcpState};

    /// 2026-12-05T07:00:00.123Z.
    const T: u64 = 1_796_454_000_123;

    fn session(v6_port: u16, v4_port: u16) -> SessionRec {
        SessionRec {
            time: 9,
            proto: Proto::Tcp,
            v6: Endpoint6::new("2001:db8::5".parse().unwrap(), v6_port),
            v4: Endpoint4::new(Ipv4Addr::new(192, 0, 2, 1), v4_port),
            remote: Endpoint4::new(Ipv4Addr::new(198, 51, 100, 7), 443),
            state: TcpState::Established,
        }
    }

    fn ev(unix_ms: u64, record: Record) -> LogEvent {
        LogEvent {
            unix_ms,
            worker: 1,
            record,
        }
    }

    fn line(e: &LogEvent, dest: bool) -> String {
        let mut out = Vec::new();
        assert!(write_line(e, dest, &mut out));
        String::from_utf8(out).unwrap()
    }

    fn every_kind() -> Vec<Record> {
        let block = BlockRec {
            time: 9,
            proto: Proto::Udp,
            subscriber: "2001:db8:0:100::".parse().unwrap(),
            prefix_len: 56,
            v4: Ipv4Addr::new(192, 0, 2, 9),
            block: 3,
            first: 2048,
            last: 2175,
            size: 128,
        };
        let bib = BibRec {
            time: 9,
            proto: Proto::Icmp,
            v6: Endpoint6::new("2001:db8::9".parse().unwrap(), 77),
            v4: Endpoint4::new(Ipv4Addr::new(192, 0, 2, 3), 1077),
            is_static: true,
        };
        vec![
            Record::SessionCreate(session(40000, 2050)),
            Record::SessionDelete(session(40000, 2050)),
            Record::BibCreate(bib),
            Record::BibDelete(bib),
            Record::BlockAlloc(block),
            Record::BlockFree(block),
            Record::AddressesExhausted {
                time: 9,
                proto: Proto::Udp,
            },
            Record::PortsExhausted {
                time: 9,
                proto: Proto::Tcp,
                v4: Ipv4Addr::new(192, 0, 2, 4),
            },
            Record::QuotaExceeded {
                time: 9,
                quota: Quota::EntriesPerUser,
                limit: 2000,
                subscriber: Some("2001:db8:0:100::".parse().unwrap()),
            },
            Record::QuotaExceeded {
                time: 9,
                quota: Quota::SessionEntries,
                limit: 1_000_000,
                subscriber: None,
            },
        ]
    }

    #[test]
    fn a_session_create_is_one_line_of_the_documented_form() {
        let text = line(&ev(T, Record::SessionCreate(session(40000, 2050))), false);
        assert_eq!(
            text,
            "{\"time\":\"2026-12-05T07:00:00.123Z\",\"event\":\"session_create\",\"nat_event\":6,\
             \"worker\":1,\"proto\":\"tcp\",\"v6\":\"2001:db8::5\",\"v6_port\":40000,\
             \"v4\":\"192.0.2.1\",\"v4_port\":2050}\n"
        );
    }

    #[test]
    fn rfc6888_req_12_the_destination_is_written_only_when_asked() {
        let e = ev(T, Record::SessionDelete(session(40000, 2050)));
        assert!(!line(&e, false).contains("198.51.100.7"));
        let with = parse_line(&line(&e, true)).unwrap();
        assert_eq!(with.remote, Some(Ipv4Addr::new(198, 51, 100, 7)));
        assert_eq!(with.remote_port, Some(443));
        // BIB entries and blocks have no destination to write.
        let bib = parse_line(&line(&ev(T, every_kind()[2]), true)).unwrap();
        assert_eq!(bib.remote, None);
    }

    #[test]
    fn rfc8158_every_kind_round_trips_with_its_nat_event() {
        for dest in [false, true] {
            for (i, r) in every_kind().into_iter().enumerate() {
                let e = ev(T + i as u64, r);
                let text = line(&e, dest);
                assert!(text.ends_with('\n') && text.matches('\n').count() == 1);
                let back = parse_line(&text).unwrap();
                assert_eq!(
                    Some(&back),
                    LogLine::from_event(&e, dest).as_ref(),
                    "{text}"
                );
                assert_eq!(back.nat_event, NatEvent::of(&r).unwrap().code());
                assert_eq!(back.time, T + i as u64);
            }
        }
        let block = parse_line(&line(&ev(T, every_kind()[4]), false)).unwrap();
        assert_eq!((block.first, block.last), (Some(2048), Some(2175)));
        assert_eq!(block.prefix_len, Some(56));
        let quota = parse_line(&line(&ev(T, every_kind()[8]), false)).unwrap();
        assert_eq!(
            (quota.quota, quota.quota_event, quota.limit),
            (Some(Quota::EntriesPerUser), Some(3), Some(2000))
        );
    }

    #[test]
    fn records_no_log_carries_write_nothing() {
        let key = Key4 {
            proto: Proto::Udp,
            v4: Endpoint4::new(Ipv4Addr::new(192, 0, 2, 1), 1),
            remote: Endpoint4::new(Ipv4Addr::new(198, 51, 100, 1), 53),
        };
        let mut out = Vec::new();
        assert!(!write_line(
            &ev(T, Record::Refresh { time: 1, key }),
            false,
            &mut out
        ));
        let step = Record::StateChange {
            time: 1,
            key,
            state: TcpState::Established,
        };
        assert!(!write_line(&ev(T, step), false, &mut out));
        assert!(out.is_empty());
    }

    #[test]
    fn bad_lines_are_errors() {
        let good = line(&ev(T, every_kind()[0]), false);
        for bad in [
            "",
            "hello",
            "{\"time\":\"2026-12-05T07:00:00Z\"",
            &good.replace("\"nat_event\":6", "\"nat_event\":4"),
            &good.replace("session_create", "session_exploded"),
            &good.replace("2026-12-05T07:00:00.123Z", "yesterday"),
            &good.replace("2026-12-05T07:00:00.123Z", "1796454000"),
            &good.replace("\"v4_port\":2050", "\"v4_port\":70000"),
        ] {
            assert!(parse_line(bad).is_err(), "{bad}");
        }
        assert!(matches!(
            parse_line(&good.replace("\"nat_event\":6", "\"nat_event\":4")),
            Err(LineError::NatEvent { got: 4, .. })
        ));
    }

    #[test]
    fn times_read_as_rfc3339_utc_or_unix_seconds() {
        assert_eq!(format_time(T), "2026-12-05T07:00:00.123Z");
        assert_eq!(format_time(0), "1970-01-01T00:00:00.000Z");
        assert_eq!(parse_time("2026-12-05T07:00:00Z").unwrap(), T - 123);
        assert_eq!(parse_time("2026-12-05T07:00:00.123Z").unwrap(), T);
        assert_eq!(parse_time("2026-12-05 07:00:00Z").unwrap(), T - 123);
        assert_eq!(parse_time(" 1796454000 ").unwrap(), T - 123);
        assert_eq!(parse_time("1796454000.123").unwrap(), T);
        for bad in ["", "tomorrow", "2026-13-05T07:00:00Z", "-5", "1.2.3"] {
            assert!(parse_time(bad).is_err(), "{bad}");
        }
    }

    proptest! {
        #[test]
        fn any_session_line_round_trips(
            ms in 0u64..=253_402_300_799_999,
            v6 in any::<[u8; 16]>(),
            v4 in any::<[u8; 4]>(),
            ports in any::<(u16, u16, u16)>(),
            worker in any::<u16>(),
            dest in any::<bool>(),
        ) {
            let s = SessionRec {
                time: 0,
                proto: Proto::Udp,
                v6: Endpoint6::new(Ipv6Addr::from(v6), ports.0),
                v4: Endpoint4::new(Ipv4Addr::from(v4), ports.1),
                remote: Endpoint4::new(Ipv4Addr::from(v4), ports.2),
                state: TcpState::Closed,
            };
            let e = LogEvent { unix_ms: ms, worker, record: Record::SessionCreate(s) };
            let text = line(&e, dest);
            prop_assert_eq!(parse_line(&text).unwrap(), LogLine::from_event(&e, dest).unwrap());
        }
    }
}
