#!/usr/bin/env bash
# The whole test suite, as CI runs it: formatting, lints, then every test
# against a real Redis and PostgreSQL that this script starts (and installs
# from Debian's packages when missing).
set -euo pipefail
cd "$(dirname "$0")/.."

# One build from a clean tree: incremental caches (about 5 GB here) would
# never be read back, and CI machines' disks can be small.
export CARGO_INCREMENTAL=0
df -h . | tail -1 | awk '{print "disk before the build: " $4 " free of " $2}'

source tests/services.sh
bash tests/tools.sh

cargo fmt --all --check
cargo clippy --workspace --all-targets --locked -- -D warnings
cargo nextest run --workspace --locked --profile ci
