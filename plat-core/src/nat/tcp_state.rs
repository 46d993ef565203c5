//! The TCP state machine of RFC 6146 section 3.5.2.2, as one table.
//!
//! CLOSED is the absence of a session: the shard creates sessions in
//! V6 INIT (IPv6 SYN) or V4 INIT (IPv4 SYN) and deletes them when their
//! timer expires. Every other transition is a row of one table (`TABLE`).

pub use crate::types::TcpState;

use super::{Side, TcpFlags};

/// What a segment is, for the state machine. RST wins over SYN, SYN over
/// FIN.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Seg {
    Syn = 0,
    Fin = 1,
    Rst = 2,
    Other = 3,
}

impl Seg {
    #[inline]
    pub(crate) fn of(f: TcpFlags) -> Seg {
        if f.rst() {
            Seg::Rst
        } else if f.syn() {
            Seg::Syn
        } else if f.fin() {
            Seg::Fin
        } else {
            Seg::Other
        }
    }
}

/// What happens to the session's lifetime.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Life {
    /// Lifetime unchanged.
    Keep,
    /// Lifetime set to TCP_EST.
    Est,
    /// Lifetime set to TCP_TRANS.
    Trans,
}

use Life::{Est, Keep, Trans as T};
use TcpState::*;

type Row = [[(TcpState, Life); 4]; 2];

const fn same(s: TcpState, l: Life) -> [(TcpState, Life); 4] {
    [(s, l), (s, l), (s, l), (s, l)]
}

/// `TABLE[state][side][seg]` = (next state, lifetime). Columns are
/// [SYN, FIN, RST, other]; rows for packets from IPv6, then from IPv4.
pub(crate) const TABLE: [Row; 8] = [
    // CLOSED: sessions are created by the shard, never looked up here.
    [same(Closed, Keep), same(Closed, Keep)],
    // V6 INIT. RFC 6146 3.5.2.2: "If a V4 SYN packet is received ... the
    // state is moved to ESTABLISHED. The lifetime ... is set to TCP_EST."
    // "If a V6 SYN packet is received ... the lifetime ... is set to
    // TCP_TRANS." Other packets are translated; state and lifetime stay.
    [
        [(V6Init, T), (V6Init, Keep), (V6Init, Keep), (V6Init, Keep)],
        [
            (Established, Est),
            (V6Init, Keep),
            (V6Init, Keep),
            (V6Init, Keep),
        ],
    ],
    // V4 INIT. "If a V6 SYN packet is received ... the state is moved to
    // ESTABLISHED. The lifetime ... is set to TCP_EST." Other packets are
    // translated; state and lifetime stay.
    [
        [
            (Established, Est),
            (V4Init, Keep),
            (V4Init, Keep),
            (V4Init, Keep),
        ],
        same(V4Init, Keep),
    ],
    // ESTABLISHED. "If a V4 FIN packet is received ... the state is moved
    // to V4 FIN RCV." (V6 FIN likewise.) "If a V4 RST or a V6 RST packet is
    // received ... the lifetime ... is set to TCP_TRANS ... moved to
    // TRANS." "If any other packet is received ... the lifetime ... is set
    // to TCP_EST."
    [
        [
            (Established, Est),
            (V6FinRcv, Keep),
            (Trans, T),
            (Established, Est),
        ],
        [
            (Established, Est),
            (V4FinRcv, Keep),
            (Trans, T),
            (Established, Est),
        ],
    ],
    // V4 FIN RCV. "If a V6 FIN packet is received ... the lifetime ... is
    // set to TCP_TRANS. The state is moved to V6 FIN + V4 FIN RCV." Other
    // packets set the lifetime to TCP_EST. RST: RFC 7857 2.2, "the NAT
    // SHOULD wait for 4 minutes before deleting the session", i.e. TRANS.
    [
        [
            (V4FinRcv, Est),
            (V6FinV4FinRcv, T),
            (Trans, T),
            (V4FinRcv, Est),
        ],
        [
            (V4FinRcv, Est),
            (V4FinRcv, Est),
            (Trans, T),
            (V4FinRcv, Est),
        ],
    ],
    // V6 FIN RCV: the mirror image.
    [
        [
            (V6FinRcv, Est),
            (V6FinRcv, Est),
            (Trans, T),
            (V6FinRcv, Est),
        ],
        [
            (V6FinRcv, Est),
            (V6FinV4FinRcv, T),
            (Trans, T),
            (V6FinRcv, Est),
        ],
    ],
    // V6 FIN + V4 FIN RCV: "All packets are translated and forwarded"; only
    // the TCP_TRANS timer moves the state on (to CLOSED).
    [same(V6FinV4FinRcv, Keep), same(V6FinV4FinRcv, Keep)],
    // TRANS. "If a packet other than a RST packet is received, the lifetime
    // ... is set to TCP_EST, and the state is moved to ESTABLISHED."
    [
        [
            (Established, Est),
            (Established, Est),
            (Trans, Keep),
            (Established, Est),
        ],
        [
            (Established, Est),
            (Established, Est),
            (Trans, Keep),
            (Established, Est),
        ],
    ],
];

/// The next state and lifetime for a packet on an existing session.
#[inline]
pub(crate) fn step(state: TcpState, side: Side, flags: TcpFlags) -> (TcpState, Life) {
    TABLE[state as usize][side as usize][Seg::of(flags) as usize]
}
