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
// entries in sight. A frame paints only the cells that changed (paint()): at 1,000
// requests/s that is the new entries and the ones just committed, not every cell. The
// row labels (role, term, commit / applied) stay HTML; a frame writes only the parts
// of them that changed (putLabel()).
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

// A cell's picture, in words: the same key for cells that look alike.
function spriteKey(look) {
  const e = look.e;
  return look.down ? `down|${e.term}|${e.type}|${e.command}|${e.change ?? ''}`
    : `${e.term}|${e.type}|${e.command}|${e.change ?? ''}|${look.committed}|${look.conflict}|${look.violation}`;
}

// A cell's number in the maps below: row r (-1 for the index numbers on top), index i.
function cellId(r, i) {
  return i * 16 + r + 1;
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
    this.drawn = new Map(); // cellId(row, index) -> what the cell shows, for clicks and tooltips
    this.cellKeys = new Map();  // cellId(row, index) -> the key its pixels were drawn with (paint())
    this.paintedLeft = 0;   // the viewLeft the canvas's pixels were drawn at
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
      if (this.onPickEntry) this.onPickEntry(c.row + 1, c.index, !!(this.drawn.get(cellId(c.row, c.index)) ?? {}).snapshot);
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
      label.innerHTML = '<span class="who"> </span><span class="role"> </span><span class="nums"> </span>';
      const [who, roleText, nums] = [...label.children].map((span) => span.firstChild);
      this.rows.push({ label, who, roleText, nums, key: '', shown: {} });
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

  // The canvas matches the view's size in device pixels, so text stays sharp. Returns
  // whether it was resized (which clears it).
  size() {
    const dpr = window.devicePixelRatio || 1;
    const key = `${this.viewWidth}|${this.height}|${dpr}`;
    if (key === this.sized) return false;
    this.sized = key;
    this.canvas.width = Math.round(this.viewWidth * dpr);
    this.canvas.height = Math.round(this.height * dpr);
    this.canvas.style.width = `${this.viewWidth}px`;
    this.canvas.style.height = `${this.height}px`;
    if (dpr !== this.dpr) this.forgetSprites();
    this.dpr = dpr;
    return true;
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
    // An index on either side of the view (the commit index of a grid scrolled back, a
    // follower's nextIndex) changes nothing in it while it stays there: it counts as
    // the column just outside.
    const seen = (i) => (i == null ? i : Math.min(Math.max(i, this.from - 1), this.to + 1));
    let key = `${this.from}|${this.to}|${this.viewLeft}|${this.viewWidth}|${leader ? leader.id : 0}|${[...highlight].join(',')}|${picked}|${cursor}`;
    for (const n of nodes) {
      key += n.up ? `|${seen(n.commit_index)},${seen(n.applied_index)},${seen(n.log_last_index)}:` : '|down:';
      key += `${n.log_first_index},${n.snapshot.index},${n.snapshot.term},${n.snapshot.bytes}:`;
      for (const e of n.log) key += `${e.term},`;
    }
    for (const p of progress.values()) key += `|${p.peer}>${seen(p.match_index)},${seen(p.next_index)}`;
    if (key === this.paintedKey && this.sized) return;
    this.paintedKey = key;
    this.paint(nodes, leader, highlight, picked, progress);
    if (cursor) this.sayCursor();
  }

  // The cell under the keyboard cursor, read out (its dashed ring is part of the paint).
  sayCursor() {
    const { row, index } = this.cursor;
    const cell = this.drawn.get(cellId(row, index));
    const text = cell ? cellTitle(cell) : `S${row + 1} holds no entry ${index}`;
    if (this.said.textContent !== text) this.said.textContent = text;
    this.canvas.dataset.cursor = `${row + 1}:${index}`;
  }

  // Readies the canvas for this frame's view and returns the keys of the cells whose
  // pixels are still right, or null when it cleared the canvas. When the view has moved
  // by whole device pixels, the picture moves with it (one copy of the canvas onto
  // itself) and last frame's cells stay; after a resize, or when cells do not fall on
  // whole device pixels, everything is painted again.
  keepPixels() {
    const resized = this.size();
    const dpr = this.dpr, ctx = this.ctx;
    const shift = (this.paintedLeft - this.viewLeft) * dpr;
    const exact = [CELL_W, this.rowH, this.viewLeft, this.paintedLeft].every((px) => Number.isInteger(px * dpr));
    this.paintedLeft = this.viewLeft;
    ctx.setTransform(1, 0, 0, 1, 0, 0);
    if (resized || !exact || Math.abs(shift) >= this.canvas.width) {
      ctx.clearRect(0, 0, this.canvas.width, this.canvas.height);
      return null;
    }
    if (shift) {
      ctx.globalCompositeOperation = 'copy';  // what the copy leaves uncovered is cleared
      ctx.drawImage(this.canvas, shift, 0);
      ctx.globalCompositeOperation = 'source-over';
    }
    return this.cellKeys;
  }

  // Paints the grid, one cell (row, log index) at a time. Everything drawn in a cell's
  // box is summed up in a key: the entry's look, the marks on it (commit, applied,
  // selection, snapshot tail, the leader's progress, the keyboard cursor) and the
  // snapshot block or note behind it. A cell is cleared and drawn again only when its
  // key differs from the one its pixels were drawn with: at 1,000 requests/s a frame
  // draws the new entries and those whose commit state or marks moved, not all in view.
  // Keys are kept only for columns wholly in view (a partly shown one is redrawn).
  paint(nodes, leader, highlight, picked, progress) {
    const leaderTerms = new Map();
    if (leader) for (const e of leader.log) leaderTerms.set(e.index, e.term);
    const kept = this.keepPixels();
    const keys = new Map();
    const ctx = this.ctx;
    ctx.setTransform(this.dpr, 0, 0, this.dpr, -this.viewLeft * this.dpr, 0);
    this.drawn.clear();
    const { from, to } = this;
    const whole = (i) => (i - 1) * CELL_W >= this.viewLeft && i * CELL_W <= this.viewLeft + this.viewWidth;
    // Whether to draw the cell, cleared: when its key changed.
    const stale = (r, i, key) => {
      const id = cellId(r, i);
      if (whole(i)) keys.set(id, key);
      if (!kept) return true;
      if (kept.get(id) === key) return false;
      ctx.clearRect((i - 1) * CELL_W, (r + 1) * this.rowH, CELL_W, this.rowH);
      return true;
    };

    ctx.fillStyle = '#7c849a';
    ctx.font = `10.5px ${SANS}`;
    ctx.textAlign = 'center';
    ctx.textBaseline = 'middle';
    for (let i = from; i <= to; i++) if (stale(-1, i, 'index')) ctx.fillText(String(i), (i - 0.5) * CELL_W, this.rowH / 2);

    const cursor = document.activeElement === this.canvas ? this.cursor : null;
    nodes.forEach((node, r) => {
      if (!this.rows[r]) return;
      const top = (r + 1) * this.rowH;
      const block = this.snapshotBlock(node, picked === `snap:${node.id}`);
      const byIndex = new Map(node.log.map((e) => [e.index, e]));
      const note = !node.up && !block && !node.log.some((e) => e.index >= from && e.index <= to) ? this.diskNote(node) : '';
      const p = node.up ? progress.get(node.id) : null;
      for (let i = from; i <= to; i++) {
        const cell = this.cell(node, i, byIndex.get(i), block, leader, leaderTerms.get(i), highlight);
        if (cell) this.drawn.set(cellId(r, i), cell);
        const marks = (cell && !cell.missing && node.up && i === node.commit_index ? 1 : 0) |
          (cell && !cell.missing && node.up && i === node.applied_index ? 2 : 0) |
          (cell && cell.look && node.up && picked === `${node.id}:${i}` ? 4 : 0) |
          (i >= node.log_first_index && i <= node.snapshot.index ? 8 : 0) |
          (p && p.match_index === i ? 16 : 0) | (p && p.next_index === i ? 32 : 0) |
          (cursor && cursor.row === r && cursor.index === i ? 64 : 0);
        const look = !cell ? '' : cell.snapshot ? block.key : cell.missing ? 'missing' : spriteKey(cell.look);
        if (!stale(r, i, `${note && `${note}@${this.viewLeft}`}|${look}#${marks}`)) continue;
        const x = (i - 1) * CELL_W;
        if (cell && cell.snapshot) this.clipped(ctx, x, top, () => this.paintSnapshot(ctx, node, block, top));
        else if (cell) this.stamp(ctx, cell.missing ? { missing: true } : cell.look, x, top);
        if (note) this.clipped(ctx, x, top, () => this.paintNote(ctx, note, top));
        if (marks & 1) this.paintCommit(ctx, x, top);
        if (marks & 4) {
          ctx.strokeStyle = '#3b5bdb';
          ctx.lineWidth = 2;
          ctx.beginPath();
          ctx.roundRect(x + 1, top + 1, CELL_W - 2, this.rowH - 3, 5);
          ctx.stroke();
        }
        if (marks & 2) this.paintApplied(ctx, x, top);
        if (marks & 8) {
          // A bar under the entries kept in the log that the snapshot covers too.
          const left = i === node.log_first_index ? 4 : 0, right = i === node.snapshot.index ? 4 : 0;
          ctx.fillStyle = node.up ? SNAP_EDGE : DISK_INK;
          ctx.fillRect(x + left, top + this.rowH - 4, CELL_W - left - right, 2.5);
        }
        if (marks & 16) {
          ctx.fillStyle = MATCH_COLOUR;
          ctx.fillRect(x + 3, top, CELL_W - 6, 2.5);
        }
        if (marks & 32) this.paintNext(ctx, x, top);
        if (marks & 64) {
          ctx.strokeStyle = '#1d2333';
          ctx.lineWidth = 2;
          ctx.setLineDash([3, 2]);
          ctx.strokeRect(x + 1, top + 1, CELL_W - 2, this.rowH - 3);
          ctx.setLineDash([]);
        }
      }
    });
    this.cellKeys = keys;
  }

  // What node's row shows at log index i (null: nothing), as clicks and tooltips read it:
  // e, its entry there (if in view); block, its snapshot block (snapshotBlock()).
  cell(node, i, e, block, leader, lt, highlight) {
    if (block && i <= block.end) return { node: node.id, index: block.end, snapshot: node.snapshot, down: !node.up };
    const inSnapshot = i <= node.snapshot.index ? node.snapshot.index : 0;
    if (!node.up) return e ? { node: node.id, index: i, look: { e, down: true }, inSnapshot } : null;
    if (!e) return lt !== undefined && node !== leader && i > node.log_last_index ? { node: node.id, index: i, missing: true } : null;
    const look = {
      e,
      committed: i <= node.commit_index,
      conflict: !!leader && node !== leader && (lt === undefined ? i > leader.log_last_index : lt !== e.term),
      violation: highlight.has(`${node.id}:${i}`),
    };
    return { node: node.id, index: i, look, inSnapshot };
  }

  // Draws what draw() paints, clipped to the cell at (x, top): for what spans many cells.
  clipped(ctx, x, top, draw) {
    ctx.save();
    ctx.beginPath();
    ctx.rect(x, top, CELL_W, this.rowH);
    ctx.clip();
    draw();
    ctx.restore();
  }

  // A crashed node's row with none of its entries in view says why.
  diskNote(node) {
    return this.live ? 'does not answer'
      : node.log_last_index >= node.log_first_index ? 'crashed — its log waits on disk until it restarts'
      : 'crashed — its disk holds no entries';
  }

  paintNote(ctx, note, top) {
    ctx.fillStyle = '#7c849a';
    ctx.font = `italic 11.5px ${SANS}`;
    ctx.textAlign = 'left';
    ctx.fillText(note, this.viewLeft + 6, top + this.rowH / 2);
    ctx.textAlign = 'center';
  }

  // The node's snapshot (see the essay above): one block over the compacted indexes
  // 1..log_first_index - 1, of which only the part in view is drawn (a block can span a
  // million columns), with its label in the middle of that part. Null when none of it is
  // in view; its key changes with the view, since the label moves with it.
  snapshotBlock(node, picked) {
    const snap = node.snapshot;
    if (!snap || !snap.index) return null;
    const end = Math.min(snap.index, node.log_first_index - 1);
    if (end < this.from) return null;
    const x0 = Math.max(2, this.viewLeft - 8), x1 = Math.min(end * CELL_W - 2, this.viewLeft + this.viewWidth + 8);
    return { end, x0, x1, picked, key: `snap ${snap.index},${snap.term},${node.up},${picked}@${this.viewLeft},${this.viewWidth}` };
  }

  paintSnapshot(ctx, node, { x0, x1, picked }, top) {
    const snap = node.snapshot;
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
    const label = fit(ctx, `snapshot ≤ ${snap.index} · t${snap.term}`, right - left - 8);
    if (right - left > 24) ctx.fillText(label, (left + right) / 2, y + h / 2 + 0.5);
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

  // The leader's nextIndex for the follower in this row (see the essay above): a line
  // with a caret along the left edge of the column at x.
  paintNext(ctx, x, top) {
    ctx.fillStyle = NEXT_COLOUR;
    ctx.fillRect(x, top + 1, 2, this.rowH - 3);
    ctx.beginPath();
    ctx.moveTo(x, top);
    ctx.lineTo(x + 7, top + 4.5);
    ctx.lineTo(x, top + 9);
    ctx.fill();
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
    const key = look.missing ? 'missing' : spriteKey(look);
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
    return this.drawn.get(cellId(r, i)) ?? null;
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
    const shown = member && node.up && node.role !== 'leader' ? member : role;
    const roleText = !node.up ? (this.live ? 'no answer' : 'crashed') : `${shown === role ? ROLE_LABEL[node.role] ?? node.role : member} · t${node.term}`;
    const known = (x) => x ?? '?';
    const nums = node.up ? `${known(node.commit_index)} / ${known(node.applied_index)}` : '';
    // Long indexes (six digits and more) leave no room for the role's name: the pill
    // keeps its colour and the term, the title the words. Measuring makes the browser
    // lay out the page, so it is done only when the texts' lengths change.
    const fit = `${roleText}|${nums.length}`;
    if (fit !== row.fit) {
      row.fit = fit;
      this.putLabel(row, { who: name, roleText, nums });
      row.short = node.up && row.label.scrollWidth > row.label.clientWidth;
    }
    this.putLabel(row, {
      class: `log-label${selected ? ' selected' : ''}${member === 'removed' ? ' removed' : ''}${
        this.live && node.kind ? ` ${node.kind}` : ''}${node.self ? ' self' : ''}`,
      who: name,
      roleClass: `role ${shown}`,
      roleText: row.short ? `t${node.term}` : roleText,
      nums,
      title: (node.up ? `${name}${this.live ? ` (${node.self ? 'this tab' : node.kind})` : ''}: ${roleText}, commit ${known(node.commit_index)}, applied ${known(node.applied_index)}`
        : this.live ? `${name}: does not answer; its log as last seen, greyed` : `S${node.id}: crashed, its log greyed as its disk holds it`) +
        (p ? ` — the leader ${p.next_index != null ? `sends it from index ${p.next_index} next and ` : ''}knows it holds up to ${p.match_index}` : ''),
      commit: node.up ? String(node.commit_index) : '',
      applied: node.up ? String(node.applied_index) : '',
      last: node.up ? String(node.log_last_index) : '',
      role,
      membership: node.cluster_member ?? '',
      next: p ? String(p.next_index) : '',
      match: p ? String(p.match_index) : '',
    });
  }

  // Writes only the parts of a row's label that changed: at 1,000 requests/s its
  // numbers change every frame, the rest seldom, and every write makes the browser
  // style or lay out the label again. Texts change in place (their Text node's data).
  putLabel(row, parts) {
    for (const [part, value] of Object.entries(parts)) {
      if (row.shown[part] === value) continue;
      row.shown[part] = value;
      if (part === 'class') row.label.className = value;
      else if (part === 'roleClass') row.roleText.parentNode.className = value;
      else if (part === 'title') row.label.title = value;
      else if (part === 'who' || part === 'roleText' || part === 'nums') row[part].data = value;
      else row.label.dataset[part] = value;
    }
  }
}
