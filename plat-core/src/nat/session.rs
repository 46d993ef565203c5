//! Sessions (RFC 6146 3.3): the slab records (one cache line per session,
//! half a line per BIB entry), their hashes, and what happens to a
//! session once it exists: lookups, hits, the TCP state step, deletion.

use std::net::{Ipv4Addr, Ipv6Addr};

use super::admin::SessionInfo;
use super::event::Record;
use super::shard::Shard;
use super::table::{hash2, hash3};
use super::tcp_state::{step, Life, TcpState};
use super::timers::{unlink, TimerClass};
use super::{Endpoint4, Endpoint6, Proto, SessionId, Side, TcpFlags, Tuple4, Tuple6};

pub(crate) const NIL: u32 = u32::MAX;

/// Session flags.
pub(crate) const F_IN_V6: u8 = 0x01; // indexed by its IPv6-side key
pub(crate) const F_HELD: u8 = 0x02; // an IPv4 SYN held (RFC 6146 3.5.2.2)
pub(crate) const F_HAIRPIN: u8 = 0x04; // destination is a pool4 address
pub(crate) const FREE: u8 = 0xff; // `proto` of an unused slot

/// One session table entry (RFC 6146 section 3.3): the IPv6 side
/// (X',x) -> (Y',y) and the IPv4 side (T,t) -> (Z,z). Y' is Z embedded in
/// the prefix, so only Z is stored.
#[derive(Clone, Copy, Debug)]
#[repr(C, align(64))]
pub(crate) struct Session {
    pub src6: [u8; 16], // X'
    pub dst4: u32,      // Z
    pub addr4: u32,     // T
    pub sport: u16,     // x
    pub dport: u16,     // z (ICMP: 0; the identifiers are x and t)
    pub port4: u16,     // t
    pub proto: u8,
    pub state: u8,
    pub class: u8,
    pub flags: u8,
    pub bib: u32,
    pub t_prev: u32,
    pub t_next: u32,
    pub b_prev: u32,
    pub b_next: u32,
    /// Last refresh, in the caller's seconds.
    pub stamp: u32,
    /// Which of the translator's RFC 6052 prefixes the subscriber
    /// addressed (RFC 8683 4.5): replies come back under it.
    pub prefix: u8,
}

impl Session {
    pub(crate) const EMPTY: Session = Session {
        src6: [0; 16],
        dst4: 0,
        addr4: 0,
        sport: 0,
        dport: 0,
        port4: 0,
        proto: FREE,
        state: 0,
        class: 0,
        flags: 0,
        bib: NIL,
        t_prev: NIL,
        t_next: NIL,
        b_prev: NIL,
        b_next: NIL,
        stamp: 0,
        prefix: 0,
    };

    #[inline(always)]
    pub(crate) fn is_live(&self) -> bool {
        self.proto != FREE
    }
}

/// One BIB entry (RFC 6146 section 3.1): (X',x) <-> (T,t).
#[derive(Clone, Copy, Debug)]
#[repr(C)]
pub(crate) struct Bib {
    pub src6: [u8; 16],
    pub addr4: u32,
    pub sport: u16,
    pub port4: u16,
    pub proto: u8,
    pub is_static: bool,
    pub pool: u16,
    /// First session of this entry, or (free slot) the next free slot.
    pub head: u32,
}

impl Bib {
    pub(crate) const EMPTY: Bib = Bib {
        src6: [0; 16],
        addr4: 0,
        sport: 0,
        port4: 0,
        proto: FREE,
        is_static: false,
        pool: 0,
        head: NIL,
    };
}

const _: () = assert!(core::mem::size_of::<Session>() == 64);
const _: () = assert!(core::mem::size_of::<Bib>() == 32);

#[inline(always)]
fn halves(a: &[u8; 16]) -> (u64, u64) {
    let v = u128::from_le_bytes(*a);
    (v as u64, (v >> 64) as u64)
}

/// Hash of the IPv6-side session key (proto, X', x, Z, z).
#[inline(always)]
pub(crate) fn h_sess6(
    seed: u64,
    proto: Proto,
    src6: &[u8; 16],
    sport: u16,
    dst4: u32,
    dport: u16,
) -> u32 {
    let (a, b) = halves(src6);
    let c = (u64::from(dst4) << 32) | (u64::from(sport) << 16) | u64::from(dport);
    hash3(seed, a, b, c ^ ((proto as u64) << 61))
}

/// Hash of the IPv4-side session key (proto, Z, z, T, t).
#[inline(always)]
pub(crate) fn h_sess4(
    seed: u64,
    proto: Proto,
    remote: u32,
    rport: u16,
    local: u32,
    lport: u16,
) -> u32 {
    let a = (u64::from(remote) << 32) | u64::from(local);
    let b = (u64::from(rport) << 32) | (u64::from(lport) << 8) | proto as u64;
    hash2(seed ^ 0x55, a, b)
}

/// Hash of the IPv6-side BIB key (proto, X', x).
#[inline(always)]
pub(crate) fn h_bib6(seed: u64, proto: Proto, src6: &[u8; 16], sport: u16) -> u32 {
    let (a, b) = halves(src6);
    hash3(seed ^ 0xaa, a, b, (u64::from(sport) << 8) | proto as u64)
}

/// Hash of the IPv4-side BIB key (proto, T, t).
#[inline(always)]
pub(crate) fn h_bib4(seed: u64, proto: Proto, addr4: u32, port4: u16) -> u32 {
    hash2(
        seed ^ 0x5a5a,
        u64::from(addr4),
        (u64::from(port4) << 8) | proto as u64,
    )
}

impl Session {
    #[inline(always)]
    pub(crate) fn proto(&self) -> Proto {
        // Only called on live slots, whose proto byte is a Proto.
        match self.proto {
            0 => Proto::Tcp,
            1 => Proto::Udp,
            _ => Proto::Icmp,
        }
    }
    /// z, the remote port; for ICMP query the identifier (T's side).
    #[inline(always)]
    pub(crate) fn remote_port(&self) -> u16 {
        if self.proto == Proto::Icmp as u8 {
            self.port4
        } else {
            self.dport
        }
    }
    #[inline(always)]
    pub(crate) fn h6(&self, seed: u64) -> u32 {
        h_sess6(
            seed,
            self.proto(),
            &self.src6,
            self.sport,
            self.dst4,
            self.dport,
        )
    }
    #[inline(always)]
    pub(crate) fn h4(&self, seed: u64) -> u32 {
        h_sess4(
            seed,
            self.proto(),
            self.dst4,
            self.dport,
            self.addr4,
            self.port4,
        )
    }
}

impl Bib {
    #[inline(always)]
    pub(crate) fn proto(&self) -> Proto {
        match self.proto {
            0 => Proto::Tcp,
            1 => Proto::Udp,
            _ => Proto::Icmp,
        }
    }
    #[inline(always)]
    pub(crate) fn h6(&self, seed: u64) -> u32 {
        h_bib6(seed, self.proto(), &self.src6, self.sport)
    }
    #[inline(always)]
    pub(crate) fn h4(&self, seed: u64) -> u32 {
        h_bib4(seed, self.proto(), self.addr4, self.port4)
    }
}

/// Whether `session` is the session of the IPv6-side tuple `t` (a free slot
/// never is: its protocol byte is no protocol).
#[inline(always)]
pub(super) fn is_key6(session: &Session, t: &Tuple6) -> bool {
    let dport = if t.proto == Proto::Icmp { 0 } else { t.dport };
    session.src6 == t.src.octets()
        && session.sport == t.sport
        && session.dst4 == u32::from(t.dst)
        && session.dport == dport
        && session.proto == t.proto as u8
}

/// Whether `session` is the session of the IPv4-side tuple `t`: (Z,z) -> (T,t).
#[inline(always)]
pub(super) fn is_key4(session: &Session, t: &Tuple4) -> bool {
    let rport = if t.proto == Proto::Icmp { 0 } else { t.sport };
    session.dst4 == u32::from(t.src)
        && session.dport == rport
        && session.addr4 == u32::from(t.dst)
        && session.port4 == t.dport
        && session.proto == t.proto as u8
}

impl Shard {
    /// The session of the IPv6-side tuple `t`, hashed `h`.
    #[inline(always)]
    pub(super) fn find6(&self, h: u32, t: &Tuple6) -> Option<u32> {
        let s = &self.sessions;
        self.sess6.find(h, |i| is_key6(&s[i as usize], t))
    }

    /// The session of the IPv4-side tuple `t`, hashed `h`.
    #[inline(always)]
    pub(super) fn find4(&self, h: u32, t: &Tuple4) -> Option<u32> {
        let s = &self.sessions;
        self.sess4.find(h, |i| is_key4(&s[i as usize], t))
    }

    /// A packet from the IPv6 side of a session that is neither held nor
    /// hairpinned: the TCP state step or the refresh.
    #[inline(always)]
    pub(super) fn v6_hit_plain(&mut self, i: u32, flags: TcpFlags, now_s: u32) {
        if self.sessions[i as usize].proto == Proto::Tcp as u8 {
            self.tcp_step(i, Side::Inside, flags, now_s);
        } else {
            self.refresh(i, now_s);
        }
    }

    /// A packet from the IPv4 side of a session that holds no SYN: the TCP
    /// state step or (RFC 6146 3.5.1.2, and 3.5.3 for ICMP: "an incoming
    /// packet that matches a session refreshes its lifetime") the
    /// refresh.
    #[inline(always)]
    pub(super) fn v4_hit_plain(&mut self, i: u32, flags: TcpFlags, now_s: u32) {
        if self.sessions[i as usize].proto == Proto::Tcp as u8 {
            self.tcp_step(i, Side::Outside, flags, now_s);
        } else {
            self.refresh(i, now_s);
        }
    }

    /// Where a packet from the IPv4 side of session `i` goes on: from
    /// (Z,z) (an ICMP query: the identifier) to (X',x).
    #[inline(always)]
    pub(super) fn v4_ends(&self, i: u32) -> (Endpoint4, Endpoint6) {
        let s = &self.sessions[i as usize];
        let rport = if s.proto == Proto::Icmp as u8 {
            s.sport
        } else {
            s.dport
        };
        (
            Endpoint4::new(Ipv4Addr::from(s.dst4), rport),
            Endpoint6::new(Ipv6Addr::from(s.src6), s.sport),
        )
    }

    #[inline]
    pub(super) fn tcp_step(&mut self, i: u32, side: Side, flags: TcpFlags, now_s: u32) {
        let s = &self.sessions[i as usize];
        let old = TcpState::from_u8(s.state).unwrap_or(TcpState::Closed);
        let (next, life) = step(old, side, flags);
        if next != old {
            self.sessions[i as usize].state = next as u8;
            self.emit_binding(|shard| Record::StateChange {
                time: now_s,
                key: shard.key4(i),
                state: next,
            });
        }
        match life {
            Life::Keep => {}
            Life::Est => self.set_timer(i, TimerClass::TcpEst, now_s),
            Life::Trans => self.set_timer(i, TimerClass::TcpTrans, now_s),
        }
    }

    /// Read-only lookup by the IPv6-side tuple (for ICMP errors, whose
    /// inner packet names a session without refreshing it).
    pub fn peek_v6(&self, t: &Tuple6) -> Option<SessionInfo> {
        self.find6(self.hash6(t), t).map(|i| self.info(i))
    }

    /// Read-only lookup by the IPv4-side tuple.
    pub fn peek_v4(&self, t: &Tuple4) -> Option<SessionInfo> {
        self.find4(self.hash4(t), t).map(|i| self.info(i))
    }

    pub(super) fn free_slot(&mut self, i: u32) {
        self.sessions[i as usize] = Session::EMPTY;
        self.sessions[i as usize].t_next = self.free_session;
        self.free_session = i;
    }

    pub(super) fn delete_session(&mut self, i: u32, now_s: u32) {
        let s = self.sessions[i as usize];
        debug_assert!(s.is_live());
        self.sess4.remove(s.h4(self.key), i);
        if s.flags & F_IN_V6 != 0 {
            self.sess6.remove(s.h6(self.key), i);
        }
        unlink(&mut self.timers[s.class as usize], &mut self.sessions, i);
        if s.flags & F_HELD != 0 {
            self.stats.held_syns -= 1;
        } else {
            self.emit_binding(|shard| Record::SessionDelete(shard.session_rec(i, now_s)));
            self.subscribers.remove_session(&s.src6);
        }
        if s.bib != NIL {
            self.bib_unlink(s.bib, i);
            let b = &self.bibs[s.bib as usize];
            // RFC 6146 3.5.1: a dynamic BIB entry lives as long as it has
            // sessions.
            if b.head == NIL && !b.is_static {
                self.delete_bib(s.bib, now_s);
            }
        }
        self.free_slot(i);
        self.stats.session_removed(s.proto());
    }

    pub(super) fn info(&self, i: u32) -> SessionInfo {
        let s = &self.sessions[i as usize];
        let timer = TimerClass::ALL[s.class as usize];
        SessionInfo {
            id: SessionId(i),
            proto: s.proto(),
            v6: Endpoint6::new(Ipv6Addr::from(s.src6), s.sport),
            v4: Endpoint4::new(Ipv4Addr::from(s.addr4), s.port4),
            remote: Endpoint4::new(Ipv4Addr::from(s.dst4), s.remote_port()),
            state: TcpState::from_u8(s.state).unwrap_or(TcpState::Closed),
            timer,
            expires: s.stamp.saturating_add(self.timeouts[s.class as usize]),
            expires_in: 0,
            held: s.flags & F_HELD != 0,
            hairpin: s.flags & F_HAIRPIN != 0,
            prefix: s.prefix,
        }
    }
}
