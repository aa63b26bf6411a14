// Every guided scenario the playground offers (web/scenarios/index.json) runs to its
// end in the wasm build with each action succeeding, and its header is read as the
// page will show it.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';

import { loadRaftbook, readScenario, runScript, state, webDir } from './raftbook.mjs';

const rb = await loadRaftbook();
const lessons = JSON.parse(readFileSync(join(webDir, 'scenarios', 'index.json'), 'utf8'));

test('the scenario index lists scenario files', () => {
  assert.ok(lessons.length >= 6);
});

for (const lesson of lessons) {
  test(`scenario ${lesson.file} runs to its end`, async () => {
    const text = readScenario(lesson.file);
    const parsed = JSON.parse(rb.parseScenario(text));
    assert.ok(parsed.title.length > 0);
    assert.ok(parsed.actions.length > 0);
    const { sim, results } = await runScript(text);
    for (const r of results) assert.ok(r.ok, `line ${r.line} (${r.text}): ${r.message}`);
    const expectsViolation = parsed.actions.some(a => a.verb === 'expect' && a.args.startsWith('violation'));
    assert.equal(state(sim).violations.length > 0, expectsViolation);
    sim.delete();
  });
}

test('parseScenario() gives the header, the preloads and numbered actions', () => {
  const text = 'title Demo\n# a comment\nnodes 3\nseed 77\nnetwork latency=5..9 drop=0.5\n' +
               'preload 2 terms 1,1,2\nterm 2 4\n\nsay Hello # not a comment\ncampaign 2\nexpect leader 2\n';
  const parsed = JSON.parse(rb.parseScenario(text));
  assert.equal(parsed.title, 'Demo');
  assert.equal(parsed.config.nodes, 3);
  assert.equal(parsed.config.seed, '77');
  assert.deepEqual(parsed.config.latency_ms, [5, 9]);
  assert.equal(parsed.config.drop, 0.5);
  assert.deepEqual(parsed.preloads, [{ node: 2, terms: [1, 1, 2], term: 4 }]);
  assert.deepEqual(parsed.actions, [
    { line: 9, verb: 'say', args: 'Hello # not a comment', text: 'say Hello # not a comment' },
    { line: 10, verb: 'campaign', args: '2', text: 'campaign 2' },
    { line: 11, verb: 'expect', args: 'leader 2', text: 'expect leader 2' },
  ]);

  const sim = rb.Simulation.fromScenario(text);
  const s = state(sim);
  assert.equal(s.config.seed, '77');
  assert.deepEqual(s.nodes[1].log.map(e => e.term), [1, 1, 2]);
  assert.equal(s.nodes[1].term, 4);
  assert.deepEqual(s.nodes[0].log, []);
  assert.deepEqual(JSON.parse(sim.runAction('say Hello')), { ok: true, message: 'Hello' });
  assert.deepEqual(JSON.parse(sim.runAction('expect leader 2')), { ok: false, message: 'expected node 2 to lead, no node does' });
  sim.delete();
});

test('a config from parseScenario() builds the same simulation as fromScenario()', () => {
  const text = 'nodes 4\nseed 12\nnetwork latency=3..40 drop=0.05 reorder=0.1\nadvance 1s\n';
  const a = rb.Simulation.fromScenario(text);
  const b = new rb.Simulation(JSON.stringify(JSON.parse(rb.parseScenario(text)).config));
  for (const sim of [a, b]) {
    sim.setClientRate(30);
    sim.advance(5000);
  }
  assert.equal(a.traceHash(), b.traceHash());
  a.delete();
  b.delete();
});
