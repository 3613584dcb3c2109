#!/usr/bin/env bash
# Start-up cost of the release binary against C floors (scripts/measure-startup.c):
#   1. `--version` against a C program's exec (print a line, exit)
#   2. one state-file change (`add`/`remove NS VllmWorker --state-only`, alternating, on the
#      reference serve-initial.json) against a C program doing the same file work: flock,
#      read, write a temp file, fsync, rename, fsync the directory
#   3. `completions`-free sub-cases: `show NS` (no arbiter: --state-only) and `list
#      --no-discovery`, which read without writing
# Each is the median (and 10th/90th percentile) over RUNS runs (default 300), in
# microseconds, with the median CPU time and minor page faults. The state directory is made
# under $TMPDIR (default /tmp): fsync costs what that filesystem charges, the same for both.
# The two ratios come from runs done in pairs, the C floor and dynamo-ctl alternately
# (`measure-startup pair`): the median of the per-pair ratios, which a machine shared with
# other work (builds, other tests) disturbs far less than a ratio of two medians taken
# minutes apart.
#
# Usage: scripts/measure-startup.sh [BIN]   (default: the release binary to install, built
# by scripts/build-release.sh: static-pie on Linux glibc; give target/release/dynamo-ctl of
# a plain `cargo build --release` to measure the dynamically linked one)
set -euo pipefail
cd "$(dirname "$0")/.."
RUNS="${RUNS:-300}"
if [ $# -ge 1 ]; then
  BIN="$(realpath "$1")"
else
  BIN="$(scripts/build-release.sh)"
fi

WORK="$(mktemp -d)"
trap 'rm -rf "$WORK"' EXIT
cc -O2 -o "$WORK/measure" scripts/measure-startup.c
mkdir "$WORK/state" "$WORK/floor" "$WORK/home"
cp fixtures/reference/serve-initial.json "$WORK/state/dynamo.json"
cp fixtures/reference/serve-initial.json "$WORK/floor/dynamo.json"
# No configuration file, no discovery or metrics source from the environment.
export HOME="$WORK/home" XDG_CONFIG_HOME="$WORK/home/.config"
unset DYN_LOCAL_STATE_DIR ETCD_ENDPOINTS DYN_FILE_KV NATS_SERVER DYNAMO_CTL_PROMETHEUS \
  DYNAMO_CTL_COMPLETE || true

m() { "$WORK/measure" run "$RUNS" "$@"; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2fx", a / b }'; }
med() { sed -E 's/^median ([0-9]+) .*/\1/'; }

pair() { "$WORK/measure" pair "$RUNS" "$@"; }

echo "binary: $BIN ($(stat -c %s "$BIN") bytes), $RUNS runs each"
exec_pair="$(pair "$WORK/measure" hello -- "$BIN" --version)"
state_pair="$(pair "$WORK/measure" floor "$WORK/floor" dynamo -- \
  "$BIN" @OP@ dynamo VllmWorker --state-only --state-dir "$WORK/state")"
show="$(m "$BIN" show dynamo --state-only --no-discovery --state-dir "$WORK/state")"
list="$(m "$BIN" list --no-discovery --state-dir "$WORK/state")"
printf '%-34s %s\n' "C exec floor (hello)" "$(sed -n 1p <<<"$exec_pair")" \
  "dynamo-ctl --version" "$(sed -n 2p <<<"$exec_pair")" \
  "C state floor (lock..fsync dir)" "$(sed -n 1p <<<"$state_pair")" \
  "dynamo-ctl add/remove --state-only" "$(sed -n 2p <<<"$state_pair")" \
  "dynamo-ctl show --state-only" "$show" \
  "dynamo-ctl list --no-discovery" "$list"
echo "--version / exec floor:   $(sed -n 3p <<<"$exec_pair") (of medians: $(ratio "$(sed -n 2p <<<"$exec_pair" | med)" "$(sed -n 1p <<<"$exec_pair" | med)"))"
echo "state op / state floor:   $(sed -n 3p <<<"$state_pair") (of medians: $(ratio "$(sed -n 2p <<<"$state_pair" | med)" "$(sed -n 1p <<<"$state_pair" | med)"))"
