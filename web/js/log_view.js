// Every node's log as a grid: one row per node, one column per log index, so entries
// at the same index line up across nodes like the diagrams in the Raft paper.
//
// A box's colour and small number are the entry's term; its text is the command. Solid
// boxes are committed on that node, dashed ones not yet. A dark bar marks the node's
// commit index and a green triangle its applied index. Compared with the leader's log
// at the same index, a box that differs is outlined red, and an index the leader has
// but the node lacks shows an empty hatched box. Cells a checker violation names pulse.
// A crashed node's row keeps the log its disk holds, greyed, as it will be on restart.
//
// Log compaction (§7): the indexes a node has discarded into its snapshot are drawn as
// one purple block, "snapshot ≤ 85 · t1", spanning their columns; hovering, clicking or
// the keyboard cursor on it tells what it holds (the inspector decodes its key-value
// map). Entries a node keeps after compacting that its snapshot also covers (the
// catch-up tail, so a follower a little behind is sent entries, not the snapshot) carry
// a purple bar along their bottom edge.
//
// The leader's view of each follower (its progress) is drawn in that follower's row, as
// in RaftScope: an orange line with a caret before nextIndex, the first entry the leader
// will send it next, and a blue bar over matchIndex, the last entry the leader knows the
// follower holds. When a follower rejects an AppendEntries the caret jumps back to
// where the leader probes next; as replies succeed both marks move right.
//
// A configuration change (a Config entry: the whole new membership, thesis ch. 4) is a
// box with a green "cfg" tag and a short label of what it changed: "+4 L" (node 4 joins
// as a learner), "4 voter" (it may now vote), "−2" (node 2 leaves). A row's label says when its node is a learner, joining or removed.
//
// Logs can hold many thousands of entries, so only the columns in view are drawn, onto
// one <canvas> the size of the view: the view tells the page which index window it
// needs (window()), the page asks the simulator's state() for just that window, and
// render() paints it. A wide, empty spacer inside a native scroller gives the usual
// scrollbar, wheel and touch scrolling; with "follow" on the view keeps the newest
// entries in sight. The row labels (role, term, commit / applied) stay HTML.
//
// The live page (live.js) draws a real cluster with this view too (its state says
// `live`): a node may carry a `label` (its real id), a `kind` ("native" / "browser")
// and `self` (the page's own node), shown on its row label, and a commit index of null
// when the page does not know it (another browser member), shown as "?"; a node that is
// not up is one that does not answer.

import { ROLE_LABEL, commandParts, termColor, termInk } from './format.js';

const CELL_W = 46;
const SPRITES = 1200;  // cell pictures kept; a screen shows at most a few hundred
const NEXT_COLOUR = '#e8590c';   // the leader's nextIndex for a follower
const MATCH_COLOUR = '#1971c2';  // ...and its matchIndex
const DISK_FILL = '#dde0e8';     // a crashed node's entries, on its disk
const DISK_INK = '#6b7285';
const SNAP_FILL = '#e5dbff';     // the snapshot block...
const SNAP_EDGE = '#7048e8';     // ...its border, label and the bar under the tail it covers
const SNAP_DISK = '#cfd3de';     // ...on a crashed node's disk
const CONFIG_INK = '#2b8a3e';    // a configuration change's tag
const MEMBER_LABEL = { learner: 'learner', removed: 'removed', joining: 'joining' };
const MONO = 'ui-monospace, "DejaVu Sans Mono", "Liberation Mono", Menlo, Consolas, monospace';
const SANS = 'system-ui, -apple-system, "Segoe UI", Roboto, "Noto Sans", "Liberation Sans", Arial, sans-serif';

function div(cls, parent) {
  const e = document.createElement('div');
  e.className = cls;
  if (parent) parent.appendChild(e);
  return e;
}

// The command, shortened with an ellipsis if it is wider than `width` px.
function fit(ctx, text, width) {
  if (ctx.measureText(text).width <= width) return text;
  let out = text;
  while (out.length > 1 && ctx.measureText(`${out}…`).width > width) out = out.slice(0, -1);
  return `${out}…`;
}

// A command's label in width px: "x=5", or for a conditional write "x=5 if r3" in a
// narrower face, its write shortened first so that the condition stays readable.
function fitCommand(ctx, { write, cond }, width, big) {
  if (!cond) return fit(ctx, write, width);
  const whole = `${write} ${cond}`;
  if (ctx.measureText(whole).width <= width) return whole;
  for (const px of big ? [9, 8, 7.5] : [8.5, 7.5]) {
    ctx.font = `${px}px ${SANS}`;
    if (ctx.measureText(whole).width <= width) return whole;
  }
  const tail = ` ${fit(ctx, cond, width / 2)}`;
  return fit(ctx, write, width - ctx.measureText(tail).width) + tail;
}

// An index the leader has and this node lacks: an empty, hatched, dashed box.
function drawMissing(ctx, rowH) {
  const x = 2, y = 2, w = CELL_W - 4, h = rowH - 5;
  ctx.save();
  ctx.beginPath();
  ctx.roundRect(x, y, w, h, 4);
  ctx.clip();
  ctx.strokeStyle = '#e3e6ef';
  ctx.lineWidth = 1;
  for (let d = -h; d < w; d += 6) {
    ctx.beginPath();
    ctx.moveTo(x + d, y + h);
    ctx.lineTo(x + d + h, y);
    ctx.stroke();
  }
  ctx.restore();
  ctx.beginPath();
  ctx.roundRect(x, y, w, h, 4);
  ctx.setLineDash([3, 2]);
  ctx.strokeStyle = '#aab2c8';
  ctx.lineWidth = 1.5;
  ctx.stroke();
  ctx.setLineDash([]);
}

// What a drawn cell shows, in words (its tooltip; what the keyboard cursor reads out).
// Made only when asked for: a frame draws hundreds of cells.
function cellTitle({ node, index, missing, look, snapshot, down, inSnapshot }) {
  if (snapshot) {
    return `S${node}${down ? ' (crashed; on its disk)' : ''}: entries 1–${index} are compacted into its snapshot at index ${snapshot.index}, term ${snapshot.term}, ` +
      `${snapshot.bytes} bytes — the key-value state as of entry ${snapshot.index}; click or press Enter to see it`;
  }
  const tail = inSnapshot ? ` — also in its snapshot (index ${inSnapshot})` : '';
  if (missing) return `S${node} lacks entry ${index}, which the leader has`;
  const e = look.e;
  const what = e.type === 'NoOp' ? 'no-op (a new leader\'s first entry)' : e.type === 'Config' ? configText(e) : e.command;
  if (look.down) return `S${node} is crashed; its disk holds entry ${index}, term ${e.term}: ${what}${tail}`;
  return `S${node}, index ${index}, term ${e.term}: ${what}` +
    (look.committed ? ' — committed' : ' — not committed yet') + (look.conflict ? ' — differs from the leader\'s log' : '') + tail;
}

// A Config entry in words: what it changed and the configuration it holds.
export function configText(e) {
  const c = e.configuration;
  if (!c) return `a configuration change that does not decode (${e.config_error ?? 'unknown'})`;
  const list = (ids) => ids.map((id) => `S${id}`).join(', ');
  return `configuration change${e.change && e.change !== 'same' ? ` (${e.change})` : ''}: voters ${list(c.voters) || 'none'}` +
    (c.learners.length ? `; learners ${list(c.learners)}` : '');
}

export class LogView {
  constructor(root, followBox) {
    this.root = root;
    this.followBox = followBox;
    this.labels = div('log-labels', root);
    this.scroller = div('log-scroll', root);
    this.spacer = div('log-spacer', this.scroller);
    this.canvas = document.createElement('canvas');
    this.canvas.className = 'log-canvas';
    this.canvas.tabIndex = 0;
    this.canvas.setAttribute('role', 'application');
    this.canvas.setAttribute('aria-roledescription', 'log grid');
    this.canvas.setAttribute('aria-label', 'Log entries: arrow keys move between entries, Enter reads one');
    this.scroller.appendChild(this.canvas);
    this.said = div('sr-only', this.scroller);  // what the keyboard cursor is on, for screen readers
    this.said.setAttribute('aria-live', 'polite');
    this.cursor = null;     // { row, index } of the keyboard cursor, while the grid has focus
    this.onPickEntry = null;
    this.ctx = this.canvas.getContext('2d');
    this.count = 0;
    this.cellWidth = CELL_W;
    this.rows = [];
    this.lastIndex = 0;     // the longest log's last index, as of the last render
    this.scrolledTo = -1;   // the scrollLeft this view last set
    this.viewLeft = 0;
    this.viewWidth = 800;
    this.drawn = new Map(); // "row:index" -> what the cell shows, for clicks and tooltips
    this.sprites = new Map();  // a cell's look -> its picture (see stamp())
    this.pool = [];
    this.nextSlot = 0;
    this.paintedKey = '';
    this.onSelectEntry = null;
    this.onChange = null;
    this.scroller.addEventListener('scroll', () => {
      const left = this.scroller.scrollLeft;
      if (Math.abs(left - this.scrolledTo) <= 1) return;  // our own scrolling
      this.scrolledTo = left;
      this.followBox.checked = left >= this.tailLeft(this.lastIndex) - CELL_W;
      if (this.onChange) this.onChange();
    });
    this.canvas.addEventListener('click', (ev) => {
      const hit = this.hit(ev);
      if (hit && this.onSelectEntry) this.onSelectEntry(hit.node, hit.index, !!hit.snapshot);
    });
    this.canvas.addEventListener('keydown', (ev) => this.key(ev));
    this.canvas.addEventListener('focus', () => this.changed());
    this.canvas.addEventListener('blur', () => this.changed());
    this.canvas.addEventListener('mousemove', (ev) => {
      const hit = this.hit(ev);
      const title = hit ? cellTitle(hit) : '';
      if (this.canvas.title !== title) this.canvas.title = title;
      this.canvas.style.cursor = hit && !hit.missing ? 'pointer' : '';
    });
  }

  changed() {
    this.paintedKey = '';
    if (this.onChange) this.onChange();
  }

  // The keyboard cursor: arrows move it a row or a column, Home and End to the first and
  // last entry of its row, Enter or Space reads the entry in the inspector.
  key(ev) {
    if (ev.ctrlKey || ev.metaKey || ev.altKey || !this.count) return;
    const c = this.cursor ?? { row: 0, index: Math.max(1, this.lastIndex) };
    const last = this.lastOf ? this.lastOf[c.row] ?? 0 : 0;
    const moves = {
      ArrowLeft: () => ({ ...c, index: Math.max(1, c.index - 1) }),
      ArrowRight: () => ({ ...c, index: Math.min(Math.max(1, this.lastIndex), c.index + 1) }),
      ArrowUp: () => ({ ...c, row: Math.max(0, c.row - 1) }),
      ArrowDown: () => ({ ...c, row: Math.min(this.count - 1, c.row + 1) }),
      Home: () => ({ ...c, index: 1 }),
      End: () => ({ ...c, index: Math.max(1, last) }),
    };
    if (ev.key === 'Enter' || ev.key === ' ') {
      ev.preventDefault();
      ev.stopPropagation();
      this.cursor = c;
      if (this.onPickEntry) this.onPickEntry(c.row + 1, c.index, !!(this.drawn.get(`${c.row}:${c.index}`) ?? {}).snapshot);
      return;
    }
    if (!moves[ev.key]) return;
    ev.preventDefault();
    this.cursor = moves[ev.key]();
    if (this.cursor.index < this.from + 1 || this.cursor.index > this.to - 1) {
      this.followBox.checked = false;
      this.scrollTo(this.cursor.index);
    }
    this.changed();
  }

  setCount(count) {
    if (count === this.count) return;
    this.count = count;
    this.rowH = count <= 5 ? 30 : count <= 7 ? 27 : 24;
    this.root.style.setProperty('--row-h', `${this.rowH}px`);
    this.labels.replaceChildren();
    div('log-label head', this.labels).textContent = 'node · commit / applied';
    this.rows = [];
    for (let id = 1; id <= count; id++) {
      const label = div('log-label', this.labels);
      label.dataset.node = id;
      label.innerHTML = '<span class="who"></span><span class="role"></span><span class="nums"></span>';
      this.rows.push({ label, key: '' });
    }
    this.height = (count + 1) * this.rowH;
    this.sized = '';
    this.forgetSprites();
  }

  // Reads the scroll position and width, and when following the newest entries scrolls
  // to them, before anything else is drawn in the frame: touching scrollLeft makes the
  // browser lay the page out, which is cheap only while nothing else has changed yet.
  // Returns the window of log indexes in view (partly visible columns included).
  window() {
    this.viewWidth = this.scroller.clientWidth || 800;
    // The scrollable width grows in steps of 256 columns, so that a growing log does not
    // resize it (and make the browser lay out the page) every frame.
    const columns = Math.max(Math.ceil((this.lastIndex + 3) / 256) * 256, Math.ceil(this.viewWidth / CELL_W));
    const width = `${columns * CELL_W}px`;
    if (this.spacer.style.width !== width) this.spacer.style.width = width;
    if (this.followBox.checked) {
      const target = this.tailLeft(this.lastIndex);
      if (Math.abs(this.scrolledTo - target) > 1) {
        this.scroller.scrollLeft = target;
        this.scrolledTo = target;
      }
      this.viewLeft = target;
    } else {
      this.viewLeft = Math.min(this.scroller.scrollLeft, this.maxLeft());
    }
    this.from = Math.max(1, Math.floor(this.viewLeft / CELL_W) + 1);
    this.to = Math.floor((this.viewLeft + this.viewWidth) / CELL_W) + 1;
    return { from: this.from, to: this.to };
  }

  tailLeft(last) {
    return Math.max(0, (last + 2) * CELL_W - this.viewWidth);
  }

  // Brings log index i to the middle of the view.
  scrollTo(i) {
    this.scroller.scrollLeft = Math.max(0, (i - 0.5) * CELL_W - this.viewWidth / 2);
  }

  // The furthest the grid may scroll: a little past the longest log.
  maxLeft() {
    return this.tailLeft(this.lastIndex + 8);
  }

  // The canvas matches the view's size in device pixels, so text stays sharp.
  size() {
    const dpr = window.devicePixelRatio || 1;
    const key = `${this.viewWidth}|${this.height}|${dpr}`;
    if (key === this.sized) return;
    this.sized = key;
    this.canvas.width = Math.round(this.viewWidth * dpr);
    this.canvas.height = Math.round(this.height * dpr);
    this.canvas.style.width = `${this.viewWidth}px`;
    this.canvas.style.height = `${this.height}px`;
    if (dpr !== this.dpr) this.forgetSprites();
    this.dpr = dpr;
  }

  // state: the simulator's state() for this frame's window(); highlight: a Set of
  // "node:index" cells a checker violation names.
  render(state, selection, highlight) {
    const nodes = state.nodes;
    this.live = !!state.live;
    const leader = nodes.find((n) => n.up && n.id === state.leader);
    let last = 0;
    for (const n of nodes) if (n.up) last = Math.max(last, n.log_last_index);
    this.lastIndex = last;
    const progress = new Map();
    if (leader && leader.progress) for (const p of leader.progress) progress.set(p.peer, p);
    nodes.forEach((node, r) => { if (this.rows[r]) this.renderLabel(this.rows[r], node, selection, progress.get(node.id)); });

    // Repaint only when something drawn changed: the window, or any node's entries,
    // commit or applied index in it, the leader's log they are compared with, or its
    // progress for each follower.
    const picked = selection && selection.kind === 'entry' ? `${selection.node}:${selection.index}`
      : selection && selection.kind === 'snapshot' ? `snap:${selection.node}` : '';
    this.lastOf = nodes.map((n) => n.log_last_index);
    const focused = document.activeElement === this.canvas;
    if (focused && !this.cursor) this.cursor = { row: Math.max(0, nodes.findIndex((n) => n === leader)), index: Math.max(1, last) };
    const cursor = focused && this.cursor ? `${this.cursor.row}:${this.cursor.index}` : '';
    let key = `${this.from}|${this.to}|${this.viewLeft}|${this.viewWidth}|${leader ? leader.id : 0}|${[...highlight].join(',')}|${picked}|${cursor}`;
    for (const n of nodes) {
      key += n.up ? `|${n.commit_index},${n.applied_index},${n.log_last_index}:` : '|down:';
      key += `${n.log_first_index},${n.snapshot.index},${n.snapshot.term},${n.snapshot.bytes}:`;
      for (const e of n.log) key += `${e.term},`;
    }
    for (const p of progress.values()) key += `|${p.peer}>${p.match_index},${p.next_index}`;
    if (key === this.paintedKey && this.sized) return;
    this.paintedKey = key;
    this.paint(nodes, leader, highlight, picked, progress);
    if (cursor) this.paintCursor();
  }

  // A dashed ring on the cell under the keyboard cursor, and its description read out.
  paintCursor() {
    const { row, index } = this.cursor;
    const x = (index - 1) * CELL_W, top = (row + 1) * this.rowH;
    const ctx = this.ctx;
    ctx.strokeStyle = '#1d2333';
    ctx.lineWidth = 2;
    ctx.setLineDash([3, 2]);
    ctx.strokeRect(x + 1, top + 1, CELL_W - 2, this.rowH - 3);
    ctx.setLineDash([]);
    const cell = this.drawn.get(`${row}:${index}`);
    const text = cell ? cellTitle(cell) : `S${row + 1} holds no entry ${index}`;
    if (this.said.textContent !== text) this.said.textContent = text;
    this.canvas.dataset.cursor = `${row + 1}:${index}`;
  }

  paint(nodes, leader, highlight, picked, progress) {
    const leaderTerms = new Map();
    if (leader) for (const e of leader.log) leaderTerms.set(e.index, e.term);
    this.size();
    const ctx = this.ctx;
    ctx.setTransform(this.dpr, 0, 0, this.dpr, 0, 0);
    ctx.clearRect(0, 0, this.viewWidth, this.height);
    ctx.translate(-this.viewLeft, 0);
    this.drawn.clear();
    const { from, to } = this;

    ctx.fillStyle = '#7c849a';
    ctx.font = `10.5px ${SANS}`;
    ctx.textAlign = 'center';
    ctx.textBaseline = 'middle';
    for (let i = from; i <= to; i++) ctx.fillText(String(i), (i - 0.5) * CELL_W, this.rowH / 2);

    nodes.forEach((node, r) => {
      if (!this.rows[r]) return;
      const top = (r + 1) * this.rowH;
      const blockShown = this.paintSnapshot(ctx, node, r, top, picked === `snap:${node.id}`);
      if (!node.up) {
        this.paintDisk(ctx, node, r, top, blockShown);
        this.paintSnapshotTail(ctx, node, top);
        return;
      }
      const byIndex = new Map(node.log.map((e) => [e.index, e]));
      for (let i = from; i <= to; i++) {
        const e = byIndex.get(i);
        const lt = leaderTerms.get(i);
        const x = (i - 1) * CELL_W;
        if (!e) {
          if (lt !== undefined && node !== leader && i > node.log_last_index) {
            this.stamp(ctx, { missing: true }, x, top);
            this.drawn.set(`${r}:${i}`, { node: node.id, index: i, missing: true });
          }
          continue;
        }
        const look = {
          e,
          committed: i <= node.commit_index,
          conflict: !!leader && node !== leader && (lt === undefined ? i > leader.log_last_index : lt !== e.term),
          violation: highlight.has(`${node.id}:${i}`),
        };
        this.stamp(ctx, look, x, top);
        if (i === node.commit_index) this.paintCommit(ctx, x, top);
        if (picked === `${node.id}:${i}`) {
          ctx.strokeStyle = '#3b5bdb';
          ctx.lineWidth = 2;
          ctx.beginPath();
          ctx.roundRect(x + 0.5, top + 0.5, CELL_W - 1, this.rowH - 2, 5);
          ctx.stroke();
        }
        if (i === node.applied_index) this.paintApplied(ctx, x, top);
        this.drawn.set(`${r}:${i}`, { node: node.id, index: i, look, inSnapshot: i <= node.snapshot.index ? node.snapshot.index : 0 });
      }
      this.paintSnapshotTail(ctx, node, top);
      const p = progress.get(node.id);
      if (p) this.paintProgress(ctx, p, top);
    });
  }

  // A crashed node's row: the entries on its disk, greyed (it has no commit or applied
  // index until it restarts); a note when the disk holds none in view.
  paintDisk(ctx, node, r, top, blockShown) {
    let shown = 0;
    for (const e of node.log) {
      if (e.index < this.from || e.index > this.to) continue;
      this.stamp(ctx, { e, down: true }, (e.index - 1) * CELL_W, top);
      this.drawn.set(`${r}:${e.index}`, { node: node.id, index: e.index, look: { e, down: true },
        inSnapshot: e.index <= node.snapshot.index ? node.snapshot.index : 0 });
      shown++;
    }
    if (shown || blockShown) return;
    ctx.fillStyle = '#7c849a';
    ctx.font = `italic 11.5px ${SANS}`;
    ctx.textAlign = 'left';
    ctx.fillText(this.live ? 'does not answer'
      : node.log_last_index >= node.log_first_index ? 'crashed — its log waits on disk until it restarts'
      : 'crashed — its disk holds no entries', this.viewLeft + 6, top + this.rowH / 2);
  }

  // The node's snapshot (see the essay above): one block over the compacted indexes
  // 1..log_first_index - 1 and its label, in the part of it in view. Returns whether any
  // of the block is in view.
  paintSnapshot(ctx, node, r, top, picked) {
    const snap = node.snapshot;
    if (!snap || !snap.index) return false;
    const end = Math.min(snap.index, node.log_first_index - 1);
    if (end < this.from) return false;
    // Only the part in view is drawn (a block can span a million columns).
    const x0 = Math.max(2, this.viewLeft - 8), x1 = Math.min(end * CELL_W - 2, this.viewLeft + this.viewWidth + 8);
    const y = top + 2, h = this.rowH - 5;
    ctx.beginPath();
    ctx.roundRect(x0, y, x1 - x0, h, 4);
    ctx.fillStyle = node.up ? SNAP_FILL : SNAP_DISK;
    ctx.fill();
    ctx.lineWidth = picked ? 2.5 : 1.5;
    ctx.strokeStyle = picked ? '#3b5bdb' : node.up ? SNAP_EDGE : DISK_INK;
    ctx.stroke();
    const left = Math.max(x0, this.viewLeft), right = Math.min(x1, this.viewLeft + this.viewWidth);
    ctx.fillStyle = node.up ? '#3b2a8c' : DISK_INK;
    ctx.font = `bold ${h >= 22 ? 10.5 : 9.5}px ${SANS}`;
    ctx.textAlign = 'center';
    ctx.textBaseline = 'middle';
    const label = fit(ctx, `snapshot ≤ ${snap.index} · t${snap.term}`, right - left - 8);
    if (right - left > 24) ctx.fillText(label, (left + right) / 2, y + h / 2 + 0.5);
    for (let i = this.from; i <= Math.min(end, this.to); i++) {
      this.drawn.set(`${r}:${i}`, { node: node.id, index: end, snapshot: snap, down: !node.up });
    }
    // A commit or applied index inside the compacted part is marked on the block.
    const inBlock = (i) => node.up && i >= this.from && i <= Math.min(end, this.to);
    if (inBlock(node.commit_index)) this.paintCommit(ctx, (node.commit_index - 1) * CELL_W, top);
    if (inBlock(node.applied_index)) this.paintApplied(ctx, (node.applied_index - 1) * CELL_W, top);
    return true;
  }

  // A bar under the entries kept in the log that the node's snapshot covers too (drawn
  // over them: the bar sits on their bottom edge).
  paintSnapshotTail(ctx, node, top) {
    const from = Math.max(node.log_first_index, this.from), to = Math.min(node.snapshot.index, this.to);
    if (to < from) return;
    ctx.fillStyle = node.up ? SNAP_EDGE : DISK_INK;
    ctx.fillRect((from - 1) * CELL_W + 4, top + this.rowH - 4, (to - from + 1) * CELL_W - 8, 2.5);
  }

  // The commit index's bar and the applied index's triangle, in the column at x.
  paintCommit(ctx, x, top) {
    ctx.fillStyle = '#1d2333';
    ctx.fillRect(x + CELL_W - 3, top, 3, this.rowH - 1);
  }

  paintApplied(ctx, x, top) {
    const cx = x + CELL_W / 2, by = top + this.rowH - 2;
    ctx.fillStyle = '#2f9e44';
    ctx.beginPath();
    ctx.moveTo(cx - 4, by);
    ctx.lineTo(cx + 4, by);
    ctx.lineTo(cx, by - 5);
    ctx.fill();
  }

  // The leader's progress for the follower in this row (see the essay above).
  paintProgress(ctx, p, top) {
    if (p.match_index >= this.from && p.match_index <= this.to) {
      ctx.fillStyle = MATCH_COLOUR;
      ctx.fillRect((p.match_index - 1) * CELL_W + 3, top, CELL_W - 6, 2.5);
    }
    if (p.next_index >= this.from && p.next_index <= this.to + 1) {
      const x = (p.next_index - 1) * CELL_W;
      ctx.fillStyle = NEXT_COLOUR;
      ctx.fillRect(x - 1, top + 1, 2, this.rowH - 3);
      ctx.beginPath();
      ctx.moveTo(x - 1, top);
      ctx.lineTo(x + 6, top + 4.5);
      ctx.lineTo(x - 1, top + 9);
      ctx.fill();
    }
  }

  forgetSprites() {
    this.sprites.clear();
    this.pool = [];
    this.nextSlot = 0;
  }

  // Copies one cell's picture (box, border, term, command) to (x, top). Pictures are
  // drawn once into small canvases and copied from there, so a screen of cells is a few
  // hundred image copies instead of as many text layouts. The canvases are a fixed
  // pool, reused oldest first, more than a screen holds.
  stamp(ctx, look, x, top) {
    const key = look.missing ? 'missing'
      : look.down ? `down|${look.e.term}|${look.e.type}|${look.e.command}|${look.e.change ?? ''}`
      : `${look.e.term}|${look.e.type}|${look.e.command}|${look.e.change ?? ''}|${look.committed}|${look.conflict}|${look.violation}`;
    let sprite = this.sprites.get(key);
    if (!sprite) {
      const slot = this.nextSlot;
      this.nextSlot = (slot + 1) % SPRITES;
      sprite = this.pool[slot];
      if (sprite) {
        this.sprites.delete(sprite.key);
      } else {
        const canvas = document.createElement('canvas');
        canvas.width = Math.ceil(CELL_W * this.dpr);
        canvas.height = Math.ceil(this.rowH * this.dpr);
        sprite = this.pool[slot] = { canvas, ctx: canvas.getContext('2d') };
      }
      sprite.key = key;
      this.sprites.set(key, sprite);
      const c = sprite.ctx;
      c.setTransform(1, 0, 0, 1, 0, 0);
      c.clearRect(0, 0, sprite.canvas.width, sprite.canvas.height);
      c.setTransform(this.dpr, 0, 0, this.dpr, 0, 0);
      if (look.missing) drawMissing(c, this.rowH);
      else this.drawCell(c, look);
    }
    ctx.drawImage(sprite.canvas, x, top, CELL_W, this.rowH);
  }

  drawCell(ctx, c) {
    const x = 2, y = 2, w = CELL_W - 4, h = this.rowH - 5;
    ctx.globalAlpha = c.committed || c.down ? 1 : 0.7;
    ctx.fillStyle = c.down ? DISK_FILL : termColor(c.e.term);
    ctx.beginPath();
    ctx.roundRect(x, y, w, h, 4);
    ctx.fill();
    ctx.setLineDash(c.committed || c.down ? [] : [3, 2]);
    ctx.lineWidth = c.conflict || c.violation ? 2.5 : 1.5;
    ctx.strokeStyle = c.conflict || c.violation ? '#d63a3a' : c.e.type === 'Config' && !c.down ? CONFIG_INK : 'rgba(0, 0, 0, .25)';
    ctx.stroke();
    ctx.setLineDash([]);
    // As in the paper's figures: the term on top, the command under it.
    const big = h >= 22;
    ctx.fillStyle = c.down ? DISK_INK : termInk(c.e.term);
    ctx.textAlign = 'center';
    ctx.textBaseline = 'middle';
    ctx.font = `bold ${big ? 9 : 8}px ${SANS}`;
    if (c.e.type === 'Config') {
      this.drawConfig(ctx, c, x, y, w, h, big);
      return;
    }
    ctx.fillText(String(c.e.term), x + w / 2, y + (big ? 6.5 : 5));
    ctx.font = c.e.type === 'NoOp' ? `italic ${big ? 10 : 9}px ${SANS}` : `${big ? 10 : 9.5}px ${MONO}`;
    ctx.fillText(fitCommand(ctx, commandParts(c.e), w - 4, big), x + w / 2, y + h - (big ? 7 : 5.5));
    ctx.globalAlpha = 1;
    if (c.violation) {
      ctx.fillStyle = 'rgba(214, 58, 58, .18)';
      ctx.fillRect(x, y, w, h);
    }
  }

  // A Config entry's cell: a green "cfg" tag beside the term on top, what it changed
  // under it ("+4 learner", "4 voter", "−2").
  drawConfig(ctx, c, x, y, w, h, big) {
    const top = y + (big ? 6.5 : 5);
    ctx.fillStyle = c.down ? DISK_INK : CONFIG_INK;
    ctx.beginPath();
    ctx.roundRect(x + 2, top - 4.5, 19, 9, 3);
    ctx.fill();
    ctx.fillStyle = '#fff';
    ctx.font = `bold 7.5px ${SANS}`;
    ctx.fillText('cfg', x + 11.5, top + 0.5);
    ctx.fillStyle = c.down ? DISK_INK : termInk(c.e.term);
    ctx.font = `bold ${big ? 9 : 8}px ${SANS}`;
    ctx.fillText(String(c.e.term), x + w - 9, top);
    // "+4 learner" is wider than a cell: it reads "+4 L" there (the tooltip, the
    // inspector and the help say it in full).
    const label = c.e.change && c.e.change !== 'same' ? c.e.change : c.e.configuration ? 'config' : '?';
    ctx.fillStyle = c.down ? DISK_INK : '#1b4d2a';
    ctx.font = `bold 9px ${SANS}`;
    const text = ctx.measureText(label).width <= w - 3 ? label : label.replace(/ learner/g, ' L').replace(/ voter/g, ' V');
    ctx.fillText(fit(ctx, text, w - 3), x + w / 2, y + h - (big ? 7 : 5.5));
    ctx.globalAlpha = 1;
    if (c.violation) {
      ctx.fillStyle = 'rgba(214, 58, 58, .18)';
      ctx.fillRect(x, y, w, h);
    }
  }

  hit(ev) {
    const rect = this.canvas.getBoundingClientRect();
    const r = Math.floor((ev.clientY - rect.top) / this.rowH) - 1;
    const i = Math.floor((ev.clientX - rect.left + this.viewLeft) / CELL_W) + 1;
    return this.drawn.get(`${r}:${i}`) ?? null;
  }

  // p: the leader's progress for this node, if it is a follower of an up leader.
  renderLabel(row, node, selection, p) {
    const role = node.up ? node.role : 'down';
    const selected = selection && selection.kind === 'node' && selection.id === node.id;
    const member = MEMBER_LABEL[node.cluster_member] ?? '';
    const name = node.label ?? `S${node.id}`;
    const key = `${role}|${member}|${node.term}|${node.commit_index}|${node.applied_index}|${node.log_last_index}|${selected}|${p ? `${p.next_index},${p.match_index}` : ''}|${name}|${this.live && node.kind}|${node.self}`;
    if (key === row.key) return;
    row.key = key;
    const [who, roleEl, nums] = row.label.children;
    row.label.className = `log-label${selected ? ' selected' : ''}${member === 'removed' ? ' removed' : ''}${
      this.live && node.kind ? ` ${node.kind}` : ''}${node.self ? ' self' : ''}`;
    who.textContent = name;
    const shown = member && node.up && node.role !== 'leader' ? member : role;
    roleEl.className = `role ${shown}`;
    const roleText = !node.up ? (this.live ? 'no answer' : 'crashed') : `${shown === role ? ROLE_LABEL[node.role] ?? node.role : member} · t${node.term}`;
    roleEl.textContent = roleText;
    const known = (x) => x ?? '?';
    nums.textContent = node.up ? `${known(node.commit_index)} / ${known(node.applied_index)}` : '';
    row.label.title = (node.up ? `${name}${this.live ? ` (${node.self ? 'this tab' : node.kind})` : ''}: ${roleText}, commit ${known(node.commit_index)}, applied ${known(node.applied_index)}`
      : this.live ? `${name}: does not answer; its log as last seen, greyed` : `S${node.id}: crashed, its log greyed as its disk holds it`) +
      (p ? ` — the leader ${p.next_index != null ? `sends it from index ${p.next_index} next and ` : ''}knows it holds up to ${p.match_index}` : '');
    // Long indexes (six digits and more) leave no room for the role's name: the pill
    // keeps its colour and the term, the title the words. Measuring makes the browser
    // lay out the page, so it is done only when the texts' lengths change.
    const fit = `${roleText}|${nums.textContent.length}`;
    if (fit !== row.fit) {
      row.fit = fit;
      row.short = node.up && row.label.scrollWidth > row.label.clientWidth;
    }
    if (row.short) roleEl.textContent = `t${node.term}`;
    row.label.dataset.commit = node.up ? node.commit_index : '';
    row.label.dataset.applied = node.up ? node.applied_index : '';
    row.label.dataset.last = node.up ? node.log_last_index : '';
    row.label.dataset.role = role;
    row.label.dataset.membership = node.cluster_member ?? '';
    row.label.dataset.next = p ? p.next_index : '';
    row.label.dataset.match = p ? p.match_index : '';
  }
}
