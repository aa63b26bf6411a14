#!/bin/sh
# The simulator's speed compiled to wasm (under Node) against native, on one workload:
# 5 nodes, one seed, a steady stream of client requests, SECONDS of virtual time.
# Prints a markdown table of events per second (best of RUNS runs each) and the ratio.
# Speed is events per CPU second of the process: on a shared machine wall time mostly
# measures the neighbours (wall time is shown too). The wasm run is timed after a
# warm-up, once V8 has compiled the module's optimized code.
#
#   bench/wasm_vs_native/run.sh [SECONDS] [RUNS]
#
# Needs the wasm build in web/ (emcmake cmake -S . -B build-wasm && cmake --build
# build-wasm). The native side is compiled here with the same -O2 the wasm build uses.
set -eu
root=$(cd "$(dirname "$0")/../.." && pwd)
seconds=${1:-60}
runs=${2:-3}
rate=200
config='{"nodes": 5, "seed": 42}'
out=$root/build-bench
bin=$out/bench_native

if [ ! -f "$root/web/raftbook.wasm" ]; then
  echo "run.sh: $root/web/raftbook.wasm is missing; build it first:" >&2
  echo "  emcmake cmake -S . -B build-wasm && cmake --build build-wasm" >&2
  exit 1
fi
mkdir -p "$out"
srcs="$root/bench/wasm_vs_native/bench_native.cpp $root/core/*/*.cpp"
changed=$(find "$root/core" "$root/bench/wasm_vs_native" -newer "$bin" \( -name '*.cpp' -o -name '*.h' \) 2>/dev/null | head -1)
if [ ! -x "$bin" ] || [ -n "$changed" ]; then
  echo "compiling $bin ..." >&2
  ${CXX:-c++} -std=c++17 -O2 -DNDEBUG -I"$root" -o "$bin" $srcs
fi

# best RUN_COMMAND...: the run with the lowest CPU time, as its JSON line.
best() {
  i=0
  while [ $i -lt "$runs" ]; do "$@"; i=$((i + 1)); done |
    node -e 'const l=require("fs").readFileSync(0,"utf8").trim().split("\n").map(JSON.parse);
             l.sort((a,b)=>a.cpu_ms-b.cpu_ms); console.log(JSON.stringify(l[0]))'
}
native=$(best "$bin" "$config" $rate "$seconds")
wasm=$(best node "$root/bench/wasm_vs_native/bench_wasm.mjs" "$root/web" "$config" $rate "$seconds")

node -e '
const [n, w, seconds, rate, runs] = [JSON.parse(process.argv[1]), JSON.parse(process.argv[2]), ...process.argv.slice(3)];
const eps = r => r.events / (r.cpu_ms / 1000);
const fmt = x => Math.round(x).toLocaleString("en-US");
console.log(`Workload: 5 nodes, seed 42, ${rate} client requests/s, ${seconds} s of virtual time; best of ${runs} runs.\n`);
console.log("| build | events | CPU ms | wall ms | events/s (CPU) | trace hash |");
console.log("|---|---:|---:|---:|---:|---|");
for (const [name, r] of [["native (-O2)", n], [`wasm, Node ${process.version}`, w]])
  console.log(`| ${name} | ${r.events} | ${r.cpu_ms} | ${r.wall_ms} | ${fmt(eps(r))} | ${r.trace_hash} |`);
console.log(`\nwasm / native: **${(eps(w) / eps(n)).toFixed(2)}x** (target: at least 0.5x)`);
if (n.trace_hash !== w.trace_hash) console.log("\nWARNING: the trace hashes differ: the two builds did not run the same events.");
' "$native" "$wasm" "$seconds" "$rate" "$runs"
