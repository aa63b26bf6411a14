// live_state.js under Node (no browser): what the live page draws of a real cluster
// from the natives' /status and this tab's node. A member's row shows this tab's
// entries only where they are known to be its entries too (committed on both; for
// another browser, what the leader knows it holds), and a browser is linked only to
// the native it is connected through.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { liveState } from '../../web/js/live_state.js';

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
