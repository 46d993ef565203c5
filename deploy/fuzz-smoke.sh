#!/usr/bin/env bash
# A short run of every cargo-fuzz target of plat-core (the README's test
# command calls it): builds them with cargo-fuzz's instrumentation
# (installed here if missing; stable Rust is told to accept its nightly
# flags with RUSTC_BOOTSTRAP=1), then runs each for FUZZ_SECONDS (default
# 15) from its checked-in seeds. A crash fails the run and leaves its input
# in plat-core/fuzz/artifacts/.
set -euo pipefail
cd "$(dirname "$0")/../plat-core/fuzz"
seconds=${FUZZ_SECONDS:-15}
command -v cargo-fuzz >/dev/null 2>&1 || cargo install cargo-fuzz --locked --version 0.13.2
export RUSTC_BOOTSTRAP=1
cargo fuzz build
for target in $(cargo fuzz list); do
  corpus="corpus/$target"
  mkdir -p "$corpus"
  [[ -d seeds/$target ]] && cp -n seeds/"$target"/* "$corpus"/ 2>/dev/null || true
  echo "fuzz: $target for ${seconds}s"
  log=$(mktemp)
  if ! cargo fuzz run "$target" "$corpus" -- -max_total_time="$seconds" >"$log" 2>&1; then
    tail -n 40 "$log" >&2
    echo "fuzz: $target failed" >&2
    exit 1
  fi
  grep -E "DONE" "$log" || true
  rm -f "$log"
done
