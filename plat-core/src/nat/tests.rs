//! The RFC 6146 / RFC 6888 rules, one test per rule, named after the
//! section they check.

use std::net::{Ipv4Addr, Ipv6Addr};
use std::sync::Arc;

use super::Record;
use super::*;

pub(crate) const SYN: TcpFlags = TcpFlags::SYN;
pub(crate) const SYN_ACK: TcpFlags = TcpFlags::SYN_ACK;
pub(crate) const ACK: TcpFlags = TcpFlags::ACK;
pub(crate) const FIN: TcpFlags = TcpFlags(0x11);
pub(crate) const RST: TcpFlags = TcpFlags::RST;
pub(crate) const NO: TcpFlags = TcpFlags::NONE;

/// The fixed table hash key of the tests.
pub(crate) const KEY: HashKey = HashKey::new(0x5eed_0f91_a7c3);

pub(crate) const T: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 1);
pub(crate) const Z: Ipv4Addr = Ipv4Addr::new(198, 51, 100, 7);
pub(crate) const Z2: Ipv4Addr = Ipv4Addr::new(203, 0, 113, 9);

pub(crate) fn a6(s: &str) -> Ipv6Addr {
    s.parse().unwrap()
}

pub(crate) fn at(s: u64) -> Time {
    Time::from_secs(s)
}

/// A port space split over `workers` the way an RSS plan splits it (by a
/// hash of address and port); the shard sees only the [`PortOwner`], and
/// the Toeplitz plan itself is tested in `rss`.
#[derive(Debug)]
struct Spread {
    workers: usize,
}

impl Spread {
    fn new(workers: usize) -> Arc<Spread> {
        Arc::new(Spread { workers })
    }
    fn share(self: &Arc<Self>, worker: usize) -> PortShare {
        PortShare::Rss {
            plan: Arc::clone(self) as Arc<dyn PortOwner>,
            worker,
        }
    }
}

impl PortOwner for Spread {
    fn worker_of(&self, addr: Ipv4Addr, port: u16) -> usize {
        use std::hash::{Hash, Hasher};
        let mut h = std::hash::DefaultHasher::new();
        (addr, port).hash(&mut h);
        (h.finish() % self.workers as u64) as usize
    }
}

pub(crate) fn cfg() -> NatConfig {
    let mut c = NatConfig::default();
    c.limits.sessions = 1024;
    c
}

/// `c` with an event buffer: events are off by default.
pub(crate) fn with_events(mut c: NatConfig) -> NatConfig {
    c.event_capacity = 4096;
    c
}

pub(crate) fn shard_with(c: NatConfig) -> Shard {
    let mut s = Shard::new(c, PortShare::All, KEY).unwrap();
    s.add_pool4(Pool4Entry::new(T, 32)).unwrap();
    s
}

pub(crate) fn shard() -> Shard {
    shard_with(cfg())
}

pub(crate) fn t6(proto: Proto, src: &str, sport: u16, dst: Ipv4Addr, dport: u16) -> Tuple6 {
    Tuple6 {
        proto,
        src: a6(src),
        sport,
        dst,
        dport,
        prefix: 0,
    }
}

pub(crate) fn t4(proto: Proto, src: Ipv4Addr, sport: u16, dst: Endpoint4) -> Tuple4 {
    Tuple4 {
        proto,
        src,
        sport,
        dst: dst.addr,
        dport: dst.port,
    }
}

/// The (T,t) an IPv6-side verdict maps to.
pub(crate) fn out4(v: Result<Verdict, NatDrop>) -> Endpoint4 {
    match v.unwrap().outcome {
        Outcome::ToV4 { src, .. } => src,
        o => panic!("expected ToV4, got {o:?}"),
    }
}

pub(crate) fn to6(v: Result<Verdict, NatDrop>) -> (Endpoint4, Endpoint6) {
    match v.unwrap().outcome {
        Outcome::ToV6 { src, dst } => (src, dst),
        o => panic!("expected ToV6, got {o:?}"),
    }
}

pub(crate) fn state6(s: &Shard, t: &Tuple6) -> TcpState {
    s.peek_v6(t).unwrap().state
}

pub(crate) fn timer6(s: &Shard, t: &Tuple6) -> TimerClass {
    s.peek_v6(t).unwrap().timer
}

pub(crate) fn expire_all(s: &mut Shard, now: Time) -> usize {
    s.expire(now, usize::MAX, |_| {})
}

// ----- UDP and ICMP (3.5.1, 3.5.3) -----

#[test]
fn rfc6146_3_5_1_udp_outgoing_creates_bib_and_session() {
    let mut s = shard();
    let f = t6(Proto::Udp, "2001:db8::1", 5000, Z, 53);
    let v = s.v6_session(&f, NO, at(1)).unwrap();
    let Outcome::ToV4 { src, dst } = v.outcome else {
        panic!()
    };
    assert_eq!(src.addr, T);
    assert_eq!(dst, Endpoint4::new(Z, 53));
    assert_eq!(s.stats().sessions, 1);
    assert_eq!(s.stats().bibs, 1);
    // The reply comes back to the IPv6 host.
    let (rs, rd) = to6(s.v4_session(&t4(Proto::Udp, Z, 53, src), NO, at(2)));
    assert_eq!(rs, Endpoint4::new(Z, 53));
    assert_eq!(rd, Endpoint6::new(a6("2001:db8::1"), 5000));
    // Same flow, same session.
    assert_eq!(s.v6_session(&f, NO, at(3)).unwrap().session, v.session);
}

#[test]
fn rfc6146_3_5_1_1_endpoint_independent_mapping() {
    let mut s = shard();
    let a = out4(s.v6_session(&t6(Proto::Udp, "2001:db8::1", 5000, Z, 53), NO, at(1)));
    let b = out4(s.v6_session(&t6(Proto::Udp, "2001:db8::1", 5000, Z2, 123), NO, at(1)));
    assert_eq!(
        a, b,
        "one (X',x) maps to one (T,t) whatever the destination"
    );
    assert_eq!(s.stats().bibs, 1);
    assert_eq!(s.stats().sessions, 2);
}

#[test]
fn rfc6146_3_5_1_1_port_preservation_parity_and_range() {
    let mut s = shard();
    // The source port itself when free.
    let a = out4(s.v6_session(&t6(Proto::Udp, "2001:db8::1", 5001, Z, 53), NO, at(1)));
    assert_eq!(a.port, 5001);
    // Taken: another port of the same parity and range.
    for k in 2..20 {
        let src = format!("2001:db8::{k}");
        let b = out4(s.v6_session(&t6(Proto::Udp, &src, 5001, Z, 53), NO, at(1)));
        assert_eq!(b.port % 2, 1, "RFC 4787 REQ-4 parity");
        assert!(b.port >= 1024, "RFC 4787 REQ-3 range");
        assert_ne!(b.port, 5001);
    }
    // A well-known source port stays well known when pool4 allows it.
    let mut s = Shard::new(cfg(), PortShare::All, KEY).unwrap();
    s.add_pool4(Pool4Entry::new(T, 32).with_range(Proto::Udp, PortRange::new(0, 65535)))
        .unwrap();
    assert_eq!(
        out4(s.v6_session(&t6(Proto::Udp, "2001:db8::1", 123, Z, 123), NO, at(1))).port,
        123
    );
    let p = out4(s.v6_session(&t6(Proto::Udp, "2001:db8::2", 123, Z, 123), NO, at(1))).port;
    assert!(p < 1024 && p % 2 == 1, "got {p}");
    // With the default range 1024-65535, a well-known port leaves from
    // 1024 and up.
    let mut s = shard();
    let p = out4(s.v6_session(&t6(Proto::Udp, "2001:db8::1", 123, Z, 123), NO, at(1))).port;
    assert!(p >= 1024 && p % 2 == 1);
}

#[test]
fn rfc6056_a_port_not_preserved_is_not_handed_out_in_order() {
    // When the source port is taken, the port given instead starts from a
    // keyed hash of the subscriber's endpoint (RFC 6056 section 3:
    // obfuscated, not the next free one), still in range and parity.
    let mut s = shard();
    out4(s.v6_session(&t6(Proto::Udp, "2001:db8::1", 5001, Z, 53), NO, at(1)));
    let ports: Vec<u16> = (2..34)
        .map(|k| {
            let src = format!("2001:db8::{k}");
            out4(s.v6_session(&t6(Proto::Udp, &src, 5001, Z, 53), NO, at(1))).port
        })
        .collect();
    assert!(ports.iter().all(|p| p % 2 == 1 && *p >= 1024), "{ports:?}");
    let words: std::collections::HashSet<u16> = ports.iter().map(|p| p / 64).collect();
    assert!(
        words.len() >= 24,
        "32 ports in {} words: {ports:?}",
        words.len()
    );
}

#[test]
fn rfc6146_3_5_1_2_adf_filters_hosts_not_contacted() {
    let mut s = shard();
    assert_eq!(s.config().filtering, Filtering::Adf, "ADF is the default");
    let m = out4(s.v6_session(&t6(Proto::Udp, "2001:db8::1", 5000, Z, 53), NO, at(1)));
    // Another host: filtered, with the ICMP error named as data.
    let e = s
        .v4_session(&t4(Proto::Udp, Z2, 53, m), NO, at(2))
        .unwrap_err();
    assert_eq!(e, NatDrop::Filtered);
    assert_eq!(e.icmp(), IcmpError::V4AdminProhibited);
    assert_eq!(s.drops()[NatDrop::Filtered as usize], 1);
    // The same host from another port: address-dependent, so allowed, and
    // it creates a session.
    let (src, _) = to6(s.v4_session(&t4(Proto::Udp, Z, 9999, m), NO, at(2)));
    assert_eq!(src, Endpoint4::new(Z, 9999));
    assert_eq!(s.stats().sessions, 2);
}

#[test]
fn rfc6146_3_5_1_2_eif_accepts_any_host() {
    let mut c = cfg();
    c.filtering = Filtering::Eif;
    let mut s = shard_with(c);
    let m = out4(s.v6_session(&t6(Proto::Udp, "2001:db8::1", 5000, Z, 53), NO, at(1)));
    let (src, dst) = to6(s.v4_session(&t4(Proto::Udp, Z2, 4444, m), NO, at(2)));
    assert_eq!(src, Endpoint4::new(Z2, 4444));
    assert_eq!(dst, Endpoint6::new(a6("2001:db8::1"), 5000));
    assert_eq!(s.stats().sessions, 2);
}

#[test]
fn rfc6146_3_5_1_2_no_bib_entry_drops() {
    let mut s = shard();
    let e = s
        .v4_session(&t4(Proto::Udp, Z, 53, Endpoint4::new(T, 40000)), NO, at(1))
        .unwrap_err();
    assert_eq!(e, NatDrop::NoBib);
    let e = s
        .v4_session(
            &t4(
                Proto::Udp,
                Z,
                53,
                Endpoint4::new(Ipv4Addr::new(10, 9, 9, 9), 1),
            ),
            NO,
            at(1),
        )
        .unwrap_err();
    assert_eq!(e, NatDrop::NotOwned);
    assert_eq!(s.drops()[NatDrop::NoBib as usize], 1);
}

#[test]
fn rfc6146_3_5_1_udp_lifetime_and_refresh() {
    let mut s = shard();
    let f = t6(Proto::Udp, "2001:db8::1", 5000, Z, 53);
    let m = out4(s.v6_session(&f, NO, at(10)));
    assert_eq!(expire_all(&mut s, at(310)), 0, "alive for the full 300 s");
    // An inbound packet refreshes too.
    to6(s.v4_session(&t4(Proto::Udp, Z, 53, m), NO, at(200)));
    assert_eq!(expire_all(&mut s, at(311)), 0);
    assert_eq!(expire_all(&mut s, at(500)), 0);
    assert_eq!(expire_all(&mut s, at(501)), 1);
    assert_eq!(s.stats().sessions, 0);
    assert_eq!(
        s.stats().bibs,
        0,
        "the BIB entry goes with its last session"
    );
    // The port is free again.
    assert_eq!(out4(s.v6_session(&f, NO, at(600))), m);
}

#[test]
fn rfc6146_3_5_1_udp_timeout_is_configurable() {
    let mut c = cfg();
    c.timeouts.udp = 120;
    let mut s = shard_with(c);
    s.v6_session(&t6(Proto::Udp, "2001:db8::1", 5000, Z, 53), NO, at(0))
        .unwrap();
    assert_eq!(expire_all(&mut s, at(120)), 0);
    assert_eq!(expire_all(&mut s, at(121)), 1);
}

#[test]
fn rfc6146_3_5_3_icmp_query_sessions() {
    let mut s = shard();
    let f = t6(Proto::Icmp, "2001:db8::1", 777, Z, 0);
    let v = s.v6_session(&f, NO, at(0)).unwrap();
    let Outcome::ToV4 { src, dst } = v.outcome else {
        panic!()
    };
    assert_eq!(src.addr, T);
    assert_eq!(src.port, 777, "identifier preserved when free");
    assert_eq!(dst.port, 777, "the identifier stands for both ports");
    // The echo reply carries the translated identifier.
    let r = Tuple4 {
        proto: Proto::Icmp,
        src: Z,
        sport: 0,
        dst: T,
        dport: src.port,
    };
    let (rs, rd) = to6(s.v4_session(&r, NO, at(1)));
    assert_eq!(rs.addr, Z);
    assert_eq!(rd, Endpoint6::new(a6("2001:db8::1"), 777));
    // ICMP_DEFAULT: 60 s.
    assert_eq!(expire_all(&mut s, at(61)), 0);
    assert_eq!(expire_all(&mut s, at(62)), 1);
}

// ----- TCP (3.5.2.2) -----

pub(crate) fn tcp() -> Tuple6 {
    t6(Proto::Tcp, "2001:db8::1", 40000, Z, 80)
}

/// A shard with an ESTABLISHED connection; returns its (T,t).
pub(crate) fn established(s: &mut Shard, now: Time) -> Endpoint4 {
    let m = out4(s.v6_session(&tcp(), SYN, now));
    to6(s.v4_session(&t4(Proto::Tcp, Z, 80, m), SYN_ACK, now));
    out4(s.v6_session(&tcp(), ACK, now));
    assert_eq!(state6(s, &tcp()), TcpState::Established);
    m
}

#[test]
fn rfc6146_3_5_2_2_closed_drops_non_syn() {
    let mut s = shard();
    assert_eq!(s.v6_session(&tcp(), ACK, at(0)), Err(NatDrop::TcpNotSyn));
    assert_eq!(s.v6_session(&tcp(), RST, at(0)), Err(NatDrop::TcpNotSyn));
    assert_eq!(NatDrop::TcpNotSyn.icmp(), IcmpError::None);
    let mut c = cfg();
    c.filtering = Filtering::Eif;
    let mut s = shard_with(c);
    let m = out4(s.v6_session(&t6(Proto::Tcp, "2001:db8::1", 40000, Z2, 443), SYN, at(0)));
    assert_eq!(
        s.v4_session(&t4(Proto::Tcp, Z, 80, m), ACK, at(0)),
        Err(NatDrop::TcpNotSyn)
    );
    assert_eq!(s.stats().sessions, 1);
}

#[test]
fn rfc6146_3_5_2_2_v6_syn_moves_closed_to_v6_init_with_tcp_trans() {
    let mut s = shard();
    out4(s.v6_session(&tcp(), SYN, at(0)));
    assert_eq!(state6(&s, &tcp()), TcpState::V6Init);
    assert_eq!(timer6(&s, &tcp()), TimerClass::TcpTrans);
}

#[test]
fn rfc6146_3_5_2_2_v6_init_v4_syn_moves_to_established() {
    let mut s = shard();
    let m = out4(s.v6_session(&tcp(), SYN, at(0)));
    to6(s.v4_session(&t4(Proto::Tcp, Z, 80, m), SYN_ACK, at(1)));
    assert_eq!(state6(&s, &tcp()), TcpState::Established);
    assert_eq!(timer6(&s, &tcp()), TimerClass::TcpEst);
}

#[test]
fn rfc6146_3_5_2_2_v6_init_v6_syn_refreshes_and_other_packets_do_not() {
    let mut s = shard();
    out4(s.v6_session(&tcp(), SYN, at(0)));
    out4(s.v6_session(&tcp(), SYN, at(100))); // retransmission: TCP_TRANS anew
    out4(s.v6_session(&tcp(), ACK, at(300))); // translated, lifetime unchanged
    assert_eq!(state6(&s, &tcp()), TcpState::V6Init);
    assert_eq!(expire_all(&mut s, at(340)), 0);
    assert_eq!(
        expire_all(&mut s, at(341)),
        1,
        "expired 240 s after the last SYN"
    );
}

#[test]
fn rfc6146_3_5_2_2_v6_init_expires_to_closed() {
    let mut s = shard();
    out4(s.v6_session(&tcp(), SYN, at(0)));
    assert_eq!(expire_all(&mut s, at(240)), 0);
    assert_eq!(expire_all(&mut s, at(241)), 1);
    assert!(s.peek_v6(&tcp()).is_none());
    assert_eq!(s.stats().bibs, 0);
}

#[test]
fn rfc6146_3_5_2_2_v4_init_under_eif_then_v6_syn_establishes() {
    let mut c = cfg();
    c.filtering = Filtering::Eif;
    let mut s = shard_with(c);
    // The IPv6 host has a BIB entry from an earlier connection.
    let m = out4(s.v6_session(&t6(Proto::Tcp, "2001:db8::1", 40000, Z2, 443), SYN, at(0)));
    let (_, d) = to6(s.v4_session(&t4(Proto::Tcp, Z, 80, m), SYN, at(1)));
    assert_eq!(d, Endpoint6::new(a6("2001:db8::1"), 40000));
    let t = tcp();
    assert_eq!(state6(&s, &t), TcpState::V4Init);
    assert_eq!(timer6(&s, &t), TimerClass::TcpTrans);
    out4(s.v6_session(&t, SYN_ACK, at(2)));
    assert_eq!(state6(&s, &t), TcpState::Established);
    assert_eq!(timer6(&s, &t), TimerClass::TcpEst);
}

#[test]
fn rfc6146_3_5_2_2_v4_syn_held_six_seconds_under_adf_then_simultaneous_open() {
    let mut s = shard();
    // BIB entry from a connection to Z2; Z has not been contacted.
    let m = out4(s.v6_session(&t6(Proto::Tcp, "2001:db8::1", 40000, Z2, 443), SYN, at(0)));
    let v = s
        .v4_session(&t4(Proto::Tcp, Z, 80, m), SYN, at(10))
        .unwrap();
    assert_eq!(v.outcome, Outcome::Hold);
    assert_eq!(s.stats().held_syns, 1);
    // Retransmissions of the held SYN are dropped, not held twice.
    assert_eq!(
        s.v4_session(&t4(Proto::Tcp, Z, 80, m), SYN, at(11)),
        Err(NatDrop::HeldSyn)
    );
    // The IPv6 host's SYN to Z:80 completes the connection.
    let w = s.v6_session(&tcp(), SYN, at(12)).unwrap();
    assert_eq!(w.session, v.session);
    assert!(w.release_held, "the stored SYN is dropped");
    assert_eq!(out4(Ok(w)), m);
    assert_eq!(state6(&s, &tcp()), TcpState::Established);
    assert_eq!(s.stats().held_syns, 0);
    let mut timeouts = 0;
    s.expire(at(100), usize::MAX, |_| timeouts += 1);
    assert_eq!(timeouts, 0);
}

#[test]
fn rfc6146_3_5_2_2_held_v4_syn_times_out_with_icmp_port_unreachable() {
    let mut s = shard();
    // No BIB entry at all for T:50000.
    let v = s
        .v4_session(
            &t4(Proto::Tcp, Z, 80, Endpoint4::new(T, 50000)),
            SYN,
            at(10),
        )
        .unwrap();
    assert_eq!(v.outcome, Outcome::Hold);
    let mut got = Vec::new();
    assert_eq!(
        s.expire(at(16), 100, |h| got.push(h)),
        0,
        "held at least 6 s"
    );
    assert_eq!(s.expire(at(17), 100, |h| got.push(h)), 1);
    assert_eq!(
        got,
        vec![HeldTimeout {
            session: v.session,
            error: IcmpError::V4PortUnreachable
        }]
    );
    assert_eq!(IcmpError::V4PortUnreachable.type_code(), Some((3, 3)));
    assert_eq!(s.stats().sessions, 0);
    assert_eq!(s.stats().held_syns, 0);
}

#[test]
fn rfc6146_3_5_2_2_held_v4_syn_without_bib_completes_on_matching_v6_syn() {
    let mut s = shard();
    // The IPv4 peer aims at T:40000, the port the IPv6 host's source port
    // will be preserved to.
    let v = s
        .v4_session(&t4(Proto::Tcp, Z, 80, Endpoint4::new(T, 40000)), SYN, at(0))
        .unwrap();
    assert_eq!(v.outcome, Outcome::Hold);
    let w = s.v6_session(&tcp(), SYN, at(1)).unwrap();
    assert_eq!(w.session, v.session);
    assert!(w.release_held);
    assert_eq!(out4(Ok(w)), Endpoint4::new(T, 40000));
    assert_eq!(state6(&s, &tcp()), TcpState::Established);
    // And the connection works both ways.
    to6(s.v4_session(&t4(Proto::Tcp, Z, 80, Endpoint4::new(T, 40000)), ACK, at(2)));
}

#[test]
fn rfc6146_3_5_2_2_v4_initiated_tcp_policy_and_held_limit() {
    let mut c = cfg();
    c.v4_initiated_tcp = false;
    let mut s = shard_with(c);
    let e = s
        .v4_session(&t4(Proto::Tcp, Z, 80, Endpoint4::new(T, 5000)), SYN, at(0))
        .unwrap_err();
    assert_eq!(e, NatDrop::V4TcpPolicy);
    let mut c = cfg();
    c.limits.held_syns = 2;
    let mut s = shard_with(c);
    for p in 0..2 {
        assert_eq!(
            s.v4_session(
                &t4(Proto::Tcp, Z, 80 + p, Endpoint4::new(T, 5000)),
                SYN,
                at(0)
            )
            .unwrap()
            .outcome,
            Outcome::Hold
        );
    }
    assert_eq!(
        s.v4_session(&t4(Proto::Tcp, Z, 90, Endpoint4::new(T, 5000)), SYN, at(0)),
        Err(NatDrop::HeldSynLimit)
    );
}

#[test]
fn rfc6146_3_5_2_2_established_v4_fin_then_v6_fin_then_tcp_trans_expiry() {
    let mut s = shard();
    let m = established(&mut s, at(0));
    to6(s.v4_session(&t4(Proto::Tcp, Z, 80, m), FIN, at(10)));
    assert_eq!(state6(&s, &tcp()), TcpState::V4FinRcv);
    out4(s.v6_session(&tcp(), ACK, at(20))); // other packets: TCP_EST
    assert_eq!(timer6(&s, &tcp()), TimerClass::TcpEst);
    out4(s.v6_session(&tcp(), FIN, at(30)));
    assert_eq!(state6(&s, &tcp()), TcpState::V6FinV4FinRcv);
    assert_eq!(timer6(&s, &tcp()), TimerClass::TcpTrans);
    // Only the timer moves this state on.
    out4(s.v6_session(&tcp(), ACK, at(200)));
    assert_eq!(state6(&s, &tcp()), TcpState::V6FinV4FinRcv);
    assert_eq!(expire_all(&mut s, at(270)), 0);
    assert_eq!(expire_all(&mut s, at(271)), 1);
    assert_eq!(s.stats().sessions, 0);
}

#[test]
fn rfc6146_3_5_2_2_established_v6_fin_then_v4_fin() {
    let mut s = shard();
    let m = established(&mut s, at(0));
    out4(s.v6_session(&tcp(), FIN, at(10)));
    assert_eq!(state6(&s, &tcp()), TcpState::V6FinRcv);
    to6(s.v4_session(&t4(Proto::Tcp, Z, 80, m), ACK, at(11)));
    assert_eq!(state6(&s, &tcp()), TcpState::V6FinRcv);
    to6(s.v4_session(&t4(Proto::Tcp, Z, 80, m), FIN, at(12)));
    assert_eq!(state6(&s, &tcp()), TcpState::V6FinV4FinRcv);
    assert_eq!(expire_all(&mut s, at(12 + 241)), 1);
}

#[test]
fn rfc6146_3_5_2_2_established_rst_moves_to_trans_and_traffic_recovers() {
    let mut s = shard();
    let m = established(&mut s, at(0));
    to6(s.v4_session(&t4(Proto::Tcp, Z, 80, m), RST, at(10)));
    assert_eq!(state6(&s, &tcp()), TcpState::Trans);
    assert_eq!(timer6(&s, &tcp()), TimerClass::TcpTrans);
    // Another RST keeps TRANS and does not refresh.
    out4(s.v6_session(&tcp(), RST, at(20)));
    assert_eq!(state6(&s, &tcp()), TcpState::Trans);
    // A non-RST packet brings it back to ESTABLISHED.
    out4(s.v6_session(&tcp(), ACK, at(30)));
    assert_eq!(state6(&s, &tcp()), TcpState::Established);
    assert_eq!(timer6(&s, &tcp()), TimerClass::TcpEst);
}

#[test]
fn rfc6146_3_5_2_2_trans_expires_after_tcp_trans() {
    let mut s = shard();
    established(&mut s, at(0));
    out4(s.v6_session(&tcp(), RST, at(10)));
    assert_eq!(expire_all(&mut s, at(250)), 0);
    assert_eq!(expire_all(&mut s, at(251)), 1);
}

#[test]
fn rfc7857_2_2_rst_in_fin_rcv_moves_to_trans() {
    let mut s = shard();
    let m = established(&mut s, at(0));
    to6(s.v4_session(&t4(Proto::Tcp, Z, 80, m), FIN, at(1)));
    out4(s.v6_session(&tcp(), RST, at(2)));
    assert_eq!(state6(&s, &tcp()), TcpState::Trans);
}

#[test]
fn rfc6146_3_5_2_2_established_expires_after_tcp_est() {
    let mut s = shard();
    established(&mut s, at(0));
    assert_eq!(expire_all(&mut s, at(7440)), 0);
    assert_eq!(expire_all(&mut s, at(7441)), 1);
}

#[test]
fn rfc6146_3_5_2_2_every_transition_of_the_table() {
    use tcp_state::{step, Life};
    use TcpState::*;
    let f = [SYN, FIN, RST, ACK];
    // (state, side, flags index) -> (next, lifetime), for every cell.
    let expect = |st: TcpState, side: Side, k: usize| -> (TcpState, Life) {
        match (st, side, k) {
            (Closed, _, _) => (Closed, Life::Keep),
            (V6Init, Side::Inside, 0) => (V6Init, Life::Trans),
            (V6Init, Side::Outside, 0) => (Established, Life::Est),
            (V6Init, _, _) => (V6Init, Life::Keep),
            (V4Init, Side::Inside, 0) => (Established, Life::Est),
            (V4Init, _, _) => (V4Init, Life::Keep),
            (Established, Side::Inside, 1) => (V6FinRcv, Life::Keep),
            (Established, Side::Outside, 1) => (V4FinRcv, Life::Keep),
            (Established | V4FinRcv | V6FinRcv, _, 2) => (Trans, Life::Trans),
            (Established, _, _) => (Established, Life::Est),
            (V4FinRcv, Side::Inside, 1) => (V6FinV4FinRcv, Life::Trans),
            (V4FinRcv, _, _) => (V4FinRcv, Life::Est),
            (V6FinRcv, Side::Outside, 1) => (V6FinV4FinRcv, Life::Trans),
            (V6FinRcv, _, _) => (V6FinRcv, Life::Est),
            (V6FinV4FinRcv, _, _) => (V6FinV4FinRcv, Life::Keep),
            (Trans, _, 2) => (Trans, Life::Keep),
            (Trans, _, _) => (Established, Life::Est),
        }
    };
    for st in TcpState::ALL {
        for side in [Side::Inside, Side::Outside] {
            for (k, fl) in f.iter().enumerate() {
                assert_eq!(
                    step(st, side, *fl),
                    expect(st, side, k),
                    "{st:?} {side:?} {k}"
                );
            }
        }
    }
    // RST wins over SYN, SYN over FIN.
    assert_eq!(step(Established, Side::Inside, TcpFlags(0x06)).0, Trans);
    assert_eq!(step(V6Init, Side::Outside, TcpFlags(0x03)).0, Established);
}

#[test]
fn rfc6146_3_5_2_2_state_changes_are_events() {
    let mut s = shard_with(with_events(cfg()));
    let m = established(&mut s, at(0));
    to6(s.v4_session(&t4(Proto::Tcp, Z, 80, m), RST, at(1)));
    let states: Vec<TcpState> = s
        .drain_events()
        .filter_map(|e| match e {
            Record::StateChange { state, .. } => Some(state),
            _ => None,
        })
        .collect();
    assert_eq!(states, vec![TcpState::Established, TcpState::Trans]);
}

// ----- hairpinning (3.8) -----

#[test]
fn rfc6146_3_8_hairpinning_comes_back_as_ipv6() {
    let mut c = cfg();
    c.filtering = Filtering::Eif;
    let mut s = shard_with(c);
    // B has a mapping (T, tb).
    let b = out4(s.v6_session(&t6(Proto::Udp, "2001:db8::b", 6000, Z, 53), NO, at(0)));
    // A sends to the IPv4-embedded address of T:tb.
    let va = s
        .v6_session(
            &t6(Proto::Udp, "2001:db8::a", 7000, b.addr, b.port),
            NO,
            at(1),
        )
        .unwrap();
    let Outcome::ToV6 { src, dst } = va.outcome else {
        panic!("{:?}", va.outcome)
    };
    assert_eq!(dst, Endpoint6::new(a6("2001:db8::b"), 6000));
    assert_eq!(src.addr, T, "B sees A as its pool4 transport address");
    let ta = src;
    // B answers to T:ta, which hairpins back to A.
    let vb = s
        .v6_session(
            &t6(Proto::Udp, "2001:db8::b", 6000, ta.addr, ta.port),
            NO,
            at(2),
        )
        .unwrap();
    assert_eq!(
        vb.outcome,
        Outcome::ToV6 {
            src: b,
            dst: Endpoint6::new(a6("2001:db8::a"), 7000)
        }
    );
    assert!(s.stats().hairpins >= 2);
    assert!(s
        .sessions(SessionFilter::default())
        .any(|i| i.hairpin && i.v6.addr == a6("2001:db8::a")));
}

#[test]
fn rfc6146_3_8_hairpinning_under_adf_needs_the_return_path() {
    let mut s = shard();
    let b = out4(s.v6_session(&t6(Proto::Udp, "2001:db8::b", 6000, Z, 53), NO, at(0)));
    let e = s
        .v6_session(
            &t6(Proto::Udp, "2001:db8::a", 7000, b.addr, b.port),
            NO,
            at(1),
        )
        .unwrap_err();
    assert_eq!(e, NatDrop::Filtered, "B never talked to A's address");
}

#[test]
fn rfc6146_3_8_hairpin_to_another_workers_port_is_handed_off() {
    let plan = Spread::new(2);
    let mut s = Shard::new(cfg(), plan.share(0), KEY).unwrap();
    s.add_pool4(Pool4Entry::new(T, 32)).unwrap();
    let foreign = (1024..).find(|&p| plan.worker_of(T, p) == 1).unwrap();
    let v = s
        .v6_session(&t6(Proto::Udp, "2001:db8::a", 7000, T, foreign), NO, at(0))
        .unwrap();
    let Outcome::HairpinHandoff { src, dst } = v.outcome else {
        panic!("{:?}", v.outcome)
    };
    assert_eq!(dst, Endpoint4::new(T, foreign));
    assert_eq!(plan.worker_of(src.addr, src.port), 0, "own ports only");
}

// ----- static BIB -----

#[test]
fn rfc6146_3_1_static_bib_forwards_ipv4_initiated_traffic() {
    let mut s = shard(); // ADF: static entries are exempt
    let v6 = Endpoint6::new(a6("2001:db8::80"), 8080);
    let v4 = Endpoint4::new(T, 8080);
    s.add_static_bib(Proto::Tcp, v6, v4, at(0)).unwrap();
    let (src, dst) = to6(s.v4_session(&t4(Proto::Tcp, Z, 33000, v4), SYN, at(1)));
    assert_eq!(src, Endpoint4::new(Z, 33000));
    assert_eq!(dst, v6);
    // The server's outgoing traffic uses the same mapping (EIM).
    let m = out4(s.v6_session(&t6(Proto::Tcp, "2001:db8::80", 8080, Z2, 443), SYN, at(2)));
    assert_eq!(m, v4);
    // The entry outlives its sessions.
    expire_all(&mut s, at(10_000));
    assert_eq!(s.stats().sessions, 0);
    let b: Vec<BibInfo> = s.bib(SessionFilter::default()).collect();
    assert_eq!(b.len(), 1);
    assert!(b[0].is_static);
    // Conflicts are refused; removal works.
    assert!(matches!(
        s.add_static_bib(Proto::Tcp, Endpoint6::new(a6("2001:db8::81"), 1), v4, at(0)),
        Err(ShardError::BibExists(..))
    ));
    assert!(matches!(
        s.add_static_bib(
            Proto::Tcp,
            Endpoint6::new(a6("2001:db8::81"), 1),
            Endpoint4::new(Z, 1),
            at(0)
        ),
        Err(ShardError::NotInPool(_))
    ));
    s.remove_static_bib(Proto::Tcp, v4, at(3)).unwrap();
    assert_eq!(s.stats().bibs, 0);
    assert!(s.remove_static_bib(Proto::Tcp, v4, at(3)).is_err());
}

#[test]
fn rfc6146_3_1_static_bib_port_is_not_handed_out() {
    let mut s = Shard::new(cfg(), PortShare::All, KEY).unwrap();
    s.add_pool4(Pool4Entry::new(T, 32).with_range(Proto::Udp, PortRange::new(2000, 2001)))
        .unwrap();
    s.add_static_bib(
        Proto::Udp,
        Endpoint6::new(a6("2001:db8::80"), 53),
        Endpoint4::new(T, 2000),
        at(0),
    )
    .unwrap();
    let p = out4(s.v6_session(&t6(Proto::Udp, "2001:db8::1", 2000, Z, 53), NO, at(0))).port;
    assert_eq!(p, 2001);
    assert_eq!(
        s.v6_session(&t6(Proto::Udp, "2001:db8::2", 2000, Z, 53), NO, at(0)),
        Err(NatDrop::PoolExhausted)
    );
}

// ----- pool4 at runtime -----

#[test]
fn pool4_add_and_remove_keep_sessions_on_remaining_addresses() {
    let t2 = Ipv4Addr::new(192, 0, 2, 2);
    let mut s = shard();
    let hosts: Vec<String> = (1..40).map(|k| format!("2001:db8::{k:x}")).collect();
    for h in &hosts {
        s.v6_session(&t6(Proto::Udp, h, 5000, Z, 53), NO, at(0))
            .unwrap();
    }
    s.add_pool4(Pool4Entry::new(t2, 32)).unwrap();
    // Existing sessions keep their mapping (T) after the add.
    for h in &hosts {
        assert_eq!(
            out4(s.v6_session(&t6(Proto::Udp, h, 5000, Z, 53), NO, at(1))).addr,
            T
        );
    }
    // New subscribers spread over both addresses.
    let mut on_t2 = 0;
    for k in 100..200 {
        let h = format!("2001:db8::{k:x}");
        if out4(s.v6_session(&t6(Proto::Udp, &h, 5000, Z, 53), NO, at(1))).addr == t2 {
            on_t2 += 1;
        }
    }
    assert!(on_t2 > 20 && on_t2 < 80, "{on_t2}");
    assert!(matches!(
        s.add_pool4(Pool4Entry::new(t2, 32)),
        Err(ShardError::Pool4(Pool4Error::Overlap(_)))
    ));
    let before = s.stats().sessions;
    let gone = s.remove_pool4(t2, 32, at(2)).unwrap();
    assert_eq!(gone, on_t2);
    assert_eq!(s.stats().sessions, before - on_t2 as u32);
    assert!(s.sessions(SessionFilter::default()).all(|i| i.v4.addr == T));
    // The sessions on T are untouched and still translate.
    for h in &hosts {
        assert_eq!(
            out4(s.v6_session(&t6(Proto::Udp, h, 5000, Z, 53), NO, at(3))).addr,
            T
        );
    }
    // Subscribers that were on T2 come back on T.
    for k in 100..200 {
        let h = format!("2001:db8::{k:x}");
        assert_eq!(
            out4(s.v6_session(&t6(Proto::Udp, &h, 5000, Z, 53), NO, at(3))).addr,
            T
        );
    }
    assert!(s.remove_pool4(t2, 32, at(3)).is_err());
}

#[test]
fn pool4_ranges_per_protocol() {
    let mut s = Shard::new(cfg(), PortShare::All, KEY).unwrap();
    s.add_pool4(
        Pool4Entry::new(T, 32)
            .with_range(Proto::Tcp, PortRange::new(3000, 3999))
            .with_range(Proto::Icmp, PortRange::new(10, 19)),
    )
    .unwrap();
    let p = out4(s.v6_session(&t6(Proto::Tcp, "2001:db8::1", 80, Z, 80), SYN, at(0))).port;
    assert!((3000..4000).contains(&p));
    let p = out4(s.v6_session(&t6(Proto::Icmp, "2001:db8::1", 5, Z, 0), NO, at(0))).port;
    assert!((10..20).contains(&p));
    assert!(matches!(
        s.add_pool4(Pool4Entry::new(Ipv4Addr::new(192, 0, 2, 3), 31)),
        Err(ShardError::Pool4(Pool4Error::BadPrefix(..)))
    ));
}

// ----- exhaustion and limits -----

#[test]
fn rfc6146_3_5_1_1_pool_exhaustion_drops_with_address_unreachable() {
    let mut s = Shard::new(cfg(), PortShare::All, KEY).unwrap();
    s.add_pool4(Pool4Entry::new(T, 32).with_range(Proto::Udp, PortRange::new(5000, 5003)))
        .unwrap();
    for k in 1..=4 {
        s.v6_session(
            &t6(Proto::Udp, &format!("2001:db8::{k}"), 1, Z, 53),
            NO,
            at(0),
        )
        .unwrap();
    }
    let e = s
        .v6_session(&t6(Proto::Udp, "2001:db8::5", 1, Z, 53), NO, at(0))
        .unwrap_err();
    assert_eq!(e, NatDrop::PoolExhausted);
    assert_eq!(e.icmp(), IcmpError::V6AddressUnreachable);
    assert_eq!(e.icmp().type_code(), Some((1, 3)));
    assert_eq!(s.drops()[NatDrop::PoolExhausted as usize], 1);
    assert_eq!(e.name(), "drop_pool4_exhausted");
    // An existing BIB entry still gets new sessions.
    s.v6_session(&t6(Proto::Udp, "2001:db8::1", 1, Z2, 53), NO, at(0))
        .unwrap();
    assert_eq!(
        s.stats().subscribers,
        4,
        "the refused subscriber is not kept"
    );
}

#[test]
fn rfc6888_req_5_table_capacity() {
    let mut c = cfg();
    c.limits.sessions = 8;
    let mut s = shard_with(c);
    for k in 0..8 {
        s.v6_session(&t6(Proto::Udp, "2001:db8::1", 5000, Z, 100 + k), NO, at(0))
            .unwrap();
    }
    let e = s
        .v6_session(&t6(Proto::Udp, "2001:db8::1", 5000, Z, 99), NO, at(0))
        .unwrap_err();
    assert_eq!(e, NatDrop::TableFull);
    assert_eq!(e.icmp(), IcmpError::V6AddressUnreachable);
    expire_all(&mut s, at(1000));
    s.v6_session(&t6(Proto::Udp, "2001:db8::1", 5000, Z, 99), NO, at(1000))
        .unwrap();
}

#[test]
fn rfc6888_req_4_per_subscriber_session_and_port_caps_by_prefix() {
    let mut c = cfg();
    c.limits.subscriber_prefix_len = 64;
    c.limits.sessions_per_subscriber = 5;
    c.limits.ports_per_subscriber = 3;
    let mut s = shard_with(c);
    // Two hosts of one /64 share the caps.
    for p in 0..3 {
        s.v6_session(
            &t6(Proto::Udp, "2001:db8:0:1::a", 1000 + p, Z, 53),
            NO,
            at(0),
        )
        .unwrap();
    }
    assert_eq!(
        s.v6_session(&t6(Proto::Udp, "2001:db8:0:1::b", 2000, Z, 53), NO, at(0)),
        Err(NatDrop::SubscriberPortLimit)
    );
    // More sessions on existing ports are fine up to the session cap.
    s.v6_session(&t6(Proto::Udp, "2001:db8:0:1::a", 1000, Z2, 53), NO, at(0))
        .unwrap();
    s.v6_session(&t6(Proto::Udp, "2001:db8:0:1::a", 1001, Z2, 53), NO, at(0))
        .unwrap();
    let e = s
        .v6_session(&t6(Proto::Udp, "2001:db8:0:1::a", 1002, Z2, 53), NO, at(0))
        .unwrap_err();
    assert_eq!(e, NatDrop::SubscriberSessionLimit);
    assert_eq!(e.icmp(), IcmpError::V6AddressUnreachable);
    // The port cap is per protocol.
    s.v6_session(&t6(Proto::Tcp, "2001:db8:0:1::b", 1, Z, 80), SYN, at(0))
        .unwrap_err(); // session cap reached
                       // Another /64 is another subscriber.
    s.v6_session(&t6(Proto::Udp, "2001:db8:0:2::a", 1000, Z, 53), NO, at(0))
        .unwrap();
    assert_eq!(
        s.subscriber_usage(a6("2001:db8:0:1::ffff")),
        Some((5, [0, 3, 0]))
    );
    // Inbound sessions count against the cap too.
    let mut c = cfg();
    c.filtering = Filtering::Eif;
    c.limits.sessions_per_subscriber = 1;
    let mut s = shard_with(c);
    let m = out4(s.v6_session(&t6(Proto::Udp, "2001:db8::1", 5000, Z, 53), NO, at(0)));
    assert_eq!(
        s.v4_session(&t4(Proto::Udp, Z2, 53, m), NO, at(0)),
        Err(NatDrop::SubscriberSessionLimit)
    );
}

#[test]
fn rfc6888_port_blocks_allocate_and_log_per_block() {
    let mut c = cfg();
    c.port_block = 64;
    c.limits.ports_per_subscriber = 128;
    let mut s = shard_with(with_events(c));
    let mut ports = Vec::new();
    for p in 0..128u16 {
        ports.push(
            out4(s.v6_session(&t6(Proto::Udp, "2001:db8::1", 10000 + p, Z, 53), NO, at(0))).port,
        );
    }
    assert_eq!(
        s.v6_session(&t6(Proto::Udp, "2001:db8::1", 20000, Z, 53), NO, at(0)),
        Err(NatDrop::SubscriberPortLimit)
    );
    let blocks: Vec<_> = s
        .drain_events()
        .filter_map(|e| match e {
            Record::BlockAlloc(b) => Some(b),
            _ => None,
        })
        .collect();
    assert_eq!(blocks.len(), 2, "two blocks of 64 ports, two log lines");
    for p in &ports {
        assert!(blocks.iter().any(|b| b.first <= *p && *p <= b.last));
    }
    // Another subscriber gets other blocks.
    let q = out4(s.v6_session(&t6(Proto::Udp, "2001:db8::2", 10000, Z, 53), NO, at(0))).port;
    assert!(!ports.contains(&q));
    // When the ports go, the blocks go back.
    expire_all(&mut s, at(1000));
    let freed = s
        .drain_events()
        .filter(|e| matches!(e, Record::BlockFree(_)))
        .count();
    assert_eq!(freed, 3);
    assert_eq!(s.stats().subscribers, 0);
}

// ----- paired pooling (RFC 6888 REQ-2) -----

#[test]
fn rfc6888_req_2_paired_pooling_across_workers() {
    let workers = 4;
    let plan = Spread::new(workers);
    let mut shards: Vec<Shard> = (0..workers)
        .map(|w| {
            let mut s = Shard::new(cfg(), plan.share(w), KEY).unwrap();
            s.add_pool4(Pool4Entry::new(Ipv4Addr::new(192, 0, 2, 0), 29))
                .unwrap();
            s
        })
        .collect();
    for k in 0..50u16 {
        let sub = format!("2001:db8:{k:x}::1");
        let mut addr = None;
        // Flows of one subscriber on every worker leave from one address,
        // each from a port of that worker's share.
        for (w, s) in shards.iter_mut().enumerate() {
            for f in 0..4u16 {
                let m = out4(s.v6_session(&t6(Proto::Udp, &sub, 3000 + f, Z, 53), NO, at(0)));
                assert_eq!(plan.worker_of(m.addr, m.port), w);
                assert_eq!(*addr.get_or_insert(m.addr), m.addr, "subscriber {sub}");
            }
            let m = out4(s.v6_session(&t6(Proto::Tcp, &sub, 3000, Z2, 443), SYN, at(0)));
            assert_eq!(Some(m.addr), addr);
        }
    }
    // Subscribers spread over the pool.
    let used: std::collections::HashSet<Ipv4Addr> = shards[0]
        .sessions(SessionFilter::default())
        .map(|i| i.v4.addr)
        .collect();
    assert!(used.len() >= 6, "{used:?}");
}

#[test]
fn rfc6888_req_2_paired_address_exhausted_falls_back_and_counts() {
    let mut s = Shard::new(cfg(), PortShare::All, KEY).unwrap();
    let ent = |a| Pool4Entry::new(a, 32).with_range(Proto::Udp, PortRange::new(2000, 2003));
    s.add_pool4(ent(Ipv4Addr::new(192, 0, 2, 1))).unwrap();
    s.add_pool4(ent(Ipv4Addr::new(192, 0, 2, 2))).unwrap();
    let first = out4(s.v6_session(&t6(Proto::Udp, "2001:db8::1", 1, Z, 53), NO, at(0))).addr;
    assert_eq!(s.subscriber_pool4(a6("2001:db8::1")), Some(first));
    let mut addrs = vec![first];
    for p in 2..=8 {
        addrs.push(out4(s.v6_session(&t6(Proto::Udp, "2001:db8::1", p, Z, 53), NO, at(0))).addr);
    }
    assert!(addrs[..4].iter().all(|&a| a == first));
    assert!(addrs[4..].iter().all(|&a| a != first));
    assert_eq!(s.stats().paired_fallback, 4);
}

// ----- expiry in bounded slices -----

#[test]
fn expiry_runs_in_bounded_slices_oldest_first() {
    let mut s = shard();
    for k in 0..100u16 {
        s.v6_session(
            &t6(Proto::Udp, "2001:db8::1", 1000 + k, Z, 53),
            NO,
            at(u64::from(k)),
        )
        .unwrap();
    }
    assert_eq!(s.next_expiry(), Some(at(301)));
    assert_eq!(s.expire(at(1000), 10, |_| {}), 10);
    // The oldest went first.
    assert!(s
        .sessions(SessionFilter::default())
        .all(|i| i.v6.port >= 1010));
    let mut n = 10;
    while s.expire(at(1000), 10, |_| {}) == 10 {
        n += 10;
    }
    assert_eq!(n, 100);
    assert_eq!(s.stats().sessions, 0);
    assert_eq!(s.stats().sessions_expired, 100);
    assert_eq!(s.next_expiry(), None);
}

#[test]
fn expiry_follows_refresh_order() {
    let mut s = shard();
    let a = t6(Proto::Udp, "2001:db8::1", 1, Z, 53);
    let b = t6(Proto::Udp, "2001:db8::2", 1, Z, 53);
    s.v6_session(&a, NO, at(0)).unwrap();
    s.v6_session(&b, NO, at(1)).unwrap();
    s.v6_session(&a, NO, at(2)).unwrap(); // a moves behind b
    assert_eq!(s.expire(at(302), 10, |_| {}), 1);
    assert!(s.peek_v6(&a).is_some() && s.peek_v6(&b).is_none());
}

// ----- events, listing, bursts -----

#[test]
fn events_are_off_by_default_and_nothing_is_lost() {
    let mut s = shard();
    for p in 0..3 {
        s.v6_session(&t6(Proto::Udp, "2001:db8::1", 5000 + p, Z, 53), NO, at(0))
            .unwrap();
    }
    expire_all(&mut s, at(1000));
    assert_eq!(s.drain_events().count(), 0);
    assert_eq!(s.stats().events_lost, 0);
}

#[test]
fn events_overflow_is_counted() {
    let mut c = cfg();
    c.event_capacity = 3;
    let mut s = shard_with(c);
    for p in 0..3 {
        s.v6_session(&t6(Proto::Udp, "2001:db8::1", 5000 + p, Z, 53), NO, at(0))
            .unwrap();
    }
    assert_eq!(s.drain_events().count(), 3);
    assert_eq!(s.stats().events_lost, 3);
}

/// RFC 8158 alarms, RFC 6888 REQ-14 block logs, and who holds a pool4
/// transport address.
mod events;

#[test]
fn session_listing_filters() {
    let mut s = shard();
    s.v6_session(&t6(Proto::Udp, "2001:db8::1", 1, Z, 53), NO, at(0))
        .unwrap();
    s.v6_session(&t6(Proto::Tcp, "2001:db8::1", 2, Z2, 80), SYN, at(0))
        .unwrap();
    s.v6_session(&t6(Proto::Udp, "2001:db8::2", 1, Z2, 53), NO, at(0))
        .unwrap();
    let n = |f: SessionFilter| s.sessions(f).count();
    assert_eq!(n(SessionFilter::default()), 3);
    assert_eq!(
        n(SessionFilter {
            proto: Some(Proto::Udp),
            ..Default::default()
        }),
        2
    );
    assert_eq!(
        n(SessionFilter {
            v6: Some(a6("2001:db8::1").into()),
            ..Default::default()
        }),
        2
    );
    assert_eq!(
        n(SessionFilter {
            v4: Some(Z2),
            ..Default::default()
        }),
        2
    );
    assert_eq!(
        n(SessionFilter {
            v4: Some(T),
            proto: Some(Proto::Tcp),
            ..Default::default()
        }),
        1
    );
    assert_eq!(s.bib(SessionFilter::default()).count(), 3);
}

#[test]
fn listing_pages_examine_at_most_scan_slots_and_add_up_to_the_full_listing() {
    let mut s = shard();
    for port in 1..=50u16 {
        let proto = if port % 5 == 0 {
            Proto::Tcp
        } else {
            Proto::Udp
        };
        let flags = if proto == Proto::Tcp { SYN } else { NO };
        s.v6_session(&t6(proto, "2001:db8::1", port, Z, 53), flags, at(0))
            .unwrap();
    }
    let udp = SessionFilter {
        proto: Some(Proto::Udp),
        ..Default::default()
    };
    let all: Vec<_> = s.sessions(udp).collect();
    assert_eq!(all.len(), 40);
    // Pages of at most 7 slots and 3 entries, followed to the end.
    let (mut paged, mut from, mut pages) = (Vec::new(), Some(0), 0);
    while let Some(f) = from {
        let p = s.sessions_page(udp, f, 7, 3, Time::from_secs(100));
        assert!(p.entries.len() <= 3);
        if let Some(next) = p.next {
            assert!(next > f && next - f <= 7, "a page went {f} -> {next}");
        }
        for e in &p.entries {
            assert_eq!(e.expires_in, e.expires - 100, "seconds left at the listing");
        }
        paged.extend(
            p.entries
                .into_iter()
                .map(|e| SessionInfo { expires_in: 0, ..e }),
        );
        from = p.next;
        pages += 1;
    }
    assert_eq!(paged, all);
    assert!(pages >= 40 / 3);
    let bib_all: Vec<_> = s.bib(SessionFilter::default()).collect();
    let bib_page = s.bib_page(SessionFilter::default(), 0, u32::MAX, u32::MAX);
    assert_eq!((bib_page.entries, bib_page.next), (bib_all, None));
}

/// A burst of IPv6-side packets driven as a worker drives the shard:
/// stage 1 hashes and prefetches every bucket, stage 2 prefetches every
/// session (or what a new one will touch), then each packet's lookup.
fn burst6(s: &mut Shard, tuples: &[Tuple6], now: Time) -> Vec<Result<Verdict, NatDrop>> {
    let mut out = Vec::new();
    for burst in tuples.chunks(BURST) {
        let hashes: Vec<u32> = burst.iter().map(|t| s.hash6(t)).collect();
        hashes.iter().for_each(|&h| s.prefetch6(h));
        for (&h, t) in hashes.iter().zip(burst) {
            s.prefetch6_new(h, t);
        }
        for (&h, t) in hashes.iter().zip(burst) {
            out.push(s.v6_session_hashed(h, t, NO, now));
        }
    }
    out
}

/// [`burst6`] from the IPv4 side.
fn burst4(s: &mut Shard, tuples: &[Tuple4], now: Time) -> Vec<Result<Verdict, NatDrop>> {
    let mut out = Vec::new();
    for burst in tuples.chunks(BURST) {
        let hashes: Vec<u32> = burst.iter().map(|t| s.hash4(t)).collect();
        hashes.iter().for_each(|&h| s.prefetch4(h));
        for &h in &hashes {
            s.prefetch4_session(h);
        }
        for (&h, t) in hashes.iter().zip(burst) {
            out.push(s.v4_session_hashed(h, t, NO, now));
        }
    }
    out
}

#[test]
fn bursts_match_single_lookups() {
    let mut s = shard();
    let tuples: Vec<Tuple6> = (0..100)
        .map(|k| t6(Proto::Udp, "2001:db8::1", 1000 + k, Z, 53))
        .collect();
    let single: Vec<_> = tuples.iter().map(|t| s.v6_session(t, NO, at(0))).collect();
    let out = burst6(&mut s, &tuples, at(1));
    assert_eq!(out, single);
    let back: Vec<Tuple4> = single
        .iter()
        .map(|v| match v.unwrap().outcome {
            Outcome::ToV4 { src, dst } => t4(Proto::Udp, dst.addr, dst.port, src),
            _ => unreachable!(),
        })
        .collect();
    let out4 = burst4(&mut s, &back, at(2));
    for (k, v) in out4.iter().enumerate() {
        assert_eq!(to6(*v).1.port, 1000 + k as u16);
    }
}

/// Stage 2 names each new flow's port before any of the burst is
/// created; in one 64-port word every search names the same first free
/// port, so all but one of those names go stale. The burst must still
/// allocate what one packet at a time does: distinct ports, parity kept.
#[test]
fn rfc6146_3_5_1_1_a_burst_of_new_flows_allocates_as_one_at_a_time() {
    let make = || {
        let mut s = Shard::new(cfg(), PortShare::All, KEY).unwrap();
        s.add_pool4(Pool4Entry::new(T, 32).with_range(Proto::Udp, PortRange::new(2000, 2039)))
            .unwrap();
        // Another subscriber holds 2000-2029, so the burst's source
        // ports are all taken and every flow searches.
        for p in 2000..2030 {
            s.v6_session(&t6(Proto::Udp, "2001:db8::2", p, Z, 53), NO, at(0))
                .unwrap();
        }
        // The burst's subscriber is known, paired, and has one port.
        s.v6_session(&t6(Proto::Udp, "2001:db8::1", 2040, Z, 53), NO, at(0))
            .unwrap();
        s
    };
    let (mut burst, mut single) = (make(), make());
    let mut tuples: Vec<Tuple6> = (2000..2007)
        .map(|p| t6(Proto::Udp, "2001:db8::1", p, Z, 53))
        .collect();
    // A subscriber the burst creates: stage 2 finds none for either flow.
    tuples.push(t6(Proto::Udp, "2001:db8::3", 2001, Z, 53));
    tuples.push(t6(Proto::Udp, "2001:db8::3", 2003, Z, 53));
    let one: Vec<_> = tuples
        .iter()
        .map(|t| single.v6_session(t, NO, at(1)))
        .collect();
    let out = burst6(&mut burst, &tuples, at(1));
    assert_eq!(out, one);
    let ports: Vec<u16> = out.iter().map(|v| out4(*v).port).collect();
    let distinct: std::collections::HashSet<_> = ports.iter().collect();
    assert_eq!(distinct.len(), ports.len(), "{ports:?}");
    assert!(ports.iter().all(|p| (2030..=2039).contains(p)), "{ports:?}");
    for (t, p) in tuples.iter().zip(&ports) {
        assert_eq!(t.sport % 2, p % 2, "RFC 4787 REQ-4 parity: {ports:?}");
    }
}

#[test]
fn nat_drop_reasons_are_counters() {
    assert_eq!(NatDrop::COUNT, NatDrop::ALL.len());
    let names: std::collections::HashSet<_> = NatDrop::ALL.iter().map(|d| d.name()).collect();
    assert_eq!(names.len(), NatDrop::COUNT);
    for (i, d) in NatDrop::ALL.iter().enumerate() {
        assert_eq!(*d as usize, i);
    }
}

#[test]
fn expiry_slices_do_not_starve_a_timer_class() {
    let mut s = shard();
    for k in 0..50u16 {
        s.v6_session(&t6(Proto::Udp, "2001:db8::1", 1000 + k, Z, 53), NO, at(0))
            .unwrap();
    }
    let echo = t6(Proto::Icmp, "2001:db8::1", 9, Z, 0);
    s.v6_session(&echo, NO, at(0)).unwrap();
    s.expire(at(1000), 10, |_| {});
    s.expire(at(1000), 10, |_| {});
    assert!(s.peek_v6(&echo).is_none(), "the ICMP session got its turn");
}

#[test]
fn rfc6146_3_8_hairpinned_tcp_simultaneous_open_under_adf() {
    let mut s = shard();
    // B has a TCP mapping from a connection to Z.
    let b = out4(s.v6_session(&t6(Proto::Tcp, "2001:db8::b", 6000, Z, 80), SYN, at(0)));
    // A's SYN to T:tb hairpins; B never talked to T, so it is held.
    let va = s
        .v6_session(
            &t6(Proto::Tcp, "2001:db8::a", 7000, b.addr, b.port),
            SYN,
            at(1),
        )
        .unwrap();
    assert_eq!(va.outcome, Outcome::Hold);
    let ta = s
        .sessions(SessionFilter {
            v6: Some(a6("2001:db8::a").into()),
            ..Default::default()
        })
        .next()
        .unwrap()
        .v4;
    // B's SYN to T:ta completes both halves.
    let vb = s
        .v6_session(
            &t6(Proto::Tcp, "2001:db8::b", 6000, ta.addr, ta.port),
            SYN,
            at(2),
        )
        .unwrap();
    assert!(vb.release_held);
    assert_eq!(
        vb.outcome,
        Outcome::ToV6 {
            src: b,
            dst: Endpoint6::new(a6("2001:db8::a"), 7000)
        }
    );
    let a = t6(Proto::Tcp, "2001:db8::a", 7000, b.addr, b.port);
    assert_eq!(state6(&s, &a), TcpState::Established);
}

// ----- invariants under random traffic -----

mod model {
    use super::*;
    use proptest::prelude::*;

    #[derive(Clone, Debug)]
    enum Op {
        V6 {
            proto: u8,
            host: u8,
            sport: u8,
            dst: u8,
            dport: u8,
            flags: u8,
        },
        V4 {
            proto: u8,
            src: u8,
            sport: u8,
            port: u8,
            flags: u8,
        },
        Wait(u16),
        Expire(u8),
    }

    fn op() -> impl Strategy<Value = Op> {
        prop_oneof![
            4 => (0..3u8, 0..6u8, 0..4u8, 0..3u8, 0..3u8, any::<u8>()).prop_map(
                |(proto, host, sport, dst, dport, flags)| Op::V6 { proto, host, sport, dst, dport, flags }
            ),
            3 => (0..3u8, 0..3u8, 0..3u8, 0..16u8, any::<u8>())
                .prop_map(|(proto, src, sport, port, flags)| Op::V4 { proto, src, sport, port, flags }),
            1 => (0..400u16).prop_map(Op::Wait),
            1 => (0..8u8).prop_map(Op::Expire),
        ]
    }

    const FLAGS: [TcpFlags; 5] = [SYN, SYN_ACK, ACK, FIN, RST];

    fn check(s: &Shard) {
        let all: Vec<SessionInfo> = s.sessions(SessionFilter::default()).collect();
        assert_eq!(all.len() as u32, s.stats().sessions);
        let bibs: Vec<BibInfo> = s.bib(SessionFilter::default()).collect();
        assert_eq!(bibs.len() as u32, s.stats().bibs);
        let mut v4s = std::collections::HashSet::new();
        let mut v6s = std::collections::HashSet::new();
        for b in &bibs {
            assert!(v4s.insert((b.proto, b.v4)), "one BIB entry per (T,t)");
            assert!(v6s.insert((b.proto, b.v6)), "one BIB entry per (X',x)");
            assert!(b.is_static || b.sessions > 0, "no orphan dynamic BIB entry");
        }
        let mut held = 0;
        for i in &all {
            let t4 = Tuple4 {
                proto: i.proto,
                src: i.remote.addr,
                sport: i.remote.port,
                dst: i.v4.addr,
                dport: i.v4.port,
            };
            assert_eq!(s.peek_v4(&t4).map(|x| x.id), Some(i.id));
            if i.held && i.v6.port == 0 && i.v6.addr.is_unspecified() {
                held += 1;
                continue;
            }
            held += u32::from(i.held);
            let t6 = Tuple6 {
                proto: i.proto,
                src: i.v6.addr,
                sport: i.v6.port,
                dst: i.remote.addr,
                dport: i.remote.port,
                prefix: 0,
            };
            assert_eq!(s.peek_v6(&t6).map(|x| x.id), Some(i.id));
            assert!(bibs
                .iter()
                .any(|b| b.proto == i.proto && b.v6 == i.v6 && b.v4 == i.v4));
        }
        assert_eq!(held, s.stats().held_syns);
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]
        #[test]
        fn shard_invariants_hold_under_random_traffic(
            eif in any::<bool>(),
            blocks in any::<bool>(),
            ops in proptest::collection::vec(op(), 1..120),
        ) {
            let mut c = cfg();
            c.limits.sessions = 48;
            c.limits.held_syns = 4;
            c.filtering = if eif { Filtering::Eif } else { Filtering::Adf };
            if blocks {
                c.port_block = 4;
                c.limits.ports_per_subscriber = 8;
            }
            let mut s = Shard::new(c, PortShare::All, KEY).unwrap();
            s.add_pool4(
                Pool4Entry::new(T, 32)
                    .with_range(Proto::Tcp, PortRange::new(2000, 2015))
                    .with_range(Proto::Udp, PortRange::new(2000, 2015))
                    .with_range(Proto::Icmp, PortRange::new(2000, 2015)),
            )
            .unwrap();
            let remotes = [Z, Z2, T];
            let mut now = 0u64;
            for o in ops {
                match o {
                    Op::V6 { proto, host, sport, dst, dport, flags } => {
                        let t = Tuple6 {
                            proto: Proto::ALL[proto as usize],
                            src: Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, u16::from(host)),
                            sport: 2000 + u16::from(sport),
                            dst: remotes[dst as usize],
                            dport: 2000 + u16::from(dport),
                            prefix: 0,
                        };
                        let _ = s.v6_session(&t, FLAGS[flags as usize % 5], at(now));
                    }
                    Op::V4 { proto, src, sport, port, flags } => {
                        let t = Tuple4 {
                            proto: Proto::ALL[proto as usize],
                            src: remotes[src as usize],
                            sport: 2000 + u16::from(sport),
                            dst: T,
                            dport: 2000 + u16::from(port),
                        };
                        let _ = s.v4_session(&t, FLAGS[flags as usize % 5], at(now));
                    }
                    Op::Wait(d) => now += u64::from(d),
                    Op::Expire(b) => {
                        s.expire(at(now), usize::from(b), |_| {});
                    }
                }
                check(&s);
            }
            s.expire(at(now + 100_000), usize::MAX, |_| {});
            check(&s);
            prop_assert_eq!(s.stats().sessions, 0);
            prop_assert_eq!(s.stats().bibs, 0);
            prop_assert_eq!(s.stats().subscribers, 0);
            prop_assert_eq!(s.stats().held_syns, 0);
        }
    }
}

#[test]
fn rfc6146_3_5_3_icmp_identifier_translated_when_taken() {
    let mut s = shard();
    // Two hosts use identifier 7: the second gets another one.
    out4(s.v6_session(&t6(Proto::Icmp, "2001:db8::1", 7, Z, 0), NO, at(0)));
    let m = out4(s.v6_session(&t6(Proto::Icmp, "2001:db8::2", 7, Z, 0), NO, at(0)));
    assert_ne!(m.port, 7);
    let v = s
        .v6_session(&t6(Proto::Icmp, "2001:db8::2", 7, Z, 0), NO, at(1))
        .unwrap();
    assert_eq!(
        v.outcome,
        Outcome::ToV4 {
            src: m,
            dst: Endpoint4::new(Z, m.port)
        }
    );
    // The reply carries the translated identifier and goes back with 7.
    let r = Tuple4 {
        proto: Proto::Icmp,
        src: Z,
        sport: m.port,
        dst: T,
        dport: m.port,
    };
    let (src, dst) = to6(s.v4_session(&r, NO, at(2)));
    assert_eq!(dst, Endpoint6::new(a6("2001:db8::2"), 7));
    assert_eq!(src, Endpoint4::new(Z, 7));
    assert_eq!(s.stats().sessions, 2);
}

#[test]
fn timeouts_and_filtering_change_at_runtime() {
    let mut s = shard();
    let m = out4(s.v6_session(&t6(Proto::Udp, "2001:db8::1", 5000, Z, 53), NO, at(0)));
    assert_eq!(
        s.v4_session(&t4(Proto::Udp, Z2, 53, m), NO, at(1)),
        Err(NatDrop::Filtered)
    );
    let mut c = *s.config();
    c.filtering = Filtering::Eif;
    c.timeouts.udp = 600;
    s.reconfigure(c).unwrap();
    to6(s.v4_session(&t4(Proto::Udp, Z2, 53, m), NO, at(1)));
    assert_eq!(
        expire_all(&mut s, at(400)),
        0,
        "the new udp timeout applies"
    );
    assert_eq!(expire_all(&mut s, at(602)), 2);
    c.limits.sessions = 7;
    assert_eq!(s.reconfigure(c).unwrap_err().field, "nat64.limits");
    c = *s.config();
    c.timeouts.udp = 60;
    assert_eq!(s.reconfigure(c).unwrap_err().field, "nat64.timeouts.udp");
}

// ----- seeded tables -----

/// `n` UDP flows of one (X',x) whose IPv6-side session hashes under `key`
/// all fall in the first 1/4096 of the hash range: the first home slot of
/// any index with at most 4096 homes. Found by brute force over (Z, z),
/// as an attacker who knew the key would.
fn colliding_flows(key: HashKey, n: usize) -> Vec<Tuple6> {
    let probe = Shard::new(cfg(), PortShare::All, key).unwrap();
    let mut out = Vec::new();
    'search: for z in 1..=255u8 {
        for port in 1..=u16::MAX {
            let t = t6(
                Proto::Udp,
                "2001:db8::a",
                4000,
                Ipv4Addr::new(198, 51, 100, z),
                port,
            );
            if probe.hash6(&t) < (1 << 20) {
                out.push(t);
                if out.len() == n {
                    break 'search;
                }
            }
        }
    }
    assert_eq!(out.len(), n);
    out
}

/// Creates the flows; how many the shard refused as `TableFull`.
fn refused(key: HashKey, flows: &[Tuple6]) -> usize {
    let mut s = Shard::new(cfg(), PortShare::All, key).unwrap();
    s.add_pool4(Pool4Entry::new(T, 32)).unwrap();
    assert!(s.config().limits.sessions as usize >= 2 * flows.len());
    flows
        .iter()
        .map(|t| s.v6_session(t, NO, at(0)))
        .filter(|r| *r == Err(NatDrop::TableFull))
        .count()
}

#[test]
fn flows_aimed_at_one_home_fill_a_shard_whose_key_is_known() {
    let flows = colliding_flows(KEY, 300);
    // Robin Hood keeps an entry at most 255 slots from its home: the
    // 257th flow of one home is refused with the table a third full.
    assert_eq!(refused(KEY, &flows), 300 - 256);
}

#[test]
fn the_same_flows_all_fit_a_shard_with_another_key() {
    let flows = colliding_flows(KEY, 300);
    let random = {
        use std::hash::BuildHasher;
        std::hash::RandomState::new().hash_one(0u8)
    };
    for other in [1, 2, 0x5eed_0f91_a7c4, u64::MAX, random] {
        let key = HashKey::new(other);
        assert_eq!(refused(key, &flows), 0, "key {other:#x}");
        assert_eq!(
            Shard::new(cfg(), PortShare::All, key).unwrap().hash_key(),
            key
        );
    }
}

/// The management plane's view: filters by prefix, port and TCP state,
/// counts per protocol, a bounded clear, a subscriber and pool4 use.
#[test]
fn admin_filters_counts_clear_subscriber_and_pool4_use() {
    let mut s = shard();
    for (src, port) in [
        ("2001:db8:1::1", 1000),
        ("2001:db8:1::2", 1001),
        ("2001:db8:2::1", 1002),
    ] {
        s.v6_session(&t6(Proto::Udp, src, port, Z, 53), NO, at(0))
            .unwrap();
    }
    let tcp6 = t6(Proto::Tcp, "2001:db8:2::1", 2000, Z2, 80);
    s.v6_session(&tcp6, SYN, at(0)).unwrap();
    let st = s.stats();
    assert_eq!(st.sessions_by_proto, [1, 3, 0]);
    assert_eq!(st.bibs_by_proto, [1, 3, 0]);

    let prefix = SessionFilter {
        v6: Some("2001:db8:1::/48".parse().unwrap()),
        ..Default::default()
    };
    assert_eq!(s.sessions_count(prefix, 0, u32::MAX), (2, None));
    let port = SessionFilter {
        port: Some(1002),
        ..Default::default()
    };
    assert_eq!(s.sessions(port).count(), 1);
    assert_eq!(s.bib_count(port, 0, u32::MAX).0, 1);
    let remote_port = SessionFilter {
        port: Some(80),
        ..Default::default()
    };
    assert_eq!(s.sessions(remote_port).count(), 1);
    let v6_init = SessionFilter {
        state: Some(TcpState::V6Init),
        ..Default::default()
    };
    assert_eq!(
        s.sessions(v6_init).count(),
        1,
        "the TCP session after a V6 SYN"
    );
    let established = SessionFilter {
        state: Some(TcpState::Established),
        ..Default::default()
    };
    assert_eq!(s.sessions(established).count(), 0);

    let sub = s.subscriber(a6("2001:db8:2::1")).unwrap();
    assert_eq!(sub.sessions, 2);
    assert_eq!(sub.ports, [1, 1, 0]);
    assert_eq!(sub.pool4, Some(T));
    assert!(s.subscriber(a6("2001:db8:9::1")).is_none());

    let used = s.pool4_use();
    assert_eq!(used.len(), 1);
    assert_eq!(used[0].addr, T);
    assert_eq!(used[0].used, [1, 3, 0]);
    assert_eq!(used[0].total[Proto::Udp.index()], 65535 - 1024 + 1);

    // A clear one slot at a time still finds every match, and only those.
    let (mut cleared, mut from) = (0, Some(0));
    while let Some(f) = from {
        let (n, next) = s.clear_page(prefix, f, 1, at(1));
        cleared += n;
        from = next;
    }
    assert_eq!(cleared, 2);
    assert_eq!(s.stats().sessions_by_proto, [1, 1, 0]);
    assert_eq!(
        s.stats().bibs_by_proto,
        [1, 1, 0],
        "dynamic BIB entries go with their last session"
    );
    assert_eq!(s.pool4_use()[0].used, [1, 1, 0]);
}
