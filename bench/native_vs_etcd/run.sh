#!/bin/sh
# raftbook's native cluster against a 3-node etcd 3.4 cluster, same machine, same load,
# in one run: starts `raftbook demo` (3 nodes, durable, a fresh data dir in /tmp) on
# PORT (default 8080), finds the leader, runs ../shared/bench/compare-etcd.sh against
# the leader's HTTP address (wrk at 1, 16 and 64 clients, 64-byte values; it installs
# etcd and wrk with apt-get when missing), prints its table, and stops the cluster.
#
#   bench/native_vs_etcd/run.sh [SECONDS] [PORT]
#   RAFTBOOK_BIN=/path/to/old/raftbook bench/native_vs_etcd/run.sh   # another build, e.g. before a change
#
# Needs the native build (scripts/build.sh or cmake --build build). The leader is
# measured directly: through a follower every request takes one more hop.
set -eu
root=$(cd "$(dirname "$0")/../.." && pwd)
seconds=${1:-15}
port=${2:-8080}
bin=${RAFTBOOK_BIN:-$root/build/native/raftbook}
compare=$root/../shared/bench/compare-etcd.sh
[ -x "$bin" ] || { echo "run.sh: $bin is missing; build first: scripts/build.sh" >&2; exit 1; }
[ -x "$compare" ] || { echo "run.sh: $compare is missing (the shared bench directory beside the project)" >&2; exit 1; }

data=$(mktemp -d /tmp/raftbook-vs-etcd-XXXXXX)
"$bin" demo --port "$port" --data "$data" >"$data/demo.out" 2>&1 &
demo=$!
trap 'kill -INT $demo 2>/dev/null; wait $demo 2>/dev/null; rm -rf "$data"' EXIT INT TERM

leader=""
for _ in $(seq 1 100); do
  for i in 0 1 2; do
    addr=127.0.0.1:$((port + i))
    if "$bin" status --server "$addr" --json 2>/dev/null | grep -q '"role": *"leader"'; then leader=$addr; fi
  done
  [ -n "$leader" ] && break
  sleep 0.2
done
[ -n "$leader" ] || { echo "run.sh: no leader after 20 s; the demo said:" >&2; cat "$data/demo.out" >&2; exit 1; }
echo "raftbook: 3 nodes, leader at $leader, data in $data; $seconds s per run; load: $(cut -d' ' -f1-3 /proc/loadavg)"
"$compare" "$leader" "$seconds"
