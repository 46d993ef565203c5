//! Shared fixtures for plat's criterion benches (packet builders and the
//! like). The benches themselves are the `[[bench]]` targets of this crate.
