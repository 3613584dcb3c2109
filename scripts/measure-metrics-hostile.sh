#!/usr/bin/env bash
# Peak RSS and wall time of `top` against large and hostile metrics sources (a 300k-series
# /metrics page, 100k/250k-bucket histograms, a Prometheus answering 30k series per query,
# a NATS flood): scripts/measure-metrics-hostile.py. Extra arguments are other binaries to
# compare (e.g. a build of an older commit).
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release --locked -q
exec python3 scripts/measure-metrics-hostile.py "${CARGO_TARGET_DIR:-$PWD/target}/release/dynamo-ctl" "$@"
