//! Benchmark scenarios: defined once here, emitted as TRex and pktgen-dpdk
//! profiles and as pcaps, and replayed by the repo's own load runs.
