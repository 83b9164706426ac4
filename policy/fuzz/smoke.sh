#!/usr/bin/env bash
# A short run of the policy fuzz target, for CI: builds the target with cargo-fuzz on the stable
# toolchain (RUSTC_BOOTSTRAP=1 unlocks the nightly-only sanitizer flags cargo-fuzz passes), then
# fuzzes from the committed seeds for FUZZ_SECONDS (default 30). Exits non-zero on any finding;
# the crashing input is then in policy/fuzz/artifacts/policy_check/.
# One process, one core (no -jobs/-workers: with -jobs libFuzzer forks and logs to files).
# See policy/fuzz/README.md. Run from anywhere.
set -euo pipefail

seconds="${FUZZ_SECONDS:-30}"
cd "$(dirname "$0")/.."   # policy/: cargo-fuzz looks for ./fuzz

if ! cargo fuzz --version >/dev/null 2>&1; then
  echo "cargo-fuzz is missing: cargo install cargo-fuzz --locked" >&2
  exit 2
fi

# Fuzz into a scratch copy of the seeds so the committed corpus stays small.
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
cp fuzz/corpus/policy_check/seed-* "$work/"

RUSTC_BOOTSTRAP=1 cargo fuzz run policy_check "$work" -- \
  -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 \
  -max_len=4096 -print_final_stats=1
