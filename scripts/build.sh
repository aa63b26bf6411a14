#!/usr/bin/env bash
# Builds both ways: the native binary and tests into build/, and the WebAssembly
# module into web/ (web/raftbook.js + web/raftbook.wasm beside the page), so that
# web/ is the complete static playground.
set -euo pipefail
cd "$(dirname "$0")/.."
jobs=$(nproc)

echo "build: native (build/)"
# ccache (installed by setup.sh) makes a rebuild of unchanged files free.
launcher=(); command -v ccache >/dev/null && launcher=(-DCMAKE_CXX_COMPILER_LAUNCHER=ccache)
cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo "${launcher[@]}" >/dev/null
cmake --build build -j"$jobs"

echo "build: WebAssembly (build-wasm/ -> web/raftbook.js, web/raftbook.wasm)"
export NODE_PATH=/usr/share/nodejs   # em++ needs acorn from Debian's node-acorn
emcmake cmake -S . -B build-wasm -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build build-wasm -j"$jobs"
