//! Results: one JSON record per measurement (appended to a file, one line
//! each, for scripts and BENCHMARKS.md), and a human summary line.

use std::io::Write;
use std::path::PathBuf;

use anyhow::{Context, Result};
use serde_json::{json, Value};

use crate::histogram::Histogram;
use crate::trial::Counts;

/// Where records go.
pub struct Report {
    json: Option<PathBuf>,
    /// Fields every record carries (scenario, frame size, DUT, machine).
    common: Value,
}

impl Report {
    /// Records to `json` (appended; `-` for stdout), each with `common`.
    pub fn new(json: Option<PathBuf>, common: Value) -> Report {
        Report { json, common }
    }

    /// Prints `summary` and writes one record for `measurement`.
    pub fn record(&self, measurement: &str, rfc: &str, summary: &str, result: Value) -> Result<()> {
        println!("{measurement:<14} {summary}");
        let mut rec = self.common.clone();
        rec["measurement"] = json!(measurement);
        rec["method"] = json!(rfc);
        rec["unix_s"] = json!(std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(0));
        rec["result"] = result;
        let line = serde_json::to_string(&rec)?;
        match &self.json {
            None => {}
            Some(p) if p.as_os_str() == "-" => println!("{line}"),
            Some(p) => {
                let mut f = std::fs::OpenOptions::new()
                    .create(true)
                    .append(true)
                    .open(p)
                    .with_context(|| format!("opening {}", p.display()))?;
                writeln!(f, "{line}").with_context(|| format!("writing {}", p.display()))?;
            }
        }
        Ok(())
    }
}

/// A trial as JSON: the counts, rates and both directions' delays.
pub fn trial_json(rate: f64, c: &Counts) -> Value {
    let mut v = serde_json::to_value(c).unwrap_or(Value::Null);
    v["rate_pps"] = json!(rate.round());
    v["refused"] = json!(c.refused());
    v["lost"] = json!(c.lost());
    v["frame_loss_rate"] = json!(if c.offered_total() == 0 {
        0.0
    } else {
        c.lost() as f64 / c.offered_total() as f64
    });
    v["forward_delay_ns"] = delays(&c.forward_delay);
    v["return_delay_ns"] = delays(&c.return_delay);
    v
}

/// RFC 8219 7.2 and 7.3.1 figures of a delay histogram: typical latency
/// (the median), worst-case latency (the 99.9th percentile) and packet
/// delay variation (99.9th percentile minus the minimum).
pub fn delays(h: &Histogram) -> Value {
    match (h.min(), h.quantile(0.5), h.quantile(0.999), h.max()) {
        (Some(min), Some(med), Some(p999), Some(max)) => json!({
            "samples": h.count(),
            "min": min,
            "typical": med,
            "worst_case": p999,
            "pdv": p999 - min,
            "max": max,
        }),
        _ => Value::Null,
    }
}

/// `12.34 Mpps` style.
pub fn mpps(pps: f64) -> String {
    format!("{:.3} Mpps", pps / 1e6)
}

/// `12.3 us` style from nanoseconds.
pub fn us(ns: Option<u64>) -> String {
    ns.map_or("-".into(), |n| format!("{:.1} us", n as f64 / 1e3))
}
