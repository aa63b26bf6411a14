#!/bin/sh
# Log compaction under a long write load (issue 10): does a node's memory and disk stay
# flat once its key set is full, how long does taking a snapshot stall a node's event
# loop, how fast does a restarted node serve again, and how fast does a follower whose
# data dir was wiped catch up (by snapshot)?
#
# Starts a 3-node cluster of `raftbook serve` (fresh data dirs under /tmp, serve's
# defaults: --snapshot-entries 10000 --catchup-entries 5000) and drives it with
# `raftbook bench --writes --keys`: WRITES durable writes of 64-byte values over KEYS
# distinct keys, sent to the leader over CLIENTS connections. At 10 %, 25 %, 50 % and
# 100 % of WRITES (100k, 250k, 500k, 1M by default) it prints each node's RSS and
# data-dir size, then the ratio of the last row to the 25 % row, and the leader's mean
# time per snapshot, over the last half of the writes, to encode it (disk thread) and
# the event loop's stall. Then:
#   restart   a follower is stopped (SIGTERM) and started again: the time until it
#             answers /status, and until it has applied what the leader had committed;
#   catch-up  a follower is stopped while the cluster takes CATCHUP_WRITES (100000) more
#             writes, then started again: the time until it has applied what the leader
#             had committed, whether the leader had compacted away the entries it needed
#             (then it was sent the snapshot), its snapshot file and MB/s; beside it, what
#             this disk writes with one fdatasync (dd), a limit a catch-up cannot beat.
#   wiped     a follower is stopped, its data dir deleted, and started again: it comes
#             back empty, and the leader (which still records what it acknowledged) sends
#             it everything again, as the snapshot: the time until it has applied the
#             leader's commit, and MB/s. (Raft assumes a member keeps what it made durable:
#             a wiped member has lost its vote too; here it only catches up.)
#
#   bench/compaction/run.sh
#   WRITES=100000 bench/compaction/run.sh            # a shorter run
#   SERVE_ARGS="--snapshot-entries 0" bench/compaction/run.sh   # without snapshots, to compare
# Other settings: CATCHUP_WRITES (above), KEYS (100000), CLIENTS (64), PORT (9400: peers PORT+1..3, HTTP
# PORT+11..13), RAFTBOOK_BIN (build/native/raftbook). Needs curl and jq. Prints progress
# on stderr and the tables on stdout.
set -eu
root=$(cd "$(dirname "$0")/../.." && pwd)
bin=${RAFTBOOK_BIN:-$root/build/native/raftbook}
writes=${WRITES:-1000000}
keys=${KEYS:-100000}
clients=${CLIENTS:-64}
catchup_writes=${CATCHUP_WRITES:-100000}
port=${PORT:-9400}
serve_args=${SERVE_ARGS:-}
[ -x "$bin" ] || { echo "run.sh: $bin is missing; build first: scripts/build.sh" >&2; exit 1; }
for tool in curl jq; do
  command -v $tool >/dev/null || { echo "run.sh: needs $tool (apt-get install $tool)" >&2; exit 1; }
done

data=$(mktemp -d /tmp/raftbook-compaction-XXXXXX)
cluster="1=127.0.0.1:$((port + 1)),2=127.0.0.1:$((port + 2)),3=127.0.0.1:$((port + 3))"
http() { echo "127.0.0.1:$((port + 10 + $1))"; }
pid() { cat "$data/pid$1"; }
now() { date +%s.%N; }
say() { echo "run.sh: $*" >&2; }

# start ID [ARGS...]: runs node ID in the background, its log in $data/nodeID.log.
start() {
  id=$1; shift
  # shellcheck disable=SC2086 # SERVE_ARGS is a list of flags
  "$bin" serve --id "$id" --cluster "$cluster" --http "$(http "$id")" --data "$data/node$id" \
    $serve_args "$@" >>"$data/node$id.log" 2>&1 &
  echo $! >"$data/pid$id"
}
# stop ID: SIGTERM, and wait for it to exit.
stop() {
  p=$(pid "$1")
  kill -TERM "$p" 2>/dev/null || true
  while kill -0 "$p" 2>/dev/null; do sleep 0.05; done
}
cleanup() {
  for id in 1 2 3; do [ -f "$data/pid$id" ] && kill -TERM "$(pid $id)" 2>/dev/null || true; done
  sleep 0.5
  for id in 1 2 3; do [ -f "$data/pid$id" ] && kill -KILL "$(pid $id)" 2>/dev/null || true; done
  rm -rf "$data"
}
trap cleanup EXIT INT TERM

# status ID FIELD: one field of node ID's /status ("" when it does not answer).
status() { curl -sf --max-time 2 "http://$(http "$1")/status" | jq -r ".$2 // empty" 2>/dev/null || true; }
leader() {
  for id in 1 2 3; do [ "$(status $id role)" = leader ] && { echo "$id"; return; }; done
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
# wait_applied ID INDEX: until node ID has applied INDEX (120 s at most).
wait_applied() {
  i=0
  while [ "$(status "$1" applied_index)" = "" ] || [ "$(status "$1" applied_index)" -lt "$2" ]; do
    i=$((i + 1)); [ $i -lt 2400 ] || { say "node $1 did not reach $2 in 120 s"; tail -5 "$data/node$1.log" >&2; exit 1; }
    sleep 0.05
  done
}
rss_mb() { awk '/^VmRSS/ { printf "%.1f", $2 / 1024 }' "/proc/$(pid "$1")/status"; }
dir_mb() { du -sk "$data/node$1" | awk '{ printf "%.1f", $1 / 1024 }'; }

for id in 1 2 3; do start $id; done
lead=$(wait_leader)
say "3 nodes up, leader $lead, data in $data; $writes writes over $keys keys, $clients clients"

echo "Compaction benchmark: $writes durable writes (64-byte values, $keys keys, $clients clients), 3 nodes"
echo "serve flags: ${serve_args:-the defaults (--snapshot-entries 10000 --catchup-entries 5000)}; load: $(cut -d' ' -f1-3 /proc/loadavg)"
echo
echo "| writes | writes/s | RSS MB (n1 n2 n3) | data dir MB (n1 n2 n3) | leader snapshot index | leader log first index |"
echo "|---|---|---|---|---|---|"
done_writes=0
quarter_row=""
last_row=""
for checkpoint in $((writes / 10)) $((writes / 4)) $((writes / 2)) $writes; do
  lead=$(wait_leader)
  # Each node's metrics before the last half of the writes (for the snapshot table below).
  for id in 1 2 3; do curl -sf --max-time 2 "http://$(http $id)/metrics" >"$data/metrics$id.half" || true; done
  out=$("$bin" bench --server "$(http "$lead")" --clients "$clients" --writes $((checkpoint - done_writes)) \
    --keys "$keys" --value-bytes 64 --json 2>"$data/bench.err") || { say "bench failed:"; cat "$data/bench.err" >&2; exit 1; }
  rate=$(echo "$out" | jq -r '.[0].writes_per_second | floor')
  done_writes=$checkpoint
  lead=$(wait_leader)
  commit=$(status "$lead" commit_index)
  for id in 1 2 3; do wait_applied $id "$commit"; done
  row="$(rss_mb 1) $(rss_mb 2) $(rss_mb 3) $(dir_mb 1) $(dir_mb 2) $(dir_mb 3)"
  [ "$checkpoint" = $((writes / 4)) ] && quarter_row=$row
  last_row=$row
  echo "$checkpoint $rate $row $(status "$lead" snapshot_index) $(status "$lead" log_first_index)" |
    awk '{ printf "| %d | %d | %s %s %s | %s %s %s | %s | %s |\n", $1, $2, $3, $4, $5, $6, $7, $8, $9, $10 }'
done
echo
echo "$quarter_row $last_row" | awk -v w="$writes" '{
  printf "ratio %d writes / %d writes: RSS %.2f %.2f %.2f, data dir %.2f %.2f %.2f (target: at most 1.3)\n",
    w, w / 4, $7 / $1, $8 / $2, $9 / $3, $10 / $4, $11 / $5, $12 / $6 }'

# Taking a snapshot: the event loop only freezes the state (KvStore::freeze) in the Ready
# pass that takes it; the disk thread encodes it. Before that change the loop encoded it
# too, in that same pass: the stall was the pass plus the encode.
# Means over the snapshots the leader took in the last half of the writes (the fullest
# key set).
lead=$(wait_leader)
curl -sf --max-time 2 "http://$(http "$lead")/metrics" >"$data/metrics" || true
mean_ms() {
  awk -v n="$1" 'FNR == 1 { f++ } $1 == n "_sum" { s[f] = $2 } $1 == n "_count" { c[f] = $2 }
    END { if (c[2] > c[1]) printf "%.2f", 1000 * (s[2] - s[1]) / (c[2] - c[1]) }' "$data/metrics$lead.half" "$data/metrics"
}
take=$(mean_ms raftbook_snapshot_take_seconds)
encode=$(mean_ms raftbook_snapshot_encode_seconds)
echo
echo "| snapshots taken by node $lead (the leader) during the last $((writes / 2)) writes, over $keys keys | mean per snapshot |"
echo "|---|---|"
if [ -n "$take" ] && [ -n "$encode" ]; then
  echo "$take $encode" | awk -v k="$keys" '{
    printf "| encoding it (on the disk thread) | %.2f ms |\n", $2
    printf "| event-loop stall while snapshotting %d keys: before (the Ready pass + the encode, on the loop) vs after (the Ready pass) | %.2f ms vs %.2f ms |\n", k, $1 + $2, $1 }'
else
  echo "| (this binary does not report raftbook_snapshot_take_seconds and raftbook_snapshot_encode_seconds) | |"
fi

# Restart: a follower stopped cleanly and started again.
lead=$(wait_leader)
follower=$((lead % 3 + 1))
stop $follower
commit=$(status "$lead" commit_index)
t0=$(now)
start $follower
while [ -z "$(status $follower id)" ]; do sleep 0.01; done
t_status=$(now)
wait_applied $follower "$commit"
t_applied=$(now)
echo
echo "| restart of node $follower (a follower) | seconds |"
echo "|---|---|"
echo "$t0 $t_status $t_applied" | awk '{ printf "| start to answering /status | %.2f |\n| start to applied the leader'"'"'s commit index | %.2f |\n", $2 - $1, $3 - $1 }'

# Catch-up: a follower down while the cluster takes CATCHUP_WRITES more writes (more
# than --snapshot-entries + --catchup-entries, so that the leader has compacted away what
# the follower needs next and must send its snapshot).
lead=$(wait_leader)
follower=$((lead % 3 + 1))
behind=$(status $follower applied_index)
stop $follower
"$bin" bench --server "$(http "$lead")" --clients "$clients" --writes "$catchup_writes" --keys "$keys" \
  --value-bytes 64 --json >/dev/null 2>"$data/bench.err" || { say "bench failed:"; cat "$data/bench.err" >&2; exit 1; }
lead=$(wait_leader)
commit=$(status "$lead" commit_index)
first=$(status "$lead" log_first_index)
t0=$(now)
start $follower
wait_applied $follower "$commit"
t1=$(now)
snap_index=$(status $follower snapshot_index)
snap=$(ls "$data/node$follower" | grep -E '^snap-[0-9a-f]{16}-[0-9a-f]{16}$' | sort -t- -k3 | tail -1 || true)
snap_bytes=$([ -n "$snap" ] && stat -c %s "$data/node$follower/$snap" || echo 0)
dd_bytes=$((snap_bytes > 1048576 ? snap_bytes : 1048576))
dd_speed=$(dd if=/dev/zero of="$data/dd.test" bs=1M count=$((dd_bytes / 1048576)) conv=fdatasync 2>&1 |
  tail -1 | sed -E 's/.*, ([0-9.]+ [GMk]?B\/s)$/\1/')
rm -f "$data/dd.test"
echo
echo "| catch-up of node $follower (down during $catchup_writes writes) | |"
echo "|---|---|"
echo "$t0 $t1 $snap_bytes $behind $commit $first $snap_index" | awk -v snap="${snap:-none}" -v dd="$dd_speed" '{
  s = $2 - $1
  printf "| it had applied / the leader had committed / leader log starts at | %d / %d / %d |\n", $4, $5, $6
  printf "| by snapshot | %s |\n", ($6 > $4 + 1 ? "yes: the leader no longer held the entries it needed" : "no: the leader still held every entry it needed")
  printf "| start to applied the leader'"'"'s commit index | %.2f s |\n", s
  printf "| its newest snapshot after | %s (index %d), %.1f MB: %.1f MB/s over the catch-up |\n", snap, $7, $3 / 1048576, $3 / 1048576 / s
  printf "| this disk: dd of the same size + fdatasync | %s |\n", dd }'

# Wiped: a follower whose data dir is deleted comes back with nothing.
lead=$(wait_leader)
follower=$((lead % 3 + 1))
stop $follower
rm -rf "$data/node$follower"
commit=$(status "$lead" commit_index)
t0=$(now)
start $follower
wait_applied $follower "$commit"
t1=$(now)
snap=$(ls "$data/node$follower" | grep -E '^snap-[0-9a-f]{16}-[0-9a-f]{16}$' | sort -t- -k3 | tail -1 || true)
snap_bytes=$([ -n "$snap" ] && stat -c %s "$data/node$follower/$snap" || echo 0)
echo
echo "| catch-up of node $follower (data dir wiped) | |"
echo "|---|---|"
echo "$t0 $t1 $snap_bytes" | awk -v snap="${snap:-none}" '{
  s = $2 - $1
  printf "| start to applied the leader'"'"'s commit index | %.2f s |\n", s
  printf "| its snapshot | %s, %.1f MB: %.1f MB/s over the catch-up |\n", snap, $3 / 1048576, $3 / 1048576 / s }'
