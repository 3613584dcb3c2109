#!/bin/sh
# A worker that writes known lines, for the log tests. Usage:
#   writer.sh CTL NAME FIRST [--worker-env JSON --custom-component-name NAME2]
# Writes "NAME out I" to stdout and "NAME err I" to stderr for I = 0 .. FIRST-1, then
# waits for CTL/NAME.go.1, CTL/NAME.go.2, ... in turn: each holds a count (that many more
# lines of each), or "esc" (one line full of escape sequences on each stream), or
# "slow N" (N lines, one every 20 ms). The name given by dynamo-ctl's add wins.
ctl=$1; name=$2; first=$3
shift 3
while [ $# -gt 0 ]; do
  case "$1" in
    --custom-component-name) name=$2; shift ;;
  esac
  shift
done
i=0
emit() {
  j=0
  while [ "$j" -lt "$1" ]; do
    echo "$name out $i"
    echo "$name err $i" >&2
    i=$((i+1)); j=$((j+1))
    [ -n "$2" ] && sleep "$2"
  done
}
emit "$first"
k=1
while true; do
  f="$ctl/$name.go.$k"
  if [ -e "$f" ]; then
    what=$(cat "$f")
    case "$what" in
      esc)
        printf '%s evil \033]0;PWNED\007\033[31mred\033[0m \033[2J\033[?1049h bell\007 \033]52;c;cHduZWQ=\007end\n' "$name"
        printf '%s evil-err \033[1;1H\033P+q\033\\\233\061m done\n' "$name" >&2 ;;
      slow*) emit "${what#slow }" 0.02 ;;
      *) emit "$what" ;;
    esac
    k=$((k+1))
  else
    sleep 0.02
  fi
done
