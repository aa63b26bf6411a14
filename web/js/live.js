// Live mode: this tab runs a real Raft node in a cluster of native `raftbook serve`
// nodes (issue 13). Opened as `?join` from a native node's own page (join the cluster
// of the node that served it: location.host) or `?join=HOST:HTTPPORT` from anywhere
// (the native HTTP API answers cross-origin requests); a `#token=` fragment, or the
// token field when the cluster refuses, gives the cluster's token, kept in memory only.
//
// The node is rb.BrowserNode (core/runtime/browser_node.h): the same core and runtime
// as a native node. This file is only its host, and moves bytes and time, nothing else:
// - it asks a member's /status for the cluster id and the members, and picks a fresh
//   id (1000..9999, neither a member nor removed: a tab's memory dies with it, so it
//   never comes back under an id whose vote or log it forgot);
// - it opens one WebSocket at a time, ws://PEER/raft to a native member, passes
//   every message to the node (receive), sends whatever the node queued (takeOutbox)
//   after every call, and closes the link with the node's reason when it gives one;
// - it calls tick every 50 ms with the real clock; when the link closes it tells the
//   node (linkDown) and, after a short backoff, dials the next native member;
// - the page's buttons and forms become node.promote / leave / submit, and their
//   answers come back through takeReplies.
// Joining, forwarding, retries and promotion are the node's business, not this file's.
//
// The view: every native member's /status, polled every 500 ms, plus this tab's own
// status, is turned into the simulator's state shape (live_state.js) and drawn by the
// playground's own ring, messages and log grid, with native and browser members marked;
// the messages are the frames this tab's node sent and took, replayed for a moment.

import { ClusterView } from './cluster_view.js';
import { escapeHtml as h, showHtml } from './format.js';
import { isBrowser, liveState } from './live_state.js';
import { LogView } from './log_view.js';
import { MessagesView } from './messages_view.js';
import { loadRaftbook } from './wasm_module.js';

const $ = (id) => document.getElementById(id);
const TICK_MS = 50;         // one Raft tick (election_tick 10: elections after 0.5–1 s of silence)
const POLL_MS = 500;        // how often each native member's /status is read
const BACKOFF_MS = [200, 500, 1000, 2000, 4000];  // before redialling, by failures in a row
const FRESH_IDS = [1000, 9999];
const REQUESTS_SHOWN = 8;

// Where to join, and the token, from the URL: ?join (this page's own host) or
// ?join=HOST:PORT; #token=T. The fragment is cleared from the address bar at once.
export function joinTarget(loc) {
  const join = new URLSearchParams(loc.search).get('join');
  const token = new URLSearchParams(loc.hash.replace(/^#/, '')).get('token') ?? '';
  return { address: join ? join : loc.host, token };
}

function randomU64() {
  return crypto.getRandomValues(new BigUint64Array(1))[0].toString();
}

// A random id in FRESH_IDS that `status` shows neither as a member nor as removed.
function freshId(status, alsoAvoid) {
  const taken = new Set([...(status.members ?? []).map((m) => m.id), ...(status.removed ?? []), ...alsoAvoid]);
  for (;;) {
    const id = FRESH_IDS[0] + Math.floor(Math.random() * (FRESH_IDS[1] - FRESH_IDS[0] + 1));
    if (!taken.has(id)) return id;
  }
}

async function fetchStatus(http) {
  const res = await fetch(`http://${http}/status`, { cache: 'no-store', signal: AbortSignal.timeout(2000) });
  if (!res.ok) throw new Error(`${http}/status answered ${res.status}`);
  return res.json();
}

class Live {
  constructor(rb, target) {
    this.rb = rb;
    this.target = target;      // { address, token }
    this.token = target.token;
    this.node = null;          // the rb.BrowserNode
    this.id = 0;
    this.usedIds = [];         // ids this tab has tried: never again
    this.members = [];         // the configuration as last known (this node's, else a native's)
    this.clusterId = '';
    this.natives = new Map();  // id -> { status, up }: each native's last /status
    this.self = null;          // this node's status, as of the last frame
    this.ws = null;
    this.via = 0;              // the native the link goes (or is being dialled) to
    this.failures = 0;         // link failures in a row
    this.reconnect = null;
    this.closeReason = '';
    this.pending = new Map();  // handle -> what to do with its reply
    this.requests = [];        // what the client box lists, newest first
    this.requestCount = 0;     // requests made so far (each row's number)
    this.dirty = true;

    this.cluster = new ClusterView($('cluster'));
    this.cluster.onLayout = () => { this.dirty = true; };
    this.messages = new MessagesView($('messages'), this.cluster);  // drawn only: no inspector here to click into
    this.logs = new LogView($('log-grid'), $('follow'));
    this.logs.onChange = () => { this.dirty = true; };
    $('follow').addEventListener('change', () => { this.dirty = true; });
    $('live-promote').addEventListener('click', () => this.call('promote', 'become a voter'));
    $('live-leave').addEventListener('click', () => this.call('leave', 'leave the cluster'));
    $('put-form').addEventListener('submit', (ev) => {
      ev.preventDefault();
      const key = $('put-key').value, value = $('put-value').value;
      this.request({ op: 'put', key, value }, `put ${key} ${value}`);
    });
    $('get-form').addEventListener('submit', (ev) => {
      ev.preventDefault();
      const key = $('get-key').value;
      this.request({ op: 'get', key }, `get ${key}`);
    });
    $('token-form').addEventListener('submit', (ev) => {
      ev.preventDefault();
      this.token = $('token-input').value;
      $('token-input').value = '';
      $('token-form').hidden = true;
      this.restart();
    });
  }

  async start() {
    this.setStatus('connecting', `reading the cluster from ${this.target.address}…`);
    for (;;) {
      try {
        const status = await fetchStatus(this.target.address);
        if (!status.cluster_id) throw new Error(`${this.target.address} has not joined a cluster yet`);
        this.adopt(status);
        break;
      } catch (err) {
        this.setStatus('connecting', `cannot read ${this.target.address}/status (${err.message}); retrying…`);
        await new Promise((r) => setTimeout(r, 1000));
      }
    }
    this.restart();
    setInterval(() => this.tick(), TICK_MS);
    setInterval(() => this.poll(), POLL_MS);
    this.poll();
    requestAnimationFrame(() => this.frame());
  }

  // A member's /status: the cluster's id and configuration.
  adopt(status) {
    this.clusterId = status.cluster_id;
    this.joinStatus = status;
    this.members = status.members.map((m) => ({ ...m }));
  }

  // A new node under a fresh id (at start; after the cluster refused the id; with a
  // new token). The old node, if any, is dropped with its link.
  restart() {
    this.dropLink();
    if (this.node) this.node.delete();
    // The newest configuration known: a native's that answered, else the first /status.
    let known = this.joinStatus;
    for (const [, n] of this.natives) if (n.up && n.status.membership_index > known.membership_index) known = n.status;
    this.joinStatus = known;
    this.id = freshId(known, this.usedIds);
    this.usedIds.push(this.id);
    this.pending.clear();
    const config = {
      id: this.id, cluster_id: this.clusterId, token: this.token, random: [randomU64(), randomU64()],
      members: known.members, removed: known.removed ?? [], promote_self: false, election_tick: 10, heartbeat_tick: 1,
      // The cluster's absent-browser rule, which this tab applies should it lead.
      ...(known.remove_absent_browsers_after_ms !== undefined
        ? { remove_absent_browsers_after_ms: known.remove_absent_browsers_after_ms, min_voters: known.min_voters } : {}),
    };
    this.node = new this.rb.BrowserNode(JSON.stringify(config), performance.now());
    this.failures = 0;
    this.via = 0;
    this.connect();
  }

  // The native members, in the order to try them: the one the page was told to join
  // through first, then the others by id.
  nativeMembers() {
    const natives = this.members.filter((m) => !isBrowser(m) && m.peer);
    const first = natives.filter((m) => m.http === this.target.address);
    return [...first, ...natives.filter((m) => m.http !== this.target.address).sort((a, b) => a.id - b.id)];
  }

  // Opens the link to the next native member after this.via (one that answered the
  // last poll, if any does).
  connect() {
    this.reconnect = null;
    const all = this.nativeMembers();
    if (!all.length) {
      this.setStatus('refused', 'no native member to connect to');
      return;
    }
    const answering = all.filter((m) => !this.natives.has(m.id) || this.natives.get(m.id).up);
    const choice = answering.length ? answering : all;
    const at = choice.findIndex((m) => m.id === this.via);
    const next = this.via && at >= 0 && this.failures > 0 ? choice[(at + 1) % choice.length] : choice[at >= 0 ? at : 0];
    this.via = next.id;
    this.closeReason = '';
    const ws = new WebSocket(`ws://${next.peer}/raft`);
    ws.binaryType = 'arraybuffer';
    this.ws = ws;
    this.dirty = true;
    ws.onopen = () => {
      if (this.ws !== ws) return;
      this.node.linkUp(next.id, performance.now());
      this.pump();
    };
    ws.onmessage = (ev) => {
      if (this.ws !== ws) return;
      const text = typeof ev.data === 'string';
      const reason = this.node.receive(text ? ev.data : new Uint8Array(ev.data), text, performance.now());
      this.failures = 0;
      this.pump();
      if (reason) this.closeLink(reason);
    };
    ws.onclose = (ev) => {
      if (this.ws !== ws) return;
      this.linkClosed(ev.code, ev.reason || this.closeReason);
    };
  }

  // The node asked to close the link (a failed proof, removal, bad bytes).
  closeLink(reason) {
    this.closeReason = reason;
    const ws = this.ws;
    // A close reason is at most 123 bytes of UTF-8.
    ws.close(4000, new TextDecoder().decode(new TextEncoder().encode(reason).slice(0, 120)).replace(/\uFFFD$/, ''));
    this.linkClosed(4000, reason);
  }

  // code: the WebSocket close code (4001: the cluster removed this node).
  linkClosed(code, reason) {
    this.ws = null;
    this.node.linkClosed(code, performance.now());
    this.pump();
    this.dirty = true;
    this.lastReason = reason;
    if (JSON.parse(this.node.status()).removed_from_cluster) return;
    if (/token/i.test(reason)) {  // "wrong token", "this cluster needs a token: ..."
      this.setStatus('refused', `refused: ${reason}`);
      $('token-form').hidden = false;
      $('token-input').focus();
      return;
    }
    if (/already a member|was removed/i.test(reason)) {  // the id is taken: another one
      this.restart();
      return;
    }
    const wait = BACKOFF_MS[Math.min(this.failures, BACKOFF_MS.length - 1)];
    this.failures++;
    this.reconnect = setTimeout(() => this.connect(), wait);
  }

  dropLink() {
    clearTimeout(this.reconnect);
    this.reconnect = null;
    if (this.ws) {
      const ws = this.ws;
      this.ws = null;
      ws.close();
    }
  }

  // Sends what the node queued, and hands out the replies it has.
  pump() {
    const frames = JSON.parse(this.node.takeOutbox());
    if (this.ws && this.ws.readyState === WebSocket.OPEN) for (const f of frames) this.ws.send(f);
    for (const { handle, reply } of JSON.parse(this.node.takeReplies())) {
      const done = this.pending.get(handle);
      this.pending.delete(handle);
      if (done) done(reply);
    }
    this.dirty = true;
  }

  tick() {
    if (!this.node) return;
    this.node.tick(performance.now());
    this.pump();
  }

  // Reads every native member's /status; a member that does not answer keeps its last
  // status, marked down. The configuration shown is this node's once it has one.
  async poll() {
    if (this.polling) return;
    this.polling = true;
    try {
      await Promise.all(this.nativeMembers().filter((m) => m.http).map(async (m) => {
        try {
          this.natives.set(m.id, { status: await fetchStatus(m.http), up: true });
        } catch {
          const last = this.natives.get(m.id);
          if (last) last.up = false;
          else this.natives.set(m.id, { status: {}, up: false });
        }
      }));
      for (const id of [...this.natives.keys()]) if (!this.members.some((m) => m.id === id)) this.natives.delete(id);
      if (!this.self || !this.self.joined) {
        // Until this node is in the configuration, the newest a native reports.
        let best = null;
        for (const [, n] of this.natives) {
          if (n.up && n.status.members && (!best || n.status.membership_index > best.membership_index)) best = n.status;
        }
        if (best) this.members = best.members.map((m) => ({ ...m }));
      }
    } finally {
      this.polling = false;
      this.dirty = true;
    }
  }

  // One request through the node; its answer goes in the client box.
  request(req, text) {
    if (!this.node) return;
    const row = this.addRow(text);
    const handle = this.node.submit(JSON.stringify(req), performance.now());
    this.pending.set(handle, (reply) => {
      [row.answer, row.cls] = answerOf(req.op, reply);
      this.dirty = true;
    });
    this.pump();
  }

  // promote / leave: this node's own membership.
  call(what, text) {
    if (!this.node) return;
    const row = this.addRow(text);
    const handle = this.node[what](performance.now());
    this.pending.set(handle, (reply) => {
      [row.answer, row.cls] = reply.ok ? ['done', 'ok'] : [`refused: ${reply.error}`, 'fail'];
      this.dirty = true;
    });
    this.pump();
  }

  addRow(text) {
    const row = { n: ++this.requestCount, text, answer: 'pending…', cls: 'pending' };
    this.requests.unshift(row);
    this.requests.length = Math.min(this.requests.length, REQUESTS_SHOWN);
    return row;
  }

  frame() {
    try {
      // Messages in flight move every frame.
      if (this.dirty || (this.state && this.state.messages.length)) this.render();
    } finally {
      requestAnimationFrame(() => this.frame());
    }
  }

  render() {
    this.dirty = false;
    this.self = JSON.parse(this.node.status());
    // The cluster refused this id (a member, or removed, meanwhile): another one.
    if (!this.self.joined && /already a member|was removed/i.test(this.self.join_error ?? '')) {
      this.restart();
      this.self = JSON.parse(this.node.status());
    }
    if (this.self.joined && this.self.members) this.members = this.self.members.map((m) => ({ ...m }));
    const win = this.logs.window();
    const state = liveState({ members: this.members, natives: this.natives, self: this.self, selfId: this.id, win, now: performance.now() });
    this.state = state;
    if (state.nodes.length !== this.cluster.count) {
      this.cluster.setCount(state.nodes.length);
      this.logs.setCount(state.nodes.length);
    }
    this.cluster.render(state, state.time_ms, null);
    this.messages.render(state.messages, state.time_ms, null, state);
    this.logs.render(state, null, new Set());
    this.renderStatus();
    this.renderMembers();
    this.renderRequests();
  }

  renderStatus() {
    const s = this.self;
    const via = this.ws && this.ws.readyState === WebSocket.OPEN ? this.via : 0;
    const voter = s.joined && this.members.some((m) => m.id === this.id && m.voter);
    const removed = !!s.removed_from_cluster;
    $('live-promote').disabled = !s.joined || voter || removed;
    $('live-leave').disabled = !s.joined || removed;
    const link = via ? `via node ${via}` : this.reconnect ? `link down (${this.lastReason || 'closed'}); redialling` : `dialling node ${this.via}`;
    if (removed) this.setStatus('removed', `S${this.id} was removed from the cluster`);
    else if (!$('token-form').hidden) return;
    else if (s.joined) this.setStatus(voter ? 'voter' : 'learner', `joined as ${voter ? 'a voter' : 'a learner'}, S${this.id}, ${link}${s.role === 'leader' ? ' — and leads' : ''}`);
    else this.setStatus(via ? 'joining' : 'connecting', `${via ? 'joining' : 'connecting'} as S${this.id}, ${link}`);
    $('live-facts').innerHTML = [
      ['node', `S${this.id}`], ['cluster', this.clusterId], ['role', s.role ?? '—'], ['term', s.term ?? 0],
      ['commit / applied', `${s.commit_index ?? 0} / ${s.applied_index ?? 0}`], ['link', link],
    ].map(([k, v]) => `<dt>${h(k)}</dt><dd>${h(v)}</dd>`).join('');
  }

  setStatus(state, text) {
    const box = $('live-status');
    box.dataset.state = state;
    box.dataset.id = this.id;
    box.dataset.via = this.ws && this.ws.readyState === WebSocket.OPEN ? this.via : '';
    if (box.textContent !== text) box.textContent = text;
  }

  renderMembers() {
    const rows = this.state.nodes.map((n) => {
      const m = this.members.find((x) => `S${x.id}` === n.label) ?? {};
      const via = n.kind === 'browser' ? n.via : 0;
      const answering = n.kind === 'native' ? (n.up ? 'answering' : 'not answering') : '';
      return `<tr data-member="${m.id}" data-kind="${n.kind}" class="${n.self ? 'self' : ''}"><td>${h(n.label)}</td><td>${h(n.self ? 'this tab' : n.kind)}</td>` +
        `<td>${h(n.cluster_member)}</td><td>${h(via ? `via S${via}` : n.kind === 'browser' ? '—' : answering)}</td></tr>`;
    }).join('');
    const html = `<tr><th>id</th><th>kind</th><th>member</th><th>link</th></tr>${rows}`;
    showHtml($('live-members'), html);
  }

  renderRequests() {
    const html = this.requests.map((r) => `<div class="${h(r.cls)}" data-request="${r.n}"><span>${h(r.text)}</span><span>${h(r.answer)}</span></div>`).join('');
    showHtml($('requests'), html);
  }
}

// A reply in the client box's words, and its class.
function answerOf(op, reply) {
  if (!reply.ok) return [`failed: ${reply.error}`, 'fail'];
  if (op === 'get') return reply.found ? [`= ${reply.value} (revision ${reply.revision})`, 'ok'] : ['not found', 'ok'];
  return [`committed at ${reply.revision}`, 'ok'];
}

async function boot() {
  let rb;
  try {
    rb = await loadRaftbook();
  } catch (err) {
    $('fatal').textContent = err.message;
    $('fatal').hidden = false;
    return;
  }
  const target = joinTarget(location);
  if (location.hash) history.replaceState(null, '', location.pathname + location.search);  // the token stays in memory only
  const live = new Live(rb, target);
  window.live = live;  // for the browser tests and the curious
  await live.start();
}

boot();
