//! plat-core: everything that is NAT64 and nothing that is I/O.
//!
//! Deterministic and sans-IO: no sockets, no threads, no clock of its own.
//! The dataplane feeds it packets and `now`; it returns verdicts.
#![deny(unsafe_code)]
#![forbid(unsafe_op_in_unsafe_fn)]
#![warn(missing_debug_implementations)]

pub mod addr;
pub mod api;
pub mod config;
pub mod counters;
pub mod frag;
pub mod log;
pub mod nat;
pub mod nat64;
pub mod rss;
pub mod sync;
pub mod types;
pub mod wire;
pub mod xlat;
