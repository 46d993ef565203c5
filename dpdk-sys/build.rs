//! Finds Debian's DPDK with pkg-config, generates the bindings with
//! bindgen and compiles the C shim that exports DPDK's `static inline`
//! functions (rx/tx burst, mbuf and ring helpers, ...).

use std::env;
use std::path::PathBuf;
use std::process::Command;

const DPDK_PKG: &str = "libdpdk";
const DPDK_MIN_VERSION: &str = "22.11";

/// Function families plat calls; everything else in the headers stays out.
const ALLOWED_FUNCTIONS: &[&str] = &[
    "rte_eal_.*",
    "rte_exit",
    "rte_strerror",
    "rte_version",
    "rte_socket_id",
    "rte_lcore_.*",
    "rte_get_main_lcore",
    "rte_get_next_lcore",
    "rte_thread_register",
    "rte_thread_unregister",
    "rte_thread_set_affinity",
    "rte_eth_.*",
    "rte_flow_.*",
    "rte_pktmbuf_.*",
    "rte_mbuf_.*",
    "rte_mempool_.*",
    "rte_ring_.*",
    "rte_rdtsc.*",
    "rte_get_tsc_hz",
    "rte_get_tsc_cycles",
    "rte_delay_us_block",
    "rte_softrss.*",
    "rte_convert_rss_key",
    "rte_vdev_.*",
    "rte_dev_devargs",
    "plat_rte_errno",
];

const ALLOWED_VARS: &[&str] = &["RTE_.*", "RING_F_.*"];

/// Packed-and-aligned structs that Rust cannot represent field by field.
const OPAQUE_TYPES: &[&str] = &[
    "rte_arp_hdr",
    "rte_arp_ipv4",
    "rte_l2tpv2_combined_msg_hdr",
    "rte_gtp_psc_generic_hdr",
    "rte_gtp_psc_type0_hdr",
    "rte_gtp_psc_type1_hdr",
];

fn pkg_config(args: &[&str]) -> Option<String> {
    let out = Command::new("pkg-config")
        .args(args)
        .arg(DPDK_PKG)
        .output()
        .ok()?;
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).trim().to_string())
}

fn main() {
    println!("cargo:rerun-if-changed=wrapper.h");
    println!("cargo:rerun-if-changed=shim.c");
    println!("cargo:rerun-if-env-changed=PKG_CONFIG_PATH");

    let Some(version) = pkg_config(&["--modversion"]) else {
        panic!(
            "\n\nDPDK not found: `pkg-config --modversion {DPDK_PKG}` failed.\n\
             plat builds against Debian's DPDK {DPDK_MIN_VERSION}: install it with\n    \
             apt-get install -y libdpdk-dev pkg-config clang libclang-dev\n\
             (the README's commands do this for you).\n"
        );
    };
    if pkg_config(&[&format!("--atleast-version={DPDK_MIN_VERSION}")]).is_none() {
        panic!("DPDK {version} is too old: plat needs {DPDK_MIN_VERSION} or newer (libdpdk-dev)");
    }
    // Links-metadata: the root build script reads it as DEP_DPDK_VERSION.
    println!("cargo:version={version}");
    println!("cargo:rustc-env=DPDK_BUILD_VERSION={version}");

    // Take the flags verbatim: the pkg-config crate drops `-march=...`
    // and `-include rte_config.h`, which DPDK's headers need.
    let cflags: Vec<String> = pkg_config(&["--cflags"])
        .unwrap_or_default()
        .split_whitespace()
        .map(str::to_owned)
        .collect();
    let libs = pkg_config(&["--libs"]).unwrap_or_default();
    for flag in libs.split_whitespace() {
        if let Some(dir) = flag.strip_prefix("-L") {
            println!("cargo:rustc-link-search=native={dir}");
        } else if let Some(lib) = flag.strip_prefix("-l") {
            println!("cargo:rustc-link-lib=dylib={lib}");
        }
    }
    // `--libs` leaves out the drivers; rte_eth_from_rings lives in net_ring.
    println!("cargo:rustc-link-lib=dylib=rte_net_ring");
    println!("cargo:rustc-link-lib=dylib=rte_bus_vdev");

    let out_dir = PathBuf::from(env::var("OUT_DIR").expect("cargo sets OUT_DIR"));
    let wrappers_c = out_dir.join("static_fns.c");

    let mut builder = bindgen::Builder::default()
        .header("wrapper.h")
        .clang_args(&cflags)
        .clang_macro_fallback()
        .wrap_static_fns(true)
        .wrap_static_fns_path(out_dir.join("static_fns"))
        .derive_default(true)
        .derive_debug(true)
        .layout_tests(true)
        .prepend_enum_name(false)
        .default_enum_style(bindgen::EnumVariation::Consts)
        .generate_comments(false)
        .parse_callbacks(Box::new(bindgen::CargoCallbacks::new()));
    for f in ALLOWED_FUNCTIONS {
        builder = builder.allowlist_function(f);
    }
    for v in ALLOWED_VARS {
        builder = builder.allowlist_var(v);
    }
    for t in OPAQUE_TYPES {
        builder = builder.opaque_type(t);
    }
    let bindings = builder
        .generate()
        .expect("bindgen could not parse DPDK's headers (is libclang-dev installed?)");
    bindings
        .write_to_file(out_dir.join("bindings.rs"))
        .expect("write bindings.rs");

    let mut cc = cc::Build::new();
    cc.file("shim.c").file(&wrappers_c).include(".");
    for flag in &cflags {
        cc.flag(flag);
    }
    cc.flag("-Wno-unused-parameter")
        .flag("-Wno-deprecated-declarations")
        .opt_level(3)
        .compile("plat_dpdk_shim");
}
