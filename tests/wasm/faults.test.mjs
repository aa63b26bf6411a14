// The core's rule switches, turned on through the JavaScript API, must
// be caught by the safety checker and show up in state().violations naming a rule it
// breaks; the same run with the switch off must stay safe (so the checker is not
// simply reporting everything).
import assert from 'node:assert/strict';
import { test } from 'node:test';

import { loadRaftbook, nemesis, readScenario, runScript, state } from './raftbook.mjs';

const rb = await loadRaftbook();

test('the rule switches are listed by faultNames()', () => {
  assert.deepEqual(JSON.parse(rb.faultNames()).sort(),
                   ['ack_before_persist', 'apply_duplicates', 'browser_reload_keeps_id', 'commit_old_term_by_count', 'config_change_before_commit_in_term', 'install_stale_snapshot', 'no_catch_up_on_heartbeat',
                    'serve_reads_locally', 'skip_prev_log_check', 'vote_without_log_check']);
});

test('skip_prev_log_check: the missing prevLog check lesson breaks Log Matching', async () => {
  const text = readScenario('missing_prevlog_check.txt');
  assert.match(text, /^fault 3 skip_prev_log_check$/m);
  const broken = await runScript(text);
  const v = state(broken.sim).violations;
  assert.ok(v.length > 0);
  assert.equal(v[0].rule, 'Log Matching');
  assert.match(v[0].detail, /node 3/);
  assert.ok(v[0].nodes.includes(3), `the violation names node 3: ${JSON.stringify(v[0])}`);
  assert.ok(v[0].index >= 7, 'and an index where the logs diverge');
  assert.ok(v[0].event > 0 && v[0].time_ms >= 0);
  broken.sim.delete();

  const safe = await runScript(text.replace(/^fault 3 skip_prev_log_check$/m, 'fault 3 skip_prev_log_check off'));
  assert.deepEqual(state(safe.sim).violations, []);
  safe.sim.delete();
});

test('commit_old_term_by_count: Figure 8 loses a committed entry', async () => {
  const lesson = readScenario('figure8.txt');
  assert.match(lesson, /^partition 1,2,3 \| 4 \| 5$/m);
  const broken = await runScript(lesson.replace(/^partition 1,2,3/m, 'fault 1 commit_old_term_by_count\n$&'));
  const v = state(broken.sim).violations;
  assert.ok(v.length > 0, 'the checker caught it');
  assert.equal(v[0].rule, 'Leader Completeness');
  assert.match(v[0].detail, /node 5/);
  broken.sim.delete();

  const safe = await runScript(lesson);
  assert.ok(safe.results.every(r => r.ok), JSON.stringify(safe.results.filter(r => !r.ok)));
  assert.deepEqual(state(safe.sim).violations, []);
  safe.sim.delete();
});

// A lossy network, client load and a nemesis crashing nodes and splitting the
// cluster; the first violation's rule for each seed (or null).
function randomRun(seed, fault, on) {
  const nodes = seed % 2 ? 5 : 3;
  const slowDisks = fault === 'ack_before_persist';  // a crash then loses acknowledged writes
  const sim = new rb.Simulation(JSON.stringify({ nodes, seed, drop: 0.1, reorder: 0.05,
                                                 ...(slowDisks ? { disk_ms: [20, 80] } : {}) }));
  for (let n = 1; n <= nodes; n++) sim.setFault(n, fault, on);
  sim.setClientRate(80);
  nemesis(sim, nodes, { everyMs: slowDisks ? 600 : 1600, durationMs: 20000, seed });
  sim.advance(3000);
  const s = state(sim, { log_to: 0, requests: 0 });
  sim.delete();
  assert.ok(s.stats.committed > 20, `seed ${seed}: the cluster made progress (${s.stats.committed} committed)`);
  return s.violations.length ? s.violations[0].rule : null;
}

for (const [fault, rules] of [
  ['vote_without_log_check', ['Leader Completeness', 'State Machine Safety', 'No lost ack']],
  ['ack_before_persist', ['Commit Durability']],
]) {
  test(`${fault}: caught under crashes and partitions within 12 seeds, never without it`, () => {
    const caught = [];
    for (let seed = 1; seed <= 12; seed++) {
      assert.equal(randomRun(seed, fault, false), null, `seed ${seed} without ${fault} is safe`);
      const rule = randomRun(seed, fault, true);
      if (rule) caught.push([seed, rule]);
    }
    assert.ok(caught.length > 0, `${fault} was never caught`);
    for (const [seed, rule] of caught) assert.ok(rules.includes(rule), `seed ${seed}: unexpected rule ${rule}`);
  });
}
