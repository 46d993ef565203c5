//! RFC 6146 3.4: fragments through the stateful NAT64, in order and out
//! of order, both directions, TCP/UDP and ICMP queries; the datagrams a
//! receiver reassembles from the translated fragments carry valid
//! checksums (RFC 7915 4.1 and 5.1.1 for the fragment fields).

use super::*;
use crate::wire::checksum;
use std::collections::HashMap;

const IDENT: u32 = 0xabcd_1234;

/// Splits the IP packet `whole` (IPv4 or IPv6, no options or extension
/// headers) into fragments whose pieces of its upper-layer part are
/// `sizes` bytes (multiples of 8 but the last), identification `ident`.
fn fragment(whole: &[u8], ident: u32, sizes: &[usize]) -> Vec<Vec<u8>> {
    let v6 = whole[0] >> 4 == 6;
    let (hlen, upper) = if v6 { (40, whole[6]) } else { (20, whole[9]) };
    let payload = &whole[hlen..];
    assert_eq!(sizes.iter().sum::<usize>(), payload.len(), "sizes cover it");
    let mut out = Vec::new();
    let mut at = 0;
    for (i, &n) in sizes.iter().enumerate() {
        let more = i + 1 < sizes.len();
        let piece = &payload[at..at + n];
        let mut f = whole[..hlen].to_vec();
        let off = (at / 8) as u16;
        if v6 {
            f[4..6].copy_from_slice(&((8 + n) as u16).to_be_bytes());
            f[6] = proto::IPV6_FRAG;
            f.extend([upper, 0]);
            f.extend((off << 3 | u16::from(more)).to_be_bytes());
            f.extend(ident.to_be_bytes());
        } else {
            f[2..4].copy_from_slice(&((20 + n) as u16).to_be_bytes());
            f[4..6].copy_from_slice(&(ident as u16).to_be_bytes());
            f[6..8].copy_from_slice(&(off | if more { 0x2000 } else { 0 }).to_be_bytes());
            f[10..12].copy_from_slice(&[0, 0]);
            let c = checksum::finish(checksum::sum(&f[..20]));
            f[10..12].copy_from_slice(&c.to_be_bytes());
        }
        f.extend_from_slice(piece);
        out.push(f);
        at += n;
    }
    out
}

/// What a receiver reassembles from `frags` (any order): the whole packet
/// without fragment fields, and the identification they carried.
fn reassemble(frags: &[Vec<u8>]) -> (Vec<u8>, u32) {
    let v6 = frags[0][0] >> 4 == 6;
    let mut pieces: Vec<(usize, &[u8], Vec<u8>, u32)> = frags
        .iter()
        .map(|f| {
            if v6 {
                assert_eq!(f[6], proto::IPV6_FRAG, "a Fragment header");
                let fo = u16::from_be_bytes([f[42], f[43]]);
                let ident = u32::from_be_bytes([f[44], f[45], f[46], f[47]]);
                let mut h = f[..40].to_vec();
                h[6] = f[40];
                (usize::from(fo >> 3) * 8, &f[48..], h, ident)
            } else {
                let (ip, _) = check_v4(f);
                assert!(!ip.header().dont_fragment(), "RFC 7915 5.1.1: DF clear");
                let fo = u16::from_be_bytes([f[6], f[7]]) & 0x1fff;
                let ident = u32::from(u16::from_be_bytes([f[4], f[5]]));
                (usize::from(fo) * 8, &f[20..], f[..20].to_vec(), ident)
            }
        })
        .collect();
    pieces.sort_by_key(|p| p.0);
    let ident = pieces[0].3;
    assert!(pieces.iter().all(|p| p.3 == ident), "one identification");
    let mut whole = pieces[0].2.clone();
    let mut at = 0;
    for (off, data, _, _) in &pieces {
        assert_eq!(*off, at, "no hole, no overlap");
        whole.extend_from_slice(data);
        at += data.len();
    }
    if v6 {
        whole[4..6].copy_from_slice(&(at as u16).to_be_bytes());
    } else {
        whole[2..4].copy_from_slice(&((20 + at) as u16).to_be_bytes());
        whole[6..8].copy_from_slice(&[0, 0]);
        whole[10..12].copy_from_slice(&[0, 0]);
        let c = checksum::finish(checksum::sum(&whole[..20]));
        whole[10..12].copy_from_slice(&c.to_be_bytes());
    }
    (whole, ident)
}

/// One packet through the NAT64 at `ms`: what it became (one packet, or
/// several when the other side's MTU made fragments of it), or the
/// verdict if it was not forwarded.
fn one(n: &mut Nat64, ip: &[u8], ms: u64, v6: bool) -> Result<Vec<Vec<u8>>, Verdict> {
    let (mut buf, s, l) = framed(ip.to_vec());
    let p = Packet::new(&mut buf, s, l);
    let now = Time::from_millis(ms);
    let mut made: Vec<Vec<u8>> = Vec::new();
    match if v6 {
        n.from_v6(p, now, &mut made)
    } else {
        n.from_v4(p, now, &mut made)
    } {
        Verdict::Forward { l3_start, l3_len } => {
            Ok(vec![buf[l3_start..l3_start + l3_len].to_vec()])
        }
        Verdict::Fragmented { count } if count == made.len() => Ok(made),
        other => Err(other),
    }
}

/// Runs `expire` at `ms` and hands every fragment it says is ready to
/// the NAT64 again, until none is (`held` keeps the waiting ones by token); returns the
/// translated ones and the tokens that expired.
fn release(
    n: &mut Nat64,
    held: &mut HashMap<u32, Vec<u8>>,
    ms: u64,
    v6: bool,
) -> (Vec<Vec<u8>>, Vec<u32>) {
    let (mut out, mut expired) = (Vec::new(), Vec::new());
    // A fragment handled again can make others ready: until none is.
    loop {
        let mut fates = Vec::new();
        n.expire(Time::from_millis(ms), 64, &mut fates);
        if fates.is_empty() {
            break;
        }
        for f in fates {
            match f {
                HeldFate::FragmentReady(t) => {
                    let ip = held.remove(&t).expect("a held fragment");
                    match one(n, &ip, ms, v6) {
                        Ok(p) => out.extend(p),
                        Err(Verdict::FragmentWaits { token }) => {
                            held.insert(token, ip);
                        }
                        Err(v) => panic!("ready fragment not forwarded: {v:?}"),
                    }
                }
                HeldFate::FragmentExpired(t) => {
                    held.remove(&t).expect("a held fragment");
                    expired.push(t);
                }
                other => panic!("unexpected fate {other:?}"),
            }
        }
    }
    (out, expired)
}

/// `frags` through the NAT64 in the order `order` gives, then whatever
/// became ready: every translated fragment.
fn through_all(n: &mut Nat64, frags: &[Vec<u8>], order: &[usize], v6: bool) -> Vec<Vec<u8>> {
    let mut held = HashMap::new();
    let mut out = Vec::new();
    for (ms, &i) in order.iter().enumerate() {
        match one(n, &frags[i], 1_000 + ms as u64, v6) {
            Ok(p) => out.extend(p),
            Err(Verdict::FragmentWaits { token }) => {
                held.insert(token, frags[i].clone());
            }
            Err(v) => panic!("fragment {i} not forwarded: {v:?}"),
        }
        let (ready, expired) = release(n, &mut held, 1_000 + ms as u64, v6);
        assert!(expired.is_empty());
        out.extend(ready);
    }
    assert!(held.is_empty(), "{} fragments still wait", held.len());
    out
}

fn payload(n: usize) -> Vec<u8> {
    (0..n).map(|i| (i * 7 + 3) as u8).collect()
}

/// A UDP datagram of 3000 bytes from the client, in three fragments.
fn udp6_fragments() -> Vec<Vec<u8>> {
    let whole = udp6(CLIENT, server6(), 5000, 7, &payload(2992));
    fragment(&whole, IDENT, &[1232, 1232, 536])
}

fn echo6(ident: u16, seq: u16, data: &[u8]) -> Vec<u8> {
    let client: Ipv6Addr = CLIENT.parse().unwrap();
    let mut v = Vec::new();
    PacketBuilder::ipv6(client.octets(), server6().octets(), 64)
        .icmpv6_echo_request(ident, seq)
        .write(&mut v, data)
        .unwrap();
    v
}

/// Checks a reassembled IPv4 datagram's ICMP checksum (RFC 792: over the
/// whole message, no pseudo-header).
fn icmpv4_checksum_ok(whole: &[u8]) -> bool {
    checksum::finish(checksum::sum(&whole[20..])) == 0
}

#[test]
fn rfc6146_3_4_udp_fragments_in_order_follow_the_first() {
    let mut n = nat64(Filtering::Eif);
    let frags = udp6_fragments();
    let out = through_all(&mut n, &frags, &[0, 1, 2], true);
    assert_eq!(out.len(), 3);
    let (whole, ident) = reassemble(&out);
    // RFC 7915 5.1.1: the IPv4 Identification is the low 16 bits.
    assert_eq!(ident, IDENT & 0xffff);
    let (ip, t) = check_v4(&whole);
    assert_eq!(ip.header().destination_addr(), SERVER4);
    let Some(TransportSlice::Udp(u)) = t else {
        panic!("not UDP")
    };
    assert_eq!(u.payload(), &payload(2992)[..]);
    assert_eq!(n.shard().stats().sessions, 1, "one session, by the first");
}

#[test]
fn rfc6146_3_4_fragments_out_of_order_wait_for_their_first() {
    let mut n = nat64(Filtering::Eif);
    let frags = udp6_fragments();
    // Last, middle, then the first: both wait, then follow it.
    let out = through_all(&mut n, &frags, &[2, 1, 0], true);
    let (whole, _) = reassemble(&out);
    check_v4(&whole);
    assert_eq!(n.fragments_tracked(), 1, "until its time is up");
    let mut fates = Vec::new();
    n.expire(Time::from_secs(10), 64, &mut fates);
    assert_eq!(n.fragments_tracked(), 0);
    assert!(fates.is_empty(), "nothing was waiting");
}

#[test]
fn rfc6146_3_4_a_fragment_without_its_first_waits_fragment_min_then_is_dropped() {
    let mut n = nat64(Filtering::Eif);
    let frags = udp6_fragments();
    let Err(Verdict::FragmentWaits { token }) = one(&mut n, &frags[1], 1_000, true) else {
        panic!("did not wait")
    };
    let mut held = HashMap::from([(token, frags[1].clone())]);
    let (out, expired) = release(&mut n, &mut held, 2_999, true);
    assert!(
        out.is_empty() && expired.is_empty(),
        "kept for FRAGMENT_MIN"
    );
    let (_, expired) = release(&mut n, &mut held, 3_000, true);
    assert_eq!(expired, vec![token]);
}

#[test]
fn rfc6146_3_4_fragmented_replies_reach_the_client_as_ipv6_fragments() {
    let mut n = nat64(Filtering::Eif);
    let (pool, port) = out_udp(&mut n, CLIENT, 5000);
    let whole = udp4(SERVER4, pool, 7, port, &payload(2992));
    let frags = fragment(&whole, 0x4321, &[1480, 1480, 40]);
    let out = through_all(&mut n, &frags, &[1, 0, 2], false);
    // 1480 bytes and a Fragment header do not fit the IPv6 MTU (1280):
    // each of the two large fragments became two.
    assert_eq!(out.len(), 5);
    // RFC 7915 4.1: a Fragment header, the identification zero-extended.
    let (whole, ident) = reassemble(&out);
    assert_eq!(ident, 0x4321);
    let (ip, t) = check_v6(&whole);
    assert_eq!(
        ip.header().destination_addr(),
        CLIENT.parse::<Ipv6Addr>().unwrap()
    );
    let Some(TransportSlice::Udp(u)) = t else {
        panic!("not UDP")
    };
    assert_eq!(u.destination_port(), 5000);
    assert_eq!(u.payload(), &payload(2992)[..]);
}

#[test]
fn rfc6146_3_4_fragmented_icmp_echo_translated_with_the_whole_messages_checksum() {
    let mut n = nat64(Filtering::Eif);
    let whole = echo6(0x77, 1, &payload(3992));
    let frags = fragment(&whole, IDENT, &[1232, 1232, 1232, 304]);
    // In order: the first waits for the last's length, then goes.
    let out = through_all(&mut n, &frags, &[0, 1, 2, 3], true);
    let (v4, _) = reassemble(&out);
    assert_eq!(v4[9], proto::ICMP);
    assert_eq!(v4[20], icmpv4::msg_type::ECHO_REQUEST);
    assert!(icmpv4_checksum_ok(&v4), "ICMPv4 checksum over the message");
    assert_eq!(&v4[28..], &payload(3992)[..]);
    // The reply comes back fragmented by the server, out of order.
    let (pool, id) = (
        Ipv4Addr::new(v4[12], v4[13], v4[14], v4[15]),
        u16::from_be_bytes([v4[24], v4[25]]),
    );
    let mut reply = Vec::new();
    PacketBuilder::ipv4(SERVER4.octets(), pool.octets(), 64)
        .icmpv4_echo_reply(id, 1)
        .write(&mut reply, &payload(3992))
        .unwrap();
    let frags = fragment(&reply, 0x99, &[1480, 1480, 1040]);
    let out = through_all(&mut n, &frags, &[2, 0, 1], false);
    let (v6, _) = reassemble(&out);
    let (_, t) = check_v6(&v6);
    let Some(TransportSlice::Icmpv6(i)) = t else {
        panic!("not ICMPv6")
    };
    assert!(matches!(
        i.icmp_type(),
        etherparse::Icmpv6Type::EchoReply(e) if e.id == 0x77 && e.seq == 1
    ));
}

#[test]
fn rfc6146_3_4_hairpinned_fragments_follow_the_first() {
    let mut n = nat64(Filtering::Eif);
    let (pool, port) = out_udp(&mut n, CLIENT2, 6000);
    let to = n.prefix().embed(pool);
    let whole = {
        let client: Ipv6Addr = CLIENT.parse().unwrap();
        let mut v = Vec::new();
        PacketBuilder::ipv6(client.octets(), to.octets(), 64)
            .udp(5000, port)
            .write(&mut v, &payload(2000))
            .unwrap();
        v
    };
    let frags = fragment(&whole, IDENT, &[1232, 776]);
    for (ms, f) in [(1_000, &frags[1]), (1_001, &frags[0])] {
        let (mut buf, s, l) = framed(f.clone());
        let v = n.from_v6(
            Packet::new(&mut buf, s, l),
            Time::from_millis(ms),
            &mut Vec::new(),
        );
        assert!(
            matches!(
                v,
                Verdict::HairpinReturn { .. } | Verdict::FragmentWaits { .. }
            ),
            "{v:?}"
        );
    }
    let mut fates = Vec::new();
    n.expire(Time::from_millis(1_002), 64, &mut fates);
    assert!(matches!(fates[..], [HeldFate::FragmentReady(_)]));
}

#[test]
fn fragmented_icmp_errors_are_not_translated() {
    let mut n = nat64(Filtering::Eif);
    let (pool, _) = out_udp(&mut n, CLIENT, 5000);
    let quoted = udp4(pool, SERVER4, 5000, 7, &payload(1400));
    let e = port_unreachable4(SERVER4, pool, &quoted);
    let frags = fragment(&e, 5, &[800, e.len() - 20 - 800]);
    assert_eq!(
        one(&mut n, &frags[0], 1_000, false),
        Err(Verdict::Drop(Reason::Xlat(DropReason::FragmentedIcmp)))
    );
}
