// A caller's mistake throws a JavaScript Error that says what was wrong; the module
// never aborts, and the simulation it was called on keeps working.
import assert from 'node:assert/strict';
import { test } from 'node:test';

import { loadRaftbook, state } from './raftbook.mjs';

const rb = await loadRaftbook();

function throwsError(fn, pattern) {
  assert.throws(fn, err => {
    assert.ok(err instanceof Error, `an Error, not ${typeof err}: ${err}`);
    assert.match(err.message, pattern);
    return true;
  });
}

test('bad configs are refused with the reason', () => {
  const make = config => () => new rb.Simulation(typeof config === 'string' ? config : JSON.stringify(config));
  throwsError(make('{nodes: 5'), /config is not valid JSON/);
  throwsError(make('[1, 2]'), /must be a JSON object/);
  throwsError(make({ nodes: 0 }), /nodes must be a whole number in \(1\.\.9\)/);
  throwsError(make({ nodes: 10 }), /nodes must be a whole number in \(1\.\.9\), not 10/);
  throwsError(make({ nodes: 2.5 }), /nodes/);
  throwsError(make({ nodes: '5' }), /nodes must be a whole number/);
  throwsError(make({ seed: -1 }), /seed/);
  throwsError(make({ seed: 'x1' }), /seed must be a whole number or a string of decimal digits/);
  throwsError(make({ seed: '99999999999999999999' }), /does not fit in 64 bits/);
  throwsError(make({ nodse: 5 }), /unknown config key 'nodse' \(nodes, seed,/);
  throwsError(make({ drop: 1.5 }), /drop must be a probability from 0 to 1, not 1.5/);
  throwsError(make({ latency_ms: [30, 10] }), /latency_ms must be \[min, max\] with min <= max/);
  throwsError(make({ latency_ms: [1, 2, 3] }), /latency_ms must be \[min, max\]/);
  throwsError(make({ heartbeat_tick: 10, election_tick: 10 }), /heartbeat_tick \(10\) must be below election_tick \(10\)/);
  throwsError(make({ pre_vote: 1 }), /pre_vote must be true or false/);
});

test('a seed may be any 64-bit number, as a string', () => {
  const sim = new rb.Simulation(JSON.stringify({ seed: '18446744073709551615' }));
  assert.equal(state(sim).config.seed, '18446744073709551615');
  sim.delete();
});

test('bad arguments to a simulation throw, and it keeps running', () => {
  const sim = new rb.Simulation(JSON.stringify({ nodes: 5, seed: 3 }));
  sim.advance(1000);
  throwsError(() => sim.crash(0), /no node 0: nodes are numbered 1\.\.5/);
  throwsError(() => sim.crash(6), /no node 6/);
  throwsError(() => sim.restart(1.5), /no node 1.5/);
  throwsError(() => sim.crash(NaN), /no node NaN/);
  throwsError(() => sim.crash('two'), /no node NaN/);
  throwsError(() => sim.campaign(9), /no node 9/);
  throwsError(() => sim.cut(1, 7), /no node 7/);
  throwsError(() => sim.restore(-1, 2), /no node -1/);
  throwsError(() => sim.setFault(8, 'skip_prev_log_check', true), /no node 8/);
  throwsError(() => sim.setFault(1, 'skip_everything', true), /unknown fault 'skip_everything' \(one of \["skip_prev_log_check",/);
  throwsError(() => sim.partition('[[1, 2], [2, 3]]'), /node 2 is in two groups/);
  throwsError(() => sim.partition('[[1, 6]]'), /a node id must be a whole number in \(1\.\.5\), not 6/);
  throwsError(() => sim.partition('{"a": 1}'), /the partition must be a list of groups/);
  throwsError(() => sim.partition('[1, 2]'), /1 is not a list/);
  throwsError(() => sim.partition('[[1'), /the partition is not valid JSON/);
  throwsError(() => sim.setNetwork('{"drop": 2}'), /drop must be a probability from 0 to 1, not 2/);
  throwsError(() => sim.setNetwork('{"latency_ms": [-1, 5]}'), /latency_ms\[0\] must be a whole number/);
  throwsError(() => sim.setNetwork('{"latency_ms": 100000}'), /latency_ms must be a whole number in \(0\.\.60000\)/);
  throwsError(() => sim.setNetwork('{"jitter": 5}'), /unknown network setting 'jitter' \(drop, duplicate, reorder, latency_ms, disk_ms, disk_slow, disk_slow_ms\)/);
  throwsError(() => sim.advance(-5), /advance\(ms\) must be a number from 0 to/);
  throwsError(() => sim.advance(Infinity), /not Infinity/);
  throwsError(() => sim.advanceTo(-1), /advanceTo\(time_ms\)/);
  throwsError(() => sim.setClientRate(-1), /setClientRate\(perSecond\) must be a number from 0 to 1000, not -1/);
  throwsError(() => sim.propose('frob x'), /unknown command 'frob'/);
  throwsError(() => sim.propose(''), /command/);
  throwsError(() => sim.state('{"log_from": -1}'), /log_from must be a whole number/);
  throwsError(() => sim.state('{"logfrom": 1}'), /unknown state option 'logfrom' \(log_from, log_to, requests\)/);
  throwsError(() => sim.message(-1), /a message id is a whole number/);
  throwsError(() => sim.runAction('nodes 3'), /'nodes' is a setting for the top of a script/);
  throwsError(() => sim.runAction('   # only a comment'), /empty line/);

  // Nothing above changed the simulation: the network is as configured, every node is up.
  const s = state(sim);
  assert.deepEqual(s.network, { drop: 0, duplicate: 0, reorder: 0, latency_ms: [10, 30], disk_ms: [1, 3], disk_slow: 0.03, disk_slow_ms: [20, 80] });
  assert.ok(s.nodes.every(n => n.up));
  assert.deepEqual(s.links_down, []);
  sim.propose('set still 1');
  sim.advance(2000);
  assert.ok(state(sim).nodes.every(n => n.kv.still === '1'));
  sim.delete();
});

test('scenario errors name the line; an action that parses but fails returns ok: false', () => {
  throwsError(() => rb.parseScenario('nodes 3\nseed 1\nnodes 12\n'), /line 3/);
  throwsError(() => rb.Simulation.fromScenario('nodes 3\npreload 2 terms 1,x\n'), /line 2/);
  // Decreasing terms are refused by the simulator itself, inside make_simulator.
  throwsError(() => rb.Simulation.fromScenario('nodes 3\npreload 2 terms 3,1\n'), /non-decreasing/);
  const sim = rb.Simulation.fromScenario('nodes 3\n');
  for (const line of ['crash 4', 'partition 1,2 | 2,3', 'net latency=30..10', 'net drop=2', 'frobnicate 2',
                      'expect commit 1 ~ 2', 'fault 1 no_such_rule']) {
    const r = JSON.parse(sim.runAction(line));
    assert.equal(r.ok, false, line);
    assert.ok(r.message.length > 0, line);
  }
  assert.match(JSON.parse(sim.runAction('partition 1,2 | 2,3')).message, /node 2 is in two groups/);
  assert.match(JSON.parse(sim.runAction('net latency=30..10')).message, /latency must satisfy 0 <= min <= max/);
  assert.deepEqual(JSON.parse(sim.runAction('wait leader within 5s')).ok, true);
  sim.delete();
});

// Errors are thrown in JavaScript after the wasm call has returned, so every wasm frame
// finishes normally: the shadow stack (Emscripten's stackSave()) is back where it was.
// An Error thrown from inside wasm would leak a little of it each time, and enough
// mistakes would overflow it.
test('a hundred thousand errors give back all of the wasm stack', () => {
  const sim = new rb.Simulation(JSON.stringify({ nodes: 3, seed: 1 }));
  const stack = rb.stackSave();
  const heap = rb.HEAP8.length;
  for (let i = 0; i < 20000; i++) {
    assert.throws(() => sim.crash(99));
    assert.throws(() => sim.setNetwork('{"drop": "high"}'));
    assert.throws(() => new rb.Simulation('{"nodes": 12}'));
    assert.throws(() => rb.Simulation.fromScenario('nodes 3\npreload 2 terms 3,1\n'));
    assert.equal(JSON.parse(sim.runAction('partition 1 | 1')).ok, false);
  }
  assert.equal(rb.stackSave(), stack);
  assert.equal(rb.HEAP8.length, heap, 'the heap did not grow');
  sim.advance(3000);
  assert.notEqual(state(sim).leader, null);
  sim.delete();
});

test('a failed call leaves no error behind for the next one', () => {
  const sim = new rb.Simulation(JSON.stringify({ nodes: 3, seed: 1 }));
  assert.throws(() => sim.crash(4));
  sim.crash(3);
  assert.equal(state(sim).nodes[2].up, false);
  assert.ok(sim instanceof rb.Simulation);
  assert.ok(rb.Simulation.fromScenario('nodes 3\n') instanceof rb.Simulation);
  sim.delete();
});
