// rb.BrowserNode, the page's live node, through its JavaScript API. No native node runs
// here, so the test plays the native end of the link itself, in JSON text frames (a
// native node sends CBOR; the node decodes either): the handshake with and without a
// token, garbage on the link, a request that cannot be answered, and status().
// tests/core/browser_node_test.cpp runs the same node against a real native side.
import assert from 'node:assert/strict';
import { test } from 'node:test';

import { loadRaftbook } from './raftbook.mjs';

const rb = await loadRaftbook();

const members = [
  { id: 1, peer: '127.0.0.1:7001', http: '127.0.0.1:8001', voter: true, kind: 'native', connected: true },
  { id: 2, peer: '127.0.0.1:7002', http: '127.0.0.1:8002', voter: true, kind: 'native', via: null },
  { id: 3, peer: '127.0.0.1:7003', http: '127.0.0.1:8003', voter: true, kind: 'native' },
];

function config(extra = {}) {
  return JSON.stringify({
    id: 4242, cluster_id: 'c1', token: '', random: ['12345678901234567890', '42'], members,
    promote_self: false, election_tick: 10, heartbeat_tick: 1, ...extra,
  });
}

const outbox = n => JSON.parse(n.takeOutbox()).map(text => JSON.parse(text));
const nativeHello = (from, nonce) => JSON.stringify({ v: 1, cluster: 'c1', type: 'Hello', from, nonce });

test('linkUp puts a Hello with a fresh nonce in the outbox', () => {
  const n = new rb.BrowserNode(config(), 0);
  n.linkUp(2, 10);
  const [hello, ...rest] = outbox(n);
  assert.equal(rest.length, 0);
  assert.equal(hello.type, 'Hello');
  assert.equal(hello.from, 4242);
  assert.equal(hello.cluster, 'c1');
  assert.match(hello.nonce, /^[0-9a-f]{32}$/);
  assert.deepEqual(outbox(n), [], 'taken once');
  n.linkDown(20);
  n.linkUp(1, 30);
  assert.notEqual(outbox(n)[0].nonce, hello.nonce);
  n.delete();
});

test('with a token, the native Hello is answered by an Auth with a proof; without one, by nothing', () => {
  const n = new rb.BrowserNode(config({ token: 's3cret' }), 0);
  n.linkUp(2, 0);
  outbox(n);
  assert.equal(n.receive(nativeHello(2, 'ab'.repeat(16)), true, 1), '');
  const frames = outbox(n);
  const auth = frames.find(f => f.type === 'Auth');
  assert.ok(auth, `an Auth in ${JSON.stringify(frames)}`);
  assert.match(auth.proof, /^[0-9a-f]{64}$/);
  // A wrong proof from the native side closes the link, saying why.
  const reason = n.receive(JSON.stringify({ v: 1, cluster: 'c1', type: 'Auth', from: 2, proof: '00'.repeat(32) }), true, 2);
  assert.match(reason, /^wrong token/);
  n.delete();

  const open = new rb.BrowserNode(config(), 0);
  open.linkUp(2, 0);
  outbox(open);
  assert.equal(open.receive(nativeHello(2, 'ab'.repeat(16)), true, 1), '');
  assert.equal(outbox(open).filter(f => f.type === 'Auth').length, 0);
  // Without a token an Auth is ignored, and the link is up.
  assert.equal(open.receive(JSON.stringify({ v: 1, cluster: 'c1', type: 'Auth', from: 2, proof: 'ff' }), true, 2), '');
  assert.equal(JSON.parse(open.status()).link.up, true);
  open.delete();
});

test('garbage on the link gets a close reason, as text or as bytes, and the node keeps working', () => {
  const n = new rb.BrowserNode(config(), 0);
  n.linkUp(2, 0);
  assert.match(n.receive('{not json', true, 1), /^undecodable frame from node 2/);
  assert.match(n.receive(new Uint8Array([0xff, 0x00, 0x13, 0x37]), false, 2), /^undecodable frame from node 2/);
  assert.match(n.receive(new Uint8Array([0xa1, 0x61, 0x76]).buffer, false, 3), /^undecodable frame/);
  assert.match(n.receive(JSON.stringify({ v: 1, cluster: 'c1', type: 'Append', from: 2, to: 4242 }), true, 4),
               /first frame must be Hello, got Append/);
  assert.match(n.receive(nativeHello(2, '').replace('c1', 'c9'), true, 5), /this node is in cluster 'c1'/);
  assert.equal(n.receive(nativeHello(2, ''), true, 6), '');
  assert.equal(JSON.parse(n.status()).link.up, true);
  n.delete();
});

test('a request that cannot reach the cluster is answered with an error once it times out', () => {
  const n = new rb.BrowserNode(config(), 0);
  const get = n.submit(JSON.stringify({ op: 'get', key: 'x' }), 0);
  const put = n.submit(JSON.stringify({ op: 'put', key: 'x', value: '1' }), 0);
  assert.notEqual(get, put);
  let replies = [];
  for (let now = 50; now <= 4000 && replies.length < 2; now += 50) {
    n.tick(now);
    replies = replies.concat(JSON.parse(n.takeReplies()));
  }
  assert.deepEqual(replies.map(r => r.handle).sort(), [get, put].sort());
  for (const { reply } of replies) {
    assert.equal(reply.ok, false);
    assert.ok(reply.error.length > 0);
  }
  assert.deepEqual(JSON.parse(n.takeReplies()), [], 'each answered once');
  n.delete();
});

test('status() is JSON: the node, its configuration with kinds, and its link', () => {
  const n = new rb.BrowserNode(config(), 0);
  const s = JSON.parse(n.status());
  assert.equal(s.id, 4242);
  assert.equal(s.cluster_id, 'c1');
  assert.equal(s.joined, false);
  assert.equal(s.voter, false);
  assert.deepEqual(s.link, { via: null, up: false });
  assert.deepEqual(s.members.map(m => [m.id, m.kind, m.voter]), [[1, 'native', true], [2, 'native', true], [3, 'native', true]]);
  assert.deepEqual(s.log_tail, []);
  n.delete();
});

test('mistakes throw an Error that says what was wrong', () => {
  assert.throws(() => new rb.BrowserNode('{', 0), /config is not valid JSON/);
  assert.throws(() => new rb.BrowserNode(config({ id: 2 }), 0), /id 2 is used in this cluster already/);
  assert.throws(() => new rb.BrowserNode(config({ random: [1, 2] }), 0), /random\[0\] must be a 64-bit whole number/);
  assert.throws(() => new rb.BrowserNode(config({ tokn: 'x' }), 0), /unknown config key 'tokn'/);
  // The cluster's absent-browser rule, as a native /status gives it, which the node applies should it lead.
  new rb.BrowserNode(config({ remove_absent_browsers_after_ms: 3000, min_voters: 2 }), 0).delete();
  assert.throws(() => new rb.BrowserNode(config({ remove_absent_browsers_after_ms: -1 }), 0),
    /remove_absent_browsers_after_ms must be a whole number of ms/);
  assert.throws(() => new rb.BrowserNode(config({ min_voters: 0 }), 0), /min_voters must be a whole number/);
  assert.throws(() => new rb.BrowserNode(config({ members: [] }), 0), /members must be the members array/);
  const n = new rb.BrowserNode(config(), 0);
  assert.throws(() => n.submit('{"op": "fly"}', 0), /request: .*op/);
  assert.throws(() => n.linkUp(0, 0), /linkUp\(viaId\) must be a node id/);
  assert.equal(JSON.parse(n.status()).id, 4242, 'still working');
  n.delete();
});
