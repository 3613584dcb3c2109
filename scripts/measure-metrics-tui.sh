#!/usr/bin/env bash
# The TUI's load polling: CPU with 3 sources every 2 s and with none, and metrics answer ->
# frame (scripts/measure-metrics-tui.py). IDLE=S sets the measuring time (default 20).
set -euo pipefail
cd "$(dirname "$0")/.."
for b in prometheus nats-server tmux; do
  command -v "$b" >/dev/null || { echo "needs $b (scripts/test.sh installs it)"; exit 1; }
done
cargo build --release --locked -q
exec python3 scripts/measure-metrics-tui.py "$PWD/target/release/dynamo-ctl"
