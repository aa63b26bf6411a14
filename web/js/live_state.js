// The live cluster in the shape the simulation's views draw (the simulator's state():
// nodes[], leader, links, time_ms, tick_ms; core/sim/sim_json.h), so that the ring and
// the log grid show a real cluster as they show a simulated one.
//
// What the page knows, and so what it draws:
// - each native member's /status, polled (role, term, leader, commit, applied, first
//   and last index, snapshot, and when it leads how far each member matches);
// - this tab's own node (BrowserNode::status, with the tail of its log);
// - of another browser member, only what the natives say: that it is a member, whom it
//   is connected through, and what the leader knows it holds.
// Log entries come from this tab's node alone. A committed entry is the same on every
// member that holds it (Log Matching, Leader Completeness), so a member's row shows
// this tab's entries up to the lower of the two commit indexes (for another browser:
// up to what the leader knows it holds); past that the page does not know the entries
// and leaves the cells empty, while the row label still gives the member's own indexes.
//
// The views number nodes 1..N by position: natives first, then browsers, each by id;
// every node carries its real id as `label` ("S4711").
//
// Messages in flight are those this tab sees: the frames its node sent up its link or
// took from it (BrowserNode status "recent_frames", stamped with the page's clock).
// The page cannot see a frame's real flight, so each is replayed from the moment the
// node sent or took it, over FLIGHT_MS, along the path it really took: a frame to or
// from the native the tab is connected through goes straight between the two, any
// other goes through that native (tab -> via -> other, or back), half the time on each
// link. A frame that has finished its flight is no longer drawn, nor is the link's own
// handshake (Hello, Auth).

// member: an entry of a configuration's members (a native's /status, or this tab's):
// { id, voter, kind | browser, peer, http, via }.
export const FLIGHT_MS = 300;

export function isBrowser(member) {
  return member.kind === 'browser' || member.browser === true;
}

// members: the configuration to draw; natives: Map id -> { status, up } (the last
// /status each native answered, and whether it answered the last poll); self: this
// tab's BrowserNode status (null before the node exists); selfId; win: { from, to },
// the log indexes in view; now: ms.
export function liveState({ members, natives, self, selfId, win, now }) {
  const ordered = [...members].sort((a, b) => (isBrowser(a) - isBrowser(b)) || a.id - b.id);
  if (selfId && !ordered.some((m) => m.id === selfId)) ordered.push({ id: selfId, kind: 'browser', voter: false, joining: true });
  const pos = new Map(ordered.map((m, i) => [m.id, i + 1]));

  // The leader and term: this tab's view when it has a leader, else the newest term a
  // native that answered reports with a leader.
  let leader = 0, term = 0;
  if (self && self.leader) ({ leader, term } = self);
  for (const [, n] of natives) {
    if (n.up && n.status.leader && n.status.term > term) ({ leader, term } = n.status);
  }
  const leaderStatus = natives.get(leader);
  const matchOf = new Map();  // what the leader knows each member holds
  if (leaderStatus && leaderStatus.up && leaderStatus.status.role === 'leader') {
    for (const m of leaderStatus.status.members ?? []) if (m.match_index != null) matchOf.set(m.id, m.match_index);
  }
  for (const p of (self && self.role === 'leader' && self.progress) || []) matchOf.set(p.peer, p.match_index);

  const tabLog = new Map(((self && self.log_tail) || []).map((e) => [e.index, cellEntry(e)]));
  const tabCommit = self ? self.commit_index : 0;
  const entries = (first, upTo) => {
    const out = [];
    for (let i = Math.max(first, win.from); i <= Math.min(upTo, win.to); i++) {
      const e = tabLog.get(i);
      if (e) out.push(e);
    }
    return out;
  };
  const standing = (m) => (m.joining ? 'joining' : self && self.removed_from_cluster && m.id === selfId ? 'removed' : m.voter ? 'voter' : 'learner');

  const nodes = ordered.map((m) => {
    const base = { id: pos.get(m.id), label: `S${m.id}`, kind: isBrowser(m) ? 'browser' : 'native',
      self: m.id === selfId, cluster_member: standing(m), election_elapsed: null };
    if (m.id === selfId) {
      if (!self) return { ...base, up: true, role: 'follower', term: 0, commit_index: 0, applied_index: 0,
        log_first_index: 1, log_last_index: 0, log: [], snapshot: { index: 0, term: 0, bytes: 0 } };
      return { ...base, up: true, role: self.role, term: self.term, commit_index: self.commit_index,
        applied_index: self.applied_index, log_first_index: self.log_first_index, log_last_index: self.log_last_index,
        log: entries(self.log_first_index, self.log_last_index), snapshot: snapshotOf(self) };
    }
    if (!isBrowser(m)) {
      const n = natives.get(m.id);
      if (!n) return { ...base, up: false, term: 0, log_first_index: 1, log_last_index: 0, log: [], snapshot: snapshotOf({}) };
      const s = n.status;
      return { ...base, up: n.up, role: s.role, term: s.term, commit_index: s.commit_index, applied_index: s.applied_index,
        log_first_index: s.log_first_index, log_last_index: s.log_last_index,
        log: entries(s.log_first_index, Math.min(s.commit_index, tabCommit)), snapshot: snapshotOf(s) };
    }
    // Another browser: only what the leader knows of it.
    const match = matchOf.get(m.id);
    return { ...base, up: true, role: m.id === leader ? 'leader' : 'follower', term, commit_index: null, applied_index: null,
      log_first_index: 1, log_last_index: match ?? 0, log: entries(1, Math.min(match ?? 0, tabCommit)), snapshot: snapshotOf({}) };
  });

  const leaderNode = nodes.find((n) => n.id === pos.get(leader));
  if (leaderNode && leaderNode.up && leaderNode.role === 'leader') {
    leaderNode.progress = [...matchOf].filter(([id]) => pos.has(id) && id !== leader)
      .map(([id, match]) => ({ peer: pos.get(id), match_index: match }));
  }

  const via = viaOf(ordered, natives, self, selfId);
  for (const n of nodes) if (n.kind === 'browser') n.via = via.get(ordered[n.id - 1].id) ?? 0;
  const messages = messagesOf((self && self.recent_frames) || [], pos, selfId, via.get(selfId), now);
  return { live: true, nodes, leader: pos.get(leader) ?? 0, links: linksOf(pos, natives, via), links_down: [], messages,
    time_ms: now, tick_ms: 50 };
}

// The frames still in flight at `now`, each on the link it is crossing then, in the
// shape the simulation's messages have (core/sim/sim_json.cpp in_flight_json), so that
// messages_view.js draws them. via: the native this tab is connected through (0: none).
const HANDSHAKE = new Set(['Hello', 'Auth']);  // the link's, not Raft's: not drawn

function messagesOf(frames, pos, selfId, via, now) {
  const out = [];
  for (const f of frames) {
    const age = now - f.at_ms;
    if (age < 0 || age >= FLIGHT_MS || HANDSHAKE.has(f.type)) continue;
    const other = f.dir === 'sent' ? f.to : f.from;
    const path = !via || other === via ? [selfId, other] : [selfId, via, other];
    if (f.dir === 'received') path.reverse();
    const legMs = FLIGHT_MS / (path.length - 1);
    const leg = Math.floor(age / legMs);
    const from = pos.get(path[leg]), to = pos.get(path[leg + 1]);
    if (!from || !to) continue;
    const sent = f.at_ms + leg * legMs;
    out.push({ ...messageFields(f), id: `${f.at_ms}|${f.dir}|${f.type}|${f.from}>${f.to}|${f.index}`,
      from, to, sent_ms: sent, arrives_ms: sent + legMs });
  }
  return out;
}

// What the simulation's message of this type says, from a frame.
function messageFields(f) {
  const m = { type: f.type, term: f.term };
  switch (f.type) {
    case 'Append': return { ...m, prev_index: f.index, prev_term: f.log_term, entries: f.entries, commit: f.commit };
    case 'AppendResp': return { ...m, success: !f.reject, index: f.index };
    case 'Heartbeat': return { ...m, commit: f.commit };
    case 'Vote': case 'PreVote': return { ...m, last_index: f.index, last_term: f.log_term };
    case 'VoteResp': case 'PreVoteResp': return { ...m, granted: !f.reject };
    case 'Snapshot': return { ...m, snapshot_index: f.index, snapshot_term: f.log_term, offset: f.offset, total: f.total };
    case 'SnapshotResp': return { ...m, snapshot_index: f.index, offset: f.offset };
    case 'ClientRequest': return { ...m, op: f.op, key: f.key };
    case 'ClientReply': return { ...m, ok: f.ok };
    default: return m;
  }
}

// An entry of this tab's log tail as a log cell draws it; a command the status does
// not spell out reads "…".
function cellEntry(e) {
  return { ...e, command: e.command ?? (e.type === 'NoOp' ? '' : '…') };
}

function snapshotOf(s) {
  if (s.snapshot && typeof s.snapshot === 'object') return s.snapshot;
  return { index: s.snapshot_index ?? 0, term: s.snapshot_term ?? 0, bytes: s.snapshot_bytes ?? 0 };
}

// The native each browser member is connected through: this tab's uplink; for
// another, the `via` a native reports (or a native that says it is connected to it).
function viaOf(ordered, natives, self, selfId) {
  const out = new Map();
  for (const m of ordered) if (isBrowser(m) && m.via) out.set(m.id, m.via);
  for (const [id, n] of natives) {
    if (!n.up) continue;
    for (const m of n.status.members ?? []) {
      if (!isBrowser(m) || out.has(m.id)) continue;
      if (m.via) out.set(m.id, m.via);
      else if (m.connected && m.via === undefined) out.set(m.id, id);
    }
  }
  if (self) out.set(selfId, self.link && self.link.up ? self.link.via : 0);
  return out;
}

// The links that exist, as "a-b" (a < b, positions): natives with each other, as each
// native's /status says it is connected, and each browser with its native.
function linksOf(pos, natives, via) {
  const out = new Set();
  const add = (x, y) => {
    const a = pos.get(x), b = pos.get(y);
    if (a && b && a !== b) out.add(a < b ? `${a}-${b}` : `${b}-${a}`);
  };
  for (const [id, n] of natives) {
    if (!n.up) continue;
    for (const m of n.status.members ?? []) if (m.connected && !isBrowser(m) && m.id !== id) add(id, m.id);
  }
  for (const [b, v] of via) if (v) add(b, v);
  return [...out];
}
