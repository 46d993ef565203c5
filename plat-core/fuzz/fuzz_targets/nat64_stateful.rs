//! Whole IP packets through a stateful `Nat64`, both directions, with the
//! state kept from one packet to the next: an input is a script of steps
//! that send fuzzed packets in from either side, answer what came out
//! (the reply a server or a subscriber would send: addresses and ports
//! swapped), quote it in an ICMP error, or let time pass and expire
//! sessions. Whatever the script, `Nat64` must not panic, every packet it
//! returns must lie in its buffer and parse in its family, a hairpin
//! must go back in through the IPv4 side as a worker does, and fragments
//! it keeps waiting are handed back or dropped when it says so (RFC 6146
//! 3.4), as a worker does.
#![no_main]

use libfuzzer_sys::fuzz_target;
use plat_core::addr::Prefix6052;
use plat_core::nat::pool4::PortRange;
use plat_core::nat::{HashKey, NatConfig, Pool4Entry, PortShare, Proto, Shard, Time};
use plat_core::nat64::{HeldFate, Nat64, Packet, Verdict};
use plat_core::xlat::{FlowV4, FlowV6, XlatConfig};
use std::collections::HashMap;
use std::net::Ipv4Addr;

/// Headroom in front of every packet, as a worker's mbufs have.
const ROOM: usize = 64;

fn nat64(flags: u8) -> Nat64 {
    let mut cfg = NatConfig::default();
    cfg.limits.sessions = 64;
    cfg.event_capacity = if flags & 1 != 0 { 16 } else { 0 };
    if flags & 2 != 0 {
        cfg.filtering = plat_core::nat::Filtering::Eif;
    }
    if flags & 4 != 0 {
        cfg.port_block = 8;
        cfg.limits.ports_per_subscriber = 32;
    }
    let mut shard = Shard::new(cfg, PortShare::All, HashKey::new(0x5eed)).unwrap();
    // Small port ranges: a shard is built per input, and its port sets
    // are what building costs; 64 ports an address and protocol still
    // exhaust, share and block.
    let ports = PortRange::new(1024, 1087);
    let entry = Pool4Entry::new(Ipv4Addr::new(198, 51, 100, 0), 30)
        .with_range(Proto::Tcp, ports)
        .with_range(Proto::Udp, ports)
        .with_range(Proto::Icmp, PortRange::new(0, 63));
    shard.add_pool4(entry).unwrap();
    let prefix = if flags & 8 != 0 {
        Prefix6052::well_known()
    } else {
        Prefix6052::new("2001:db8:64::".parse().unwrap(), 96).unwrap()
    };
    Nat64::new(shard, prefix, XlatConfig::default())
}

/// What came out last, to answer or quote: the bytes and whether they
/// are IPv6.
struct Last {
    pkt: Vec<u8>,
    v6: bool,
}

/// Swaps the addresses (and the first four bytes after the IP header, the
/// ports) of an IPv4 or IPv6 packet: the answer its destination sends.
fn swapped(p: &[u8], v6: bool) -> Vec<u8> {
    let mut r = p.to_vec();
    let (a, b, len, hl) = if v6 { (8, 24, 16, 40) } else { (12, 16, 4, 20) };
    if r.len() >= hl + 4 {
        for i in 0..len {
            r.swap(a + i, b + i);
        }
        r.swap(hl, hl + 2);
        r.swap(hl + 1, hl + 3);
    }
    r
}

/// Checks a verdict on `buf` and returns what left, if anything.
fn check(v: Verdict, buf: &[u8]) -> Option<(Vec<u8>, bool)> {
    let (s, l) = match v {
        Verdict::Forward { l3_start, l3_len }
        | Verdict::Reply { l3_start, l3_len, .. }
        | Verdict::Hairpin { l3_start, l3_len }
        | Verdict::HairpinReturn { l3_start, l3_len } => (l3_start, l3_len),
        _ => return None,
    };
    assert!(s + l <= buf.len(), "a packet outside its buffer");
    let out = &buf[s..s + l];
    let v6 = out.first().is_some_and(|b| b >> 4 == 6);
    let parses = if v6 {
        FlowV6::parse(out).is_ok()
    } else {
        FlowV4::parse(out).is_ok()
    };
    // An error quoting a tiny packet may be shorter than the flow parser
    // wants; anything translated parses.
    if !matches!(v, Verdict::Reply { .. }) {
        assert!(parses, "{v:?} does not parse: {out:02x?}");
    }
    Some((out.to_vec(), v6))
}

/// Fragments the NAT64 keeps waiting, by token: the packet and its side.
type Waiting = HashMap<u32, (Vec<u8>, bool)>;

fn send(
    n: &mut Nat64,
    held: &mut Waiting,
    pkt: &[u8],
    v6: bool,
    now: Time,
) -> Option<(Vec<u8>, bool)> {
    let mut buf = vec![0u8; ROOM];
    buf.extend_from_slice(pkt);
    buf.extend_from_slice(&[0u8; 64]);
    let mut sink: Vec<Vec<u8>> = Vec::new();
    let p = Packet::new(&mut buf, ROOM, pkt.len());
    let v = if v6 {
        n.from_v6(p, now, &mut sink)
    } else {
        n.from_v4(p, now, &mut sink)
    };
    if let Verdict::FragmentWaits { token } = v {
        assert!(held.insert(token, (pkt.to_vec(), v6)).is_none(), "a token twice");
        return None;
    }
    let out = check(v, &buf)?;
    // A hairpin goes back in through the IPv4 side, as a worker sends it.
    if matches!(v, Verdict::Hairpin { .. }) {
        return send(n, held, &out.0, false, now);
    }
    Some(out)
}

fuzz_target!(|data: &[u8]| {
    let Some((&flags, mut rest)) = data.split_first() else {
        return;
    };
    let mut n = nat64(flags);
    let mut now_ms = 1_000u64;
    let mut last: Option<Last> = None;
    let mut fates: Vec<HeldFate> = Vec::new();
    let mut held = Waiting::new();
    while let [op, len, tail @ ..] = rest {
        let len = (*len as usize).min(tail.len());
        let (body, next) = tail.split_at(len);
        rest = next;
        let now = Time::from_millis(now_ms);
        let out = match op % 6 {
            0 => send(&mut n, &mut held, body, true, now),
            1 => send(&mut n, &mut held, body, false, now),
            // The answer to what came out last, with `body` over its
            // payload's first bytes.
            2 => last.as_ref().and_then(|l| {
                let mut r = swapped(&l.pkt, l.v6);
                let hl = if l.v6 { 40 } else { 20 };
                for (i, b) in body.iter().enumerate() {
                    if let Some(x) = r.get_mut(hl + 8 + i) {
                        *x = *b;
                    }
                }
                send(&mut n, &mut held, &r, l.v6, now)
            }),
            // An ICMP error about what came out last, from its destination:
            // `body` gives the type and code.
            3 => last.as_ref().and_then(|l| {
                let (t, c) = (body.first().copied().unwrap_or(3), body.get(1).copied().unwrap_or(3));
                let e = error_about(&l.pkt, l.v6, t, c);
                send(&mut n, &mut held, &e, l.v6, now)
            }),
            // Time passes (up to about 4.5 hours) and sessions expire.
            4 => {
                now_ms += u64::from(u16::from_be_bytes([
                    body.first().copied().unwrap_or(0),
                    body.get(1).copied().unwrap_or(0),
                ])) * 250;
                let now = Time::from_millis(now_ms);
                n.expire(now, 64, &mut fates);
                let mut out = None;
                for f in fates.drain(..) {
                    match f {
                        HeldFate::FragmentReady(t) => {
                            let (p, v6) = held.remove(&t).expect("a ready fragment it keeps");
                            out = send(&mut n, &mut held, &p, v6, now).or(out);
                        }
                        HeldFate::FragmentExpired(t) => {
                            held.remove(&t).expect("an expired fragment it keeps");
                        }
                        _ => {}
                    }
                }
                out
            }
            _ => {
                now_ms += 1;
                None
            }
        };
        if let Some((pkt, v6)) = out {
            last = Some(Last { pkt, v6 });
        }
    }
});

/// An ICMP error of type `t`, code `c` from the destination of `p` back to
/// its source, quoting `p`, with valid checksums.
fn error_about(p: &[u8], v6: bool, t: u8, c: u8) -> Vec<u8> {
    let quote = &p[..p.len().min(512)];
    let mut e = Vec::new();
    if v6 {
        let len = (8 + quote.len()) as u16;
        e.extend_from_slice(&[0x60, 0, 0, 0]);
        e.extend_from_slice(&len.to_be_bytes());
        e.extend_from_slice(&[58, 64]);
        if p.len() >= 40 {
            e.extend_from_slice(&p[24..40]);
            e.extend_from_slice(&p[8..24]);
        } else {
            e.extend_from_slice(&[0u8; 32]);
        }
    } else {
        let len = (28 + quote.len()) as u16;
        e.extend_from_slice(&[0x45, 0]);
        e.extend_from_slice(&len.to_be_bytes());
        e.extend_from_slice(&[0, 0, 0, 0, 64, 1, 0, 0]);
        if p.len() >= 20 {
            e.extend_from_slice(&p[16..20]);
            e.extend_from_slice(&p[12..16]);
        } else {
            e.extend_from_slice(&[0u8; 8]);
        }
        let sum = checksum(&e);
        e[10..12].copy_from_slice(&sum.to_be_bytes());
    }
    let at = e.len();
    e.extend_from_slice(&[t, c, 0, 0, 0, 0, 0, 0]);
    e.extend_from_slice(quote);
    let sum = if v6 {
        // RFC 8200 8.1: the pseudo-header of source, destination, length
        // and next header.
        let mut pseudo = e[8..40].to_vec();
        pseudo.extend_from_slice(&((e.len() - at) as u32).to_be_bytes());
        pseudo.extend_from_slice(&[0, 0, 0, 58]);
        pseudo.extend_from_slice(&e[at..]);
        checksum(&pseudo)
    } else {
        checksum(&e[at..])
    };
    e[at + 2..at + 4].copy_from_slice(&sum.to_be_bytes());
    e
}

/// RFC 1071 Internet checksum, plat-core's own.
fn checksum(b: &[u8]) -> u16 {
    plat_core::wire::checksum::finish(plat_core::wire::checksum::sum(b))
}
