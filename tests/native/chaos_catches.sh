#!/bin/sh
# Chaos must catch a broken node: every node runs with a test-only rule fault, and a
# short chaos run must exit 1 naming what it found (a lost acknowledged write, a history
# that is not linearizable, logs or states that differ, a watcher that saw a change
# wrongly). Whether a given 20 s run catches it depends on where the faults land in real
# time, and another machine moves them (CI once missed with seed 1, which catches here
# every time, also with both cores busy), so up to five seeds are tried and the test
# passes at the first that catches.
# Five misses in a row fail it. Measured here at 20 s: 9 of 9 seeds caught (3 on an idle
# machine, 6 with both cores busy); at 40 s, 12 of 12 (ack_before_persist) and 11 of 12
# (skip_prev_log_check).
#
# usage: chaos_catches.sh RAFTBOOK DIR CHAOS_ARGS...
raftbook=$1; dir=$2; shift 2
caught='^  - (the history is not linearizable|node [0-9]+.*(lost|differs)|watcher [0-9]+ (saw|missed) revision)'
for seed in 1 2 3 4 5; do
  rm -rf "$dir" "$dir.out"
  "$raftbook" chaos --duration 20s --seed "$seed" --quiet "$@" --dir "$dir" > "$dir.out"
  status=$?
  cat "$dir.out"
  echo "chaos seed $seed exit status $status"
  if [ "$status" = 1 ] && grep -qE "$caught" "$dir.out"; then
    echo "chaos caught the broken rule (seed $seed)"
    exit 0
  fi
  [ "$status" = 0 ] || [ "$status" = 1 ] || { echo "chaos failed to run (exit $status)"; exit 1; }
done
echo "chaos did not catch the broken rule in 5 seeds"
exit 1
