//! Stamps `platd --version`: the plat version, the git commit it was built
//! from and the DPDK version it was built against (from dpdk-sys's links
//! metadata, so pkg-config is asked in one place only).

use std::process::Command;

fn git(args: &[&str]) -> Option<String> {
    let out = Command::new("git").args(args).output().ok()?;
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).trim().to_owned())
        .filter(|s| !s.is_empty())
}

fn main() {
    let hash = git(&["rev-parse", "--short=12", "HEAD"]).unwrap_or_else(|| "unknown".into());
    let dirty = git(&["status", "--porcelain", "--untracked-files=no"]).is_some();
    let dpdk = std::env::var("DEP_DPDK_VERSION").unwrap_or_else(|_| "unknown".into());
    println!(
        "cargo:rustc-env=PLAT_GIT_HASH={hash}{}",
        if dirty { "-dirty" } else { "" }
    );
    println!("cargo:rustc-env=PLAT_DPDK_BUILD_VERSION={dpdk}");
    if let Some(dir) = git(&["rev-parse", "--git-dir"]) {
        println!("cargo:rerun-if-changed={dir}/HEAD");
        println!("cargo:rerun-if-changed={dir}/index");
        if let Some(r) = git(&["symbolic-ref", "-q", "HEAD"]) {
            println!("cargo:rerun-if-changed={dir}/{r}");
        }
    }
    println!("cargo:rerun-if-changed=build.rs");
}
