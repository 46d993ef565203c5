//! One trial (RFC 2544 / RFC 8219 vocabulary): frames offered at a fixed
//! rate for a fixed time into the inside port, every test frame that comes
//! out of the outside port counted (and, bidirectional, answered back into
//! it as the server would), every answer that comes out of the inside port
//! counted, then a drain period for frames still in flight.
//!
//! One lcore does it all in one loop: generate what the clock says is due,
//! poll the outside port (count, time, answer), poll the inside port
//! (count, time).

use std::time::{Duration, Instant};

use plat_dataplane::{MbufBurst, Port, BURST_SIZE};
use serde::Serialize;

use crate::frames::{FlowTable, Seen, Sizes};
use crate::histogram::Histogram;
use crate::links::Links;
use crate::tcp::{self, Turn};

/// Which flows the frames use.
#[derive(Clone, Copy, Debug)]
pub enum Flows {
    /// Round-robin over `count` established flows from `first`.
    Established { first: u64, count: u64 },
    /// Every frame the next flow from `first`, never repeated: each frame
    /// opens a session (RFC 9693 connection establishment).
    New { first: u64 },
}

/// What to send.
#[derive(Clone, Copy, Debug)]
pub struct Spec {
    /// Frames per second offered to the inside port.
    pub rate: f64,
    /// How long frames are offered.
    pub duration: Duration,
    /// Which flows.
    pub flows: Flows,
    /// Answer every test frame from the server side (RFC 9693 responder).
    pub bidirectional: bool,
    /// Time to keep receiving after the last frame (RFC 2544 23 waits 2 s;
    /// a memif link empties in microseconds).
    pub drain: Duration,
    /// At most this many frames (`None`: rate x duration).
    pub max_frames: Option<u64>,
}

/// What a trial counted. "Offered" frames the tester generated; "sent"
/// the link took; "refused" the link did not take because platd had not
/// emptied its receive ring: platd's ingress loss, what a NIC counts as
/// imissed.
#[derive(Clone, Debug, Default, Serialize)]
pub struct Counts {
    /// Frames generated for the inside port.
    pub offered: u64,
    /// Of those, frames the link took.
    pub sent: u64,
    /// Test frames that came out of the outside port.
    pub forwarded: u64,
    /// Answers offered back into the outside port.
    pub answers_offered: u64,
    /// Of those, answers the link took.
    pub answers_sent: u64,
    /// Test frames (answers) that came out of the inside port.
    pub returned: u64,
    /// Frames out of platd that were not test frames (ARP, NDP, ICMP).
    pub other: u64,
    /// TCP connections opened (SYNs generated; tcp-cps).
    pub connections_opened: u64,
    /// TCP connections whose last ACK reached the server.
    pub connections_completed: u64,
    /// Seconds frames were offered, measured.
    pub offered_s: f64,
    /// Flows the trial used (new flows: one per frame).
    pub flows_used: u64,
    /// The generator could not keep the rate (the tester, not platd, was
    /// the limit): the trial says nothing about platd above this rate.
    pub tester_limited: bool,
    /// Mbufs the pool could not give (the tester's own limit).
    pub no_mbuf: u64,
    #[serde(skip)]
    /// One-way delays inside to outside, ns.
    pub forward_delay: Histogram,
    #[serde(skip)]
    /// One-way delays outside to inside (answers), ns.
    pub return_delay: Histogram,
}

/// Sends `burst` on `port` and frees what the link did not take; returns
/// how many were offered and how many sent.
fn send(port: &Port, burst: &mut MbufBurst) -> (u64, u64) {
    if burst.is_empty() {
        return (0, 0);
    }
    let n = burst.len();
    let sent = port.tx_burst(0, burst);
    burst.clear();
    (n as u64, sent as u64)
}

impl Counts {
    /// Frames into the inside port refused by a full link (platd not
    /// polling fast enough).
    pub fn refused(&self) -> u64 {
        self.offered - self.sent
    }

    /// Frames lost (RFC 2544 frame loss: offered and not received), both
    /// directions, refused ones included.
    pub fn lost(&self) -> u64 {
        (self.offered + self.answers_offered).saturating_sub(self.forwarded + self.returned)
    }

    /// Frames offered, both directions.
    pub fn offered_total(&self) -> u64 {
        self.offered + self.answers_offered
    }

    /// Frames the links took, both directions.
    pub fn sent_total(&self) -> u64 {
        self.sent + self.answers_sent
    }

    /// Frames received, both directions.
    pub fn received_total(&self) -> u64 {
        self.forwarded + self.returned
    }
}

/// Runs trials over one pair of links.
pub struct Tester<'a> {
    links: &'a Links,
    flows: &'a FlowTable,
    sizes: &'a Sizes,
    epoch: Instant,
}

impl<'a> Tester<'a> {
    /// A tester sending `flows` in frames of `sizes` over `links`.
    pub fn new(links: &'a Links, flows: &'a FlowTable, sizes: &'a Sizes) -> Tester<'a> {
        Tester {
            links,
            flows,
            sizes,
            epoch: Instant::now(),
        }
    }

    /// Flows in the table.
    pub fn flows(&self) -> u64 {
        self.flows.len()
    }

    /// The frame sizes.
    pub fn sizes(&self) -> &Sizes {
        self.sizes
    }

    #[inline]
    fn now_ns(&self) -> u64 {
        self.epoch.elapsed().as_nanos() as u64
    }

    /// Receives and drops whatever is queued (between trials).
    pub fn flush(&self) {
        let mut b: MbufBurst = MbufBurst::new();
        let t = Instant::now();
        while t.elapsed() < Duration::from_millis(20) {
            self.links.inside.rx_burst(0, &mut b);
            b.clear();
            self.links.outside.rx_burst(0, &mut b);
            b.clear();
        }
    }

    /// Runs one trial.
    pub fn run(&self, spec: &Spec) -> Counts {
        let mut c = Counts::default();
        let duration_ns = spec.duration.as_nanos() as u64;
        let budget = spec
            .max_frames
            .unwrap_or(u64::MAX)
            .min((spec.rate * spec.duration.as_secs_f64()).round() as u64);
        let (first, count) = match spec.flows {
            Flows::Established { first, count } => (first, count.max(1)),
            Flows::New { first } => (first, u64::MAX),
        };
        let mut fresh: MbufBurst = MbufBurst::new();
        let mut tx: MbufBurst = MbufBurst::new();
        let mut rx: MbufBurst = MbufBurst::new();
        let mut answers: MbufBurst = MbufBurst::new();
        let mut replies: MbufBurst = MbufBurst::new();
        let frames = self.sizes.first();
        let tcp_run = frames.tcp();
        // Frames generated (UDP frames or SYNs); `c.offered` also counts
        // the client's TCP replies.
        let mut generated = 0u64;
        let ns_per_frame = 1e9 / spec.rate;
        let start = self.now_ns();
        let mut last_offer = start;
        let mut seq = 0u64;
        loop {
            let now = self.now_ns();
            let elapsed = now - start;
            if generated < budget && elapsed < duration_ns {
                // Frames the clock says are due (a generator that fell
                // behind catches up in bursts).
                let due = ((elapsed as f64 / ns_per_frame) as u64 + 1).min(budget);
                // One burst a round, then both ports are drained: a
                // generator that ran ahead of its receive side would fill
                // platd's transmit rings and blame platd for the loss.
                if generated < due {
                    let n = ((due - generated) as usize).min(BURST_SIZE);
                    if !self.links.pool.alloc_into(&mut fresh, n) {
                        c.no_mbuf += n as u64;
                    } else {
                        let stamp = self.now_ns();
                        for mut m in fresh.drain() {
                            let flow = match spec.flows {
                                Flows::Established { .. } => first + seq % count,
                                Flows::New { .. } => first + seq,
                            };
                            let t = self.sizes.at(seq);
                            if let Some(out) = m.append(t.len()) {
                                t.write(self.flows.key(flow), stamp, seq, out);
                            }
                            seq += 1;
                            let _ = tx.push(m);
                        }
                        let (n, sent) = send(&self.links.inside, &mut tx);
                        generated += n;
                        c.offered += n;
                        c.sent += sent;
                        last_offer = self.now_ns();
                    }
                }
            } else if now > last_offer.max(start) + spec.drain.as_nanos() as u64
                && (generated >= budget || elapsed >= duration_ns)
            {
                break;
            }
            // The outside: translated frames, answered when bidirectional;
            // read until the ring is empty (a few bursts at most).
            for _ in 0..8 {
                if self.links.outside.rx_burst(0, &mut rx) == 0 {
                    break;
                }
                let t = self.now_ns();
                for mut m in rx.drain() {
                    if tcp_run {
                        match tcp::serve(&mut m) {
                            Turn::Reply => {
                                c.forwarded += 1;
                                let _ = answers.push(m);
                            }
                            Turn::Complete => {
                                c.forwarded += 1;
                                c.connections_completed += 1;
                            }
                            Turn::Other => c.other += 1,
                        }
                        continue;
                    }
                    match frames.outbound(m.data()) {
                        Seen::Test { sent_ns } => {
                            c.forwarded += 1;
                            if let Some(s) = sent_ns {
                                c.forward_delay.record(t.saturating_sub(s));
                            }
                            if spec.bidirectional {
                                frames.answer(m.data_mut(), t);
                                let _ = answers.push(m);
                            }
                        }
                        Seen::Other => c.other += 1,
                    }
                }
                let (n, sent) = send(&self.links.outside, &mut answers);
                c.answers_offered += n;
                c.answers_sent += sent;
            }
            // The inside: answers, translated back.
            for _ in 0..8 {
                if self.links.inside.rx_burst(0, &mut rx) == 0 {
                    break;
                }
                let t = self.now_ns();
                for mut m in rx.drain() {
                    if tcp_run {
                        match tcp::client(&mut m, frames.server6()) {
                            Turn::Reply => {
                                c.returned += 1;
                                let _ = replies.push(m);
                            }
                            Turn::Complete | Turn::Other => c.other += 1,
                        }
                        continue;
                    }
                    match frames.inbound(m.data()) {
                        Seen::Test { sent_ns } => {
                            c.returned += 1;
                            if let Some(s) = sent_ns {
                                c.return_delay.record(t.saturating_sub(s));
                            }
                        }
                        Seen::Other => c.other += 1,
                    }
                }
                let (n, sent) = send(&self.links.inside, &mut replies);
                c.offered += n;
                c.sent += sent;
            }
        }
        c.offered_s = (last_offer - start) as f64 / 1e9;
        // A generator that ended the trial more than 0.5 % short of its
        // frames could not keep the rate.
        c.tester_limited = (generated as f64) < 0.995 * budget as f64;
        if tcp_run {
            c.connections_opened = generated;
        }
        c.flows_used = match spec.flows {
            Flows::Established { count, .. } => count.min(generated),
            Flows::New { .. } => generated,
        };
        c
    }
}
