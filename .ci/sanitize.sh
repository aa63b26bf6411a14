#!/usr/bin/env bash
# The core, simulator and native tests under AddressSanitizer + UndefinedBehaviorSanitizer:
# configures build-asan/ with -DRAFTBOOK_SANITIZE=ON, builds core_tests and native_tests
# (and the raftbook binary they start, sanitized too), and runs them with ctest. Any
# sanitizer report fails the test it happens in (UBSan halts; ASan aborts).
# Left out: the chaos runs, the minute-long one and the ones that catch a broken rule
# (the normal build runs them), the wasm and browser
# tests (no native code of ours), and the test that takes every file descriptor away
# from a running node ("descriptors run out anyway"): UBSan's vptr check probes memory
# through a pipe(), which then fails with EMFILE, and it reports a false "invalid vptr". Prints how long the build and the tests took.
set -euo pipefail
cd "$(dirname "$0")/.."
build=build-asan
jobs=${SANITIZE_JOBS:-$(nproc)}

start=$(date +%s)
echo "sanitize: building core_tests and native_tests in $build/ (-fsanitize=address,undefined)"
# -O1 -g1 (line tables only), as the sanitizers' own docs suggest: the instrumented code
# compiles about 3x faster than at -O2 -g (measured on http_server.cpp: 88 s vs 269 s on
# a busy machine) and reports still name file and line.
launcher=(); command -v ccache >/dev/null && launcher=(-DCMAKE_CXX_COMPILER_LAUNCHER=ccache)
cmake -S . -B "$build" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCMAKE_CXX_FLAGS_RELWITHDEBINFO="-O1 -g1 -DNDEBUG" \
  -DRAFTBOOK_SANITIZE=ON "${launcher[@]}" >/dev/null
cmake --build "$build" -j"$jobs" --target core_tests native_tests >/dev/null
built=$(date +%s)

export ASAN_OPTIONS=abort_on_error=1:detect_leaks=1
export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
status=0
(cd "$build" && ctest --output-on-failure -j"$jobs" --timeout 900 \
   -E 'wasm_api|browser|short chaos run|chaos_catches_|descriptors run out anyway') || status=$?
done=$(date +%s)
echo "sanitize: build $((built - start)) s, tests $((done - built)) s"
exit "$status"
