#!/usr/bin/env bash
# Peak memory (RSS) of list / instances / instances -o json / the TUI with 100,000
# registrations in etcd and in the file store (scripts/measure-discovery-memory.py).
# N=... sets the count; extra arguments are more binaries to measure (e.g. an older build).
set -euo pipefail
cd "$(dirname "$0")/.."
command -v etcd >/dev/null || { echo "needs etcd (apt-get install etcd-server, or scripts/test.sh)"; exit 1; }
command -v tmux >/dev/null || { echo "needs tmux"; exit 1; }
[ -x /usr/bin/time ] || { echo "needs /usr/bin/time (apt-get install time)"; exit 1; }
cargo build --release --locked -q
exec python3 scripts/measure-discovery-memory.py "$@" "$PWD/target/release/dynamo-ctl"
