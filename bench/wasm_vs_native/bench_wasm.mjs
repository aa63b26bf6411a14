// The wasm half of the wasm-vs-native benchmark: the same workload as bench_native,
// through the playground's JavaScript API under Node. Prints one JSON line.
//
//   node bench_wasm.mjs WEB_DIR CONFIG_JSON CLIENT_RATE SECONDS
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';

const [webDir, config, rate, seconds] = process.argv.slice(2);
if (seconds === undefined) {
  console.error('usage: node bench_wasm.mjs WEB_DIR CONFIG_JSON CLIENT_RATE SECONDS');
  process.exit(2);
}
const { default: createRaftbook } = await import(pathToFileURL(join(webDir, 'raftbook.js')));
const rb = await createRaftbook({ wasmBinary: readFileSync(join(webDir, 'raftbook.wasm')) });
// Warm up first: V8 compiles the module in tiers (a quick baseline, then optimized code
// in background threads), and that compile time is not the simulator's speed.
const warmup = new rb.Simulation(config);
warmup.setClientRate(Number(rate));
for (let i = 0; i < 30; i++) warmup.advance(1000);
warmup.delete();
await new Promise(resolve => setTimeout(resolve, 200));

const sim = new rb.Simulation(config);
sim.setClientRate(Number(rate));
const start = performance.now();
const cpuStart = process.cpuUsage();
for (let i = 0; i < Number(seconds); i++) sim.advance(1000);
const cpu = process.cpuUsage(cpuStart);
const wallMs = performance.now() - start;
const s = JSON.parse(sim.state(JSON.stringify({ log_from: 1, log_to: 0, requests: 0 })));
const round = x => Math.round(x * 10) / 10;
console.log(JSON.stringify({ events: s.stats.events, wall_ms: round(wallMs), cpu_ms: round((cpu.user + cpu.system) / 1000),
                             trace_hash: s.trace_hash, committed: s.stats.committed }));
sim.delete();
