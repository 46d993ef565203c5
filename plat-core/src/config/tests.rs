//! The configuration's parse and validation rules, one test each.

use super::*;

const LAB: &str = r#"
[eal]
args = ["-l", "0-1", "--no-huge", "--vdev=net_af_packet0,iface=a6", "--vdev=net_af_packet1,iface=a4"]

[inside]
port = "net_af_packet0"
addresses = ["2001:db8:6::1/64"]
routes = [{ prefix = "2001:db8:7::/48", via = "2001:db8:6::2" }]
neighbors = [{ ip = "2001:db8:6::2", mac = "02:00:00:00:00:02" }]

[outside]
port = "net_af_packet1"
addresses = ["203.0.113.1/24"]
mtu = 1400
routes = [{ prefix = "0.0.0.0/0", via = "203.0.113.254" }]

[nat64]
prefix = "2001:db8:64::/96"
pool4 = ["198.51.100.0/29", { prefix = "198.51.100.8/30", tcp = "2000-2999" }]
static_bib = [{ proto = "tcp", v6 = "[2001:db8:6::80]:80", v4 = "198.51.100.1:8080" }]
filtering = "eif"

[nat64.timeouts]
udp = 600

[workers]
steering = "handoff"
idle_sleep_us = 50
"#;

fn with(from: &str, to: &str) -> Result<Config, ConfigError> {
    assert!(LAB.contains(from), "fixture lacks {from}");
    Config::from_toml(&LAB.replacen(from, to, 1))
}

#[test]
fn lab_config_parses_into_typed_values() {
    let c = Config::from_toml(LAB).unwrap();
    assert_eq!(
        c.inside.addresses[0].addr,
        "2001:db8:6::1".parse::<Ipv6Addr>().unwrap()
    );
    assert_eq!(c.inside.addresses[0].len, 64);
    assert_eq!(c.inside.mtu, DEFAULT_MTU);
    assert_eq!(c.outside.mtu, 1400);
    assert_eq!(
        c.outside.routes[0].via,
        Some(Ipv4Addr::new(203, 0, 113, 254))
    );
    assert_eq!(c.inside.neighbors[0].mac, MacAddr([2, 0, 0, 0, 0, 2]));
    assert_eq!(c.workers.steering, Steering::Handoff);
    assert_eq!(c.workers.burst, DEFAULT_BURST);
    assert_eq!(c.mgmt.socket, DEFAULT_MGMT_SOCKET);
}

#[test]
fn pool4_entries_convert_to_the_prefixes_they_cover() {
    let c = Config::from_toml(LAB).unwrap();
    let cidrs: Vec<Ipv4Cidr> = c.nat64.pool4.iter().map(Ipv4Cidr::from).collect();
    assert_eq!(
        cidrs,
        [
            "198.51.100.0/29".parse().unwrap(),
            "198.51.100.8/30".parse().unwrap()
        ]
    );
    assert!(cidrs[1].contains(Ipv4Addr::new(198, 51, 100, 11)));
    assert!(!cidrs[1].contains(Ipv4Addr::new(198, 51, 100, 12)));
}

#[test]
fn bad_values_are_refused_naming_field_and_reason() {
    let cases = [
        (
            "\"203.0.113.1/24\"",
            "\"203.0.113.1/33\"",
            "outside.addresses[0]",
            "prefix length",
        ),
        (
            "\"2001:db8:6::1/64\"",
            "\"203.0.113.9/24\"",
            "inside.addresses[0]",
            "not an IPv6 address",
        ),
        (
            "mtu = 1400",
            "mtu = 67",
            "outside.mtu",
            "below the minimum outside link MTU 68",
        ),
        (
            "addresses = [\"2001:db8:6::1/64\"]",
            "addresses = [\"2001:db8:6::1/64\"]\nmtu = 1000",
            "inside.mtu",
            "below the minimum inside link MTU 1280",
        ),
        (
            "via = \"2001:db8:6::2\"",
            "via = \"192.0.2.1\"",
            "inside.routes[0].via",
            "not an address",
        ),
        (
            "02:00:00:00:00:02",
            "02:00:00:00:02",
            "inside.neighbors[0].mac",
            "not a MAC",
        ),
        (
            "port = \"net_af_packet1\"",
            "port = \"net_af_packet0\"",
            "outside.port",
            "also the inside port",
        ),
        (
            "idle_sleep_us = 50",
            "idle_sleep_us = 50\nburst = 0",
            "workers.burst",
            "outside 1..=",
        ),
    ];
    for (from, to, field, reason) in cases {
        let e = with(from, to).expect_err(to);
        assert_eq!(e.field, field, "{e}");
        assert!(e.reason.contains(reason), "{e}");
    }
}

#[test]
fn unknown_and_mistyped_keys_are_refused_with_their_line() {
    let e = with("steering = \"handoff\"", "stearing = \"handoff\"").unwrap_err();
    assert!(e.reason.contains("stearing"), "{e}");
    assert!(e.field.starts_with("line "), "{e}");
    let e = with("steering = \"handoff\"", "steering = \"magic\"").unwrap_err();
    assert!(e.reason.contains("magic"), "{e}");
    let e = with("mtu = 1400", "mtu = \"big\"").unwrap_err();
    assert!(e.reason.contains("invalid type"), "{e}");
}

#[test]
fn nat64_section_becomes_prefix_pool4_static_bib_and_state_config() {
    let c = Config::from_toml(LAB).unwrap();
    let n = &c.nat64;
    assert_eq!(n.prefix.primary().prefix_len(), 96);
    assert_eq!(n.pool4.len(), 2);
    assert_eq!(
        n.pool4[1].ranges[Proto::Tcp.index()],
        PortRange::new(2000, 2999)
    );
    assert_eq!(n.pool4[1].ranges[Proto::Udp.index()], PortRange::PORTS);
    assert_eq!(
        n.static_bib[0].v4,
        Endpoint4::new(Ipv4Addr::new(198, 51, 100, 1), 8080)
    );
    assert_eq!(n.nat.filtering, Filtering::Eif);
    assert_eq!(n.nat.timeouts.udp, 600);
    assert_eq!(n.nat.timeouts.icmp, Timeouts::default().icmp);
    assert_eq!((n.xlat.ipv6_mtu, n.xlat.ipv4_mtu), (DEFAULT_MTU, 1400));
}

#[test]
fn bad_nat64_values_are_refused_naming_field_and_reason() {
    let cases = [
        (
            "2001:db8:64::/96",
            "2001:db8:64::/80",
            "nat64.prefix",
            "/80",
        ),
        (
            "\"198.51.100.0/29\"",
            "\"198.51.100.1/29\"",
            "nat64.pool4[0]",
            "host bits",
        ),
        (
            "tcp = \"2000-2999\"",
            "tcp = \"2999-2000\"",
            "nat64.pool4[1].tcp",
            "above",
        ),
        (
            "198.51.100.1:8080",
            "192.0.2.1:8080",
            "nat64.static_bib[0].v4",
            "not a pool4 address",
        ),
        (
            "proto = \"tcp\"",
            "proto = \"sctp\"",
            "nat64.static_bib[0].proto",
            "not tcp",
        ),
        ("udp = 600", "udp = 60", "nat64.timeouts.udp", "minimum"),
    ];
    for (from, to, field, reason) in cases {
        let e = with(from, to).expect_err(to);
        assert_eq!(e.field, field, "{e}");
        assert!(e.reason.contains(reason), "{e}");
    }
    let e = with("udp = 600", "udp_timeout = 600").unwrap_err();
    assert!(
        e.reason.contains("udp_timeout"),
        "unknown timeout key refused: {e}"
    );
}

#[test]
fn the_documented_example_config_is_valid() {
    let c = Config::from_toml(include_str!("../../../deploy/platd.example.toml")).unwrap();
    assert_eq!(c.nat64.static_bib.len(), 1);
    assert_eq!(c.workers.steering, Steering::Auto);
}

#[test]
fn cidr_contains_and_network() {
    let p: Ipv4Cidr = "198.51.100.7/29".parse().unwrap();
    assert_eq!(p.network(), Ipv4Addr::new(198, 51, 100, 0));
    assert!(p.contains(Ipv4Addr::new(198, 51, 100, 7)));
    assert!(!p.contains(Ipv4Addr::new(198, 51, 100, 8)));
    let all: Ipv4Cidr = "0.0.0.0/0".parse().unwrap();
    assert!(all.contains(Ipv4Addr::new(203, 0, 113, 1)));
    let p6: Ipv6Cidr = "2001:db8:6::1/64".parse().unwrap();
    assert!(p6.contains("2001:db8:6::ffff".parse().unwrap()));
    assert!(!p6.contains("2001:db8:7::1".parse().unwrap()));
    let d6: Ipv6Cidr = "::/0".parse().unwrap();
    assert!(d6.contains("2001:db8::1".parse().unwrap()));
}

#[test]
fn management_sections_parse_and_bad_values_are_refused() {
    let c = with(
        "[workers]",
        "[mgmt]\nsocket = \"/run/x.sock\"\nmode = \"0640\"\ngroup = \"plat\"\n\n\
         [metrics]\nlisten = \"[::1]:9464\"\n\n[logging]\nformat = \"json\"\nlevel = \"warn\"\n\n[workers]",
    )
    .unwrap();
    assert_eq!(c.mgmt.socket, "/run/x.sock");
    assert_eq!(c.mgmt.mode, 0o640);
    assert_eq!(c.mgmt.group.as_deref(), Some("plat"));
    assert_eq!(c.metrics.listen, Some("[::1]:9464".parse().unwrap()));
    assert_eq!(c.logging.format, LogFormat::Json);
    let defaults = Config::from_toml(LAB).unwrap();
    assert_eq!(defaults.mgmt.mode, DEFAULT_MGMT_MODE);
    assert_eq!(defaults.metrics.listen, None);
    for (from, to, field) in [
        (
            "[workers]",
            "[mgmt]\nmode = \"0999\"\n[workers]",
            "mgmt.mode",
        ),
        ("[workers]", "[mgmt]\ngroup = \"\"\n[workers]", "mgmt.group"),
        (
            "[workers]",
            "[metrics]\nlisten = \"localhost\"\n[workers]",
            "metrics.listen",
        ),
    ] {
        assert_eq!(with(from, to).unwrap_err().field, field, "{to}");
    }
}

#[test]
fn overlapping_or_oversized_pool4_entries_are_refused() {
    let e = with("\"198.51.100.0/29\", {", "\"198.51.100.0/28\", {").unwrap_err();
    assert_eq!(e.field, "nat64.pool4[1]");
    assert!(e.reason.contains("overlaps nat64.pool4[0]"), "{e}");
    let e = with("prefix = \"198.51.100.8/30\"", "prefix = \"10.0.0.0/8\"").unwrap_err();
    assert_eq!(e.field, "nat64.pool4[1]");
    assert!(e.reason.contains("larger than a /16"), "{e}");
}

#[test]
fn nat_event_logging_parses_turns_events_on_and_refuses_bad_values() {
    let defaults = Config::from_toml(LAB).unwrap();
    assert!(!defaults.logging.nat.enabled());
    assert_eq!(defaults.nat64.nat.event_capacity, 0, "no sink, no events");
    let c = with(
        "[workers]",
        "[logging.nat]\ncollectors = [\"192.0.2.50:4739\", \"[2001:db8::50]:4739\"]\n\
         observation_domain = 9\nmtu = 1280\nfile = \"/var/log/plat/nat.jsonl\"\n\n[workers]",
    )
    .unwrap();
    let n = &c.logging.nat;
    assert!(n.enabled());
    assert_eq!(n.collectors.len(), 2);
    assert_eq!(n.observation_domain, 9);
    assert!(
        !n.destination,
        "RFC 6888 REQ-12: no destinations by default"
    );
    assert_eq!(n.max_message_len(), 1280 - 48);
    assert_eq!(c.nat64.nat.event_capacity, SHARD_EVENTS_PER_POLL);
    assert!(c.nat64.nat.binding_events, "a per-session log reads them");
    for (to, field) in [
        ("collectors = [\"collector\"]", "logging.nat.collectors[0]"),
        (
            "collectors = [\"192.0.2.50:4739\"]\nmtu = 100",
            "logging.nat.mtu",
        ),
        ("file = \"\"", "logging.nat.file"),
        (
            "file = \"x\"\nfile_max_bytes = 10",
            "logging.nat.file_max_bytes",
        ),
        ("file = \"x\"\nring_events = 8", "logging.nat.ring_events"),
        (
            "file = \"x\"\ntemplate_refresh = 0",
            "logging.nat.template_refresh",
        ),
    ] {
        let e = with("[workers]", &format!("[logging.nat]\n{to}\n[workers]")).unwrap_err();
        assert_eq!(e.field, field, "{to}");
    }
}

#[test]
fn rfc791_an_ipv4_link_takes_any_mtu_down_to_68() {
    for mtu in [68u16, 576, 1000, 9000] {
        let c = with("mtu = 1400", &format!("mtu = {mtu}")).unwrap();
        assert_eq!(c.outside.mtu, mtu);
        assert_eq!(c.nat64.xlat.ipv4_mtu, mtu);
    }
}

#[test]
fn rfc4443_2_2_errors_platd_sends_come_from_its_own_addresses() {
    let c = Config::from_toml(LAB).unwrap();
    assert_eq!(
        c.nat64.xlat.icmpv6_error_source,
        Some("2001:db8:6::1".parse().unwrap()),
        "the inside address"
    );
    assert_eq!(
        c.nat64.xlat.icmpv4_error_source,
        Some("203.0.113.1".parse().unwrap()),
        "the outside address"
    );
    let c = with(
        "[nat64.timeouts]",
        "[nat64.translation]\nicmpv6_error_source = \"2001:db8:6::99\"\n\
         icmpv4_error_source = \"203.0.113.99\"\n\n[nat64.timeouts]",
    )
    .unwrap();
    assert_eq!(
        c.nat64.xlat.icmpv6_error_source,
        Some("2001:db8:6::99".parse().unwrap())
    );
    assert_eq!(
        c.nat64.xlat.icmpv4_error_source,
        Some("203.0.113.99".parse().unwrap())
    );
    let e = with(
        "[nat64.timeouts]",
        "[nat64.translation]\nicmpv4_error_source = \"2001:db8::1\"\n\n[nat64.timeouts]",
    )
    .unwrap_err();
    assert_eq!(e.field, "nat64.translation.icmpv4_error_source");
}

#[test]
fn rfc8683_4_5_several_nat64_prefixes() {
    let c = with(
        "prefix = \"2001:db8:64::/96\"",
        "prefix = [\"64:ff9b::/96\", \"2001:db8:64::/96\"]",
    )
    .unwrap();
    let p: Vec<String> = c.nat64.prefix.iter().map(|p| p.to_string()).collect();
    assert_eq!(p, ["64:ff9b::/96", "2001:db8:64::/96"]);
    assert!(c.nat64.prefix.primary().is_well_known());
    for (to, field, why) in [
        ("prefix = []", "nat64.prefix", "at least one"),
        (
            "prefix = [\"2001:db8:64::/96\", \"2001:db8::/32\"]",
            "nat64.prefix",
            "overlaps",
        ),
        (
            "prefix = [\"64:ff9b::/96\", \"2001:db8:64::/95\"]",
            "nat64.prefix[1]",
            "",
        ),
    ] {
        let e = with("prefix = \"2001:db8:64::/96\"", to).unwrap_err();
        assert_eq!(e.field, field, "{to}");
        assert!(e.reason.contains(why), "{e}");
    }
}
