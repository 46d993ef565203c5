//! The stateful NAT64 of one worker: the RFC 6146 state of a
//! [`Shard`] composed with the RFC 7915 translator.
//! Packets in, verdicts out; the dataplane only moves bytes.
//!
//! The shard works on flow tuples so every state rule is a plain unit
//! test; this layer classifies each packet once (`classify`: its tuple,
//! the destination mapped through the RFC 6052 prefix, its hash), asks
//! the shard, and translates in place with the endpoints the shard chose.
//! One file per direction, as VPP keeps `nat64_in2out.c` and
//! `nat64_out2in.c` apart: `from_v6` (inside to outside, hairpins),
//! `from_v4` (outside to inside, held SYNs), and `icmp_error` (errors
//! looked up by the packet they quote, without refreshing the session,
//! and the errors the state answers with). This file owns the type, its
//! verdicts and drop reasons, and the timers.

use crate::addr::Prefix6052;
use crate::nat::{
    Endpoint4, IcmpError, NatDrop, Proto, SessionId, Shard, Time, Tuple4 as NatTuple4,
    Tuple6 as NatTuple6,
};
use crate::wire::{icmpv4, icmpv6, proto};
use crate::xlat::{self, DropReason, Outcome, XlatConfig};

mod classify;
mod from_v4;
mod from_v6;
mod icmp_error;

use classify::Burst;

macro_rules! nat64_drops {
    ($($(#[$doc:meta])* $name:ident = $text:literal;)*) => {
        /// Drops this layer decides itself (the translator's and the
        /// shard's have their own enums).
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        #[repr(u8)]
        pub enum Nat64Drop { $($(#[$doc])* $name,)* }

        impl Nat64Drop {
            /// Every reason, in index order.
            pub const ALL: &'static [Nat64Drop] = &[$(Nat64Drop::$name,)*];
            /// Number of reasons.
            pub const COUNT: usize = Nat64Drop::ALL.len();
            /// Counter name.
            pub const fn name(self) -> &'static str {
                match self { $(Nat64Drop::$name => $text,)* }
            }
        }
    };
}

nat64_drops! {
    /// RFC 6146 3.5: only TCP, UDP and ICMP have BIBs; other protocols are
    /// not translated.
    UnsupportedProtocol = "unsupported_protocol";
    /// ICMP informational messages other than echo (RFC 6146 3.5: "If the
    /// incoming packet is an ICMP message other than ... Query, it is
    /// silently discarded").
    IcmpNotQuery = "icmp_not_query";
    /// A non-first fragment: its ports are in the first fragment, which
    /// plat does not reassemble or track yet.
    FragmentWithoutPorts = "fragment_without_ports";
    /// An ICMP error quoting a packet of no session of this worker.
    IcmpErrorNoSession = "icmp_error_no_session";
    /// The shard answered what this direction cannot get (a hold for an
    /// IPv6 packet, an IPv4 destination for an IPv4 packet): a bug,
    /// counted apart from malformed packets so that it is seen.
    UnexpectedNatOutcome = "unexpected_nat_outcome";
}

/// Why a packet was not forwarded, from any of the three layers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Reason {
    /// The translator (RFC 7915).
    Xlat(DropReason),
    /// The state (RFC 6146).
    Nat(NatDrop),
    /// This layer.
    Nat64(Nat64Drop),
}

impl Reason {
    /// Number of reasons, for a counter array.
    pub const COUNT: usize = DropReason::COUNT + NatDrop::COUNT + Nat64Drop::COUNT;

    /// Index in a counter array: translator reasons, then state, then this
    /// layer's.
    pub fn index(self) -> usize {
        match self {
            Reason::Xlat(r) => r.index(),
            Reason::Nat(r) => DropReason::COUNT + r as usize,
            Reason::Nat64(r) => DropReason::COUNT + NatDrop::COUNT + r as usize,
        }
    }

    /// Every counter name, in index order.
    pub fn names() -> Vec<&'static str> {
        DropReason::ALL
            .iter()
            .map(|r| r.name())
            .chain(NatDrop::ALL.iter().map(|r| r.name()))
            .chain(Nat64Drop::ALL.iter().map(|r| r.name()))
            .collect()
    }
}

/// What to do with a packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// Translated in place: send `buf[l3_start..l3_start + l3_len]` out
    /// of the other family's side.
    Forward { l3_start: usize, l3_len: usize },
    /// Translated into fragments, all given to the sink; this buffer is
    /// spent.
    Fragmented { count: usize },
    /// `buf[l3_start..l3_start + l3_len]` is now an ICMP error for the
    /// sender: send it back out of the side the packet came in on.
    Reply {
        l3_start: usize,
        l3_len: usize,
        reason: Reason,
    },
    /// RFC 6146 3.8 hairpin: the IPv6 packet is now the IPv4 packet at
    /// `buf[l3_start..l3_start + l3_len]`, to be handled by `from_v4` of
    /// the worker that owns its destination.
    Hairpin { l3_start: usize, l3_len: usize },
    /// RFC 6146 3.8 hairpin handled whole by this worker: the packet is
    /// IPv6 again, from the embedded pool address of its sender to the
    /// other IPv6 host: send it back out of the IPv6 side.
    HairpinReturn { l3_start: usize, l3_len: usize },
    /// An IPv4 SYN the caller must keep under `session` (RFC 6146
    /// 3.5.2.2) until [`Nat64::expire`] says what became of it.
    Hold { session: SessionId },
    /// Dropped.
    Drop(Reason),
}

/// The fate of a held IPv4 SYN.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HeldFate {
    /// A matching IPv6 SYN arrived: RFC 6146 3.5.2.2 says to drop the
    /// stored packet.
    Release(SessionId),
    /// The hold timed out: answer the stored packet with this error
    /// ([`Nat64::reject_held`]).
    Reject(SessionId, IcmpError),
}

/// One worker's NAT64: state plus translation settings.
#[derive(Debug)]
pub struct Nat64 {
    shard: Shard,
    prefix: Prefix6052,
    xlat: XlatConfig,
    next_ipv4_id: u16,
    fates: Vec<HeldFate>,
    /// The current IPv6 burst, classified by the prefetch stage, by
    /// burst position.
    burst6: Burst<NatTuple6>,
    /// The same for a burst from the IPv4 side.
    burst4: Burst<NatTuple4>,
}

/// A family's ICMP protocol number and its two query (echo) types.
struct IcmpQuery {
    number: u8,
    echo: [u8; 2],
}

const ICMPV6_QUERY: IcmpQuery = IcmpQuery {
    number: proto::ICMPV6,
    echo: [icmpv6::msg_type::ECHO_REQUEST, icmpv6::msg_type::ECHO_REPLY],
};
const ICMPV4_QUERY: IcmpQuery = IcmpQuery {
    number: proto::ICMP,
    echo: [icmpv4::msg_type::ECHO_REQUEST, icmpv4::msg_type::ECHO_REPLY],
};

/// The shard's protocol of a parsed packet (`number`, and `icmp_type`
/// for ICMP) of the family whose ICMP is `icmp`.
fn shard_proto(number: u8, icmp_type: Option<u8>, icmp: &IcmpQuery) -> Result<Proto, Reason> {
    match number {
        proto::TCP => Ok(Proto::Tcp),
        proto::UDP => Ok(Proto::Udp),
        // RFC 6146 3.5: "If the incoming packet is an ICMP message other
        // than ... Query, it is silently discarded".
        n if n == icmp.number => match icmp_type {
            Some(t) if icmp.echo.contains(&t) => Ok(Proto::Icmp),
            _ => Err(Reason::Nat64(Nat64Drop::IcmpNotQuery)),
        },
        // RFC 6146 3.5: only TCP, UDP and ICMP have BIBs.
        _ => Err(Reason::Nat64(Nat64Drop::UnsupportedProtocol)),
    }
}

/// Most packets one prefetch call looks ahead over (a worker's burst).
pub const PREFETCH_BURST: usize = 64;

fn from_xlat(o: Outcome) -> Verdict {
    match o {
        Outcome::Forward { l3_start, l3_len } => Verdict::Forward { l3_start, l3_len },
        Outcome::Fragmented { count } => Verdict::Fragmented { count },
        Outcome::Reply {
            l3_start,
            l3_len,
            reason,
        } => Verdict::Reply {
            l3_start,
            l3_len,
            reason: Reason::Xlat(reason),
        },
        Outcome::Drop(r) => Verdict::Drop(Reason::Xlat(r)),
    }
}

impl Nat64 {
    /// A worker's NAT64 over `shard`, translating with `prefix`.
    pub fn new(shard: Shard, prefix: Prefix6052, xlat: XlatConfig) -> Nat64 {
        Nat64 {
            shard,
            prefix,
            xlat,
            next_ipv4_id: 1,
            fates: Vec::new(),
            burst6: Burst::new(),
            burst4: Burst::new(),
        }
    }

    /// The state, for listings and control-plane changes.
    pub fn shard(&self) -> &Shard {
        &self.shard
    }

    /// The state, mutable (pool4 and static BIB changes).
    pub fn shard_mut(&mut self) -> &mut Shard {
        &mut self.shard
    }

    /// The RFC 6052 prefix.
    pub fn prefix(&self) -> &Prefix6052 {
        &self.prefix
    }

    /// RFC 7915 5.1 leaves the Identification of unfragmented packets to
    /// the translator; a per-worker counter never repeats within 2^16
    /// packets.
    #[inline]
    fn ipv4_id(&mut self) -> u16 {
        self.next_ipv4_id = self.next_ipv4_id.wrapping_add(1);
        self.next_ipv4_id
    }

    /// Expires at most `budget` sessions; fates of held SYNs go to `out`.
    /// Returns how many sessions expired.
    pub fn expire(&mut self, now: Time, budget: usize, out: &mut Vec<HeldFate>) -> usize {
        out.append(&mut self.fates);
        self.shard.expire(now, budget, |h| {
            out.push(HeldFate::Reject(h.session, h.error))
        })
    }
}

/// The translator's view of a (source, destination) pair; ICMP queries
/// carry the identifier as both ports.
fn tuple4(proto: Proto, src: Endpoint4, dst: Endpoint4) -> xlat::Tuple4 {
    xlat::Tuple4 {
        src: src.addr,
        dst: dst.addr,
        src_port: src.port,
        dst_port: if proto == Proto::Icmp {
            src.port
        } else {
            dst.port
        },
    }
}

#[cfg(test)]
mod tests;
