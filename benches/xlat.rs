//! Criterion benches of RFC 7915 translation in place: 64-byte (L3) UDP
//! and TCP packets, each direction.
//!
//! Like a dataplane burst, each measured round translates 256 packets
//! sitting in their own slots of a buffer (with headroom); the packets are
//! restored between rounds, outside the timed part, so what is measured is
//! translation alone (no copy, no store-to-load forwarding stall from a
//! copy made just before).
//!
//! The machine is shared with other builds: `PLAT_BENCH_CLOCK=thread`
//! times with the thread's CPU clock instead of the wall clock, so time
//! the bench thread spends preempted is not counted.

use criterion::{black_box, criterion_group, criterion_main, Criterion, Throughput};
use plat_benches::{map4, map6, packet4, packet6};
use plat_core::wire::proto;
use plat_core::xlat::{v4_to_v6, v6_to_v4, Outcome, XlatConfig, HEADROOM};
use std::time::{Duration, Instant};

const ROOM: usize = HEADROOM + 80;

/// Counts allocations, so the bench can check the common path makes none.
struct CountingAlloc;

static ALLOCS: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);

// SAFETY: forwards to the system allocator unchanged, only counting calls.
unsafe impl std::alloc::GlobalAlloc for CountingAlloc {
    unsafe fn alloc(&self, layout: std::alloc::Layout) -> *mut u8 {
        ALLOCS.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        // SAFETY: same contract as the caller's.
        unsafe { std::alloc::System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: std::alloc::Layout) {
        // SAFETY: same contract as the caller's.
        unsafe { std::alloc::System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static GLOBAL: CountingAlloc = CountingAlloc;

/// Runs `f` and asserts it allocated nothing.
fn no_alloc<T>(f: impl FnOnce() -> T) -> T {
    let before = ALLOCS.load(std::sync::atomic::Ordering::Relaxed);
    let out = f();
    assert_eq!(
        ALLOCS.load(std::sync::atomic::Ordering::Relaxed),
        before,
        "the common path allocated"
    );
    out
}
const SLOT: usize = 256;
const BURST: usize = 256;

/// The clock a round is timed with.
#[derive(Clone, Copy)]
enum Clock {
    Wall,
    Thread,
}

impl Clock {
    fn from_env() -> Clock {
        match std::env::var("PLAT_BENCH_CLOCK").as_deref() {
            Ok("thread") => Clock::Thread,
            _ => Clock::Wall,
        }
    }

    fn now(self) -> Duration {
        match self {
            Clock::Wall => {
                static START: std::sync::OnceLock<Instant> = std::sync::OnceLock::new();
                START.get_or_init(Instant::now).elapsed()
            }
            Clock::Thread => {
                let mut ts = libc::timespec {
                    tv_sec: 0,
                    tv_nsec: 0,
                };
                // SAFETY: `ts` is a valid, writable timespec for the call.
                unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut ts) };
                Duration::new(ts.tv_sec as u64, ts.tv_nsec as u32)
            }
        }
    }
}

/// Times `f` over bursts of copies of `pkt`, restoring them untimed.
fn bursts(
    clock: Clock,
    iters: u64,
    pkt: &[u8],
    mut f: impl FnMut(&mut [u8]) -> Outcome,
) -> Duration {
    let mut arena = vec![0u8; SLOT * BURST];
    let mut total = Duration::ZERO;
    let mut done = 0u64;
    while done < iters {
        let n = (iters - done).min(BURST as u64) as usize;
        for slot in arena.chunks_exact_mut(SLOT).take(n) {
            slot[ROOM..ROOM + pkt.len()].copy_from_slice(pkt);
        }
        let t = clock.now();
        for slot in arena.chunks_exact_mut(SLOT).take(n) {
            // Consume the outcome as the worker would (a match in
            // registers), not by spilling the whole enum through black_box.
            let start = match f(black_box(slot)) {
                Outcome::Forward { l3_start, .. } => l3_start,
                _ => usize::MAX,
            };
            black_box(start);
        }
        total += clock.now() - t;
        done += n as u64;
    }
    total
}

fn bench(c: &mut Criterion) {
    let cfg = XlatConfig::default();
    let clock = Clock::from_env();
    let mut g = c.benchmark_group("xlat");
    g.throughput(Throughput::Elements(1));
    let mut sink: Vec<Vec<u8>> = Vec::new();

    for (name, protocol) in [("udp", proto::UDP), ("tcp", proto::TCP)] {
        let pkt = packet6(protocol, 64);
        let map = map6();
        let mut once = vec![0u8; SLOT];
        once[ROOM..ROOM + 64].copy_from_slice(&pkt);
        let o = no_alloc(|| v6_to_v4(&mut once, ROOM, 64, &map, &cfg, &mut sink));
        assert!(matches!(o, Outcome::Forward { l3_len: 44, .. }), "{o:?}");
        g.bench_function(format!("v6_to_v4_{name}_64"), |b| {
            b.iter_custom(|iters| {
                bursts(clock, iters, &pkt, |buf| {
                    v6_to_v4(buf, ROOM, 64, &map, &cfg, &mut sink)
                })
            })
        });

        let pkt = packet4(protocol, 64);
        let map = map4();
        let mut once = vec![0u8; SLOT];
        once[ROOM..ROOM + 64].copy_from_slice(&pkt);
        let o = no_alloc(|| v4_to_v6(&mut once, ROOM, 64, &map, &cfg, &mut sink));
        assert!(matches!(o, Outcome::Forward { l3_len: 84, .. }), "{o:?}");
        g.bench_function(format!("v4_to_v6_{name}_64"), |b| {
            b.iter_custom(|iters| {
                bursts(clock, iters, &pkt, |buf| {
                    v4_to_v6(buf, ROOM, 64, &map, &cfg, &mut sink)
                })
            })
        });
    }
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
