#!/bin/sh
# Membership changes (issue 12): how long a new node takes to join a cluster with a long
# history and become a voter, and how long a leadership transfer takes.
#
# Starts a 3-node cluster of `raftbook serve` (fresh data dirs under /tmp, serve's
# defaults: --snapshot-entries 10000 --catchup-entries 5000), writes HISTORY durable
# writes (64-byte values over KEYS keys) with `raftbook bench`, then:
#   join      node 4 starts with --join: the time until it is a learner, until it has
#             applied what the leader had committed (snapshot + tail), and until it is a
#             voter (it asks for its promotion once caught up);
#   transfer  TRANSFERS leadership transfers (`raftbook transfer-leader`, to the next
#             voter in turn) on the idle 4-node cluster: the time each takes from the
#             request to the answer (the target leads), p50, p99 and max;
#   load      node 4 is removed again; LOAD_SECONDS of `raftbook bench` (16 clients)
#             on the 3-node cluster, then the same while node 5 joins (from 1 s in) and
#             becomes a voter: writes/s and p99 of both, and node 5's join times.
#
#   bench/membership/run.sh
#   HISTORY=1000000 bench/membership/run.sh          # a longer history
# Other settings: KEYS (100000), CLIENTS (64), TRANSFERS (100), LOAD_SECONDS (8),
# PORT (9500: peers PORT+1..5, HTTP PORT+11..15), RAFTBOOK_BIN (build/native/raftbook). Needs curl and jq.
# Prints progress on stderr and the table on stdout.
set -eu
root=$(cd "$(dirname "$0")/../.." && pwd)
bin=${RAFTBOOK_BIN:-$root/build/native/raftbook}
history=${HISTORY:-100000}
keys=${KEYS:-100000}
clients=${CLIENTS:-64}
transfers=${TRANSFERS:-100}
load_seconds=${LOAD_SECONDS:-8}
port=${PORT:-9500}
[ -x "$bin" ] || { echo "run.sh: $bin is missing; build first: scripts/build.sh" >&2; exit 1; }
for tool in curl jq; do
  command -v $tool >/dev/null || { echo "run.sh: needs $tool (apt-get install $tool)" >&2; exit 1; }
done

data=$(mktemp -d /tmp/raftbook-membership-XXXXXX)
peer() { echo "127.0.0.1:$((port + $1))"; }
http() { echo "127.0.0.1:$((port + 10 + $1))"; }
cluster="1=$(peer 1)/$(http 1),2=$(peer 2)/$(http 2),3=$(peer 3)/$(http 3)"
pid() { cat "$data/pid$1"; }
now() { date +%s.%N; }
since() { echo "$(now) $1" | awk '{ printf "%.3f", $1 - $2 }'; }
say() { echo "run.sh: $*" >&2; }

# start ID ARGS...: runs node ID in the background, its log in $data/nodeID.log.
start() {
  id=$1; shift
  "$bin" serve --id "$id" --http "$(http "$id")" --data "$data/node$id" "$@" >>"$data/node$id.log" 2>&1 &
  echo $! >"$data/pid$id"
}
cleanup() {
  for id in 1 2 3 4 5; do [ -f "$data/pid$id" ] && kill -TERM "$(pid $id)" 2>/dev/null || true; done
  sleep 0.5
  for id in 1 2 3 4 5; do [ -f "$data/pid$id" ] && kill -KILL "$(pid $id)" 2>/dev/null || true; done
  rm -rf "$data"
}
trap cleanup EXIT INT TERM

# status ID FIELD: one field of node ID's /status ("" when it does not answer).
status() { curl -sf --max-time 2 "http://$(http "$1")/status" | jq -r ".$2 // empty" 2>/dev/null || true; }
leader() {
  for id in 1 2 3 4 5; do [ "$(status $id role)" = leader ] && { echo "$id"; return; }; done
  echo ""
}
wait_leader() {
  i=0
  while [ -z "$(leader)" ]; do
    i=$((i + 1)); [ $i -lt 300 ] || { say "no leader after 30 s"; tail -5 "$data"/node*.log >&2; exit 1; }
    sleep 0.1
  done
  leader
}
# wait_for DESCRIPTION COMMAND...: until COMMAND succeeds (300 s at most), polling every 20 ms.
wait_for() {
  what=$1; shift
  i=0
  while ! "$@"; do
    i=$((i + 1)); [ $i -lt 15000 ] || { say "$what: not within 300 s"; tail -5 "$data"/node*.log >&2; exit 1; }
    sleep 0.02
  done
}
member_of() { curl -sf --max-time 2 "http://$(http "$1")/members" | jq -e ".members[] | select(.id == $2)" >/dev/null 2>&1; }
voter_of() { curl -sf --max-time 2 "http://$(http "$1")/members" | jq -e ".members[] | select(.id == $2 and .voter)" >/dev/null 2>&1; }
applied_at_least() { a=$(status "$1" applied_index); [ -n "$a" ] && [ "$a" -ge "$2" ]; }

for id in 1 2 3; do start $id --cluster "$cluster"; done
lead=$(wait_leader)
say "3 nodes up, leader $lead, data in $data; writing $history entries of history"
"$bin" bench --server "$(http "$lead")" --clients "$clients" --writes "$history" --keys "$keys" --value-bytes 64 \
  --json >/dev/null 2>"$data/bench.err" || { say "bench failed:"; cat "$data/bench.err" >&2; exit 1; }
lead=$(wait_leader)
commit=$(status "$lead" commit_index)

say "node 4 joins (leader $lead, commit $commit)"
t0=$(now)
start 4 --join "$(http "$lead")" --listen "$(peer 4)"
wait_for "node 4 a member" member_of "$lead" 4
t_member=$(since "$t0")
wait_for "node 4 caught up" applied_at_least 4 "$commit"
t_caught=$(since "$t0")
wait_for "node 4 a voter" voter_of "$lead" 4
t_voter=$(since "$t0")
snap=$(status 4 snapshot_index)

say "$transfers leadership transfers"
: >"$data/transfers"
i=0
while [ $i -lt "$transfers" ]; do
  lead=$(wait_leader)
  target=$((lead % 4 + 1))
  t=$(now)
  "$bin" transfer-leader "$target" --server "$(http "$lead")" >/dev/null 2>>"$data/transfer.err" || { say "transfer to $target failed:"; tail -1 "$data/transfer.err" >&2; }
  echo "$(since "$t")" >>"$data/transfers"
  i=$((i + 1))
done
say "node 4 leaves; $load_seconds s of writes on 3 nodes, then again while node 5 joins"
lead=$(wait_leader)
[ "$lead" != 4 ] || { "$bin" transfer-leader 1 --server "$(http 4)" >/dev/null; lead=$(wait_leader); }
"$bin" members remove 4 --server "$(http "$lead")" >/dev/null
kill -TERM "$(pid 4)" 2>/dev/null || true
load() { "$bin" bench --server "$(http "$(wait_leader)")" --clients 16 --seconds "$load_seconds" --warmup 1 --json 2>>"$data/bench.err"; }
row() { echo "$1" | jq -r '.[0] | "\(.writes_per_second | floor) \(.p99_ms)"'; }
set -- $(row "$(load)"); quiet_rate=$1; quiet_p99=$2
load >"$data/load.json" &
bench_pid=$!
sleep 2  # the warm-up, then 1 s of load
t0=$(now)
start 5 --join "$(http "$(wait_leader)")" --listen "$(peer 5)"
wait_for "node 5 a member" member_of "$(wait_leader)" 5
t5_member=$(since "$t0")
wait_for "node 5 a voter" voter_of "$(wait_leader)" 5
t5_voter=$(since "$t0")
wait $bench_pid
set -- $(row "$(cat "$data/load.json")"); join_rate=$1; join_p99=$2

stats=$(sort -n "$data/transfers" | awk '{ v[NR] = $1 } END { printf "%.0f %.0f %.0f", v[int(NR * 0.5 + 0.5)] * 1000, v[int(NR * 0.99 + 0.5)] * 1000, v[NR] * 1000 }')

echo "Membership benchmark: 3 nodes, $history writes of history (64-byte values, $keys keys); load: $(cut -d' ' -f1-3 /proc/loadavg)"
echo
echo "| join: learner (s) | join: caught up to commit $commit (s) | join: voter (s) | snapshot installed at |"
echo "|---|---|---|---|"
echo "| $t_member | $t_caught | $t_voter | ${snap:-none} |"
echo
set -- $stats  # p50 p99 max
echo "| leadership transfers | p50 ms | p99 ms | max ms | failed |"
echo "|---|---|---|---|---|"
touch "$data/transfer.err"
echo "| $transfers | $1 | $2 | $3 | $(grep -c . "$data/transfer.err" || true) |"
echo
echo "| 16 clients, ${load_seconds} s | writes/s | p99 ms | node 5: learner (s) | node 5: voter (s) |"
echo "|---|---|---|---|---|"
echo "| 3 nodes, no change | $quiet_rate | $quiet_p99 | | |"
echo "| 3 nodes while node 5 joins | $join_rate | $join_p99 | $t5_member | $t5_voter |"
