#!/usr/bin/env bash
# An etcd put -> the TUI frame that shows it, and idle cost with the watch open
# (scripts/measure-discovery-tui.py). ROUNDS=N and IDLE=S set the repetitions and idle time.
set -euo pipefail
cd "$(dirname "$0")/.."
command -v etcd >/dev/null || { echo "needs etcd (apt-get install etcd-server, or scripts/test.sh)"; exit 1; }
command -v tmux >/dev/null || { echo "needs tmux"; exit 1; }
cargo build --release --locked -q
exec python3 scripts/measure-discovery-tui.py "$PWD/target/release/dynamo-ctl"
