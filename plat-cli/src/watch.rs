//! `watch stats`: a screen of per-second rates every interval, until
//! Ctrl-C or the number of screens asked for.

use std::io::Write;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use plat_core::api::{Answer, Command, Stats};

use crate::client::{answer_kind, Client, Error};
use crate::render::{percent, Table};

/// Homes the cursor and clears the terminal.
const CLEAR: &str = "\x1b[H\x1b[2J";

/// How often a wait between screens looks for Ctrl-C.
const TICK: Duration = Duration::from_millis(50);

/// Width of a worker's busy bar.
const BAR: usize = 20;

/// Shows `ShowStats { rates }` every `every`; `iterations` screens, or
/// until Ctrl-C. `clear`: stdout is a terminal (each screen replaces the
/// last); `json`: one JSON line per screen instead.
pub fn run(
    client: &mut Client,
    every: Duration,
    iterations: Option<u64>,
    json: bool,
    clear: bool,
    out: &mut dyn Write,
) -> Result<(), Error> {
    let stop = ctrl_c();
    stop.store(false, Ordering::Relaxed);
    let mut shown = 0;
    loop {
        let start = Instant::now();
        let answer = client.ask(Command::ShowStats {
            worker: None,
            rates: true,
        })?;
        let text = if json {
            serde_json::to_string(&answer).expect("an answer has only string keys") + "\n"
        } else {
            let Answer::Stats(s) = &answer else {
                return Err(Error::Unexpected(answer_kind(&answer)));
            };
            let clear = if clear { CLEAR } else { "" };
            format!("{clear}{}", screen(s, iterations.is_none()))
        };
        out.write_all(text.as_bytes())
            .and_then(|()| out.flush())
            .map_err(Error::Output)?;
        shown += 1;
        if iterations.is_some_and(|n| shown >= n) {
            return Ok(());
        }
        while let Some(left) = every.checked_sub(start.elapsed()) {
            if stop.load(Ordering::Relaxed) {
                return Ok(());
            }
            std::thread::sleep(left.min(TICK));
        }
        if stop.load(Ordering::Relaxed) {
            return Ok(());
        }
    }
}

/// Set by Ctrl-C. Once a watch has run, a first Ctrl-C ends the watch
/// (and only it, in the shell) and a second one ends platctl.
fn ctrl_c() -> Arc<AtomicBool> {
    static FLAG: OnceLock<Arc<AtomicBool>> = OnceLock::new();
    Arc::clone(FLAG.get_or_init(|| {
        use signal_hook::consts::SIGINT;
        let flag = Arc::new(AtomicBool::new(false));
        // Registered first, so it sees the flag as the previous Ctrl-C
        // left it. Without these, Ctrl-C ends platctl as it always does.
        let _ = signal_hook::flag::register_conditional_shutdown(SIGINT, 130, Arc::clone(&flag));
        let _ = signal_hook::flag::register(SIGINT, Arc::clone(&flag));
        flag
    }))
}

/// A counter's value by name (`None`: platd has no such counter).
fn value(s: &Stats, name: &str) -> Option<u64> {
    s.counters.iter().find(|c| c.name == name).map(|c| c.total)
}

/// One screen.
fn screen(s: &Stats, until_ctrl_c: bool) -> String {
    let shown = |name: &str| value(s, name).map_or_else(|| "-".to_string(), |v| v.to_string());
    let over = s.interval_ms.map_or_else(
        || "since start".to_string(),
        |ms| format!("per second over the last {ms} ms"),
    );
    let mut out = format!(
        "platd, {over}{}\n\n",
        if until_ctrl_c { " (Ctrl-C stops)" } else { "" }
    );

    let mut sides = Table::new(&[
        "SIDE",
        ">RX PKT/S",
        ">RX BYTES/S",
        ">TX PKT/S",
        ">TRANSLATED/S",
    ]);
    // What arrives on a side is translated toward the other.
    for (side, xlat) in [("inside", "xlat_v6_to_v4"), ("outside", "xlat_v4_to_v6")] {
        sides.row([
            side.to_string(),
            shown(&format!("rx_{side}")),
            shown(&format!("rx_bytes_{side}")),
            shown(&format!("tx_{side}")),
            shown(xlat),
        ]);
    }
    out += &sides.to_string();
    out += &format!("\nnew sessions/s  {}\n\n", shown("nat_sessions_created"));

    let mut drops: Vec<_> = s
        .counters
        .iter()
        .filter(|c| c.name.starts_with("drop_") && c.total != 0)
        .collect();
    drops.sort_by(|a, b| b.total.cmp(&a.total).then_with(|| a.name.cmp(&b.name)));
    if drops.is_empty() {
        out += "drops/s  0\n";
    } else {
        let mut t = Table::new(&["DROP", ">PKT/S"]);
        for c in drops {
            t.row([c.name.clone(), c.total.to_string()]);
        }
        out += &t.to_string();
    }

    if !s.busy.is_empty() {
        let mut t = Table::new(&[">WORKER", ">BUSY", "LOAD"]);
        for (w, &b) in s.busy.iter().enumerate() {
            let full = ((b.clamp(0.0, 1.0) * BAR as f64).round() as usize).min(BAR);
            t.row([
                w.to_string(),
                percent(b),
                format!("{}{}", "#".repeat(full), ".".repeat(BAR - full)),
            ]);
        }
        out.push('\n');
        out += &t.to_string();
    }
    out
}

#[cfg(test)]
mod tests {
    use plat_core::api::Counter;

    use super::*;

    fn stats() -> Stats {
        let counter = |name: &str, total: u64| Counter {
            name: name.into(),
            kind: "counter".into(),
            help: String::new(),
            total,
            values: vec![total],
        };
        Stats {
            interval_ms: Some(1000),
            rows: vec!["worker 0".into()],
            counters: vec![
                counter("rx_inside", 1001),
                counter("rx_outside", 1002),
                counter("tx_inside", 1003),
                counter("tx_outside", 1004),
                counter("rx_bytes_inside", 2001),
                counter("xlat_v6_to_v4", 3001),
                counter("xlat_v4_to_v6", 3002),
                counter("nat_sessions_created", 77),
                counter("drop_runt", 0),
                counter("drop_no_route", 5),
                counter("drop_vlan_tagged", 9),
            ],
            busy: vec![0.5],
        }
    }

    #[test]
    fn a_screen_shows_rates_new_sessions_drops_and_load() {
        let text = screen(&stats(), true);
        for want in [
            "1001",
            "1002",
            "1003",
            "1004",
            "2001",
            "3001",
            "3002",
            "new sessions/s  77",
        ] {
            assert!(text.contains(want), "`{want}` missing:\n{text}");
        }
        assert!(!text.contains("drop_runt"), "{text}");
        let vlan = text.find("drop_vlan_tagged").unwrap();
        assert!(
            vlan < text.find("drop_no_route").unwrap(),
            "most first:\n{text}"
        );
        assert!(text.contains("50.0%  ##########.........."), "{text}");
        // Counters platd does not have are shown as such, not as zero.
        let outside = text.lines().find(|l| l.starts_with("outside")).unwrap();
        assert_eq!(
            outside.split_whitespace().collect::<Vec<_>>(),
            ["outside", "1002", "-", "1004", "3002"]
        );
        assert!(!text.contains('\x1b'));
    }
}
