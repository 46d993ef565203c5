//! The procedures, named as their RFCs name them.
//!
//! - RFC 8219 7.1 throughput: the highest rate at which no frame is lost,
//!   by binary search over trials.
//! - RFC 8219 7.2 latency and 7.3.1 packet delay variation: one trial at a
//!   given rate with every frame tagged; typical latency is the median,
//!   worst-case latency the 99.9th percentile, PDV the 99.9th percentile
//!   minus the minimum.
//! - RFC 8219 7.4 frame loss rate: trials from the top rate down in 10 %
//!   steps until two in a row lose nothing.
//! - RFC 9693 (stateful NATxy): a preliminary phase that fills the
//!   connection tracking table before throughput over established
//!   connections; maximum connection establishment rate (every frame a new
//!   connection, binary search, the table emptied before each trial);
//!   connection tear-down rate (deleting N connections, minus deleting
//!   none); connection tracking table capacity.

use std::time::Duration;

use anyhow::{bail, Result};
use serde_json::{json, Value};

use crate::dut::Dut;
use crate::report::{self, mpps, us, Report};
use crate::trial::{Counts, Flows, Spec, Tester};

/// Settings shared by the procedures.
pub struct Settings {
    /// Trial length.
    pub trial: Duration,
    /// Binary search starts below this rate.
    pub max_rate: f64,
    /// Binary search stops when (high - low) / high is below this.
    pub resolution: f64,
    /// Answer frames from the server side.
    pub bidirectional: bool,
    /// Rate of the preliminary phase.
    pub fill_rate: f64,
    /// Time to keep receiving after a trial.
    pub drain: Duration,
    /// Share of frames a trial may lose and still pass: 0 for RFC 8219
    /// throughput (no drop rate, NDR); e.g. 0.005 for a partial drop rate
    /// (PDR), which on a shared virtual machine says what the translator
    /// sustains apart from the host's scheduling stalls.
    pub loss_tolerance: f64,
}

/// The procedures over one tester and (unless this is the tester's own
/// ceiling) platd.
pub struct Bench<'a> {
    /// The tester.
    pub tester: Tester<'a>,
    /// platd, or `None` for the loopback ceiling.
    pub dut: Option<&'a Dut>,
    /// Settings.
    pub set: Settings,
    /// Where results go.
    pub report: &'a Report,
}

impl Bench<'_> {
    fn spec(&self, rate: f64, flows: Flows) -> Spec {
        // New flows are never repeated: a trial lasts at most as long as
        // the table has flows for at this rate.
        let (duration, max_frames) = match flows {
            Flows::New { .. } => {
                let n = self.tester.flows();
                let secs = self.set.trial.as_secs_f64().min(n as f64 / rate);
                (Duration::from_secs_f64(secs), Some(n))
            }
            Flows::Established { .. } => (self.set.trial, None),
        };
        Spec {
            rate,
            duration,
            flows,
            bidirectional: self.set.bidirectional,
            drain: self.set.drain,
            max_frames,
        }
    }

    fn established(&self) -> Flows {
        Flows::Established {
            first: 0,
            count: self.tester.flows(),
        }
    }

    fn passed(&self, c: &Counts) -> bool {
        c.lost() as f64 <= self.set.loss_tolerance * c.offered_total() as f64
            && !c.tester_limited
            // A TCP connection counts when its last ACK arrived.
            && c.connections_opened.saturating_sub(c.connections_completed) as f64
                <= self.set.loss_tolerance * c.connections_opened as f64
    }

    fn log(&self, what: &str, rate: f64, c: &Counts) {
        eprintln!(
            "  {what} {:>12}: offered {} (refused {}), forwarded {}, answers {}, returned {}, lost {}{}",
            mpps(rate),
            c.offered,
            c.refused(),
            c.forwarded,
            c.answers_sent,
            c.returned,
            c.lost(),
            if c.tester_limited { ", TESTER-LIMITED" } else { "" }
        );
        if c.connections_opened > 0 {
            eprintln!(
                "    TCP connections completed {} of {}",
                c.connections_completed, c.connections_opened
            );
        }
    }

    /// Every flow of the table once, as new flows, at `rate`.
    fn every_flow_once(&self, rate: f64, bidirectional: bool) -> Spec {
        let n = self.tester.flows();
        Spec {
            rate,
            // Time enough for every flow even when the tester's core is
            // shared for a while: the rate paces, the flow count ends it.
            duration: Duration::from_secs_f64(n as f64 / rate * 1.5 + 1.0),
            flows: Flows::New { first: 0 },
            bidirectional,
            drain: self.set.drain,
            max_frames: Some(n),
        }
    }

    /// RFC 9693's preliminary phase: every flow once, at the fill rate,
    /// with the table emptied first; an error when a frame is lost (the
    /// table would not hold what the measurement assumes).
    pub fn fill(&self) -> Result<Counts> {
        if let Some(d) = self.dut {
            d.clear_sessions()?;
        }
        self.tester.flush();
        let n = self.tester.flows();
        let spec = self.every_flow_once(self.set.fill_rate, self.set.bidirectional);
        let c = self.tester.run(&spec);
        self.log("fill", self.set.fill_rate, &c);
        if c.lost() > 0 {
            bail!(
                "preliminary phase lost {} of {} frames at {}: lower --fill-rate",
                c.lost(),
                c.offered_total(),
                mpps(self.set.fill_rate)
            );
        }
        let sessions = match self.dut {
            Some(d) => Some(d.settled(5)?.sessions),
            None => None,
        };
        self.report.record(
            "fill",
            "RFC 9693 preliminary phase",
            &format!(
                "{n} flows at {}: 0 lost, platd sessions {}",
                mpps(self.set.fill_rate),
                sessions.map_or("-".into(), |s| s.to_string())
            ),
            json!({ "flows": n, "sessions": sessions, "trial": report::trial_json(self.set.fill_rate, &c) }),
        )?;
        Ok(c)
    }

    /// Binary search for the highest passing rate; returns it and the
    /// trials.
    fn search(&self, flows: impl Fn() -> Result<Flows>) -> Result<(f64, Vec<Value>)> {
        let (mut lo, mut hi) = (0.0f64, self.set.max_rate);
        let mut trials = Vec::new();
        let mut rate = hi;
        while hi > 0.0 && (hi - lo) / hi > self.set.resolution {
            let spec = self.spec(rate, flows()?);
            self.tester.flush();
            let c = self.tester.run(&spec);
            let ok = self.passed(&c);
            self.log(if ok { "pass" } else { "fail" }, rate, &c);
            trials.push(report::trial_json(rate, &c));
            if ok {
                lo = rate;
            } else {
                hi = rate;
                // A generator that could not keep the rate bounds the
                // search by what it did reach.
                if c.tester_limited && c.offered_s > 0.0 {
                    hi = hi.min(c.offered as f64 / c.offered_s);
                }
            }
            rate = (lo + hi) / 2.0;
        }
        Ok((lo, trials))
    }

    /// RFC 8219 7.1 throughput over the established flows.
    pub fn throughput(&self) -> Result<f64> {
        let (rate, trials) = self.search(|| Ok(self.established()))?;
        let both = if self.set.bidirectional { 2.0 } else { 1.0 };
        self.report.record(
            "throughput",
            &if self.set.loss_tolerance == 0.0 {
                "RFC 8219 7.1 (binary search, zero loss)".to_string()
            } else {
                format!("partial drop rate: binary search, loss <= {} %", self.set.loss_tolerance * 100.0)
            },
            &format!(
                "{} offered per direction ({:.2} Gbit/s of {} frames), {} through platd in all, {} flows",
                mpps(rate),
                rate * self.tester.sizes().mean_len() * 8.0 / 1e9,
                self.tester.sizes().describe(),
                mpps(rate * both),
                self.tester.flows()
            ),
            json!({ "rate_pps": rate.round(),
                    "gbit_per_s": rate * self.tester.sizes().mean_len() * 8.0 / 1e9,
                    "loss_tolerance": self.set.loss_tolerance, "frames_per_s_both_directions": (rate * both).round(),
                    "flows": self.tester.flows(), "trials": trials }),
        )?;
        Ok(rate)
    }

    /// RFC 8219 7.2 latency and 7.3.1 PDV at `rate`.
    pub fn latency(&self, rate: f64) -> Result<Counts> {
        if !self.tester.sizes().tagged() {
            bail!(
                "latency needs tagged frames of at least {} bytes: give --frame-len",
                crate::frames::MIN_TAGGED_FRAME
            );
        }
        self.tester.flush();
        let c = self.tester.run(&self.spec(rate, self.established()));
        self.log("latency", rate, &c);
        let (f, r) = (&c.forward_delay, &c.return_delay);
        self.report.record(
            "latency",
            "RFC 8219 7.2 latency, 7.3.1 PDV",
            &format!(
                "at {}: typical {} / {}, worst-case {} / {}, PDV {} / {} (inside->outside / back), lost {}",
                mpps(rate),
                us(f.quantile(0.5)),
                us(r.quantile(0.5)),
                us(f.quantile(0.999)),
                us(r.quantile(0.999)),
                us(f.quantile(0.999).zip(f.min()).map(|(a, b)| a - b)),
                us(r.quantile(0.999).zip(r.min()).map(|(a, b)| a - b)),
                c.lost()
            ),
            report::trial_json(rate, &c),
        )?;
        Ok(c)
    }

    /// RFC 8219 7.4 frame loss rate from `top` down in 10 % steps.
    pub fn frame_loss_rate(&self, top: f64) -> Result<()> {
        let mut clean = 0;
        let mut rows = Vec::new();
        let mut summary = Vec::new();
        for step in 0..10 {
            let rate = top * (1.0 - 0.1 * step as f64);
            self.tester.flush();
            let c = self.tester.run(&self.spec(rate, self.established()));
            self.log("flr", rate, &c);
            let t = report::trial_json(rate, &c);
            summary.push(format!(
                "{}: {:.4} %",
                mpps(rate),
                t["frame_loss_rate"].as_f64().unwrap_or(0.0) * 100.0
            ));
            rows.push(t);
            clean = if c.lost() == 0 { clean + 1 } else { 0 };
            if clean == 2 {
                break;
            }
        }
        self.report.record(
            "frame_loss",
            "RFC 8219 7.4 (10 % steps down to two loss-free trials)",
            &summary.join(", "),
            json!({ "trials": rows }),
        )
    }

    /// RFC 9693 maximum connection establishment rate: every frame a new
    /// flow, the table emptied before each trial.
    pub fn connection_rate(&self) -> Result<f64> {
        let (rate, trials) = self.search(|| {
            if let Some(d) = self.dut {
                d.clear_sessions()?;
            }
            Ok(Flows::New { first: 0 })
        })?;
        self.report.record(
            "conn_rate",
            "RFC 9693 maximum connection establishment rate",
            &if self.tester.sizes().first().tcp() {
                format!(
                    "{:.3} M TCP connections/s (SYN, SYN-ACK, request, response, FIN both ways, ACK: \
                     7 segments each)",
                    rate / 1e6
                )
            } else {
                format!("{:.3} M new sessions/s (every frame a new flow)", rate / 1e6)
            },
            json!({ "connections_per_s": rate.round(), "trials": trials }),
        )?;
        Ok(rate)
    }

    /// RFC 9693 connection tear-down rate: fills the table, then times
    /// deleting it, less the time of deleting an empty table.
    pub fn teardown_rate(&self) -> Result<()> {
        let Some(d) = self.dut else {
            bail!("teardown needs platd")
        };
        self.fill()?;
        let n = d.settled(5)?.sessions;
        let full = d.clear_sessions()?;
        let empty = d.clear_sessions()?;
        let net = full.saturating_sub(empty).as_secs_f64().max(1e-6);
        self.report.record(
            "teardown",
            "RFC 9693 connection tear-down rate (platctl session clear)",
            &format!(
                "{n} sessions deleted in {:.3} s ({:.3} s for none): {:.0} sessions/s",
                full.as_secs_f64(),
                empty.as_secs_f64(),
                n as f64 / net
            ),
            json!({ "sessions": n, "delete_s": full.as_secs_f64(), "delete_empty_s": empty.as_secs_f64(),
                    "sessions_per_s": (n as f64 / net).round() }),
        )
    }

    /// RFC 9693 connection tracking table capacity: new flows at the fill
    /// rate until platd stops translating them; the capacity is the
    /// sessions held then. With `rss` (platd's pid known) also the memory
    /// each session costs.
    pub fn capacity(&self) -> Result<()> {
        let Some(d) = self.dut else {
            bail!("capacity needs platd")
        };
        d.clear_sessions()?;
        let rss0 = d.rss_bytes()?;
        self.tester.flush();
        let spec = self.every_flow_once(self.set.fill_rate, false);
        let c = self.tester.run(&spec);
        self.log("capacity", self.set.fill_rate, &c);
        let snap = d.settled(5)?;
        let rss1 = d.rss_bytes()?;
        let per = rss0
            .zip(rss1)
            .map(|(a, b)| (b.saturating_sub(a)) as f64 / snap.sessions.max(1) as f64);
        self.report.record(
            "capacity",
            "RFC 9693 connection tracking table capacity",
            &format!(
                "{} sessions held of {} new flows offered ({} translated){}",
                snap.sessions,
                c.offered,
                c.forwarded,
                match (per, rss1) {
                    (Some(p), Some(r)) => format!(
                        "; platd RSS {:.0} MiB, {:.1} bytes per session added",
                        r as f64 / 1048576.0,
                        p
                    ),
                    _ => String::new(),
                }
            ),
            json!({ "sessions": snap.sessions, "flows_offered": c.offered, "translated": c.forwarded,
                    "rss_before": rss0, "rss_after": rss1, "bytes_per_session": per,
                    "trial": report::trial_json(self.set.fill_rate, &c) }),
        )
    }

    /// The accounting check (issue 19, the test command): after a short
    /// low-rate trial, frames the tester's links took equal frames it
    /// received plus frames platd counted as dropped, and the sessions
    /// platd reports equal the flows the trial opened.
    pub fn accounting(&self, rate: f64) -> Result<bool> {
        let Some(d) = self.dut else {
            bail!("accounting needs platd")
        };
        d.clear_sessions()?;
        self.tester.flush();
        let before = d.settled(3)?;
        let spec = self.every_flow_once(rate, self.set.bidirectional);
        let c = self.tester.run(&spec);
        self.log("accounting", rate, &c);
        let after = d.settled(5)?;
        let dropped = after.dropped - before.dropped;
        let platd_rx = after.received - before.received;
        let frames_close = c.sent_total() == c.received_total() + dropped;
        let sessions_close = after.sessions == c.flows_used;
        self.report.record(
            "accounting",
            "sent = received + platd drops; sessions = flows",
            &format!(
                "sent {} = received {} + platd dropped {}: {}; sessions {} = flows {}: {}",
                c.sent_total(),
                c.received_total(),
                dropped,
                if frames_close { "closes" } else { "DOES NOT CLOSE" },
                after.sessions,
                c.flows_used,
                if sessions_close { "closes" } else { "DOES NOT CLOSE" },
            ),
            json!({ "sent": c.sent_total(), "received": c.received_total(), "platd_dropped": dropped,
                    "platd_received": platd_rx, "sessions": after.sessions, "flows": c.flows_used,
                    "frames_close": frames_close, "sessions_close": sessions_close,
                    "trial": report::trial_json(rate, &c) }),
        )?;
        Ok(frames_close && sessions_close)
    }
}
