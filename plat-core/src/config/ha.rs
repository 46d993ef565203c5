//! `[ha]`: the active/standby pair. Absent: HA off (a lone node that
//! translates). Both nodes carry the same section but for `role`,
//! `node_id`, `priority`, `local` and `peer`.

use std::net::SocketAddr;

use base64::Engine;
use serde::Deserialize;
use sha2::{Digest, Sha256};

use super::ConfigError;
use crate::sync::auth::MIN_KEY_LEN;
use crate::sync::{Key, NodeConfig, Role, StreamConfig};

/// Default interval between heartbeats.
pub const DEFAULT_HEARTBEAT_MS: u64 = 200;
/// Default silence after which the peer is dead.
pub const DEFAULT_DEAD_MS: u64 = 1000;
/// Heartbeats a dead interval holds at least: one lost heartbeat must not
/// start a failover.
pub const MIN_HEARTBEATS_PER_DEAD: u64 = 3;
/// Default priority.
pub const DEFAULT_PRIORITY: u8 = 100;

/// The sync key: at least 16 bytes. Shown nowhere: `Debug` and the
/// serialized configuration (`platctl config show`, reload diffs) carry
/// only a short fingerprint, enough to tell two keys apart.
#[derive(Clone, PartialEq, Eq)]
pub struct HaKey(Vec<u8>);

impl HaKey {
    /// The first 4 bytes of SHA-256 over a label and the key, in hex.
    pub fn fingerprint(&self) -> String {
        let d = Sha256::new()
            .chain_update(b"plat ha key fingerprint")
            .chain_update(&self.0)
            .finalize();
        d[..4].iter().map(|b| format!("{b:02x}")).collect()
    }

    /// The key, ready to MAC.
    pub fn key(&self) -> Key {
        Key::new(&self.0).expect("validated at least MIN_KEY_LEN bytes")
    }
}

impl std::fmt::Debug for HaKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "HaKey(fingerprint {})", self.fingerprint())
    }
}

impl serde::Serialize for HaKey {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&format!("(secret, fingerprint {})", self.fingerprint()))
    }
}

/// The validated `[ha]` section.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct HaConfig {
    /// The role at start.
    pub role: Role,
    /// Unique in the pair; the lower one wins a tie of priorities.
    pub node_id: u32,
    /// The higher one stays active when both are (split brain).
    pub priority: u8,
    /// Where this node's sync link listens.
    pub local: SocketAddr,
    /// The peer's sync link.
    pub peer: SocketAddr,
    /// HMAC-SHA-256 key of the sync messages.
    pub key: HaKey,
    pub heartbeat_ms: u64,
    pub dead_ms: u64,
    /// Per worker stream: most unacknowledged messages the active keeps.
    pub window_messages: u32,
    /// Per worker stream: most unacknowledged bytes. A window that holds a
    /// whole bulk dump of a worker's shard lets a loss inside it be resent.
    pub window_bytes: u64,
    /// Per worker stream: most early messages the standby holds.
    pub reorder_messages: u32,
    /// Retransmit timeout.
    pub rto_ms: u64,
    /// Largest sync message (the link's datagram payload).
    pub max_message: u16,
}

impl HaConfig {
    /// The worker streams' sizes and timers.
    pub fn stream(&self) -> StreamConfig {
        StreamConfig {
            window_messages: self.window_messages as usize,
            window_bytes: self.window_bytes as usize,
            reorder_messages: self.reorder_messages as usize,
            rto_ms: self.rto_ms,
            max_message: usize::from(self.max_message),
        }
    }

    /// The role machine's settings; `workers` and the port-partition
    /// `fingerprint` come from the running appliance.
    pub fn node(&self, workers: u16, fingerprint: u64) -> NodeConfig {
        NodeConfig {
            node_id: self.node_id,
            priority: self.priority,
            role: self.role,
            heartbeat_ms: self.heartbeat_ms,
            dead_ms: self.dead_ms,
            workers,
            fingerprint,
        }
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawHa {
    role: Role,
    node_id: u32,
    priority: Option<u8>,
    local: String,
    peer: String,
    key: String,
    heartbeat_ms: Option<u64>,
    dead_ms: Option<u64>,
    window_messages: Option<u32>,
    window_bytes: Option<u64>,
    reorder_messages: Option<u32>,
    rto_ms: Option<u64>,
    max_message: Option<u16>,
}

fn bad(field: &str, reason: impl Into<String>) -> ConfigError {
    ConfigError::new(format!("ha.{field}"), reason)
}

/// `hex:00112233...` or `base64:ABEiM...`: the prefix says which, since a
/// hex string is valid base64 too. The reason never repeats the key.
fn key(text: &str) -> Result<HaKey, ConfigError> {
    let bytes = if let Some(h) = text.strip_prefix("hex:") {
        let h = h.trim();
        if h.len() % 2 != 0 || !h.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(bad(
                "key",
                "is not an even number of hex digits after `hex:`",
            ));
        }
        (0..h.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&h[i..i + 2], 16))
            .collect::<Result<Vec<u8>, _>>()
            .map_err(|_| bad("key", "is not hex after `hex:`"))?
    } else if let Some(b) = text.strip_prefix("base64:") {
        base64::engine::general_purpose::STANDARD
            .decode(b.trim())
            .map_err(|_| bad("key", "is not standard base64 after `base64:`"))?
    } else {
        return Err(bad(
            "key",
            "must be `hex:` or `base64:` followed by the key (e.g. `openssl rand -hex 32`)",
        ));
    };
    if bytes.len() < MIN_KEY_LEN {
        return Err(bad(
            "key",
            format!("has {} bytes, fewer than {MIN_KEY_LEN}", bytes.len()),
        ));
    }
    Ok(HaKey(bytes))
}

fn within<T: PartialOrd + std::fmt::Display>(
    field: &str,
    v: T,
    lo: T,
    hi: T,
) -> Result<T, ConfigError> {
    if v < lo || v > hi {
        return Err(bad(field, format!("{v} is outside {lo}..={hi}")));
    }
    Ok(v)
}

pub(super) fn ha(raw: RawHa) -> Result<HaConfig, ConfigError> {
    let d = StreamConfig::default();
    let addr = |field: &str, s: &str| -> Result<SocketAddr, ConfigError> {
        s.parse().map_err(|_| {
            bad(
                field,
                format!("`{s}` is not ADDRESS:PORT (\"192.0.2.1:7464\")"),
            )
        })
    };
    let local = addr("local", &raw.local)?;
    let peer = addr("peer", &raw.peer)?;
    if peer == local {
        return Err(bad("peer", format!("{peer} is ha.local itself")));
    }
    if peer.is_ipv4() != local.is_ipv4() {
        return Err(bad(
            "peer",
            format!("{peer} is not of ha.local's address family"),
        ));
    }
    if raw.node_id == 0 {
        return Err(bad("node_id", "0 is not a node id (1 and up)"));
    }
    let heartbeat_ms = within(
        "heartbeat_ms",
        raw.heartbeat_ms.unwrap_or(DEFAULT_HEARTBEAT_MS),
        10,
        10_000,
    )?;
    let dead_ms = within(
        "dead_ms",
        raw.dead_ms.unwrap_or(DEFAULT_DEAD_MS),
        30,
        60_000,
    )?;
    if dead_ms < MIN_HEARTBEATS_PER_DEAD * heartbeat_ms {
        return Err(bad(
            "dead_ms",
            format!(
                "{dead_ms} holds fewer than {MIN_HEARTBEATS_PER_DEAD} heartbeats of {heartbeat_ms} ms"
            ),
        ));
    }
    let window_messages = within(
        "window_messages",
        raw.window_messages.unwrap_or(d.window_messages as u32),
        16,
        1 << 20,
    )?;
    let max_message = within(
        "max_message",
        raw.max_message.unwrap_or(d.max_message as u16),
        512,
        9000,
    )?;
    let window_bytes = within(
        "window_bytes",
        raw.window_bytes.unwrap_or(d.window_bytes as u64),
        64 << 10,
        1 << 30,
    )?;
    let reorder_messages = within(
        "reorder_messages",
        raw.reorder_messages.unwrap_or(d.reorder_messages as u32),
        1,
        window_messages,
    )?;
    let rto_ms = within("rto_ms", raw.rto_ms.unwrap_or(d.rto_ms), 1, dead_ms)?;
    Ok(HaConfig {
        role: raw.role,
        node_id: raw.node_id,
        priority: raw.priority.unwrap_or(DEFAULT_PRIORITY),
        local,
        peer,
        key: key(&raw.key)?,
        heartbeat_ms,
        dead_ms,
        window_messages,
        window_bytes,
        reorder_messages,
        rto_ms,
        max_message,
    })
}

#[cfg(test)]
mod tests {
    use super::super::Config;
    use super::*;

    const KEY: &str = "hex:000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f";

    fn base() -> String {
        include_str!("../../../deploy/platd.example.toml").to_owned()
    }

    fn with_ha(section: &str) -> Result<Config, ConfigError> {
        Config::from_toml(&format!("{}\n[ha]\n{section}\n", base()))
    }

    fn ok_section() -> String {
        format!(
            "role = \"standby\"\nnode_id = 2\nlocal = \"192.0.2.2:7464\"\npeer = \"192.0.2.1:7464\"\nkey = \"{KEY}\"\n"
        )
    }

    #[test]
    fn absent_ha_section_is_ha_off() {
        assert_eq!(Config::from_toml(&base()).unwrap().ha, None);
    }

    #[test]
    fn ha_section_parses_with_defaults() {
        let h = with_ha(&ok_section()).unwrap().ha.unwrap();
        assert_eq!(
            (h.role, h.node_id, h.priority),
            (Role::Standby, 2, DEFAULT_PRIORITY)
        );
        assert_eq!(
            (h.heartbeat_ms, h.dead_ms),
            (DEFAULT_HEARTBEAT_MS, DEFAULT_DEAD_MS)
        );
        assert_eq!(h.stream(), StreamConfig::default());
        let n = h.node(4, 9);
        assert_eq!((n.workers, n.fingerprint, n.role), (4, 9, Role::Standby));
        // The key works and is shown nowhere.
        let _ = h.key.key();
        let shown = format!("{h:?}{}", toml::to_string(&h).unwrap());
        assert!(!shown.contains("0a0b0c"), "{shown}");
        assert!(shown.contains(&h.key.fingerprint()));
        let b64 = ok_section().replace(KEY, "base64:AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=");
        assert_eq!(with_ha(&b64).unwrap().ha.unwrap().key, h.key);
    }

    #[test]
    fn bad_ha_values_are_refused_naming_the_field() {
        let cases = [
            (KEY, "hex:0011", "ha.key"),
            (KEY, "0011223344556677889900112233445566", "ha.key"),
            (KEY, "hex:zz", "ha.key"),
            (KEY, "base64:!!", "ha.key"),
            ("192.0.2.1:7464", "192.0.2.2:7464", "ha.peer"),
            ("192.0.2.1:7464", "[2001:db8::1]:7464", "ha.peer"),
            ("192.0.2.1:7464", "nowhere", "ha.peer"),
            ("node_id = 2", "node_id = 0", "ha.node_id"),
        ];
        for (from, to, field) in cases {
            let e = with_ha(&ok_section().replace(from, to)).unwrap_err();
            assert_eq!(e.field, field, "{to}: {e:?}");
            assert!(!e.reason.contains("0011223344"), "{e:?}");
        }
        let extra = [
            ("heartbeat_ms = 5", "ha.heartbeat_ms"),
            ("dead_ms = 500", "ha.dead_ms"),
            ("window_messages = 8", "ha.window_messages"),
            ("window_bytes = 1000", "ha.window_bytes"),
            ("reorder_messages = 5000", "ha.reorder_messages"),
            ("rto_ms = 0", "ha.rto_ms"),
            ("max_message = 100", "ha.max_message"),
        ];
        for (line, field) in extra {
            let e = with_ha(&format!("{}{line}\n", ok_section())).unwrap_err();
            assert_eq!(e.field, field, "{line}: {e:?}");
        }
        let e = with_ha(&ok_section().replace("standby", "primary")).unwrap_err();
        assert!(e.reason.contains("primary"), "{e:?}");
    }
}
