// The key-value store's revisions, conditional writes and watch, through the wasm
// module's JavaScript API, as the playground's client panel and watch view use them.
import assert from 'node:assert/strict';
import { test } from 'node:test';

import { loadRaftbook, state } from './raftbook.mjs';

const rb = await loadRaftbook();

function cluster() {
  const sim = new rb.Simulation(JSON.stringify({ nodes: 3, seed: 5 }));
  for (let t = 0; state(sim).leader === null; t += 50) {
    assert.ok(t < 5000, 'no leader within 5 s');
    sim.advance(50);
  }
  return sim;
}

// Proposes `command` and advances until its request is answered; returns the request.
function answered(sim, command) {
  const id = sim.propose(command);
  for (let t = 0; t <= 5000; t += 20) {
    const r = state(sim).requests.find(q => q.id === id);
    if (r.outcome !== 'pending') return r;
    sim.advance(20);
  }
  assert.fail(`'${command}' was not answered within 5 s`);
}

test('every key carries its revision: the index of the write that last changed it', () => {
  const sim = cluster();
  const x = answered(sim, 'set x 1');
  const y = answered(sim, 'set y 2');
  const x2 = answered(sim, 'set x 3');
  assert.equal(x.outcome, 'ok');
  assert.equal(x.revision, x.index);
  assert.equal(x.condition_failed, false);
  sim.advance(500);
  for (const n of state(sim).nodes) {
    assert.deepEqual(n.kv, { x: '3', y: '2' });
    assert.deepEqual(n.kv_revisions, { x: x2.revision, y: y.revision });
  }
  sim.delete();
});

test('a conditional write applies while its condition holds, and otherwise reports the key as it is', () => {
  const sim = cluster();
  const created = answered(sim, 'if-rev 0 set x a');  // only if missing
  assert.equal(created.condition, 'revision');
  assert.equal(created.prev_revision, 0);
  assert.equal(created.condition_failed, false);
  const again = answered(sim, 'if-rev 0 set x b');
  assert.equal(again.outcome, 'ok');
  assert.equal(again.condition_failed, true);
  assert.equal(again.revision, created.revision);
  assert.equal(again.current, 'a');
  const swapped = answered(sim, 'if-value 1 a set x c d');
  assert.equal(swapped.condition, 'value');
  assert.equal(swapped.prev_value, 'a');
  assert.equal(swapped.condition_failed, false);
  const missing = answered(sim, 'if-value 1 z set nope 1');
  assert.equal(missing.condition_failed, true);
  assert.equal(missing.revision, 0);
  assert.equal(missing.current, null);
  sim.advance(500);
  const s = state(sim);
  for (const n of s.nodes) {
    assert.deepEqual(n.kv, { x: 'c d' });
    assert.equal(n.kv_revisions.x, swapped.revision);
  }
  assert.deepEqual(s.violations, []);
  assert.throws(() => sim.propose('idem k1 set x 1'), /no idempotency key/);
  sim.delete();
});

test('watch streams the changes a node applied to matching keys, in revision order', () => {
  const sim = cluster();
  const a1 = answered(sim, 'set user/a 1');
  answered(sim, 'set other 9');
  answered(sim, 'if-rev 0 set user/a 2');  // refused: changes nothing
  const b = answered(sim, 'set user/b 3');
  const del = answered(sim, 'del user/a');
  sim.advance(500);
  for (let n = 1; n <= 3; n++) {
    const w = JSON.parse(sim.watch(n, 'user/'));
    assert.equal(w.node, n);
    assert.equal(w.floor, 0);
    assert.deepEqual(w.changes, [
      { revision: a1.revision, key: 'user/a', value: '1', deleted: false },
      { revision: b.revision, key: 'user/b', value: '3', deleted: false },
      { revision: del.revision, key: 'user/a', deleted: true },
    ]);
  }
  assert.equal(JSON.parse(sim.watch(1, '')).changes.length, 4);
  sim.crash(2);
  assert.deepEqual(JSON.parse(sim.watch(2, '')), { node: 2, up: false, floor: 0, changes: [] });
  assert.throws(() => sim.watch(4, ''), /node/);
  sim.delete();
});
