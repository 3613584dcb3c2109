#!/usr/bin/env bash
# Measures add and remove through a real circus arbiter against their floors (see
# scripts/measure-arbiter.py). ROUNDS=N sets the repetitions (default 20).
set -euo pipefail
cd "$(dirname "$0")/.."
[ -x .venv/bin/circusd ] || { echo "run scripts/test.sh first (it installs circus into .venv)"; exit 1; }
cargo build --release --locked -q
exec .venv/bin/python3 scripts/measure-arbiter.py "$PWD/target/release/dynamo-ctl"
