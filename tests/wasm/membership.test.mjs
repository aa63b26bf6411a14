// Membership changes through the JavaScript API (thesis ch. 4), as the playground makes
// them: a node added as a learner receives the log but does not vote, a promoted one
// votes, a removed one leaves, and a transfer hands leadership to the chosen voter. The
// state tells each node's place in the configuration and labels each Config entry with
// what it changed, which is what the page draws.
import assert from 'node:assert/strict';
import { test } from 'node:test';

import { loadRaftbook, state } from './raftbook.mjs';

const rb = await loadRaftbook();

function cluster(config) {
  return new rb.Simulation(JSON.stringify({ nodes: 3, seed: 7, ...config }));
}

// Advances in small steps until pred(state) holds; fails after limitMs of virtual time.
function advanceUntil(sim, pred, limitMs, what) {
  for (let t = 0; t <= limitMs; t += 50) {
    const s = state(sim);
    if (pred(s)) return s;
    sim.advance(50);
  }
  assert.fail(`${what} did not happen within ${limitMs} ms of virtual time: ${JSON.stringify(state(sim).membership)}`);
}

const node = (s, id) => s.nodes[id - 1];
const configs = (n) => n.log.filter((e) => e.type === 'Config');

function withLeader() {
  const sim = cluster();
  const s = advanceUntil(sim, (s) => s.leader !== null, 5000, 'an election');
  return { sim, leader: s.leader };
}

test('at the start every bootstrap node is a voter of the same configuration', () => {
  const sim = cluster();
  const s = state(sim);
  assert.deepEqual(s.membership, { voters: [1, 2, 3], learners: [], removed: [], index: 0, from: 1 });
  for (const n of s.nodes) {
    assert.equal(n.cluster_member, 'voter');
    assert.equal(n.member, 'voter');
    assert.deepEqual(n.membership, { voters: [1, 2, 3], learners: [], removed: [] });
    assert.equal(n.membership_index, 0);
  }
  assert.deepEqual(s.membership_changes, []);
  sim.delete();
});

test('an added learner gets the log and a Config entry labelled "+4 learner", but no vote', () => {
  const { sim, leader } = withLeader();
  sim.propose('set x 1');
  const op = sim.addNode(4, true);
  assert.equal(op, 1);
  assert.equal(state(sim).nodes.length, 4, 'the ring grows at once: machine 4 runs');
  const s = advanceUntil(sim, (s) => node(s, 4).cluster_member === 'learner' && node(s, 4).kv.x === '1', 5000,
    'S4 joining as a learner with the log');
  assert.deepEqual(s.membership.voters, [1, 2, 3]);
  assert.deepEqual(s.membership.learners, [4]);
  const cfg = configs(node(s, leader));
  assert.equal(cfg.length, 1);
  assert.equal(cfg[0].change, '+4 learner');
  assert.deepEqual(cfg[0].configuration, { voters: [1, 2, 3], learners: [4], removed: [] });
  // S4 joined with no configuration: its copy of the entry is labelled as the others'.
  assert.equal(configs(node(s, 4))[0].change, '+4 learner');
  advanceUntil(sim, (s) => s.membership_changes[0].outcome !== 'pending', 2000, 'the change answered');
  const done = state(sim).membership_changes[0];
  assert.equal(done.op, 'add_learner');
  assert.equal(done.node, 4);
  assert.equal(done.outcome, 'ok');
  assert.equal(done.index, cfg[0].index);
  assert.deepEqual(JSON.parse(sim.membershipOps()), state(sim).membership_changes);
  // A learner never campaigns: told to, it stays a follower and the term does not move.
  const term = node(state(sim), leader).term;
  sim.campaign(4);
  sim.advance(2000);
  assert.equal(state(sim).leader, leader);
  assert.equal(node(state(sim), leader).term, term);
  sim.delete();
});

test('a promoted learner becomes a voter ("4 voter"), and majorities count it', () => {
  const { sim, leader } = withLeader();
  sim.addNode(4, true);
  advanceUntil(sim, (s) => node(s, 4).cluster_member === 'learner' && node(s, 4).log_last_index === node(s, leader).log_last_index,
    5000, 'S4 caught up as a learner');
  sim.promote(4);
  const s = advanceUntil(sim, (s) => node(s, 4).cluster_member === 'voter', 5000, 'S4 promoted');
  assert.deepEqual(s.membership.voters, [1, 2, 3, 4]);
  const cfg = configs(node(s, leader));
  assert.deepEqual(cfg.map((e) => e.change), ['+4 learner', '4 voter']);
  sim.delete();
});

test('addNode without learner: the node promotes itself once caught up', () => {
  const { sim } = withLeader();
  sim.addNode(4, false);
  const s = advanceUntil(sim, (s) => node(s, 4).cluster_member === 'voter', 8000, 'S4 a voter');
  assert.deepEqual(s.membership.voters, [1, 2, 3, 4]);
  sim.delete();
});

test('a removed node is labelled "removed" and the Config entry "−2"', () => {
  const { sim, leader } = withLeader();
  const victim = leader === 2 ? 3 : 2;
  sim.removeNode(victim);
  const s = advanceUntil(sim, (s) => node(s, victim).cluster_member === 'removed', 5000, `S${victim} removed`);
  assert.deepEqual(s.membership.removed, [victim]);
  assert.equal(s.membership.voters.length, 2);
  assert.equal(configs(node(s, leader)).at(-1).change, `\u2212${victim}`);
  // The cluster goes on committing with the two voters left.
  sim.propose('set y 2');
  advanceUntil(sim, (s) => s.nodes.filter((n) => n.cluster_member === 'voter').every((n) => n.kv.y === '2'), 3000, 'y = 2 on the voters');
  sim.delete();
});

test('transferLeader makes the chosen voter leader, through TimeoutNow', () => {
  const { sim, leader } = withLeader();
  const target = leader === 3 ? 1 : 3;
  sim.transferLeader(target);
  const s = advanceUntil(sim, (s) => s.leader === target, 3000, `S${target} leading`);
  assert.ok(s.stats.sent_by_type.TimeoutNow >= 1, JSON.stringify(s.stats.sent_by_type));
  advanceUntil(sim, (s) => s.membership_changes[0].outcome !== 'pending', 3000, 'the transfer answered');
  assert.equal(state(sim).membership_changes[0].op, 'transfer_leader');
  assert.equal(state(sim).membership_changes[0].outcome, 'ok');
  assert.deepEqual(state(sim).violations, []);
  sim.delete();
});

test('membership calls with a bad node say what is allowed', () => {
  const sim = cluster();
  assert.throws(() => sim.addNode(5, false), /the next node to add is 4, not 5/);
  assert.throws(() => sim.promote(7), /no node 7: nodes are numbered 1..3/);
  assert.throws(() => sim.removeNode(0), /no node 0/);
  assert.throws(() => sim.transferLeader(1.5), /no node 1.5/);
  const full = new rb.Simulation(JSON.stringify({ nodes: 9, seed: 1 }));
  assert.throws(() => full.addNode(10, false), /at most 9 nodes/);
  full.delete();
  sim.delete();
});
