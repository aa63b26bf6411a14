// The inspector: details of whatever was clicked — a node, a message, a link or a log
// entry — in words a newcomer can follow, with the actions that apply to it.
//
// The panel is rebuilt only when what it shows changes (its key), so buttons stay
// under the pointer between frames; actions are delegated to one click handler and
// reach the simulation as scenario lines through `act(line)`.

import { MESSAGE_LABEL, ROLE_LABEL, escapeHtml as h, formatTime, shortCommand } from './format.js';
import { configText } from './log_view.js';
import { membershipItems } from './node_menu.js';

// What a node is in the cluster's configuration, in words.
const MEMBERSHIP = {
  voter: 'voter',
  learner: 'learner <span class="hint">— receives the log, but does not vote and is not counted in majorities</span>',
  removed: 'removed <span class="hint">— no longer in the cluster; it takes no part and cannot rejoin</span>',
  joining: 'joining <span class="hint">— not in the configuration yet: the leader adds it as a learner first</span>',
};

const ids = (xs) => xs.length ? xs.map((x) => `S${x}`).join(', ') : 'none';

// A leader's replication state for one follower, in words (etcd's Probe / Replicate / Snapshot).
const PROGRESS_STATE = {
  probe: 'probing: one AppendEntries at a time until one matches',
  replicate: 'replicating: entries streamed as they come',
  snapshot: 'being sent the snapshot: the entries it needs are compacted away',
};

function dl(rows) {
  return `<dl>${rows.filter(Boolean).map(([k, v]) => `<dt>${h(k)}</dt><dd>${v}</dd>`).join('')}</dl>`;
}

// One or two sentences on what this message means, for a reader who never read the paper.
function explainMessage(m) {
  const f = `S${m.from}`, t = `S${m.to}`;
  switch (m.type) {
    case 'Append': {
      const n = `${m.entries} entr${m.entries === 1 ? 'y' : 'ies'}`;
      // Index 0 is the empty log, before entry 1: there is no entry there to check.
      if (m.prev_index === 0) {
        return m.entries
          ? `Leader ${f} asks ${t} to append ${n} from the start of its log. Before index 1 every log is empty, so the consistency check has nothing to compare and always passes. Entries up to ${m.commit} are committed.`
          : `Leader ${f} probes ${t} at the start of the log: before index 1 every log is empty, so this always matches. It carries no entries. Entries up to ${m.commit} are committed.`;
      }
      return m.entries
        ? `Leader ${f} asks ${t} to append ${n} after index ${m.prev_index} (term ${m.prev_term}). ${t} first checks that its own entry ${m.prev_index} has term ${m.prev_term} — the consistency check — and rejects if not, so the leader backs up. Entries up to ${m.commit} are committed.`
        : `Leader ${f} probes ${t}: does ${t}'s log hold entry ${m.prev_index} with term ${m.prev_term}? It carries no entries. Entries up to ${m.commit} are committed.`;
    }
    case 'AppendResp':
      return m.success
        ? `${f} tells the leader its log now matches the leader's up to index ${m.index}. Once a majority matches an entry of the current term, the leader commits it.`
        : `${f} rejects: its log does not match at index ${m.index}. Its hint (index ${m.hint_index}, term ${m.hint_term}) lets the leader skip back a whole term at once instead of one entry per round trip.`;
    case 'Heartbeat':
      return `Leader ${f} tells ${t} it is still alive in term ${m.term} (entries up to ${m.commit} are committed). This resets ${t}'s election timer.`;
    case 'HeartbeatResp':
      return `${f} answers the leader's heartbeat, confirming it still follows term ${m.term}.`;
    case 'TimeoutNow':
      return `Leader ${f} is handing leadership over to ${t} (a leadership transfer). It has stopped taking new requests and brought ${t}'s log up to date; this message tells ${t} to start an election right now, without waiting for its timer or asking for pre-votes. ${t} wins it: its log is as up to date as anyone's. If ${t} does not take over within an election timeout, ${f} gives up the transfer and carries on leading.`;
    case 'Vote':
      if (m.transfer) {
        return `${f} was told to take over by the old leader (TimeoutNow), so it campaigns at once in term ${m.term}. Its last log entry is index ${m.last_index}, term ${m.last_term}. ${t} grants its vote even though it heard from a leader a moment ago: the request says the leader asked for this election.`;
      }
      return `${f}, a candidate in term ${m.term}, asks ${t} for its vote. Its last log entry is index ${m.last_index}, term ${m.last_term}; ${t} votes yes only if that log is at least as up to date as its own and it has not voted for another node in term ${m.term}.`;
    case 'PreVote':
      return `Before disturbing the cluster with a new term, ${f} asks ${t} whether it would vote for it in term ${m.term} (a pre-vote). Nodes that still hear from a leader say no.`;
    case 'VoteResp':
      return m.granted ? `${f} gives its vote for term ${m.term} to ${t}. A candidate with votes from a majority becomes leader.`
        : `${f} refuses its vote in term ${m.term}: it already voted, or ${t}'s log is behind its own.`;
    case 'PreVoteResp':
      return m.granted ? `${f} would vote for ${t} in term ${m.term}; with a majority of these, ${t} starts a real election.`
        : `${f} would not vote for ${t} in term ${m.term}.`;
    case 'Snapshot':
      return `Leader ${f} has compacted away entries ${t} still needs, so instead of them it sends its snapshot: the key-value state as of index ${m.snapshot_index} (term ${m.snapshot_term}), ${m.total} bytes in all. ` +
        `This chunk carries bytes ${m.offset}–${m.offset + m.bytes}${m.done ? ', the last one' : ''}. ${t} puts the chunks together in order and installs the snapshot only once it has every byte, replacing its log up to index ${m.snapshot_index}; a lost or repeated chunk is sent again, never installed twice or half.`;
    case 'SnapshotResp':
      return `${f} has the snapshot's bytes up to ${m.offset} and asks the leader for the chunk at offset ${m.offset} next. (The last chunk is answered by an AppendEntries reply once the installed snapshot is on disk: from there, ordinary AppendEntries carry on.)`;
    case 'ClientRequest':
      return `${f} is a follower, so it forwards a client's request to the leader ${t}: only the leader may propose writes, and a read must be confirmed by the leader (ReadIndex) to be linearizable. ${f} answers its client when ${t} replies. (${m.summary})`;
    case 'ClientReply':
      return `Leader ${f} answers the request ${t} forwarded: ${m.ok ? 'done' : 'not done'} (${m.summary}). ${t} passes it on to its client; on "not leader" or no answer, ${t} tries again with the same client id and sequence number, so a write still applies only once.`;
    default:
      return m.summary || '';
  }
}

export class Inspector {
  constructor(titleEl, bodyEl, { act, fetchMessage, fetchSnapshot, select, faultNames }) {
    this.titleEl = titleEl;
    this.body = bodyEl;
    this.act = act;
    this.fetchMessage = fetchMessage;
    this.fetchSnapshot = fetchSnapshot;
    this.snapshotSeen = null;  // { key, contents }: the decoded snapshot last shown
    this.select = select;
    this.faultNames = faultNames;
    this.key = '';
    this.message = null;   // last seen copy of the selected message
    this.messageFull = null;
    bodyEl.addEventListener('click', (ev) => {
      const b = ev.target.closest('[data-act]');
      if (b) this.act(b.dataset.act);
    });
    bodyEl.addEventListener('change', (ev) => {
      const box = ev.target.closest('input[data-fault]');
      if (box) this.act(`fault ${box.dataset.node} ${box.dataset.fault} ${box.checked ? 'on' : 'off'}`);
    });
  }

  selectMessage(m) {
    this.message = m;
    this.messageFull = this.fetchMessage(m.id);
  }

  render(state, selection, command) {
    let title = 'Inspector', key = 'none';
    let html = '<p class="hint">Click a node to crash or restart it, a line between two nodes to cut that link, or a message or a log entry to read it here.</p>';
    if (selection && selection.kind === 'node') {
      const n = state.nodes[selection.id - 1];
      if (n) [title, key, html] = this.node(n, state, command);
    } else if (selection && selection.kind === 'message') {
      const live = state.messages.find((m) => m.id === selection.id);
      if (live) this.message = live;
      if (this.message) [title, key, html] = this.messageView(this.message, !!live, state);
    } else if (selection && selection.kind === 'link') {
      [title, key, html] = this.link(selection.id, state);
    } else if (selection && selection.kind === 'entry') {
      [title, key, html] = this.entry(selection, state);
    } else if (selection && selection.kind === 'snapshot') {
      const n = state.nodes[selection.node - 1];
      if (n) [title, key, html] = this.snapshot(n);
    }
    if (key !== this.key) {
      this.key = key;
      this.titleEl.textContent = title;
      this.body.innerHTML = html;
    }
    const timer = this.body.querySelector('[data-live=timer]');
    if (timer && selection && selection.kind === 'node') {
      const n = state.nodes[selection.id - 1];
      const text = `${n.election_elapsed} of ${n.election_timeout} ticks`;
      if (timer.textContent !== text) timer.textContent = text;
    }
  }

  node(n, state, command) {
    const title = `Node S${n.id}`;
    if (!n.up) {
      return [title, `node|${n.id}|down`, `
        <div class="explain">S${n.id} has crashed. What it had made durable — its term, its vote and its log — waits on its disk; everything else is gone. Restarted, it comes back as a follower and catches up from the leader.</div>
        <div class="actions"><button class="btn primary" data-act="restart ${n.id}">Restart S${n.id}</button></div>`];
    }
    const role = ROLE_LABEL[n.role] ?? n.role;
    const kv = Object.entries(n.kv);
    const progress = n.progress
      ? `<h3>Replication progress</h3>${dl(n.progress.map((p) => [`S${p.peer}`, `match ${p.match_index}, next ${p.next_index} <span class="hint">(${PROGRESS_STATE[p.state] ?? p.state})</span>`]))}`
      : '';
    const faults = this.faultNames.map((f) => `
      <label><input type="checkbox" data-node="${n.id}" data-fault="${h(f)}" ${n.faults.includes(f) ? 'checked' : ''}> ${h(f.replaceAll('_', ' '))}</label>`).join('');
    const members = membershipItems(n, { leader: state.leader, next: 0 }, false);
    const html = `
      ${dl([
        ['role', `<b>${h(role)}</b>${n.transfer_target ? ` <span class="hint">— handing leadership over to S${n.transfer_target}</span>` : ''}`],
        ['membership', MEMBERSHIP[n.cluster_member] ?? h(n.cluster_member)],
        ['its configuration', `voters ${ids(n.membership.voters)}${n.membership.learners.length ? `; learners ${ids(n.membership.learners)}` : ''} <span class="hint">(${
          n.membership_index ? `from its entry ${n.membership_index}` : 'as it started'}${n.member !== n.cluster_member ? `; it sees itself as ${h(n.member === 'joining' ? 'not a member yet' : n.member)}` : ''})</span>`],
        ['term', n.term],
        ['voted for', n.voted_for ? `S${n.voted_for}` : '—'],
        n.votes && ['votes', `${n.votes.granted} of ${n.votes.needed} needed`],
        ['leader', n.leader ? `S${n.leader}` : 'unknown'],
        ['log', n.log_last_index >= n.log_first_index ? `${n.log_first_index}..${n.log_last_index}` : 'empty'],
        n.snapshot.index && ['snapshot', `up to index ${n.snapshot.index} (term ${n.snapshot.term}, ${n.snapshot.bytes} bytes)`],
        ['commit index', n.commit_index],
        ['applied', n.applied_index],
        ['on disk', `up to ${n.persisted_index}`],
        n.role !== 'leader' && ['election timer', '<span data-live="timer"></span>'],
      ])}
      <div class="actions">
        <button class="btn danger" data-act="crash ${n.id}">Crash S${n.id}</button>
        ${n.role !== 'leader' && n.cluster_member === 'voter' ? `<button class="btn" data-act="campaign ${n.id}" title="Time out now and ask for votes">Start election</button>` : ''}
        ${n.role === 'leader' ? `<button class="btn" data-act="propose ${n.id} ${h(command)}" title="Propose the client box's command here">Propose “${h(command)}”</button>` : ''}
        <button class="btn" data-act="snapshot ${n.id}" title="Save the applied state as a snapshot now and discard the log before it">Snapshot now</button>
      </div>
      ${members.length ? `<div class="actions">${members.join('')}</div>` : ''}
      ${progress}
      <h3>Key-value store</h3>
      <div class="kv">${kv.length ? kv.map(([k, v]) => `${h(k)} = ${h(v)} <span class="rev" title="revision: the log index of the write that last changed ${h(k)}">rev ${n.kv_revisions[k]}</span>`).join('<br>') : '<span class="hint">empty</span>'}</div>
      <div class="faults"><h3>Break a safety rule on S${n.id} (for experiments)</h3>${faults}</div>`;
    return [title, `node|${n.id}|${html}`, html];
  }

  messageView(m, live, state) {
    const label = MESSAGE_LABEL[m.type] ?? m.type;
    const full = this.messageFull;
    const entries = full && Array.isArray(full.entries) && full.entries.length
      ? `<h3>Entries</h3><div class="entries">${full.entries.map((e) =>
          `${e.index} (t${e.term}) ${h(e.type === 'NoOp' ? 'no-op' : e.type === 'Config' || /^RBCONF /.test(e.data ?? '') ? 'configuration change'
            : shortCommand({ command: e.data ?? '' }))}`).join('<br>')}</div>`
      : '';
    const status = live && m.lost
      ? `in flight, and will be lost at ${formatTime(m.arrives_ms)}: it was dropped`
      : live ? `in flight, arrives at ${formatTime(m.arrives_ms)}`
      : m.arrives_ms <= state.time_ms ? `delivered at ${formatTime(m.arrives_ms)}` : 'no longer in flight';
    const html = `
      <div class="explain">${h(explainMessage(m))}</div>
      ${dl([
        ['from → to', `S${m.from} → S${m.to}`],
        ['term', m.term],
        ['summary', h(m.summary)],
        ['sent', formatTime(m.sent_ms)],
        ['status', status],
      ])}
      ${live && !m.lost ? `<div class="actions"><button class="btn danger" data-act="lose ${m.id}" title="As if the network lost it: it never arrives">Drop this message</button></div>` : ''}
      ${entries}`;
    return [`${label}`, `msg|${m.id}|${live}|${!!m.lost}|${html.length}`, html];
  }

  link(id, state) {
    const [a, b] = id.split('-').map(Number);
    const down = new Set(state.links_down.map(([x, y]) => `${x}>${y}`));
    const ab = down.has(`${a}>${b}`), ba = down.has(`${b}>${a}`);
    const dir = (x, y, isDown) => `
      <div class="row"><span>S${x} → S${y}: <b>${isDown ? 'cut' : 'up'}</b></span>
      <button class="btn small" data-act="${isDown ? 'restore' : 'cut'} ${x}->${y}">${isDown ? 'Restore' : 'Cut'} this way</button></div>`;
    const html = `
      <div class="explain">A link carries messages both ways. Cut one way only and S${a} may still hear S${b} while S${b} never hears S${a} — a classic way to confuse elections.</div>
      ${dir(a, b, ab)}${dir(b, a, ba)}
      <div class="actions">
        <button class="btn" data-act="${ab || ba ? 'restore' : 'cut'} ${a}-${b}">${ab || ba ? 'Restore both ways' : 'Cut both ways'}</button>
      </div>`;
    return [`Link S${a} – S${b}`, `link|${id}|${ab}|${ba}`, html];
  }

  // A node's snapshot: what it covers and, decoded, what it holds. Decoded only when the
  // snapshot changes, not every frame.
  snapshot(n) {
    const s = n.snapshot;
    const title = `Snapshot on S${n.id}`;
    if (!s.index) {
      return [title, `snap|${n.id}|none`, `<p class="hint">S${n.id} has taken no snapshot yet: its log still starts at entry 1.</p>`];
    }
    const seen = `${n.id}|${n.up}|${s.index}|${s.term}|${s.bytes}|${n.log_first_index}`;
    if (!this.snapshotSeen || this.snapshotSeen.key !== seen) this.snapshotSeen = { key: seen, contents: this.fetchSnapshot(n.id) };
    const kv = Object.entries(this.snapshotSeen.contents.kv);
    const kept = n.log_first_index <= s.index ? `entries ${n.log_first_index}–${s.index} are also kept in the log, so a follower a little behind is sent entries instead of the whole snapshot` : 'none';
    const html = `
      <div class="explain">Instead of keeping every entry forever, S${n.id} saved the state its entries 1–${s.index} produced — the key-value map and the client table — and discarded the log up to index ${n.log_first_index - 1}. It keeps the index and term of the snapshot's last entry (${s.index}, term ${s.term}) for the consistency check of the next AppendEntries. A follower that needs a discarded entry is sent this snapshot, in chunks.${n.up ? '' : ` S${n.id} has crashed: this is the snapshot on its disk, which it restarts from.`}</div>
      ${dl([
        ['covers', `entries 1–${s.index}`],
        ['last entry', `index ${s.index}, term ${s.term}`],
        ['size', `${s.bytes} bytes`],
        ['log discarded', `1–${n.log_first_index - 1}`],
        ['tail kept', kept],
        ['keys', `${kv.length}`],
      ])}
      <h3>Key-value state it holds</h3>
      <div class="kv">${kv.length ? kv.map(([k, v]) => `${h(k)} = ${h(v)}`).join('<br>') : '<span class="hint">empty</span>'}</div>`;
    return [title, `snap|${seen}`, html];
  }

  entry(sel, state) {
    const n = state.nodes[sel.node - 1];
    const e = n ? n.log.find((x) => x.index === sel.index) : null;
    if (e && !n.up) {
      const html = `
      <div class="explain">S${n.id} has crashed. Its disk holds this entry; restarted, the node comes back with it, and the leader overwrites it only if its own log differs at index ${e.index}.</div>
      ${dl([
        ['node', `S${n.id} (crashed)`],
        ['index', e.index],
        ['term', e.term],
        ['command', e.type === 'NoOp' ? 'no-op' : e.type === 'Config' ? h(configText(e)) : `<code>${h(e.command)}</code>`],
      ])}`;
      return [`Entry ${e.index} on S${n.id}'s disk`, `entry|${html}`, html];
    }
    if (!e) return ['Log entry', `entry|none|${sel.node}|${sel.index}`, `<p class="hint">S${sel.node} holds no entry ${sel.index} now.</p>`];
    const leader = state.nodes.find((x) => x.up && x.id === state.leader);
    const le = leader ? leader.log.find((x) => x.index === sel.index) : null;
    const cmp = !leader ? 'there is no leader to compare with'
      : leader.id === n.id ? 'this node is the leader'
      : le && le.term === e.term ? 'same as the leader\'s entry'
      : le ? `differs: the leader's entry ${sel.index} is from term ${le.term}; the leader will overwrite this one`
      : 'the leader has no such entry';
    const html = `
      ${dl([
        ['node', `S${n.id}`],
        ['index', e.index],
        ['term', e.term],
        ['command', e.type === 'NoOp' ? 'no-op <span class="hint">(a new leader appends one to commit earlier entries)</span>'
          : e.type === 'Config' ? h(configText(e)) : `<code>${h(e.command)}</code>`],
        ['committed', e.index <= n.commit_index ? 'yes — it will never change' : 'not yet'],
        ['applied', e.index <= n.applied_index ? 'yes' : 'not yet'],
        ['vs. leader', h(cmp)],
      ])}`;
    const explain = e.type === 'Config'
      ? `<div class="explain">A configuration change holds the cluster's whole new membership, not just the difference, so a node that has just joined learns everyone from it. Each node follows the newest one in its log as soon as it appends it — before it is committed. The leader allows one change at a time: the next only once this one is committed, and only after it has committed an entry of its own term.</div>`
      : '';
    return [`Entry ${e.index} on S${n.id}`, `entry|${html}`, explain + html];
  }
}
