#!/usr/bin/env bash
# Measures the TUI in a real pty (tmux), release build, on the reference state file:
#   1. exec -> first complete frame (the dashboard with the data, not the placeholder)
#   2. key press received -> the frame that shows its effect (table selection moves)
#   3. CPU used over 10 s idle on the dashboard, and the wake-ups (context switches)
# The TUI writes the timestamps itself when DYNAMO_CTL_TRACE is set; the exec time is
# taken by the shell right before `exec`. Key latency is measured inside the process
# (key event read -> frame flushed to the pty), so tmux's own delivery is not included.
#
# Usage: scripts/measure-tui.sh [idle-seconds]   (default 10)
set -euo pipefail
cd "$(dirname "$0")/.."
IDLE="${1:-10}"
KEYS=30

command -v tmux >/dev/null || { echo "measure-tui.sh: needs tmux" >&2; exit 1; }
cargo build --release --quiet
BIN="$PWD/target/release/dynamo-ctl"

WORK="$(mktemp -d)"
SOCK="dynctl-measure-$$"
cleanup() {
  tmux -L "$SOCK" kill-server 2>/dev/null || true
  rm -rf "$WORK"
}
trap cleanup EXIT

mkdir "$WORK/state"
cp fixtures/reference/after-planner-add.json "$WORK/state/dynamo.json"
TRACE="$WORK/trace"

tmux -L "$SOCK" -f /dev/null new-session -d -x 120 -y 40 \
  "sh -c 'date +%s%N > $WORK/t0; DYNAMO_CTL_TRACE=$TRACE COLORTERM=truecolor exec $BIN --state-dir $WORK/state -n dynamo'"

wait_for() { # pattern file|screen, deadline 10 s
  local deadline=$((SECONDS + 10))
  until { [ "$2" = screen ] && tmux -L "$SOCK" capture-pane -p | grep -q "$1"; } ||
        { [ "$2" != screen ] && grep -q "$1" "$2" 2>/dev/null; }; do
    [ $SECONDS -lt $deadline ] || { echo "timed out waiting for $1" >&2; exit 1; }
    sleep 0.05
  done
}
wait_for first-complete-frame "$TRACE"
wait_for "namespace dynamo" screen

t0_us=$(( $(cat "$WORK/t0") / 1000 ))
first_us=$(awk '$1=="first-complete-frame"{print $2; exit}' "$TRACE")
start_us=$(awk '$1=="start"{print $2; exit}' "$TRACE")

# Key latency: j and k alternately, one at a time, waiting for each frame.
for i in $(seq 1 $KEYS); do
  before=$(grep -c '^frame ' "$TRACE")
  if [ $((i % 2)) -eq 1 ]; then k=j; else k=k; fi
  tmux -L "$SOCK" send-keys "$k"
  deadline=$((SECONDS + 5))
  until [ "$(grep -c '^frame ' "$TRACE")" -gt "$before" ]; do
    [ $SECONDS -lt $deadline ] || { echo "no frame after key $i" >&2; exit 1; }
    sleep 0.01
  done
done

# Idle CPU: utime+stime of the process (all threads) before and after.
PID=$(tmux -L "$SOCK" display -p '#{pane_pid}')
TCK=$(getconf CLK_TCK)
cpu() { awk '{print $14 + $15}' "/proc/$PID/stat"; }
ctx() { # "tid switches" per thread
  for t in /proc/"$PID"/task/*; do
    echo "$(basename "$t") $(awk '/^(non)?voluntary_ctxt_switches/ {s += $2} END {print s}' "$t/status" 2>/dev/null)"
  done | sort
}
frames_before=$(grep -c '^frame ' "$TRACE")
c0=$(cpu); ctx > "$WORK/ctx0"
sleep "$IDLE"
c1=$(cpu); ctx > "$WORK/ctx1"
# Threads alive at both ends (tokio's idle blocking threads exit on their own).
switches=$(join "$WORK/ctx0" "$WORK/ctx1" | awk '{s += $3 - $2} END {print s + 0}')
frames_after=$(grep -c '^frame ' "$TRACE")
tmux -L "$SOCK" send-keys q

echo "dynamo-ctl TUI, release build, reference file (fixtures/reference/after-planner-add.json), 120x40 tmux pane"
awk -v t0="$t0_us" -v first="$first_us" -v start="$start_us" 'BEGIN {
  printf "exec -> first complete frame: %.1f ms (exec -> main: %.1f ms)\n", (first - t0) / 1000, (start - t0) / 1000 }'
awk '
  $1 == "key" { k = $2; pending = 1; next }
  $1 == "frame" && pending { printf "%.3f\n", ($2 - k) / 1000; pending = 0 }
' "$TRACE" | sort -n | awk '
  { d[NR] = $1; sum += $1 }
  END {
    printf "key -> frame showing it (%d keys): median %.2f ms, mean %.2f ms, max %.2f ms\n",
      NR, d[int((NR + 1) / 2)], sum / NR, d[NR]
  }'
awk -v c0="$c0" -v c1="$c1" -v tck="$TCK" -v idle="$IDLE" 'BEGIN {
  printf "idle %d s on the dashboard: %d CPU ticks (1/%d s) = %.3f%% of a core\n", idle, c1 - c0, tck, (c1 - c0) / tck / idle * 100 }'
echo "idle: $switches context switches (wake-ups, all threads), $((frames_after - frames_before)) frames drawn"
