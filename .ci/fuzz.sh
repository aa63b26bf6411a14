#!/usr/bin/env bash
# Short fuzz runs for CI: builds the libFuzzer targets (tests/fuzz) with clang,
# AddressSanitizer and UndefinedBehaviorSanitizer in build-fuzz/, then for each target
#   1. replays every input in tests/fuzz/regressions/TARGET/ (past crashes must stay fixed),
#   2. fuzzes for FUZZ_SECONDS (default 20) from tests/fuzz/seeds/TARGET.
# A crash found is copied into tests/fuzz/regressions/TARGET/, where it stays as a
# regression test once the bug is fixed, and the script fails. Prints executions per
# target. Longer runs by hand: FUZZ_SECONDS=600 .ci/fuzz.sh
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=${FUZZ_SECONDS:-20}
build=build-fuzz
targets=(decode wal_recovery http_request)

echo "fuzz: building ${targets[*]} in $build/ (clang, -fsanitize=fuzzer,address,undefined)"
cmake -S . -B "$build" -DCMAKE_CXX_COMPILER="${FUZZ_CXX:-clang++-14}" -DCMAKE_BUILD_TYPE=RelWithDebInfo \
      -DRAFTBOOK_FUZZ=ON >/dev/null
cmake --build "$build" -j"${FUZZ_JOBS:-2}" --target "${targets[@]/#/fuzz_}" >/dev/null

work=$(mktemp -d /tmp/raftbook-fuzz-XXXXXX)
trap 'rm -rf "$work"' EXIT
# The targets' scratch files (fuzz_wal_recovery's data dir) in memory: fsync there is
# free, which makes that target about four times faster.
if [ -w /dev/shm ]; then export TMPDIR=/dev/shm; fi
failed=0
summary=()
for t in "${targets[@]}"; do
  bin="$build/tests/fuzz/fuzz_$t"
  regressions="tests/fuzz/regressions/$t"
  if compgen -G "$regressions/*" >/dev/null; then
    if ! "$bin" "$regressions"/* >"$work/$t.replay.log" 2>&1; then
      echo "fuzz: fuzz_$t fails on a saved regression input:" >&2
      tail -30 "$work/$t.replay.log" >&2
      failed=1
      continue
    fi
  fi
  dict=()
  [ "$t" = decode ] && dict=(-dict=tests/fuzz/frame.dict)
  mkdir -p "$work/corpus-$t" "$work/artifacts-$t"
  status=0
  "$bin" "${dict[@]}" -max_total_time="$seconds" -timeout=10 -print_final_stats=1 \
         -artifact_prefix="$work/artifacts-$t/" "$work/corpus-$t" "tests/fuzz/seeds/$t" \
         >"$work/$t.log" 2>&1 || status=$?
  execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$work/$t.log" | tail -1)
  corpus=$(ls "$work/corpus-$t" | wc -l)
  if [ "$status" -ne 0 ]; then
    mkdir -p "$regressions"
    for crash in "$work/artifacts-$t"/*; do
      [ -e "$crash" ] && cp "$crash" "$regressions/" && echo "fuzz: saved $regressions/$(basename "$crash")" >&2
    done
    echo "fuzz: fuzz_$t FAILED (exit $status); the end of its output:" >&2
    tail -40 "$work/$t.log" >&2
    failed=1
  fi
  summary+=("$(printf '  %-22s %10s executions in %ss, %s new corpus inputs%s' "fuzz_$t" "${execs:-?}" \
                "$seconds" "$corpus" "$([ "$status" -ne 0 ] && echo ', CRASHED')")")
done
echo "fuzz: results"
printf '%s\n' "${summary[@]}"
exit "$failed"
