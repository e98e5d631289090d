#!/usr/bin/env bash
# The whole test suite, as CI runs it: formatting, lints, then every test
# against a real Redis and PostgreSQL that this script starts (and installs
# from Debian's packages when missing).
set -euo pipefail
cd "$(dirname "$0")/.."

source tests/services.sh
bash tests/tools.sh

cargo fmt --all --check
cargo clippy --workspace --all-targets --locked -- -D warnings
cargo nextest run --workspace --locked --profile ci
