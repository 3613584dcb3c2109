#!/bin/sh
# A harmless long-lived worker for the arbiter tests. Usage:
#   worker.sh OUTDIR [--ignore-term] [--worker-env JSON --custom-component-name NAME]
# Writes its environment to OUTDIR/NAME.env ("base" without a name), then sleeps. On
# SIGTERM it writes OUTDIR/NAME.term and exits; with --ignore-term it ignores SIGTERM.
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
echo "$$" > "$out/$name.pid.$$" && mv "$out/$name.pid.$$" "$out/$$.pid"
env > "$out/$name.env.tmp" && mv "$out/$name.env.tmp" "$out/$name.env"
if [ -n "$ignore" ]; then
  trap '' TERM
  exec sleep 100000
fi
sleep 100000 &
child=$!
trap 'echo "$$" > "$out/$name.term"; kill $child 2>/dev/null; exit 0' TERM
wait $child
