// What just happened, in words: the difference between two states of the simulator,
// as one-line captions a lesson shows while it steps through a `wait`.
//
// The page never sees events themselves, only state() before and after them, so a
// caption says what changed: a message sent, one that arrived, a role or term that
// moved, entries appended or overwritten, a commit index that advanced, a snapshot taken
// or installed. Five of these are a lesson's key moments, where it stops for the reader
// even while playing: a follower rejecting AppendEntries (the consistency check at
// work), a follower overwriting entries that conflict with the leader's, the leader
// committing (an entry now on a majority; main.js does not stop at it under a steady
// client load), a leader starting to send its snapshot, and a follower installing it.
// Membership changes are key moments too: a configuration change appearing at the
// leader (it takes effect at once, before it commits), and a leader telling another
// node to take over (TimeoutNow). Logs are compared only where both states hold them (the
// page asks for a window of each log).

import { MESSAGE_LABEL, ROLE_LABEL, shortCommand } from './format.js';

const byId = (xs) => new Map(xs.map((x) => [x.id, x]));
const names = (ids) => ids.map((id) => `S${id}`).join(', ');

// A node's new place in the configuration, finishing "S4 ...".
const MEMBER_NOW = {
  voter: 'is now a voter: it votes and counts toward a majority.',
  learner: 'is now a learner: it receives the log but does not vote.',
  removed: 'is out of the cluster: it no longer votes or receives the log.',
};

// The cluster's configuration (state().membership) moving to a newer Config entry: a key
// moment, since it takes effect at once, before it commits.
function configChange(was, now) {
  if (!was || !now || now.index <= was.index) return null;
  const learners = now.learners.length ? `, learner${now.learners.length > 1 ? 's' : ''} ${names(now.learners)}` : '';
  return { key: true, kind: 'config',
    text: `S${now.from} appended a configuration change at index ${now.index}: voters ${names(now.voters)}${learners}. ` +
      'Each node uses it as soon as it has it in its log, before it is committed.' };
}

function sentCaption(m) {
  const to = `S${m.to}`;
  switch (m.type) {
    case 'AppendResp':
      return m.success
        ? { text: `S${m.from} accepted ${to}'s AppendEntries: its log now matches up to index ${m.index}.` }
        : { key: true, kind: 'reject',
          text: `S${m.from} rejected ${to}'s AppendEntries: its log does not match at prevLogIndex ${m.index}` +
            ` (hint: try index ${m.hint_index}${m.hint_term ? `, term ${m.hint_term}` : ''}).` };
    case 'Append':
      return { text: m.entries
        ? `S${m.from} sent ${to} AppendEntries with ${m.entries} entr${m.entries === 1 ? 'y' : 'ies'} after prev (${m.prev_index}, term ${m.prev_term}).`
        : `S${m.from} sent ${to} an empty AppendEntries checking prev (${m.prev_index}, term ${m.prev_term}).` };
    case 'Vote':
    case 'PreVote':
      return { text: `S${m.from} asked ${to} for a ${m.type === 'PreVote' ? 'pre-vote' : 'vote'} in term ${m.term}.` };
    case 'VoteResp':
    case 'PreVoteResp':
      return { text: `S${m.from} ${m.granted ? 'granted' : 'refused'} ${to} its ${m.type === 'PreVoteResp' ? 'pre-vote' : 'vote'}.` };
    case 'Snapshot':
      return m.offset === 0
        ? { key: true, kind: 'snapshot',
          text: `S${m.from} sent ${to} the first chunk of its snapshot (index ${m.snapshot_index}, ${m.total} bytes): ${to} needs entries S${m.from} has compacted away.` }
        : { text: `S${m.from} sent ${to} bytes ${m.offset}–${m.offset + m.bytes} of its snapshot${m.done ? ' (the last chunk)' : ''}.` };
    case 'SnapshotResp':
      return { text: `S${m.from} asked ${to} for the snapshot's bytes from ${m.offset} on.` };
    case 'TimeoutNow':
      return { key: true, kind: 'transfer',
        text: `S${m.from} told ${to} to take over (TimeoutNow): ${to}'s log is up to date, so it starts an election at once, without waiting for its timer.` };
    case 'Heartbeat':
    case 'HeartbeatResp':
      return null;  // every leader sends these all the time: not worth a caption
    default:
      return { text: `S${m.from} sent ${to} ${/^[AEIOU]/.test(MESSAGE_LABEL[m.type] ?? m.type) ? 'an' : 'a'} ${MESSAGE_LABEL[m.type] ?? m.type}.` };
  }
}

// Captions for what changed from `before` to `after` (two state() results), most
// telling first; [] when nothing a reader would see changed.
export function describeChange(before, after) {
  if (!before || !after) return [];
  const out = [];
  const nodesBefore = byId(before.nodes);
  const config = configChange(before.membership, after.membership);
  if (config) out.push(config);
  for (const n of after.nodes) {
    const b = nodesBefore.get(n.id);
    if (!b) {
      out.push({ text: `S${n.id} started, with an empty log and no configuration: it learns both from the leader.` });
      continue;
    }
    if (b.cluster_member !== n.cluster_member && MEMBER_NOW[n.cluster_member] && b.cluster_member !== 'joining') {
      out.push({ text: `S${n.id} ${MEMBER_NOW[n.cluster_member]}` });
    }
    if (b.up !== n.up) out.push({ text: n.up ? `S${n.id} restarted from its disk.` : `S${n.id} crashed.` });
    if (!n.up || !b.up) continue;
    if (b.role !== n.role || b.term !== n.term) {
      out.push({ text: `S${n.id} is now ${n.role === 'leader' ? 'the leader' : `a ${ROLE_LABEL[n.role] ?? n.role}`} in term ${n.term}.` });
    }
    const snap = n.snapshot ?? { index: 0 }, wasSnap = b.snapshot ?? { index: 0 };
    if (snap.index > wasSnap.index) {
      // A snapshot past the node's own log came from the leader; one within it, its own.
      out.push(snap.index > b.log_last_index
        ? { key: true, kind: 'install', text: `S${n.id} installed the leader's snapshot: its state as of index ${snap.index} replaces its log up to there.` }
        : { text: `S${n.id} took a snapshot at index ${snap.index}${n.log_first_index > b.log_first_index ? ` and discarded its log before index ${n.log_first_index}` : ''}.` });
    } else if (n.log_first_index > b.log_first_index) {
      out.push({ text: `S${n.id} discarded its log before index ${n.log_first_index}: its snapshot at index ${snap.index} holds that state.` });
    }
    const old = new Map(b.log.map((e) => [e.index, e]));
    const replaced = n.log.filter((e) => old.has(e.index) && old.get(e.index).term !== e.term);
    if (replaced.length) {
      const first = replaced[0], last = replaced[replaced.length - 1], was = old.get(first.index);
      out.push({ key: true, kind: 'overwrite',
        text: `S${n.id} overwrote ${first.index === last.index ? `entry ${first.index}` : `entries ${first.index}–${last.index}`}: ` +
          `its ${shortCommand(was)} of term ${was.term} is replaced by the leader's ${shortCommand(first)} of term ${first.term}.` });
    } else if (n.log_last_index > Math.max(b.log_last_index, snap.index)) {
      const from = Math.max(b.log_last_index, snap.index) + 1;  // a snapshot installed is no append
      out.push({ text: `S${n.id} appended ${n.log_last_index === from ? `entry ${from}` : `entries ${from}–${n.log_last_index}`}.` });
    }
    if (n.role === 'leader' && b.role === 'leader' && n.commit_index > b.commit_index) {
      const voters = after.membership ? after.membership.voters.length : after.nodes.length;
      const quorum = Math.floor(voters / 2) + 1;
      const cfg = n.log.find((e) => e.type === 'Config' && e.index > b.commit_index && e.index <= n.commit_index);
      // Committing a configuration change is a moment even under a client load.
      out.push({ key: true, kind: cfg ? 'config-commit' : 'commit',
        text: `S${n.id} committed up to entry ${n.commit_index}: at least ${quorum} of the ${voters} voters hold it.` +
          (cfg ? ` That includes the configuration change at ${cfg.index}: now the leader may start another.` : '') });
    } else if (n.commit_index > b.commit_index) {
      out.push({ text: `S${n.id} learned that entries up to ${n.commit_index} are committed.` });
    }
  }
  const wasFlying = new Set(before.messages.map((m) => m.id));
  const nowFlying = new Set(after.messages.map((m) => m.id));
  for (const m of after.messages) {
    if (wasFlying.has(m.id)) continue;
    const c = sentCaption(m);
    if (c) out.push(c);
  }
  for (const m of before.messages) {
    if (nowFlying.has(m.id) || m.type === 'Heartbeat' || m.type === 'HeartbeatResp') continue;
    if (m.arrives_ms <= after.time_ms) out.push({ text: `S${m.from}'s ${MESSAGE_LABEL[m.type] ?? m.type} reached S${m.to}.` });
  }
  const vs = after.violations.length, vb = before.violations.length;
  if (vs > vb) out.push({ key: true, kind: 'violation', text: `The checker found a violation: ${after.violations[vs - 1].rule}.` });
  out.sort((a, b) => (b.key ? 1 : 0) - (a.key ? 1 : 0));
  return out;
}
