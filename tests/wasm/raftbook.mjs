// Shared by the wasm tests: loads the built module from web/ (where the wasm build
// puts it) the way Node must, with the .wasm file's bytes as wasmBinary; reads the
// playground's scenario files; and runs a small deterministic nemesis through the
// public JavaScript API.
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
export const webDir = process.env.RAFTBOOK_WEB_DIR ?? join(root, 'web');

let module;
export async function loadRaftbook() {
  if (!module) {
    const js = join(webDir, 'raftbook.js');
    const wasm = join(webDir, 'raftbook.wasm');
    if (!existsSync(js) || !existsSync(wasm)) {
      throw new Error(`${js} or ${wasm} is missing: build the wasm module first with\n` +
                      '  emcmake cmake -S . -B build-wasm && cmake --build build-wasm');
    }
    const { default: createRaftbook } = await import(pathToFileURL(js));
    module = await createRaftbook({ wasmBinary: readFileSync(wasm) });
  }
  return module;
}

export function readScenario(file) {
  return readFileSync(join(webDir, 'scenarios', file), 'utf8');
}

export function state(sim, view) {
  return JSON.parse(view === undefined ? sim.state() : sim.state(JSON.stringify(view)));
}

// Creates a simulation from a scenario script and runs every action, failed or not.
// Returns the simulation and the results, one per action ({line, text, ok, message}).
export async function runScript(text) {
  const rb = await loadRaftbook();
  const parsed = JSON.parse(rb.parseScenario(text));
  const sim = rb.Simulation.fromScenario(text);
  const results = parsed.actions.map(a => ({ line: a.line, text: a.text, ...JSON.parse(sim.runAction(a.text)) }));
  return { sim, results };
}

// A seeded source for the nemesis (mulberry32): the same seed, the same trouble.
function random(seed) {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

// Runs `durationMs` of virtual time with trouble every `everyMs`: each round either
// splits the cluster in two random sides or crashes a random node, and undoes it
// halfway to the next round. Afterwards every link is healed and every node restarted.
export function nemesis(sim, nodes, { everyMs, durationMs, seed }) {
  const next = random(seed);
  const pick = n => 1 + Math.floor(next() * n);
  for (let t = 0; t + everyMs <= durationMs; t += everyMs) {
    sim.advance(everyMs / 2);
    if (next() < 0.5) {
      const order = Array.from({ length: nodes }, (_, i) => i + 1).sort(() => next() - 0.5);
      const cut = pick(nodes - 1);
      sim.partition(JSON.stringify([order.slice(0, cut), order.slice(cut)]));
      sim.advance(everyMs / 2);
      sim.heal();
    } else {
      const victim = pick(nodes);
      sim.crash(victim);
      sim.advance(everyMs / 2);
      sim.restart(victim);
    }
  }
  sim.heal();
  for (let n = 1; n <= nodes; n++) sim.restart(n);
}
