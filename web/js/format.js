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
// "cfg +4 learner" for a configuration change. A conditional write (core/kv/kv_store.h:
// `[if-rev N |if-value LEN PREV ](set KEY VALUE | del KEY)`) reads as its write and then
// its condition: "x=5 if r3" (only if x is at revision 3; "if r0": only if x does not
// exist), "x=b if =a" (only if x holds "a"). The cell's tooltip and the inspector give
// the command in full. (No `idem IKEY`: the simulator's clients refuse one.)
export function shortCommand(entry) {
  const { write, cond } = commandParts(entry);
  return cond ? `${write} ${cond}` : write;
}

// shortCommand's two halves, { write, cond }: "x=5" and "if r3" ("" for none), so
// that a cell too narrow for both can shorten the write and keep the condition.
export function commandParts(entry) {
  if (entry.type === 'Config') return { write: `cfg ${entry.change ?? ''}`.trim(), cond: '' };
  if (entry.type === 'NoOp' || entry.command === '') return { write: 'no-op', cond: '' };
  let rest = entry.command, cond = '', m;
  if ((m = /^if-rev (\d+) /.exec(rest))) {
    cond = `if r${m[1]}`;
    rest = rest.slice(m[0].length);
  } else if ((m = /^if-value (\d+) /.exec(rest))) {
    // PREV is exactly LEN bytes of UTF-8 (it may hold spaces); one space ends it.
    const bytes = new TextEncoder().encode(rest.slice(m[0].length)), len = Number(m[1]);
    const text = new TextDecoder();
    cond = `if =${text.decode(bytes.slice(0, len))}`;
    rest = text.decode(bytes.slice(len + 1));
  }
  const w = rest.split(/\s+/);
  const write = w[0] === 'set' && w.length >= 3 ? `${w[1]}=${w.slice(2).join(' ')}`
    : w[0] === 'del' && w.length === 2 ? `del ${w[1]}` : null;
  if (write === null) return { write: entry.command, cond: '' };
  return { write, cond };
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

// Puts `html` into el, unless it is what el last got here: views call this every frame,
// and each replacement has the browser lay the page out again. Says whether it replaced.
const shownHtml = new WeakMap();
export function showHtml(el, html) {
  if (shownHtml.get(el) === html) return false;
  shownHtml.set(el, html);
  el.innerHTML = html;
  return true;
}

export function escapeHtml(s) {
  return String(s).replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]);
}
