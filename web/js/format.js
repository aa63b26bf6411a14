// Small shared vocabulary of the page: the colour of a term, how a role, a time or a
// command is written, and how the simulator's message type names read to a newcomer.
// Every view draws terms and roles the same way because they all ask this module.

// Twelve light, distinguishable hues; term t gets hue (t - 1) mod 12. Text on them stays dark.
const TERM_HUES = [210, 140, 35, 280, 0, 175, 55, 320, 95, 250, 15, 195];

export function termColor(term) {
  if (!term) return 'hsl(220 10% 92%)';
  const hue = TERM_HUES[(term - 1) % TERM_HUES.length];
  return `hsl(${hue} 70% 84%)`;
}

export function termInk(term) {
  if (!term) return 'hsl(220 10% 40%)';
  const hue = TERM_HUES[(term - 1) % TERM_HUES.length];
  return `hsl(${hue} 55% 32%)`;
}

// The media query of style.css's one-column layout for narrow screens.
export const NARROW = '(max-width: 899px)';

export const ROLE_LABEL = {
  follower: 'follower',
  precandidate: 'pre-candidate',
  candidate: 'candidate',
  leader: 'leader',
};

// "1.234 s" with millisecond precision: virtual time is whole milliseconds.
export function formatTime(ms) {
  return `${(ms / 1000).toFixed(3)} s`;
}

// What fits in a log cell: "x=5" for "set x 5", "del x", "no-op" for a leader's no-op,
// "cfg +4 learner" for a configuration change.
export function shortCommand(entry) {
  if (entry.type === 'Config') return `cfg ${entry.change ?? ''}`.trim();
  if (entry.type === 'NoOp' || entry.command === '') return 'no-op';
  const w = entry.command.split(/\s+/);
  if (w[0] === 'set' && w.length >= 3) return `${w[1]}=${w.slice(2).join(' ')}`;
  return entry.command;
}

export const MESSAGE_LABEL = {
  Vote: 'RequestVote',
  VoteResp: 'RequestVote reply',
  PreVote: 'PreVote request',
  PreVoteResp: 'PreVote reply',
  Append: 'AppendEntries',
  AppendResp: 'AppendEntries reply',
  Heartbeat: 'Heartbeat',
  HeartbeatResp: 'Heartbeat reply',
  TimeoutNow: 'TimeoutNow (leadership transfer)',
  ClientRequest: 'Forwarded client request',
  ClientReply: 'Answer to a forwarded request',
  Snapshot: 'InstallSnapshot chunk',
  SnapshotResp: 'InstallSnapshot reply',
};

// A snapshot chunk as a message shows it: "snap 64/96 B" (its offset of the total).
export function chunkLabel(m) {
  return `snap ${m.offset}/${m.total} B`;
}

export function escapeHtml(s) {
  return String(s).replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]);
}
