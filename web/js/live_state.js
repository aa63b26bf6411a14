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

// member: an entry of a configuration's members (a native's /status, or this tab's):
// { id, voter, kind | browser, peer, http, via }.
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
  return { live: true, nodes, leader: pos.get(leader) ?? 0, links: linksOf(pos, natives, via), links_down: [], time_ms: now, tick_ms: 50 };
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
