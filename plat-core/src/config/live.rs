//! What a running appliance may change without a restart (`platctl config
//! reload`, `pool4 add|remove`): pool4 entries, the NAT timeouts, the
//! filtering policy and whether IPv4 may open TCP. Everything else is read
//! once at start (ports, addresses, EAL, capacities, the prefix its
//! sessions embed) and a change to it is refused, naming the field.

use super::{Config, ConfigError, Ipv4Cidr};

/// Fields (as paths of the typed configuration) a running appliance
/// applies: the workers' shards take them at their next generation check.
const LIVE: [&str; 3] = [
    "nat64.nat.timeouts",
    "nat64.nat.filtering",
    "nat64.nat.v4_initiated_tcp",
];

/// The path as the TOML file writes it (the typed configuration nests the
/// NAT settings one level deeper than the file does).
fn file_path(path: &str) -> String {
    path.replace("nat64.nat.", "nat64.")
        .replace("nat64.xlat.", "nat64.translation.")
}

/// Paths of the leaves that differ between `a` and `b`.
fn diff(path: &str, a: &toml::Value, b: &toml::Value, out: &mut Vec<String>) {
    match (a, b) {
        (toml::Value::Table(x), toml::Value::Table(y)) => {
            let mut keys: Vec<&String> = x.keys().chain(y.keys()).collect();
            keys.sort();
            keys.dedup();
            for k in keys {
                let p = if path.is_empty() {
                    k.clone()
                } else {
                    format!("{path}.{k}")
                };
                match (x.get(k), y.get(k)) {
                    (Some(v), Some(w)) => diff(&p, v, w, out),
                    _ => out.push(p),
                }
            }
        }
        _ if a != b => out.push(path.to_owned()),
        _ => {}
    }
}

fn as_toml(c: &Config) -> Result<toml::Value, ConfigError> {
    toml::Value::try_from(c).map_err(|e| ConfigError::new("(config)", e.to_string()))
}

impl Config {
    /// What changes from `self` (running) to `new`, one line per field,
    /// when every change can be applied live; otherwise the first field
    /// that cannot, and why.
    pub fn live_changes(&self, new: &Config) -> Result<Vec<String>, ConfigError> {
        let mut changes = Vec::new();
        for e in &new.nat64.pool4 {
            if !self.nat64.pool4.contains(e) {
                changes.push(format!("nat64.pool4: added {}", Ipv4Cidr::from(e)));
            }
        }
        for e in &self.nat64.pool4 {
            if !new.nat64.pool4.contains(e) {
                changes.push(format!(
                    "nat64.pool4: removed {} (its sessions and BIB entries go)",
                    Ipv4Cidr::from(e)
                ));
            }
        }
        let (mut a, mut b) = (as_toml(self)?, as_toml(new)?);
        for v in [&mut a, &mut b] {
            if let Some(n) = v.get_mut("nat64").and_then(toml::Value::as_table_mut) {
                n.remove("pool4");
            }
        }
        let mut fields = Vec::new();
        diff("", &a, &b, &mut fields);
        for f in fields {
            if !LIVE
                .iter()
                .any(|l| f == *l || f.starts_with(&format!("{l}.")))
            {
                return Err(ConfigError::new(
                    file_path(&f),
                    "cannot change while platd runs (restart platd to change it)",
                ));
            }
            let show = |c: &Config| {
                as_toml(c)
                    .ok()
                    .and_then(|v| {
                        f.split('.')
                            .try_fold(v, |v, k| v.get(k).cloned())
                            .map(|v| v.to_string())
                    })
                    .unwrap_or_default()
            };
            changes.push(format!(
                "{}: {} -> {}",
                file_path(&f),
                show(self),
                show(new)
            ));
        }
        Ok(changes)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn example() -> Config {
        Config::from_toml(include_str!("../../../deploy/platd.example.toml")).unwrap()
    }

    #[test]
    fn pool4_and_timeouts_change_live_and_are_listed() {
        let old = example();
        let mut new = old.clone();
        new.nat64.pool4.push(crate::nat::Pool4Entry::new(
            "203.0.113.64".parse().unwrap(),
            30,
        ));
        new.nat64.nat.timeouts.udp = 600;
        let changes = old.live_changes(&new).unwrap();
        assert!(changes.contains(&"nat64.pool4: added 203.0.113.64/30".to_owned()));
        assert!(
            changes
                .iter()
                .any(|c| c.starts_with("nat64.timeouts.udp:") && c.ends_with("-> 600")),
            "{changes:?}"
        );
        assert_eq!(old.live_changes(&old).unwrap(), Vec::<String>::new());
    }

    #[test]
    fn a_field_read_once_at_start_is_refused_by_name() {
        let old = example();
        let mut new = old.clone();
        new.nat64.nat.limits.sessions *= 2;
        let e = old.live_changes(&new).unwrap_err();
        assert_eq!(e.field, "nat64.limits.sessions");
        let mut new = old.clone();
        new.eal.args.push("--no-telemetry".into());
        assert_eq!(old.live_changes(&new).unwrap_err().field, "eal.args");
        let mut new = old.clone();
        new.outside.mtu = 1400;
        assert_eq!(old.live_changes(&new).unwrap_err().field, "outside.mtu");
    }
}
