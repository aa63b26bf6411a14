#!/usr/bin/env bash
# Sets up, builds and runs every test: core and simulator (Catch2), native nodes on
# loopback, the wasm module under Node, the playground in headless Chromium, then the
# sanitizer build and short fuzz runs. Prints ctest's summary; exits non-zero on any
# failure.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
scripts/build.sh
echo "test: ctest (core, simulator, native, wasm, browser)"
(cd build && ctest --output-on-failure -j2 --timeout 900)
echo "test: AddressSanitizer + UndefinedBehaviorSanitizer"
.ci/sanitize.sh
echo "test: fuzzing (short runs)"
.ci/fuzz.sh
