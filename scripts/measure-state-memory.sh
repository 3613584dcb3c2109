#!/usr/bin/env bash
# Peak memory (RSS) of list / show / add --state-only / the TUI on a 200,000-component
# state file (about 111 MB), against the file's size (scripts/measure-state-memory.py).
# N=... sets the count; extra arguments are more binaries to measure.
set -euo pipefail
cd "$(dirname "$0")/.."
command -v tmux >/dev/null || { echo "needs tmux"; exit 1; }
[ -x /usr/bin/time ] || { echo "needs /usr/bin/time (apt-get install time)"; exit 1; }
cargo build --release --locked -q
exec python3 scripts/measure-state-memory.py "$@" "${CARGO_TARGET_DIR:-$PWD/target}/release/dynamo-ctl"
