// The playground's timeline (web/js/timeline.js) on the wasm module: a seek that starts
// from one of its checkpoints lands exactly where a seek from the setup lands — the same
// trace hash, the same entries started — backwards, forwards, into the middle of an
// advance or a wait, and after an action taken in the past cut the recorded future off.
import assert from 'node:assert/strict';
import { test } from 'node:test';

import { Timeline } from '../../web/js/timeline.js';
import { loadRaftbook } from './raftbook.mjs';

const rb = await loadRaftbook();
const createSim = () => new rb.Simulation(JSON.stringify({ nodes: 5, seed: 11, snapshot_entries: 20 }));

const script = [
  'wait leader within 3s', 'rate 40', 'advance 2500ms', 'crash 2', 'advance 1200ms',
  'partition 1,3 | 2,4,5', 'advance 3s', 'heal', 'restart 2', 'wait leader within 4s', 'advance 2s',
];

// Where a timeline with no checkpoints lands: a fresh one from the setup.
function fromSetup(lines, t, begun = null) {
  const fresh = new Timeline(createSim, lines);
  fresh.seek(t, begun);
  const where = { hash: fresh.sim.traceHash(), begun: fresh.begun, time: fresh.now() };
  fresh.dispose();
  return where;
}

const here = (tl) => ({ hash: tl.sim.traceHash(), begun: tl.begun, time: tl.now() });

test('a seek from a checkpoint lands where a seek from the setup lands', () => {
  const tl = new Timeline(createSim, script);
  tl.run(1e9, { maxBegun: script.length });
  tl.run(20000, { extend: true });  // played on at the end
  const end = tl.now();
  assert.ok(tl.checkpoints.length >= 4, `${tl.checkpoints.length} checkpoints in a ${end} ms run`);
  assert.ok(tl.checkpoints.length <= 16);
  for (const t of [end / 2, 1700, end, 4321, end - 1, 9000, 0, end / 3]) {
    tl.seek(Math.floor(t));
    assert.deepEqual(here(tl), fromSetup(tl.lines(), Math.floor(t), tl.begun), `seek to ${Math.floor(t)} ms`);
  }
  tl.dispose();
});

test('an action in the past drops the checkpoints after it, and the branch replays exactly', () => {
  const tl = new Timeline(createSim, script);
  tl.run(1e9, { maxBegun: script.length });
  const end = tl.now();
  tl.seek(5000);
  tl.perform('crash 4');
  tl.run(3000, { extend: true });
  assert.ok(tl.checkpoints.every((c) => c.time <= tl.now()));
  const branchEnd = tl.now();
  for (const t of [6000, branchEnd, 4000, 7500]) {
    tl.seek(t);
    assert.deepEqual(here(tl), fromSetup(tl.lines(), t, tl.begun), `seek to ${t} ms on the branch`);
  }
  assert.ok(branchEnd < end);
  tl.dispose();
});

test('a seek back from the end keeps a checkpoint there, and going back to the end restores it exactly', () => {
  const tl = new Timeline(createSim, script);
  tl.run(1e9, { maxBegun: script.length });
  tl.run(20777, { extend: true });  // played on to a time between two checkpoints
  const end = here(tl);
  assert.ok(!tl.checkpoints.some((c) => c.time === end.time), 'no checkpoint at the end yet');
  tl.seek(Math.floor(end.time / 2));
  assert.ok(tl.checkpoints.some((c) => c.time === end.time && c.begun === end.begun), 'the seek back kept one at the end');
  tl.seek(end.time);
  assert.deepEqual(here(tl), end);
  assert.deepEqual(here(tl), fromSetup(tl.lines(), end.time, end.begun));
  tl.dispose();
});
