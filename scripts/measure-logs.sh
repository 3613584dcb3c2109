#!/usr/bin/env bash
# Measures the logs (issue 17), release build, against a real circusd (.venv) whose watcher
# writes into a FileStream file:
#   1. a 1 GB log: `dynamo-ctl logs -n 20` wall time and peak RSS (/usr/bin/time -f %M);
#      the TUI's `l`: key -> the frame showing the log's last line, and its peak RSS
#   2. the panel open on a quiet log for 10 s: wake-ups (context switches) of the whole
#      process and of the log follower thread, CPU
#   3. a writer appending 10,000 lines/s for 10 s while the panel follows: CPU of
#      dynamo-ctl (% of one core), frames drawn per second, key -> frame (w presses)
#   4. the same writer with `dynamo-ctl logs -f > /dev/null`: CPU
# Usage: scripts/measure-logs.sh   (needs tmux, /usr/bin/time, .venv with circus)
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT="$PWD"
command -v tmux >/dev/null || { echo "measure-logs.sh: needs tmux" >&2; exit 1; }
[ -x /usr/bin/time ] || { echo "measure-logs.sh: needs /usr/bin/time" >&2; exit 1; }
cargo build --release --quiet
BIN="${CARGO_TARGET_DIR:-$ROOT/target}/release/dynamo-ctl"
PY="$ROOT/.venv/bin/python3"
CIRCUSD="$ROOT/.venv/bin/circusd"

WORK="$(mktemp -d)"
SOCK="dynctl-measure-logs-$$"
CIRCUS_PID=
cleanup() {
  tmux -L "$SOCK" kill-server 2>/dev/null || true
  [ -n "$CIRCUS_PID" ] && kill "$CIRCUS_PID" 2>/dev/null && wait "$CIRCUS_PID" 2>/dev/null || true
  rm -rf "$WORK"
}
trap cleanup EXIT

W=bench_VllmWorker
LOG="$WORK/logs/$W/output.log"
mkdir -p "$WORK/state" "$WORK/logs/$W"
port() { "$PY" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
EP="tcp://127.0.0.1:$(port)"
PUB="tcp://127.0.0.1:$(port)"

echo "writing a 1 GB log…" >&2
"$PY" - "$LOG" <<'EOF'
import sys
line = "2026-12-02T04:00:00.000Z INFO dynamo_runtime::worker: request {:09d} done in 12.3 ms, 512 tokens\n"
block = "".join(line.format(i) for i in range(11000)).encode()
with open(sys.argv[1], "wb") as f:
    left = 1 << 30
    while left > 0:
        f.write(block[:left])
        left -= len(block)
    f.write(b"THE END OF THE 1 GB LOG\n")
EOF
cat > "$WORK/circus.ini" <<EOF
[circus]
endpoint = $EP
pubsub_endpoint = $PUB
statsd = False

[watcher:$W]
cmd = sleep 100000
numprocesses = 1
stdout_stream.class = FileStream
stdout_stream.filename = $LOG
stderr_stream.class = FileStream
stderr_stream.filename = $WORK/logs/$W/error.log
EOF
cat > "$WORK/state/bench.json" <<EOF
{"namespace": "bench", "circus_endpoint": "$EP", "components": {"$W": {"watcher_name": "$W", "cmd": "sleep 100000", "resources": {"allocated_gpus": [0]}}}, "environment": {"SYSTEM_RESOURCES": {"total_gpus": 1, "gpu_info": ["0"]}}}
EOF
"$CIRCUSD" "$WORK/circus.ini" > "$WORK/circusd.log" 2>&1 &
CIRCUS_PID=$!
deadline=$((SECONDS + 30))
until "$BIN" --state-dir "$WORK/state" logs bench "$W" -n 1 >/dev/null 2>&1; do
  [ $SECONDS -lt $deadline ] || { echo "circusd did not come up" >&2; cat "$WORK/circusd.log" >&2; exit 1; }
  sleep 0.2
done

echo "== 1. a 1 GB log ($(du -h "$LOG" | cut -f1))"
t0=$(date +%s%N)
/usr/bin/time -f "%M" -o "$WORK/cli-time" "$BIN" --state-dir "$WORK/state" logs bench "$W" -n 20 > "$WORK/cli-out"
t1=$(date +%s%N)
tail -1 "$WORK/cli-out" | grep -q "THE END" || { echo "the CLI did not print the end" >&2; exit 1; }
echo "CLI logs -n 20 (arbiter asked, file read from its end): $(( (t1 - t0) / 1000000 )) ms wall, peak RSS $(cat "$WORK/cli-time") KiB"

TRACE="$WORK/trace"
tmux -L "$SOCK" -f /dev/null new-session -d -x 120 -y 40 \
  "sh -c 'DYNAMO_CTL_TRACE=$TRACE COLORTERM=truecolor exec $BIN --state-dir $WORK/state -n bench --no-discovery --refresh 3600'"
PID=$(tmux -L "$SOCK" display -p '#{pane_pid}')
wait_screen() {
  local deadline=$((SECONDS + 20))
  until tmux -L "$SOCK" capture-pane -p | grep -q "$1"; do
    [ $SECONDS -lt $deadline ] || { echo "timed out waiting for $1" >&2; tmux -L "$SOCK" capture-pane -p >&2; exit 1; }
    sleep 0.02
  done
}
wait_screen "namespace bench"
sleep 0.5
tmux -L "$SOCK" send-keys l
wait_screen "THE END OF THE 1 GB LOG"
key_us=$(awk '$1=="key"{k=$2} END{print k}' "$TRACE")
frame_us=$(awk -v k="$key_us" '$1=="log" && $2>k && !l {l=$2} $1=="frame" && l && $2>=l {print $2; exit}' "$TRACE")
echo "TUI l -> frame with the last line: $(( (frame_us - key_us) / 1000 )) ms; peak RSS $(awk '/VmHWM/{print $2}' /proc/$PID/status) KiB"

ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
switches() { # "tid comm switches" per thread of the TUI
  local t
  for t in /proc/"$PID"/task/*; do
    echo "${t##*/} $(cat "$t/comm" 2>/dev/null) $(awk '/ctxt_switches/{s+=$2} END{print s+0}' "$t/status" 2>/dev/null)"
  done
}
# Wake-ups between two snapshots: per thread alive in both, plus what new threads did
# (threads that ended, e.g. idle blocking-pool threads, are not counted).
wakeups() {
  awk 'NR==FNR {b[$1]=$3; next} {d=$3-($1 in b ? b[$1] : 0); all+=d; if ($2=="dynamo-ctl-logs") logs+=d}
       END {print all+0, logs+0}' "$1" "$2"
}
echo "== 2. idle, the panel open on a quiet log, 10 s"
sleep 1
switches > "$WORK/sw0"; c0=$(ticks "$PID")
sleep 10
switches > "$WORK/sw1"; c1=$(ticks "$PID")
read -r all logs < <(wakeups "$WORK/sw0" "$WORK/sw1")
echo "wake-ups: $all in the process ($(wc -l < "$WORK/sw1") threads), $logs in the log follower; CPU $(( (c1 - c0) * 10 )) ms"

writer() { # lines/s seconds
  "$PY" - "$LOG" "$1" "$2" <<'EOF' &
import sys, time
path, rate, secs = sys.argv[1], int(sys.argv[2]), float(sys.argv[3])
line = "2026-12-02T04:00:00.000Z INFO dynamo_runtime::worker: request {:09d} done in 12.3 ms, 512 tokens\n"
with open(path, "a") as f:
    n, t0 = 0, time.time()
    while time.time() - t0 < secs:
        f.write("".join(line.format(n + i) for i in range(100)))
        f.flush()
        n += 100
        pause = t0 + n / rate - time.time()
        if pause > 0:
            time.sleep(pause)
    print(n / (time.time() - t0), file=open(path + ".rate", "w"))
EOF
  WRITER=$!
}
echo "== 3. a writer at 10,000 lines/s, the panel following, 10 s"
writer 10000 12
sleep 1
f0=$(grep -c '^frame ' "$TRACE"); c0=$(ticks "$PID"); t0=$(date +%s%N)
lat=()
for i in $(seq 1 10); do
  tmux -L "$SOCK" send-keys w
  sleep 0.9
done
c1=$(ticks "$PID"); t1=$(date +%s%N); f1=$(grep -c '^frame ' "$TRACE")
wait "$WRITER"
el_ms=$(( (t1 - t0) / 1000000 ))
echo "writer: $(cut -d. -f1 "$LOG.rate") lines/s"
echo "dynamo-ctl CPU: $(( (c1 - c0) * 10 * 100 / el_ms ))% of a core; frames: $(( (f1 - f0) * 1000 / el_ms ))/s"
awk '$1=="key"{k=$2; next} $1=="frame" && k {printf "%.2f\n", ($2-k)/1000; k=0}' "$TRACE" | tail -10 |
  sort -n | awk '{a[NR]=$1} END{printf "key -> frame while following: median %.2f ms, max %.2f ms (%d keys)\n", a[int((NR+1)/2)], a[NR], NR}'
tmux -L "$SOCK" kill-server

echo "== 4. the same writer, dynamo-ctl logs -f > /dev/null, 10 s"
"$BIN" --state-dir "$WORK/state" logs bench "$W" -f -n 0 > /dev/null &
CLI=$!
sleep 0.5
writer 10000 11
sleep 0.5
c0=$(ticks "$CLI"); t0=$(date +%s%N)
sleep 10
c1=$(ticks "$CLI"); t1=$(date +%s%N)
wait "$WRITER"
kill "$CLI"; wait "$CLI" 2>/dev/null || true
echo "logs -f CPU: $(( (c1 - c0) * 10 * 100 / ((t1 - t0) / 1000000) ))% of a core"
