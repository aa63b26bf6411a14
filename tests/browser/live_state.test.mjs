// live_state.js under Node (no browser): what the live page draws of a real cluster
// from the natives' /status and this tab's node. A member's row shows this tab's
// entries only where they are known to be its entries too (committed on both; for
// another browser, what the leader knows it holds), and a browser is linked only to
// the native it is connected through.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { FLIGHT_MS, liveState } from '../../web/js/live_state.js';

const members = [
  { id: 4711, kind: 'browser', voter: false, peer: '', http: '' },
  { id: 2, kind: 'native', voter: true, peer: 'p2', http: 'h2' },
  { id: 1, kind: 'native', voter: true, peer: 'p1', http: 'h1' },
  { id: 5000, kind: 'browser', voter: true, peer: '', http: '', via: 2 },
];
const native = (id, over) => ({ up: true, status: { id, role: 'follower', term: 3, leader: 1, commit_index: 6, applied_index: 6,
  log_first_index: 1, log_last_index: 8, snapshot_index: 0, members: [], ...over } });
const natives = new Map([
  [1, native(1, { role: 'leader', commit_index: 8, applied_index: 8, members: [
    { id: 1, match_index: 8, connected: true }, { id: 2, match_index: 8, connected: true },
    { id: 4711, match_index: 7, connected: true, kind: 'browser', via: 1 }, { id: 5000, match_index: 5, connected: false, kind: 'browser', via: 2 }] })],
  [2, native(2, { members: [{ id: 1, connected: true }, { id: 5000, connected: true, kind: 'browser', via: 2 }] })],
]);
const self = { role: 'follower', term: 3, leader: 1, commit_index: 7, applied_index: 7, log_first_index: 1, log_last_index: 8,
  joined: true, link: { via: 1, up: true },
  log_tail: Array.from({ length: 8 }, (_, i) => ({ index: i + 1, term: 3, type: i ? 'Command' : 'NoOp' })) };
const state = liveState({ members, natives, self, selfId: 4711, win: { from: 1, to: 20 }, now: 0 });
const byLabel = (l) => state.nodes.find((n) => n.label === l);

test('natives come first, then browsers, each by id; each is marked native, browser or this tab', () => {
  assert.deepEqual(state.nodes.map((n) => n.label), ['S1', 'S2', 'S4711', 'S5000']);
  assert.deepEqual(state.nodes.map((n) => n.kind), ['native', 'native', 'browser', 'browser']);
  assert.deepEqual(state.nodes.map((n) => !!n.self), [false, false, true, false]);
  assert.equal(byLabel('S4711').cluster_member, 'learner');
  assert.equal(state.leader, byLabel('S1').id);
});

test('a native\'s row holds this tab\'s entries up to the lower commit index; another browser\'s up to its match', () => {
  const last = (n) => Math.max(0, ...n.log.map((e) => e.index));
  assert.equal(last(byLabel('S1')), 7);   // leader committed 8, this tab 7
  assert.equal(last(byLabel('S2')), 6);   // node 2 committed 6
  assert.equal(last(byLabel('S4711')), 8);  // this tab: its whole tail
  assert.equal(last(byLabel('S5000')), 5);  // the leader knows it holds 5
  assert.equal(byLabel('S5000').commit_index, null);
  assert.deepEqual(byLabel('S1').progress.find((p) => p.peer === byLabel('S5000').id).match_index, 5);
});

test('a browser is linked only to the native it is connected through', () => {
  const pos = (l) => byLabel(l).id;
  const link = (a, b) => `${Math.min(pos(a), pos(b))}-${Math.max(pos(a), pos(b))}`;
  assert.deepEqual(new Set(state.links), new Set([link('S1', 'S2'), link('S1', 'S4711'), link('S2', 'S5000')]));
});

test('a tab not yet in the configuration is drawn as joining; a native that stopped answering as down', () => {
  const away = new Map([...natives, [2, { ...natives.get(2), up: false }]]);
  const s = liveState({ members: members.filter((m) => m.id !== 4711), natives: away, self: { ...self, joined: false }, selfId: 4711, win: { from: 1, to: 20 }, now: 0 });
  const me = s.nodes.find((n) => n.label === 'S4711');
  assert.equal(me.cluster_member, 'joining');
  assert.equal(s.nodes.find((n) => n.label === 'S2').up, false);
});

// This tab (S4711) is connected through S1, the leader. At now = 1000: a heartbeat
// from S1 taken 60 ms ago (a fifth of its flight), an AppendResp this tab sent to S2
// 200 ms ago (relayed by S1: second leg, from S1 to S2, a third of the way), a
// ClientRequest sent 10 ms ago, and frames of the last second that have landed.
const frame = (over) => ({ term: 3, index: 0, log_term: 0, commit: 0, entries: 0, reject: false, ...over });
const seeing = { ...self, recent_frames: [
  frame({ at_ms: 0, dir: 'received', type: 'Append', from: 1, to: 4711, index: 7, entries: 1 }),  // a second old
  frame({ at_ms: 650, dir: 'sent', type: 'AppendResp', from: 4711, to: 1, index: 8 }),            // landed 50 ms ago
  frame({ at_ms: 800, dir: 'sent', type: 'AppendResp', from: 4711, to: 2, index: 8 }),
  frame({ at_ms: 940, dir: 'received', type: 'Heartbeat', from: 1, to: 4711, commit: 7 }),
  frame({ at_ms: 990, dir: 'sent', type: 'ClientRequest', from: 4711, to: 1, op: 'put', key: 'k' }),
  frame({ at_ms: 995, dir: 'sent', type: 'Hello', from: 4711, to: 1 }),                            // the link's own
] };

test('the frames this tab sent and took are in flight along the path they took, for FLIGHT_MS, then gone', () => {
  const s = liveState({ members, natives, self: seeing, selfId: 4711, win: { from: 1, to: 20 }, now: 1000 });
  const at = (l) => s.nodes.find((n) => n.label === l).id;
  const progress = (m) => (1000 - m.sent_ms) / (m.arrives_ms - m.sent_ms);
  assert.equal(FLIGHT_MS, 300);
  assert.deepEqual(s.messages.map((m) => m.type), ['AppendResp', 'Heartbeat', 'ClientRequest']);
  const [resp, heartbeat, request] = s.messages;
  assert.deepEqual([resp.from, resp.to, resp.success, resp.index], [at('S1'), at('S2'), true, 8]);
  assert.ok(Math.abs(progress(resp) - 1 / 3) < 1e-9);
  assert.deepEqual([heartbeat.from, heartbeat.to, heartbeat.commit], [at('S1'), at('S4711'), 7]);
  assert.ok(Math.abs(progress(heartbeat) - 0.2) < 1e-9);
  assert.deepEqual([request.from, request.to, request.op, request.key], [at('S4711'), at('S1'), 'put', 'k']);
  assert.equal(new Set(s.messages.map((m) => m.id)).size, 3);
});

test('a relayed frame crosses the tab\'s own link first, and without a link goes straight', () => {
  const early = liveState({ members, natives, self: seeing, selfId: 4711, win: { from: 1, to: 20 }, now: 850 });
  const at = (l) => early.nodes.find((n) => n.label === l).id;
  const resp = early.messages.find((m) => m.type === 'AppendResp' && m.sent_ms >= 800);
  assert.deepEqual([resp.from, resp.to, resp.sent_ms, resp.arrives_ms], [at('S4711'), at('S1'), 800, 950]);
  const unlinked = liveState({ members, natives, self: { ...seeing, link: { via: null, up: false } }, selfId: 4711, win: { from: 1, to: 20 }, now: 850 });
  const straight = unlinked.messages.find((m) => m.type === 'AppendResp' && m.sent_ms >= 800);
  assert.deepEqual([straight.from, straight.to, straight.arrives_ms], [at('S4711'), at('S2'), 1100]);
});
