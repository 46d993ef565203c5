//! NAT64 state benches: established-flow lookup in bursts of 32 with the
//! two prefetch stages a DPDK worker uses (1 thousand, 1 million and 10
//! million sessions in one shard), new-session creation and expiry. Memory
//! per session is measured with a counting global allocator and printed.
//!
//! The established-flow benches measure lookup + translate as a worker
//! runs it (`Nat64`), and the state lookup alone (`burst6`: the shard
//! driven as a worker drives it).

use std::alloc::{GlobalAlloc, Layout, System};
use std::hint::black_box;
use std::net::{Ipv4Addr, Ipv6Addr};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use criterion::measurement::WallTime;
use criterion::{
    criterion_group, criterion_main, BenchmarkGroup, BenchmarkId, Criterion, Throughput,
};
use plat_benches::{packet4_flow, packet6_flow, prefix};
use plat_core::nat::{
    HashKey, NatConfig, NatDrop, Pool4Entry, Proto, Shard, TcpFlags, Time, Tuple6, Verdict, BURST,
};
use plat_core::nat64::{Nat64, Packet, Verdict as Nat64Verdict};
use plat_core::rss::PortShare;
use plat_core::wire::proto;
use plat_core::xlat::{self, XlatConfig};

struct Counting;

static LIVE: AtomicUsize = AtomicUsize::new(0);

/// Allocations this big are 2 MiB aligned and marked for transparent huge
/// pages, as a DPDK worker's tables would sit in hugepage memory.
const HUGE: usize = 4 << 20;

fn huge(l: Layout) -> Layout {
    if l.size() >= HUGE {
        Layout::from_size_align(l.size(), 2 << 20).unwrap_or(l)
    } else {
        l
    }
}

fn advise(p: *mut u8, l: Layout) {
    if l.size() >= HUGE && !p.is_null() {
        // SAFETY: `p` is a live allocation of `l.size()` bytes, 2 MiB
        // aligned; MADV_HUGEPAGE only changes how the kernel backs it.
        unsafe {
            libc::madvise(p.cast(), l.size(), libc::MADV_HUGEPAGE);
        }
    }
}

// SAFETY: every method forwards to the system allocator with the same (or
// a stricter-aligned) layout, and frees with the layout it allocated with.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, l: Layout) -> *mut u8 {
        LIVE.fetch_add(l.size(), Ordering::Relaxed);
        let l = huge(l);
        // SAFETY: same contract as ours.
        let p = unsafe { System.alloc(l) };
        advise(p, l);
        p
    }
    unsafe fn alloc_zeroed(&self, l: Layout) -> *mut u8 {
        LIVE.fetch_add(l.size(), Ordering::Relaxed);
        let l = huge(l);
        if l.size() < HUGE {
            // SAFETY: same contract as ours.
            return unsafe { System.alloc_zeroed(l) };
        }
        // The system allocator zeroes an over-aligned block by writing it,
        // which faults it in with small pages before we could advise it:
        // advise first, then zero.
        // SAFETY: same contract as ours.
        let p = unsafe { System.alloc(l) };
        advise(p, l);
        if !p.is_null() {
            // SAFETY: `p` is a live allocation of `l.size()` bytes.
            unsafe { std::ptr::write_bytes(p, 0, l.size()) };
        }
        p
    }
    unsafe fn dealloc(&self, p: *mut u8, l: Layout) {
        LIVE.fetch_sub(l.size(), Ordering::Relaxed);
        // SAFETY: same contract as ours; `huge` gives the layout we
        // allocated with.
        unsafe { System.dealloc(p, huge(l)) }
    }
    unsafe fn realloc(&self, p: *mut u8, l: Layout, new: usize) -> *mut u8 {
        // SAFETY: `new` is non-zero and fits isize per the caller.
        let nl = unsafe { Layout::from_size_align_unchecked(new, l.align()) };
        // SAFETY: same contract as ours.
        let q = unsafe { self.alloc(nl) };
        if !q.is_null() {
            // SAFETY: both blocks are live and at least min(old, new) long.
            unsafe { std::ptr::copy_nonoverlapping(p, q, l.size().min(new)) };
            // SAFETY: `p` was allocated by us with `l`.
            unsafe { self.dealloc(p, l) };
        }
        q
    }
}

#[global_allocator]
static ALLOC: Counting = Counting;

const Z: Ipv4Addr = Ipv4Addr::new(198, 51, 100, 7);
const FLOWS_PER_SUBSCRIBER: u32 = 256;

/// Flow `i`: subscriber `i / 256`, its own source port (so one BIB entry
/// per session, the worst case for memory).
fn flow(i: u32) -> Tuple6 {
    let sub = i / FLOWS_PER_SUBSCRIBER;
    Tuple6 {
        proto: Proto::Udp,
        src: Ipv6Addr::new(0x2001, 0xdb8, (sub >> 16) as u16, sub as u16, 0, 0, 0, 1),
        // Ephemeral-looking ports, distinct within a subscriber.
        sport: (32768 + ((i % FLOWS_PER_SUBSCRIBER) * 97 + sub * 31) % 28000) as u16,
        dst: Z,
        dport: 53,
        prefix: 0,
    }
}

/// A fixed table hash key: the benches must count the same instructions
/// run after run (the dataplane draws its keys at random).
const KEY: HashKey = HashKey::new(0x5eed_0f91_a7c3);

fn config(sessions: u32) -> NatConfig {
    let mut c = NatConfig::default();
    c.limits.sessions = sessions;
    c.limits.static_bibs = 0;
    c.limits.subscribers = sessions / FLOWS_PER_SUBSCRIBER + 64;
    c.event_capacity = 0;
    c.sync_refresh_interval = 0;
    c
}

fn pool(s: &mut Shard, sessions: u32) {
    // About 40 000 ports used per address: room for paired pooling's
    // uneven spread.
    let addrs = sessions / 40_000 + 1;
    for a in 0..addrs {
        s.add_pool4(Pool4Entry::new(Ipv4Addr::from(0x0a00_0000 + a), 32))
            .unwrap();
    }
}

/// A shard holding `n` established UDP sessions, and the bytes it took.
fn filled(n: u32) -> (Shard, usize, Duration) {
    let before = LIVE.load(Ordering::Relaxed);
    let mut s = Shard::new(config(n), PortShare::All, KEY).unwrap();
    pool(&mut s, n);
    let t = Instant::now();
    for i in 0..n {
        s.v6_session(&flow(i), Default::default(), Time::from_secs(0))
            .unwrap();
    }
    let took = t.elapsed();
    let bytes = LIVE.load(Ordering::Relaxed) - before;
    (s, bytes, took)
}

/// Random order over up to 1 M of the `n` flows, so the big tables are
/// cold.
fn sample(n: u32) -> Vec<Tuple6> {
    let mut x = 0x9e37_79b9u32;
    (0..n.min(1 << 20))
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            flow(x % n)
        })
        .collect()
}

/// Headroom before each packet, as an mbuf has.
const ROOM: usize = xlat::HEADROOM + 16;
/// One packet's slot in the round's arena.
const SLOT: usize = 192;
/// Packets laid out (untimed) before each timed round: small enough that
/// the arena sits in L2, as a burst the NIC just wrote would.
const ROUND: usize = 1024;
const PKT_LEN: usize = 64;
/// The IPv4 packet a 64-byte IPv6 one becomes, and the return traffic's.
const PKT4_LEN: usize = PKT_LEN - 20;

/// Which way a bench's packets cross: the calls a worker makes for a
/// burst from that side.
trait Way {
    /// Length of each packet.
    const LEN: usize;
    fn prefetch(nat: &mut Nat64, l3s: &[&[u8]]);
    /// Handles `pkt` (of `LEN` bytes at `ROOM`).
    fn handle(nat: &mut Nat64, pkt: Packet, now: Time, sink: &mut Vec<Vec<u8>>) -> Nat64Verdict;
}

/// IPv6 -> IPv4: `prefetch_v6`, `from_v6`.
struct Out;
/// IPv4 -> IPv6, the return traffic: `prefetch_v4`, `from_v4`.
struct Back;

impl Way for Out {
    const LEN: usize = PKT_LEN;
    #[inline(always)]
    fn prefetch(nat: &mut Nat64, l3s: &[&[u8]]) {
        nat.prefetch_v6(l3s);
    }
    #[inline(always)]
    fn handle(nat: &mut Nat64, pkt: Packet, now: Time, sink: &mut Vec<Vec<u8>>) -> Nat64Verdict {
        nat.from_v6(pkt, now, sink)
    }
}

impl Way for Back {
    const LEN: usize = PKT4_LEN;
    #[inline(always)]
    fn prefetch(nat: &mut Nat64, l3s: &[&[u8]]) {
        nat.prefetch_v4(l3s);
    }
    #[inline(always)]
    fn handle(nat: &mut Nat64, pkt: Packet, now: Time, sink: &mut Vec<Vec<u8>>) -> Nat64Verdict {
        nat.from_v4(pkt, now, sink)
    }
}

/// Lookup + translate, the worker's path: per burst of 32,
/// `Nat64::prefetch_v6` (classify, both prefetch stages), then
/// `Nat64::from_v6` on each 64-byte UDP packet (session lookup,
/// RFC 7915 translation in place), then `end_burst`; or the same from the
/// IPv4 side with 44-byte packets of the return traffic.
fn nat64_bursts<W: Way>(
    nat: &mut Nat64,
    packets: &[[u8; PKT_LEN]],
    pos: &mut usize,
    iters: u64,
    now: Time,
) -> Duration {
    let mut arena = vec![0u8; SLOT * ROUND];
    let mut sink: Vec<Vec<u8>> = Vec::new();
    let mut total = Duration::ZERO;
    let mut left = iters as usize;
    while left > 0 {
        let n = left.min(ROUND);
        for slot in arena.chunks_exact_mut(SLOT).take(n) {
            slot[ROOM..ROOM + W::LEN].copy_from_slice(&packets[*pos][..W::LEN]);
            *pos = (*pos + 1) % packets.len();
        }
        let t = Instant::now();
        for burst in arena[..n * SLOT].chunks_mut(SLOT * BURST) {
            nat64_burst::<W>(nat, burst, now, &mut sink);
        }
        total += t.elapsed();
        left -= n;
    }
    total
}

/// One burst (`SLOT`-sized buffers, up to `BURST`) as a worker handles
/// it. Not inlined, so that `deploy/bench/instructions.sh` can count its
/// instructions per packet.
#[inline(never)]
fn nat64_burst<W: Way>(nat: &mut Nat64, burst: &mut [u8], now: Time, sink: &mut Vec<Vec<u8>>) {
    {
        let mut l3s: [&[u8]; BURST] = [&[]; BURST];
        let mut k = 0;
        for slot in burst.chunks_exact(SLOT) {
            l3s[k] = &slot[ROOM..ROOM + W::LEN];
            k += 1;
        }
        W::prefetch(nat, &l3s[..k]);
    }
    for (at, slot) in burst.chunks_exact_mut(SLOT).enumerate() {
        // Consumed as the worker does (a match in registers).
        let pkt = Packet::new(slot, ROOM, W::LEN).at(at);
        let start = match W::handle(nat, pkt, now, sink) {
            Nat64Verdict::Forward { l3_start, .. } => l3_start,
            _ => usize::MAX,
        };
        black_box(start);
    }
    nat.end_burst();
}

/// Established UDP flows at 1 thousand, 1 million and 10 million
/// sessions in one shard: lookup + translate (`nat64_udp_established`,
/// what a worker does per packet) and the state lookup alone
/// (`nat_udp_lookup`), both in bursts of 32 with the worker's prefetch.
fn lookup(c: &mut Criterion) {
    let now = Time::from_secs(1);
    for (label, n) in [("1k", 1_000u32), ("1M", 1_000_000), ("10M", 10_000_000)] {
        // Built on first use, so a filtered run skips the big fills.
        type State = (Nat64, Vec<Tuple6>, Vec<[u8; PKT_LEN]>, Vec<[u8; PKT_LEN]>);
        let mut state: Option<State> = None;
        let mut build = || {
            let (s, bytes, took) = filled(n);
            eprintln!(
                "nat/{label}: {n} sessions, {bytes} bytes allocated = {:.1} bytes/session \
                 (BIB + session + indexes + timers + pool4 + subscribers); filled in \
                 {:.2?} = {:.2} M sessions/s",
                bytes as f64 / f64::from(n),
                took,
                f64::from(n) / took.as_secs_f64() / 1e6
            );
            let sample = sample(n);
            let packets: Vec<[u8; PKT_LEN]> = sample
                .iter()
                .map(|t| {
                    packet6_flow(proto::UDP, PKT_LEN, t.src, t.sport, t.dst, t.dport)
                        .try_into()
                        .expect("64-byte packet")
                })
                .collect();
            let mut nat = Nat64::new(s, prefix(), XlatConfig::default());
            check_translates(&mut nat, &sample, &packets, now);
            // The replies: from (Z,z) to the session's (T,t).
            let replies: Vec<[u8; PKT_LEN]> = sample
                .iter()
                .map(|t| {
                    let v4 = nat.shard().peek_v6(t).expect("established session").v4;
                    let p = packet4_flow(proto::UDP, PKT4_LEN, t.dst, t.dport, v4.addr, v4.port);
                    let mut a = [0u8; PKT_LEN];
                    a[..PKT4_LEN].copy_from_slice(&p);
                    a
                })
                .collect();
            check_returns(&mut nat, &sample, &replies, now);
            (nat, sample, packets, replies)
        };

        let mut g = lookup_group(c, "nat64_udp_established_burst32", 1);
        let mut pos = 0usize;
        g.bench_function(BenchmarkId::from_parameter(label), |b| {
            let (nat, _, packets, _) = state.get_or_insert_with(&mut build);
            b.iter_custom(|iters| nat64_bursts::<Out>(nat, packets, &mut pos, iters, now))
        });
        g.finish();

        let mut g = lookup_group(c, "nat64_udp_return_burst32", 1);
        let mut pos = 0usize;
        g.bench_function(BenchmarkId::from_parameter(label), |b| {
            let (nat, _, _, replies) = state.get_or_insert_with(&mut build);
            b.iter_custom(|iters| nat64_bursts::<Back>(nat, replies, &mut pos, iters, now))
        });
        g.finish();

        let mut g = lookup_group(c, "nat_udp_lookup_burst32", 32);
        let mut out: Vec<Result<Verdict, NatDrop>> = vec![Err(NatDrop::NoBib); 32];
        let mut pos = 0usize;
        let mut ran = false;
        g.bench_function(BenchmarkId::from_parameter(label), |b| {
            ran = true;
            let (nat, sample, _, _) = state.get_or_insert_with(&mut build);
            let s = nat.shard_mut();
            b.iter(|| {
                burst6(s, &sample[pos..pos + 32], now, &mut out);
                pos = (pos + 32) % (sample.len() - 32);
                black_box(&out);
            })
        });
        g.finish();
        assert!(!ran || out.iter().all(|v| v.is_ok()));
    }
}

/// A group of `lookup`'s: `per_iter` packets an iteration, 20 samples
/// over 4 s after 2 s of warm-up.
fn lookup_group<'a>(
    c: &'a mut Criterion,
    name: &str,
    per_iter: u64,
) -> BenchmarkGroup<'a, WallTime> {
    let mut g = c.benchmark_group(name);
    g.throughput(Throughput::Elements(per_iter));
    g.sample_size(20);
    g.warm_up_time(Duration::from_secs(2));
    g.measurement_time(Duration::from_secs(4));
    g
}

/// Every packet of the sample leaves as the 44-byte IPv4 packet of its
/// session: the bench measures translations, not drops.
fn check_translates(nat: &mut Nat64, sample: &[Tuple6], packets: &[[u8; PKT_LEN]], now: Time) {
    let mut sink: Vec<Vec<u8>> = Vec::new();
    let mut buf = [0u8; SLOT];
    for (t, p) in sample.iter().zip(packets).take(4096) {
        buf[ROOM..ROOM + PKT_LEN].copy_from_slice(p);
        let v = nat.from_v6(Packet::new(&mut buf, ROOM, PKT_LEN), now, &mut sink);
        let Nat64Verdict::Forward { l3_start, l3_len } = v else {
            panic!("{t:?}: {v:?}");
        };
        assert_eq!(l3_len, PKT_LEN - 20);
        let out = &buf[l3_start..l3_start + l3_len];
        assert_eq!(out[16..20], t.dst.octets(), "{t:?}");
        let mapped = nat.shard().peek_v6(t).expect("established session").v4;
        assert_eq!(out[12..16], mapped.addr.octets(), "{t:?}");
        assert_eq!(out[20..22], mapped.port.to_be_bytes(), "{t:?}");
    }
}

/// Every reply leaves as the 64-byte IPv6 packet to its session's
/// subscriber.
fn check_returns(nat: &mut Nat64, sample: &[Tuple6], replies: &[[u8; PKT_LEN]], now: Time) {
    let mut sink: Vec<Vec<u8>> = Vec::new();
    let mut buf = [0u8; SLOT];
    for (t, p) in sample.iter().zip(replies).take(4096) {
        buf[ROOM..ROOM + PKT4_LEN].copy_from_slice(&p[..PKT4_LEN]);
        let v = nat.from_v4(Packet::new(&mut buf, ROOM, PKT4_LEN), now, &mut sink);
        let Nat64Verdict::Forward { l3_start, l3_len } = v else {
            panic!("{t:?}: {v:?}");
        };
        assert_eq!(l3_len, PKT_LEN, "{t:?}");
        let out = &buf[l3_start..l3_start + l3_len];
        assert_eq!(out[8..24], prefix().embed(t.dst).octets(), "{t:?}");
        assert_eq!(out[24..40], t.src.octets(), "{t:?}");
        assert_eq!(out[42..44], t.sport.to_be_bytes(), "{t:?}");
    }
}

fn create(c: &mut Criterion) {
    const CAP: u32 = 1 << 20;
    let mut g = c.benchmark_group("nat_create");
    g.throughput(Throughput::Elements(1));
    g.sample_size(20);
    g.measurement_time(Duration::from_secs(4));
    g.bench_function("udp_session_new_bib_burst32", |b| {
        b.iter_custom(|iters| {
            let mut total = Duration::ZERO;
            let mut left = iters;
            while left > 0 {
                let mut s = Shard::new(config(CAP), PortShare::All, KEY).unwrap();
                pool(&mut s, CAP);
                let k = left.min(u64::from(CAP)) as u32;
                let flows: Vec<Tuple6> = (0..k).map(flow).collect();
                let mut out: Vec<Result<Verdict, NatDrop>> = vec![Err(NatDrop::NoBib); 32];
                let t = Instant::now();
                creations(&mut s, &flows, Time::from_secs(0), &mut out);
                total += t.elapsed();
                assert!(out[..(k as usize - 1) % 32 + 1].iter().all(|v| v.is_ok()));
                left -= u64::from(k);
            }
            total
        })
    });
    // Steady state, as in a carrier core: one long-lived shard kept 3/4
    // full. Each second of its clock 1/300 of that (2 560 sessions, a new
    // BIB entry each) is created, timed, and the sessions of 300 s before
    // (the UDP lifetime) expire, untimed. Most source ports are taken on
    // their pool address by then, so most allocations scan.
    g.sample_size(10);
    g.bench_function("udp_session_new_bib_burst32_steady_3_4_full", |b| {
        const PER_SECOND: u32 = CAP / 4 * 3 / 300;
        let mut s = Shard::new(config(CAP), PortShare::All, KEY).unwrap();
        pool(&mut s, CAP);
        let mut out: Vec<Result<Verdict, NatDrop>> = vec![Err(NatDrop::NoBib); 32];
        let (mut next, mut now) = (0u32, 0u64);
        let mut second = |s: &mut Shard, k: u32, timed: bool| -> Duration {
            let flows: Vec<Tuple6> = (next..next + k).map(flow).collect();
            next += k;
            let t = Instant::now();
            if timed {
                steady_creations(s, &flows, Time::from_secs(now), &mut out);
            } else {
                creations(s, &flows, Time::from_secs(now), &mut out);
            }
            let took = t.elapsed();
            assert!(out[..(k as usize - 1) % 32 + 1].iter().all(|v| v.is_ok()));
            if k == PER_SECOND {
                now += 1;
                while s.expire(Time::from_secs(now), 4096, |_| {}) == 4096 {}
            }
            if timed {
                took
            } else {
                Duration::ZERO
            }
        };
        for _ in 0..301 {
            second(&mut s, PER_SECOND, false);
        }
        b.iter_custom(|iters| {
            let mut total = Duration::ZERO;
            let mut left = iters;
            while left > 0 {
                let k = left.min(u64::from(PER_SECOND)) as u32;
                total += second(&mut s, k, true);
                left -= u64::from(k);
            }
            assert!(s.stats().sessions <= CAP / 4 * 3 + PER_SECOND);
            total
        })
    });
    g.finish();
}

/// One burst of IPv6-side lookups (up to [`BURST`]) with the two
/// prefetch stages a worker runs (`Nat64::prefetch_v6`): every bucket,
/// then every session or, for a new flow, what creating it will touch;
/// then each packet's lookup or creation.
#[inline(always)]
fn burst6(s: &mut Shard, burst: &[Tuple6], now: Time, out: &mut [Result<Verdict, NatDrop>]) {
    let mut hashes = [0u32; BURST];
    for (h, t) in hashes.iter_mut().zip(burst) {
        *h = s.hash6(t);
        s.prefetch6(*h);
    }
    for (&h, t) in hashes.iter().zip(burst) {
        s.prefetch6_new(h, t);
    }
    for ((&h, t), o) in hashes.iter().zip(burst).zip(out.iter_mut()) {
        *o = s.v6_session_hashed(h, t, TcpFlags::NONE, now);
    }
}

/// New sessions in bursts of 32, as the creation benches make them.
#[inline(always)]
fn creations(s: &mut Shard, flows: &[Tuple6], now: Time, out: &mut [Result<Verdict, NatDrop>]) {
    for burst in flows.chunks(BURST) {
        burst6(s, burst, now, out);
        black_box(&out);
    }
}

/// The timed creations of the steady-state bench, in a function of their
/// own so that `deploy/bench/instructions.sh` counts them apart from the
/// warm-up and the expiry around them. The warm-up calls [`creations`]
/// inline: an out-of-line twin of this function is folded into it by the
/// compiler, and the count then takes in the warm-up fill too.
#[inline(never)]
fn steady_creations(
    s: &mut Shard,
    flows: &[Tuple6],
    now: Time,
    out: &mut [Result<Verdict, NatDrop>],
) {
    creations(s, flows, now, out);
}

fn expire(c: &mut Criterion) {
    const CAP: u32 = 1 << 20;
    let mut g = c.benchmark_group("nat_expire");
    g.throughput(Throughput::Elements(1));
    g.sample_size(20);
    g.measurement_time(Duration::from_secs(4));
    g.bench_function("udp_session_and_bib", |b| {
        b.iter_custom(|iters| {
            let mut total = Duration::ZERO;
            let mut left = iters;
            let mut s = Shard::new(config(CAP), PortShare::All, KEY).unwrap();
            pool(&mut s, CAP);
            while left > 0 {
                let k = left.min(u64::from(CAP)) as u32;
                for i in 0..k {
                    s.v6_session(&flow(i), Default::default(), Time::from_secs(0))
                        .unwrap();
                }
                let t = Instant::now();
                // Slices of 64, as a worker would run between bursts.
                let mut done = 0;
                while done < k as usize {
                    done += s.expire(Time::from_secs(1000), 64, |_| {});
                }
                total += t.elapsed();
                left -= u64::from(k);
            }
            total
        })
    });
    g.finish();
}

criterion_group!(benches, lookup, create, expire);
criterion_main!(benches);
