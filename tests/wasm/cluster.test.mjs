// The simulated cluster driven through the wasm module's JavaScript API, as the
// playground drives it: election, replication, crash, partition, determinism, and the
// views the page draws (log windows, messages in flight, requests).
import assert from 'node:assert/strict';
import { test } from 'node:test';

import { loadRaftbook, state } from './raftbook.mjs';

const rb = await loadRaftbook();

function cluster(config) {
  return new rb.Simulation(JSON.stringify({ nodes: 5, seed: 42, ...config }));
}

// Advances in small steps until pred(state) holds; fails after limitMs of virtual time.
function advanceUntil(sim, pred, limitMs, what) {
  for (let t = 0; t <= limitMs; t += 50) {
    const s = state(sim);
    if (pred(s)) return s;
    sim.advance(50);
  }
  assert.fail(`${what} did not happen within ${limitMs} ms of virtual time`);
}

const leaders = s => s.nodes.filter(n => n.up && n.role === 'leader');
const logTerms = n => n.log.map(e => `${e.index}:${e.term}:${e.command}`).join(' ');

test('a leader is elected and every node knows it', () => {
  const sim = cluster();
  const s = advanceUntil(sim, s => s.leader !== null, 5000, 'an election');
  assert.equal(leaders(s).length, 1);
  const leader = leaders(s)[0];
  assert.equal(s.leader, leader.id);
  advanceUntil(sim, s => s.nodes.every(n => n.leader === leader.id && n.term === leader.term), 1000,
               'every node following the leader');
  assert.deepEqual(state(sim).violations, []);
  sim.delete();
});

test('a proposal is committed and applied on every node', () => {
  const sim = cluster();
  advanceUntil(sim, s => s.leader !== null, 5000, 'an election');
  const id = sim.propose('set x 5');
  assert.equal(typeof id, 'number');
  assert.ok(id >= 1);
  const s = advanceUntil(sim, s => s.nodes.every(n => n.kv.x === '5'), 2000, 'x = 5 on every node');
  const request = s.requests.find(r => r.id === id);
  assert.equal(request.outcome, 'ok');
  assert.equal(request.command, 'set x 5');
  for (const n of s.nodes) {
    const entry = n.log.find(e => e.index === request.index);
    assert.deepEqual(entry, { index: request.index, term: s.nodes[0].term, type: 'Command', command: 'set x 5' });
    assert.ok(n.commit_index >= request.index, `node ${n.id} commit index ${n.commit_index}`);
    assert.ok(n.applied_index >= request.index);
    assert.ok(n.persisted_index >= request.index);
    assert.deepEqual(n.kv, { x: '5' });
  }
  assert.equal(new Set(s.nodes.map(logTerms)).size, 1, 'every node holds the same log');
  sim.delete();
});

test('the leader crashes: another is elected, and the old one catches up on restart', () => {
  const sim = cluster({ seed: 7 });
  const first = advanceUntil(sim, s => s.leader !== null, 5000, 'an election');
  const old = first.leader;
  const oldTerm = leaders(first)[0].term;
  const before = state(sim).nodes[old - 1];
  sim.crash(old);
  const down = state(sim).nodes[old - 1];
  assert.equal(down.up, false);
  assert.equal(down.role, undefined, 'a crashed node has no role, only its disk');
  assert.equal(down.term, oldTerm);
  assert.equal(down.voted_for, old);
  assert.deepEqual(down.log, before.log.slice(0, down.log_last_index), 'its disk holds a prefix of its log');
  assert.ok(down.log_last_index >= 1);
  const s = advanceUntil(sim, s => s.leader !== null && s.leader !== old, 5000, 'a new election');
  assert.ok(leaders(s)[0].term > oldTerm);
  sim.propose('set y 2');
  advanceUntil(sim, s => s.nodes.every(n => !n.up || n.kv.y === '2'), 2000, 'y = 2 on the live nodes');
  sim.restart(old);
  const after = advanceUntil(sim, s => s.nodes.every(n => n.kv.y === '2'), 3000, 'the old leader catching up');
  assert.equal(after.nodes[old - 1].role, 'follower');
  assert.equal(new Set(after.nodes.map(logTerms)).size, 1);
  assert.deepEqual(after.violations, []);
  sim.delete();
});

test('a minority partition cannot commit; after the heal every log converges', () => {
  const sim = cluster({ seed: 11 });
  const first = advanceUntil(sim, s => s.leader !== null, 5000, 'an election');
  const old = first.leader;
  const buddy = old === 1 ? 2 : 1;
  const majority = [1, 2, 3, 4, 5].filter(n => n !== old && n !== buddy);
  sim.partition(JSON.stringify([[old, buddy], majority]));
  assert.equal(state(sim).links_down.length, 12, 'every link across the cut is down, both ways');

  assert.equal(JSON.parse(sim.runAction(`propose ${old} set stranded 1`)).ok, true);
  const stuck = state(sim).nodes[old - 1];
  sim.advance(3000);
  const s = state(sim);
  const minority = s.nodes[old - 1];
  assert.equal(minority.log_last_index, stuck.log_last_index, 'the entry sits in the old leader\'s log');
  assert.ok(minority.commit_index < minority.log_last_index, 'but is never committed');
  assert.notEqual(minority.role, 'leader', 'and the old leader stepped down (check quorum)');
  assert.ok(majority.includes(s.leader), `the majority elected node ${s.leader}`);

  sim.propose('set z 3');
  advanceUntil(sim, s => majority.every(n => s.nodes[n - 1].kv.z === '3'), 2000, 'the majority committing');
  assert.equal(state(sim).nodes[old - 1].kv.z, undefined);

  sim.heal();
  assert.deepEqual(state(sim).links_down, []);
  const healed = advanceUntil(sim, s => new Set(s.nodes.map(logTerms)).size === 1 &&
                                        s.nodes.every(n => n.kv.z === '3'), 5000, 'convergence');
  assert.equal(healed.nodes.find(n => n.log.some(e => e.command === 'set stranded 1')), undefined,
               'the stranded entry was overwritten everywhere');
  assert.deepEqual(healed.violations, []);
  sim.delete();
});

test('a one-way cut and its restore', () => {
  const sim = cluster({ seed: 5 });
  const { leader } = advanceUntil(sim, s => s.leader !== null, 5000, 'an election');
  const follower = leader === 1 ? 2 : 1;
  sim.cut(leader, follower);
  assert.deepEqual(state(sim).links_down, [[leader, follower]]);
  sim.propose('set a 1');
  sim.advance(500);
  assert.equal(state(sim).nodes[follower - 1].kv.a, undefined, 'the cut follower hears nothing');
  sim.restore(leader, follower);
  assert.deepEqual(state(sim).links_down, []);
  advanceUntil(sim, s => s.nodes.every(n => n.kv.a === '1'), 3000, 'the follower catching up');
  sim.delete();
});

test('the same seed and actions give the same trace hash; another seed does not', () => {
  const run = seed => {
    const sim = cluster({ seed, drop: 0.05, reorder: 0.05 });
    sim.setClientRate(40);
    sim.advance(2000);
    sim.crash(2);
    sim.advance(1500);
    sim.restart(2);
    sim.partition(JSON.stringify([[1], [2, 3, 4, 5]]));
    sim.advance(1500);
    sim.heal();
    sim.advance(1000);
    const s = sim.state();
    assert.equal(JSON.parse(s).trace_hash, sim.traceHash());
    sim.delete();
    return s;
  };
  const a = run(42), b = run(42), c = run(43);
  assert.match(JSON.parse(a).trace_hash, /^[0-9a-f]{16}$/);
  assert.equal(a, b, 'the whole state is identical');
  assert.notEqual(JSON.parse(a).trace_hash, JSON.parse(c).trace_hash);
});

test('step() runs exactly one event', () => {
  const sim = cluster();
  let before = state(sim, { log_to: 0 });
  for (let i = 0; i < 200; i++) {
    assert.equal(sim.step(), true);
    const s = state(sim, { log_to: 0 });
    assert.equal(s.stats.events, before.stats.events + 1);
    assert.ok(s.time_ms >= before.time_ms);
    assert.equal(sim.time(), s.time_ms);
    before = s;
  }
  sim.delete();
});

test('advanceTo() runs to an absolute virtual time, never back', () => {
  const sim = cluster();
  sim.advanceTo(1234);
  assert.equal(sim.time(), 1234);
  sim.advanceTo(1000);
  assert.equal(sim.time(), 1234);
  sim.delete();
});

test('state() can limit the log to a window and still reports each log\'s extent', () => {
  const sim = cluster();
  advanceUntil(sim, s => s.leader !== null, 5000, 'an election');
  for (let i = 0; i < 30; i++) sim.propose(`set k${i} ${i}`);
  advanceUntil(sim, s => s.nodes.every(n => n.commit_index >= 31), 3000, '30 commits');
  const s = state(sim, { log_from: 10, log_to: 12, requests: 3 });
  for (const n of s.nodes) {
    assert.deepEqual(n.log.map(e => e.index), [10, 11, 12]);
    assert.equal(n.log_first_index, 1);
    assert.ok(n.log_last_index >= 31);
  }
  assert.equal(s.requests.length, 3);
  assert.deepEqual(s.requests.map(r => r.command), ['set k27 27', 'set k28 28', 'set k29 29']);
  assert.ok(state(sim, { log_to: 0 }).nodes.every(n => n.log.length === 0));
  assert.equal(state(sim).nodes[0].log.length, s.nodes[0].log_last_index, 'no options: the whole log');
  sim.delete();
});

test('messages in flight carry a per-type summary, and message(id) gives the whole message', () => {
  const sim = cluster();
  const { leader } = advanceUntil(sim, s => s.leader !== null, 5000, 'an election');
  sim.propose('set m 1');
  // Step until the leader's AppendEntries carrying the new entry is on the wire.
  let append, full;
  for (let i = 0; i < 500 && !append; i++) {
    sim.step();
    for (const m of state(sim, { log_to: 0 }).messages.filter(m => m.type === 'Append' && m.entries > 0)) {
      const whole = JSON.parse(sim.message(m.id));
      if (whole.entries.some(e => e.data === 'set m 1')) [append, full] = [m, whole];
    }
  }
  assert.ok(append, 'an Append with the new entry went out');
  assert.equal(append.from, leader);
  for (const key of ['id', 'to', 'term', 'sent_ms', 'arrives_ms', 'prev_index', 'prev_term', 'commit', 'summary'])
    assert.ok(key in append, `Append has ${key}`);
  assert.ok(append.arrives_ms >= append.sent_ms);
  assert.equal(append.entries, full.entries.length);
  assert.equal(append.summary, `prev (${append.prev_index}, ${append.prev_term}), entries ${full.entries[0].index}..` +
                               `${full.entries.at(-1).index}, commit ${append.commit}`);
  assert.equal(full.arrives_ms, append.arrives_ms);

  let resp;
  for (let i = 0; i < 500 && !resp; i++) {
    sim.step();
    resp = state(sim, { log_to: 0 }).messages.find(m => m.type === 'AppendResp');
  }
  assert.equal(resp.success, true);
  assert.match(resp.summary, /^matches up to \d+$/);

  sim.advance(5000);
  assert.equal(sim.message(append.id), 'null', 'a delivered message is no longer in flight');
  sim.delete();
});

test('read() answers with the latest write; a request to a follower travels as a ClientRequest', () => {
  const sim = cluster();
  const { leader } = advanceUntil(sim, s => s.leader !== null, 5000, 'an election');
  const write = sim.propose('set x 5');
  advanceUntil(sim, s => s.requests.find(r => r.id === write).outcome === 'ok', 2000, 'the write');
  const follower = leader === 1 ? 2 : 1;
  assert.equal(JSON.parse(sim.runAction(`read ${follower} x`)).ok, true);
  const forwarded = state(sim, { log_to: 0 }).messages.find(m => m.type === 'ClientRequest');
  assert.equal(forwarded.from, follower);
  assert.equal(forwarded.to, leader);
  assert.match(forwarded.summary, /^forwarded get x \(client \d+, seq 1\)$/);
  assert.equal(JSON.parse(sim.message(forwarded.id)).request.key, 'x');
  const missing = sim.read('nothing');
  const s = advanceUntil(sim, s => s.requests.every(r => r.outcome !== 'pending'), 2000, 'the reads');
  const read = s.requests.find(r => r.kind === 'get' && r.key === 'x');
  assert.equal(read.outcome, 'ok');
  assert.equal(read.node, follower);
  assert.equal(read.result, '5');
  assert.equal(s.requests.find(r => r.id === missing).result, null);
  assert.throws(() => sim.read('two words'), /cannot read key 'two words': key may not contain spaces/);
  sim.delete();
});

test('setClientRate() sends a steady stream of requests, and 0 stops it', () => {
  const sim = cluster();
  sim.setClientRate(50);
  sim.advance(4000);
  const s = state(sim, { log_to: 0 });
  assert.ok(s.stats.proposals >= 100 && s.stats.proposals <= 300, `${s.stats.proposals} proposals in 4 s at 50/s`);
  assert.ok(s.stats.committed > 50);
  sim.setClientRate(0);
  sim.advance(3000);
  const quiet = state(sim, { log_to: 0 });
  sim.advance(2000);
  assert.equal(state(sim, { log_to: 0 }).stats.proposals, quiet.stats.proposals);
  sim.delete();
});

test('setNetwork() changes only the settings it names', () => {
  const sim = cluster({ latency_ms: [5, 7] });
  sim.setNetwork(JSON.stringify({ drop: 0.25 }));
  assert.deepEqual(state(sim).network, { drop: 0.25, duplicate: 0, reorder: 0, latency_ms: [5, 7], disk_ms: [1, 3], disk_slow: 0.03, disk_slow_ms: [20, 80] });
  sim.setNetwork(JSON.stringify({ drop: 1 }));
  sim.advance(3000);
  const before = state(sim, { log_to: 0 }).stats;
  sim.advance(3000);
  const after = state(sim, { log_to: 0 }).stats;
  assert.equal(after.messages_delivered, before.messages_delivered, 'drop 1 loses every message');
  assert.ok(after.messages_dropped > before.messages_dropped);
  sim.delete();
});

test('state() shows the config, the election timer and a leader\'s progress', () => {
  const sim = cluster({ nodes: 3, tick_ms: 20, election_tick: 15 });
  const s = advanceUntil(sim, s => s.leader !== null, 5000, 'an election');
  assert.equal(s.tick_ms, 20);
  assert.equal(s.config.nodes, 3);
  assert.equal(s.config.seed, '42');
  assert.equal(s.config.election_tick, 15);
  for (const n of s.nodes) {
    assert.ok(n.election_timeout >= 15 && n.election_timeout < 30, `timeout ${n.election_timeout} ticks`);
    assert.ok(n.election_elapsed >= 0);
    assert.deepEqual(n.faults, []);
  }
  const leader = leaders(s)[0];
  assert.deepEqual(leader.progress.map(p => p.peer).sort(), [1, 2, 3].filter(n => n !== leader.id));
  for (const p of leader.progress) assert.ok(p.next_index > p.match_index);
  assert.ok(s.nodes.filter(n => n.role !== 'leader').every(n => !('progress' in n)));
  sim.setFault(2, 'ack_before_persist', true);
  assert.deepEqual(state(sim).nodes[1].faults, ['ack_before_persist']);
  sim.delete();
});

test('campaign() makes a node stand for election now', () => {
  for (const target of [2, 3]) {
    const sim = cluster({ nodes: 3, seed: 9 });
    assert.equal(sim.campaign(target), true);
    const s = advanceUntil(sim, s => s.leader !== null, 1000, 'an election');
    assert.equal(s.leader, target);
    assert.equal(s.time_ms < 500, true, 'won before any election timer ran out');
    sim.crash(1);
    assert.equal(sim.campaign(1), false, 'a crashed node cannot campaign');
    sim.delete();
  }
});

// A candidate's tally counts its own vote and each granted reply that has arrived;
// one still travelling is not counted yet.
test('a candidate shows votes granted of votes needed, counting replies as they arrive', () => {
  const sim = cluster({ pre_vote: false });
  for (const peer of [3, 4, 5]) { sim.cut(1, peer); sim.cut(peer, 1); }
  assert.equal(sim.campaign(1), true);
  let s = state(sim);
  assert.equal(s.nodes[0].role, 'candidate');
  assert.deepEqual(s.nodes[0].votes, { granted: 1, needed: 3 });
  for (const n of s.nodes.slice(1)) assert.equal(n.votes, undefined, 'only candidates have a tally');
  let sawReplyInFlight = false;
  for (let i = 0; i < 200; i++) {
    sim.step();
    s = state(sim);
    const reply = s.messages.find(m => m.type === 'VoteResp' && m.from === 2 && m.to === 1 && m.granted);
    if (reply) {
      sawReplyInFlight = true;
      assert.deepEqual(s.nodes[0].votes, { granted: 1, needed: 3 }, 'a vote on its way is not counted yet');
    }
    if (sawReplyInFlight && !reply) break;
  }
  assert.ok(sawReplyInFlight);
  assert.deepEqual(s.nodes[0].votes, { granted: 2, needed: 3 }, 'S2 voted for S1; S3..S5 cannot hear it');
  assert.equal(s.nodes[0].role, 'candidate');
  sim.delete();
});

// lose(id) drops a message in flight when it would arrive: it is marked `lost` meanwhile,
// its receiver never sees it, and a message not in flight is an error.
test('lose() drops a message in flight, and messages dropped at the send are listed in `dropped`', () => {
  const sim = cluster({ nodes: 3, pre_vote: false });
  sim.campaign(1);
  let s = state(sim), ask;
  for (let i = 0; i < 50 && !ask; i++, s = state(sim)) {
    ask = s.messages.find(m => m.type === 'Vote' && m.to === 2);
    if (!ask) sim.step();
  }
  assert.ok(ask, 'S1 asks S2 for its vote once its own vote is on disk');
  sim.lose(ask.id);
  s = state(sim);
  assert.equal(s.messages.find(m => m.id === ask.id).lost, true);
  assert.equal(s.messages.find(m => m.id !== ask.id).lost, undefined);
  const dropped = s.stats.messages_dropped;
  sim.advance(ask.arrives_ms - s.time_ms);
  s = state(sim);
  assert.equal(s.stats.messages_dropped, dropped + 1);
  assert.equal(s.nodes[1].voted_for, 0, 'S2 never got the vote request');
  assert.throws(() => sim.lose(ask.id), /message \d+ is not in flight/);
  assert.throws(() => sim.lose(0.5), /whole number/);

  assert.deepEqual(s.dropped, []);
  sim.cut(1, 3);
  sim.advance(400);
  s = state(sim);
  assert.ok(s.dropped.length > 0);
  for (const m of s.dropped) {
    assert.deepEqual([m.from, m.to], [1, 3]);
    assert.equal(m.sent_ms, m.arrives_ms);
  }
  sim.delete();
});

test('snapshotContents(n) decodes a node\'s newest snapshot: the leader\'s, as installed on the follower it was sent to', async () => {
  const { runScript, readScenario } = await import('./raftbook.mjs');
  const { sim, results } = await runScript(readScenario('snapshot_catch_up.txt'));
  assert.deepEqual(results.filter(r => !r.ok), []);
  const s = state(sim, { log_from: 1, log_to: 0 });
  const snaps = [1, 2, 3].map(n => JSON.parse(sim.snapshotContents(n)));
  for (const [i, snap] of snaps.entries()) {
    assert.deepEqual({ index: snap.index, term: snap.term, bytes: snap.bytes }, s.nodes[i].snapshot, `node ${i + 1}'s snapshot as state() has it`);
  }
  assert.equal(snaps[2].index, snaps[0].index, 'node 3 installed node 1\'s snapshot');
  assert.deepEqual(snaps[2].kv, snaps[0].kv, '...and holds the same key-value state');
  assert.ok(Object.keys(snaps[0].kv).length >= 5, `the lesson's writes are in it: ${JSON.stringify(snaps[0].kv)}`);
  // The state as of the snapshot's index: its entries after it, applied, give node 1's map.
  const node1 = state(sim).nodes[0];
  const kv = { ...snaps[0].kv };
  for (const e of node1.log.filter(x => x.index > snaps[0].index && x.type === 'Command')) {
    const [op, key, ...value] = e.command.split(' ');
    if (op === 'set') kv[key] = value.join(' '); else delete kv[key];
  }
  assert.ok(node1.applied_index > snaps[0].index, 'node 1 applied entries after its snapshot');
  assert.notDeepEqual(snaps[0].kv, node1.kv, '...which changed its map');
  assert.deepEqual(kv, node1.kv, 'the snapshot holds the state at its own index, not the node\'s current one');
  sim.crash(3);
  assert.deepEqual(JSON.parse(sim.snapshotContents(3)).kv, snaps[2].kv, 'a crashed node\'s: the one on its disk');
  assert.throws(() => sim.snapshotContents(4), /node/);
  sim.delete();
  const fresh = cluster({ nodes: 3 });
  assert.deepEqual(JSON.parse(fresh.snapshotContents(1)), { bytes: 0, index: 0, kv: {}, term: 0 }, 'none yet');
  fresh.delete();
});

test('a clone continues exactly as the original, and stands alone', () => {
  const sim = cluster({ snapshot_entries: 10 });
  sim.setClientRate(50);
  sim.advance(2000);
  sim.crash(2);
  sim.advance(700);
  const copy = sim.clone();
  assert.equal(copy.traceHash(), sim.traceHash());
  for (const s of [sim, copy]) {
    s.restart(2);
    s.advance(3000);
  }
  const expected = state(sim);
  sim.delete();
  copy.advance(0);
  assert.deepEqual(state(copy), expected);
  copy.delete();
});
