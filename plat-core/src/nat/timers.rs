//! Expiry: one FIFO per timeout class, threaded through the session slab.
//!
//! Every session of a class has the same timeout, so a list kept in
//! refresh order is also in deadline order: expiry pops from the head until
//! the head is still alive, O(1) per expired session. A refresh moves the
//! session to the tail, at most once per second of the caller's clock
//! (sessions are stamped in whole seconds), which keeps the per-packet
//! cost of a busy flow to one compare.

use super::config::Timeouts;
use super::session::{Session, NIL};

/// The timeout classes, named as operators name the timeouts.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
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
