#!/usr/bin/env bash
# Installs everything raftbook needs on a Debian 12 machine (run as root or with sudo):
# the C++ toolchain and libraries, Emscripten for the playground, Chromium for the
# browser tests, and the npm package that drives it. Safe to run again: it installs
# only what is missing.
set -euo pipefail
cd "$(dirname "$0")/.."

packages=(
  build-essential cmake ccache                # compiler, build system, compile cache
  nlohmann-json3-dev catch2                   # codec; tests
  libwebsocketpp-dev libboost-dev             # peer transport (WebSocket) and HTTP (Beast)
  emscripten node-acorn                       # the WebAssembly build of the core
  chromium                                    # browser end-to-end tests
  clang libclang-rt-dev                       # fuzzing (libFuzzer) and sanitizers
)
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  echo "setup: installing ${missing[*]}"
  SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  $SUDO apt-get update -q
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -q --no-install-recommends "${missing[@]}"
fi

if ! command -v node >/dev/null; then
  echo "setup: Node.js is required for the wasm and browser tests (any Node >= 18)" >&2
  exit 1
fi
# Again whenever a package is missing or package-lock.json changed since the last install.
if [ ! -d tests/browser/node_modules/playwright-core ] || [ ! -d tests/browser/node_modules/axe-core ] ||
   [ tests/browser/package-lock.json -nt tests/browser/node_modules/.package-lock.json ]; then
  echo "setup: installing the browser test packages (playwright-core, axe-core)"
  (cd tests/browser && npm ci --no-audit --no-fund --loglevel=error)
fi
echo "setup: done"
