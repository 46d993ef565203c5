//! Expiry: one FIFO per timeout class, threaded through the session slab.
//!
//! Every session of a class has the same timeout, so a list kept in
//! refresh order is also in deadline order: expiry pops from the head until
//! the head is still alive, O(1) per expired session. A refresh moves the
//! session to the tail, at most once per second of the caller's clock
//! (sessions are stamped in whole seconds), which keeps the per-packet
//! cost of a busy flow to one compare.

use super::config::Timeouts;
use super::event::Record;
use super::filter::HeldTimeout;
use super::prefetch::prefetch;
use super::session::{h_bib4, h_bib6, Session, F_HELD, F_IN_V6, NIL};
use super::shard::Shard;
use super::tcp_state::TcpState;
use super::{IcmpError, Proto, SessionId, Time};

/// The timeout classes, named as operators name the timeouts.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
#[repr(u8)]
pub enum TimerClass {
    Udp = 0,
    Icmp = 1,
    TcpEst = 2,
    TcpTrans = 3,
    /// An IPv4 SYN held for TCP_INCOMING_SYN.
    TcpSyn = 4,
}

impl TimerClass {
    pub const COUNT: usize = 5;
    pub const ALL: [TimerClass; TimerClass::COUNT] = [
        TimerClass::Udp,
        TimerClass::Icmp,
        TimerClass::TcpEst,
        TimerClass::TcpTrans,
        TimerClass::TcpSyn,
    ];

    pub const fn name(self) -> &'static str {
        match self {
            TimerClass::Udp => "udp",
            TimerClass::Icmp => "icmp",
            TimerClass::TcpEst => "tcp_est",
            TimerClass::TcpTrans => "tcp_trans",
            TimerClass::TcpSyn => "tcp_syn",
        }
    }

    pub(crate) const fn timeout(self, t: &Timeouts) -> u32 {
        match self {
            TimerClass::Udp => t.udp,
            TimerClass::Icmp => t.icmp,
            TimerClass::TcpEst => t.tcp_est,
            TimerClass::TcpTrans => t.tcp_trans,
            TimerClass::TcpSyn => t.tcp_syn,
        }
    }
}

#[derive(Clone, Copy, Debug)]
pub(crate) struct Fifo {
    pub head: u32,
    pub tail: u32,
}

impl Fifo {
    pub(crate) const EMPTY: Fifo = Fifo {
        head: NIL,
        tail: NIL,
    };
}

/// Appends `i` to `list`.
#[inline]
pub(crate) fn push_back(list: &mut Fifo, slab: &mut [Session], i: u32) {
    let tail = list.tail;
    slab[i as usize].t_prev = tail;
    slab[i as usize].t_next = NIL;
    if tail == NIL {
        list.head = i;
    } else {
        slab[tail as usize].t_next = i;
    }
    list.tail = i;
}

/// Takes `i` out of `list`.
#[inline]
pub(crate) fn unlink(list: &mut Fifo, slab: &mut [Session], i: u32) {
    let (p, n) = (slab[i as usize].t_prev, slab[i as usize].t_next);
    if p == NIL {
        list.head = n;
    } else {
        slab[p as usize].t_next = n;
    }
    if n == NIL {
        list.tail = p;
    } else {
        slab[n as usize].t_prev = p;
    }
}

/// The timer class a session in `state` runs on (RFC 6146 3.5.2.2: the
/// INIT states and the closing states run TCP_TRANS, the others TCP_EST).
pub(super) fn class_of_state(proto: Proto, state: TcpState) -> TimerClass {
    match (proto, state) {
        (Proto::Tcp, TcpState::Established | TcpState::V4FinRcv | TcpState::V6FinRcv) => {
            TimerClass::TcpEst
        }
        (Proto::Tcp, _) => TimerClass::TcpTrans,
        (p, _) => class_of(p),
    }
}

#[inline(always)]
pub(super) fn class_of(proto: Proto) -> TimerClass {
    match proto {
        Proto::Tcp => TimerClass::TcpTrans,
        Proto::Udp => TimerClass::Udp,
        Proto::Icmp => TimerClass::Icmp,
    }
}

impl Shard {
    /// Refresh: move to the tail of its list, at most once per second.
    #[inline(always)]
    pub(super) fn refresh(&mut self, i: u32, now_s: u32) {
        let s = &self.sessions[i as usize];
        if now_s > s.stamp {
            let (old, c) = (s.stamp, s.class as usize);
            unlink(&mut self.timers[c], &mut self.sessions, i);
            push_back(&mut self.timers[c], &mut self.sessions, i);
            self.sessions[i as usize].stamp = now_s;
            let r = self.cfg.sync_refresh_interval;
            // Each session crosses its interval at a phase of its own, so
            // a million busy sessions cost a steady 1/r of a million
            // records a second, not a burst of a million at every
            // multiple of r (which would overrun the sync ring).
            let phase = i % r.max(1);
            if r != 0 && (old + phase) / r != (now_s + phase) / r {
                self.emit_binding(|shard| Record::Refresh {
                    time: now_s,
                    key: shard.key4(i),
                });
            }
        }
    }

    pub(super) fn set_timer(&mut self, i: u32, class: TimerClass, now_s: u32) {
        let s = &self.sessions[i as usize];
        if s.class == class as u8 {
            self.refresh(i, now_s);
            return;
        }
        let old = s.class as usize;
        unlink(&mut self.timers[old], &mut self.sessions, i);
        push_back(&mut self.timers[class as usize], &mut self.sessions, i);
        let s = &mut self.sessions[i as usize];
        s.class = class as u8;
        s.stamp = now_s.max(s.stamp);
    }

    /// Deletes up to `budget` sessions whose lifetime has run out, calling
    /// `on_held` for each held IPv4 SYN that timed out. Returns how many
    /// were deleted; fewer than `budget` means nothing else is due.
    pub fn expire(
        &mut self,
        now: Time,
        budget: usize,
        mut on_held: impl FnMut(HeldTimeout),
    ) -> usize {
        let now_s = now.secs();
        let mut n = 0;
        let from = self.sweep_from;
        self.sweep_from = (from + 1) % TimerClass::COUNT;
        for c in (from..TimerClass::COUNT).chain(0..from) {
            let timeout = self.timeouts[c];
            while n < budget {
                let i = self.timers[c].head;
                if i == NIL {
                    break;
                }
                let s = &self.sessions[i as usize];
                // Stamps are whole seconds: strictly past stamp + timeout
                // guarantees the full lifetime elapsed.
                if now_s <= s.stamp.saturating_add(timeout) {
                    break;
                }
                self.prefetch_expiry(s.t_next);
                if s.flags & F_HELD != 0 {
                    // RFC 6146 3.5.2.2 (V4 INIT): "If the lifetime expires,
                    // an ICMP Port Unreachable error (Type 3, Code 3)
                    // containing the IPv4 SYN packet stored is sent back to
                    // the source of the v4 SYN".
                    on_held(HeldTimeout {
                        session: SessionId(i),
                        error: IcmpError::V4PortUnreachable,
                    });
                    self.stats.held_syn_timeouts += 1;
                }
                self.delete_session(i, now_s);
                self.stats.sessions_expired += 1;
                n += 1;
            }
        }
        n
    }

    /// While deleting one session, warm up what deleting the next will
    /// touch: its index slots and BIB entry (computed from its line, which
    /// the previous step prefetched) and the line of the one after it.
    #[inline(always)]
    pub(super) fn prefetch_expiry(&self, next: u32) {
        if next == NIL {
            return;
        }
        let s = &self.sessions[next as usize];
        if s.t_next != NIL {
            prefetch(&self.sessions[s.t_next as usize]);
        }
        self.sess4.prefetch(s.h4(self.key));
        if s.flags & F_IN_V6 != 0 {
            self.sess6.prefetch(s.h6(self.key));
        }
        if s.bib != NIL {
            prefetch(&self.bibs[s.bib as usize]);
            let p = s.proto();
            self.bib6.prefetch(h_bib6(self.key, p, &s.src6, s.sport));
            self.bib4.prefetch(h_bib4(self.key, p, s.addr4, s.port4));
        }
    }

    /// The earliest time at which [`Shard::expire`] has work, if any.
    pub fn next_expiry(&self) -> Option<Time> {
        (0..TimerClass::COUNT)
            .filter_map(|c| {
                let i = self.timers[c].head;
                (i != NIL).then(|| {
                    Time::from_secs(
                        u64::from(self.sessions[i as usize].stamp)
                            + u64::from(self.timeouts[c])
                            + 1,
                    )
                })
            })
            .min()
    }
}
