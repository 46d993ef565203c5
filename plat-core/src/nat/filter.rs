//! Filtering on the IPv4 side (RFC 4787 5, RFC 6146 3.5.1.2 / 3.5.2.2):
//! address-dependent filtering and the IPv4 SYNs held until an IPv6 SYN
//! completes them or their time runs out.

use super::config::Filtering;
use super::session::{Session, F_HAIRPIN, F_HELD, F_IN_V6, NIL};
use super::shard::Shard;
use super::tcp_state::TcpState;
use super::timers::{push_back, TimerClass};
use super::{IcmpError, NatDrop, Outcome, Proto, SessionId, TcpFlags, Tuple4, Verdict};

/// An IPv4 SYN the caller held has timed out (RFC 6146 3.5.2.2, V4 INIT):
/// send `error` with the held packet, then drop it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct HeldTimeout {
    pub session: SessionId,
    pub error: IcmpError,
}

/// What filtering makes of an IPv4 packet that has no session.
pub(super) enum Admit {
    /// It creates a session of this BIB entry.
    Pass(u32),
    /// A TCP SYN to hold (RFC 6146 3.5.2.2).
    Hold,
}

impl Shard {
    /// Whether an IPv4 packet with no session may create one: through
    /// BIB entry `bib` (the one of its (T,t), if any) from `remote`, or,
    /// a TCP SYN, by being held.
    pub(super) fn filter_v4(
        &self,
        proto: Proto,
        bib: Option<u32>,
        remote: u32,
        flags: TcpFlags,
    ) -> Result<Admit, NatDrop> {
        if proto == Proto::Tcp {
            // RFC 6146 3.5.2.2 (CLOSED): only "a V4 SYN packet" creates
            // state; anything else is silently discarded.
            if !flags.syn() || flags.rst() {
                return Err(NatDrop::TcpNotSyn);
            }
            if !self.cfg.v4_initiated_tcp {
                return Err(NatDrop::V4TcpPolicy);
            }
            match bib {
                Some(bi) if self.filter_allows(bi, remote) => Ok(Admit::Pass(bi)),
                // RFC 6146 3.5.2.2: with no BIB entry, or when the
                // filtering policy rejects it, the V4 SYN is kept "for at
                // least 6 seconds"; an IPv6 SYN for the same connection in
                // that time completes it (simultaneous open), else ICMP
                // Port Unreachable.
                _ => Ok(Admit::Hold),
            }
        } else {
            // RFC 6146 3.5.1.2: without a BIB entry for (T,t) the packet
            // is discarded.
            let bi = bib.ok_or(NatDrop::NoBib)?;
            if !self.filter_allows(bi, remote) {
                return Err(NatDrop::Filtered);
            }
            Ok(Admit::Pass(bi))
        }
    }

    /// The filtering policy for a packet from `remote` to BIB entry `bi`.
    /// A static BIB entry is the operator's explicit permission for
    /// IPv4-initiated traffic, so filtering does not apply to it.
    fn filter_allows(&self, bi: u32, remote: u32) -> bool {
        self.cfg.filtering == Filtering::Eif
            || self.bibs[bi as usize].is_static
            || self.adf_allows(bi, remote)
    }

    /// Address-dependent filtering. RFC 4787 5: "The NAT filters out
    /// packets from Y2:y2 destined for the internal endpoint X:x if X:x has
    /// not sent packets to Y2:any previously"; RFC 6146 3.5.1.2 checks for
    /// a session of the BIB entry with the packet's source address.
    fn adf_allows(&self, bi: u32, remote: u32) -> bool {
        let mut j = self.bibs[bi as usize].head;
        while j != NIL {
            let session = &self.sessions[j as usize];
            if session.dst4 == remote && session.flags & F_HELD == 0 {
                return true;
            }
            j = session.b_next;
        }
        false
    }

    pub(super) fn hold(
        &mut self,
        h: u32,
        t: &Tuple4,
        rport: u16,
        bib: Option<u32>,
        now_s: u32,
    ) -> Result<Verdict, NatDrop> {
        if self.stats.held_syns >= self.cfg.limits.held_syns {
            return Err(NatDrop::HeldSynLimit);
        }
        if self.free_session == NIL {
            return Err(NatDrop::TableFull);
        }
        let i = self.free_session;
        self.free_session = self.sessions[i as usize].t_next;
        let mut s = Session::EMPTY;
        s.dst4 = u32::from(t.src);
        s.dport = rport;
        s.addr4 = u32::from(t.dst);
        s.port4 = t.dport;
        s.proto = Proto::Tcp as u8;
        s.state = TcpState::V4Init as u8;
        s.class = TimerClass::TcpSyn as u8;
        s.flags = F_HELD;
        if self.pool.contains(t.src) {
            s.flags |= F_HAIRPIN;
        }
        s.stamp = now_s;
        if let Some(bi) = bib {
            s.src6 = self.bibs[bi as usize].src6;
            s.sport = self.bibs[bi as usize].sport;
            s.bib = bi;
            s.flags |= F_IN_V6;
        }
        self.sessions[i as usize] = s;
        if bib.is_some() {
            let h6 = self.sessions[i as usize].h6(self.key);
            if !self.sess6.insert(h6, i) {
                self.free_slot(i);
                return Err(NatDrop::TableFull);
            }
        }
        if !self.sess4.insert(h, i) {
            if bib.is_some() {
                let h6 = self.sessions[i as usize].h6(self.key);
                self.sess6.remove(h6, i);
            }
            self.free_slot(i);
            return Err(NatDrop::TableFull);
        }
        if let Some(bi) = bib {
            self.bib_link(bi, i);
        }
        push_back(
            &mut self.timers[TimerClass::TcpSyn as usize],
            &mut self.sessions,
            i,
        );
        self.stats.held_syns += 1;
        self.stats.session_added(Proto::Tcp);
        Ok(Verdict {
            session: SessionId(i),
            outcome: Outcome::Hold,
            release_held: false,
        })
    }
}
