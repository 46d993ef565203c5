//! What every DPDK test process shares: EAL arguments that run on a
//! machine with no hugepages and no NICs.
#![allow(dead_code)]

/// EAL arguments for a test process on lcore 0: no hugepages, no PCI,
/// private runtime files (so parallel test binaries never collide), plus
/// `extra`.
pub fn eal_args(extra: &[&str]) -> Vec<String> {
    eal_args_on(&["-l", "0"], extra)
}

/// As [`eal_args`] with the lcore layout given.
pub fn eal_args_on(lcores: &[&str], extra: &[&str]) -> Vec<String> {
    let mut args: Vec<String> = ["plat-test"].iter().map(|s| s.to_string()).collect();
    args.extend(lcores.iter().map(|s| s.to_string()));
    args.extend(
        [
            "--no-huge",
            "-m",
            "1024",
            "--no-pci",
            "--no-shconf",
            "--iova-mode=va",
            "--no-telemetry",
            "--log-level=lib.eal:warning",
        ]
        .iter()
        .map(|s| s.to_string()),
    );
    args.push(format!("--file-prefix=plat-test-{}", std::process::id()));
    args.extend(extra.iter().map(|s| s.to_string()));
    args
}

/// Runs a command and fails the test with its output if it fails.
pub fn run(cmd: &str, args: &[&str]) {
    let out = std::process::Command::new(cmd)
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("cannot run {cmd}: {e}"));
    assert!(
        out.status.success(),
        "{cmd} {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// The process's one EAL, started on first use with `vdevs`; every test
/// of a binary must ask with the same devices.
pub fn shared_eal(vdevs: &[&str]) -> plat_dataplane::Eal {
    shared_eal_with(&["-l", "0"], vdevs)
}

/// As [`shared_eal`] with the lcore layout given.
pub fn shared_eal_with(lcores: &[&str], vdevs: &[&str]) -> plat_dataplane::Eal {
    static EAL: std::sync::OnceLock<plat_dataplane::Eal> = std::sync::OnceLock::new();
    EAL.get_or_init(|| {
        let extra: Vec<String> = vdevs.iter().map(|v| format!("--vdev={v}")).collect();
        let extra: Vec<&str> = extra.iter().map(String::as_str).collect();
        plat_dataplane::Eal::init(&eal_args_on(lcores, &extra)).expect("EAL init")
    })
    .clone()
}
