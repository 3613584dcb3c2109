#!/bin/sh
# A harmless long-lived worker for the arbiter tests. Usage:
#   worker.sh OUTDIR [--ignore-term] [--worker-env JSON --custom-component-name NAME]
# Records its environment in OUTDIR/NAME.env ("base" without a name), then writes
# OUTDIR/<pid>.pid to say it is set up, and sleeps. On SIGTERM it writes OUTDIR/NAME.term
# and exits; with --ignore-term it ignores SIGTERM.
out=$1
shift
name=base
ignore=
while [ $# -gt 0 ]; do
  case "$1" in
    --custom-component-name) name=$2; shift ;;
    --ignore-term) ignore=1 ;;
  esac
  shift
done
child=
if [ -n "$ignore" ]; then
  trap '' TERM
else
  trap 'echo "$$" > "$out/$name.term"; [ -n "$child" ] && kill "$child" 2>/dev/null; exit 0' TERM
fi
env > "$out/$name.env.tmp" && mv "$out/$name.env.tmp" "$out/$name.env"
echo "$$" > "$out/$$.pid.tmp" && mv "$out/$$.pid.tmp" "$out/$$.pid"
if [ -n "$ignore" ]; then
  exec sleep 100000
fi
sleep 100000 &
child=$!
wait "$child"
