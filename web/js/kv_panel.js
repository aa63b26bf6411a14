// The key-value side of the client panel: a conditional write a newcomer can compose
// ("set x to 6, only if its value is 5"), the answer each write got, and the watch
// view — the changes to a key (or to every key under a prefix), in revision order, as
// one server applies them.
//
// A key's revision is the log index of the write that last changed it. A conditional
// write carries its condition into the log ("if-value 1 5 set x 6", "if-rev 7 del x",
// "if-rev 0 set x 1" for "only if missing"); every server decides it when it applies
// the entry, in log order, so they all decide alike. Its client is told either the
// revision it applied at, or that it was refused, with the key's current value and
// revision — and nothing changed.
//
// The watch view asks the simulation what a watch on one server would have streamed
// (Simulation.watch, wasm/README.md): each change that server applied to matching
// keys. It follows the leader unless the reader picks a server; a crashed server
// streams nothing, and a restarted one starts again from what its disk holds.

import { escapeHtml as h, showHtml } from './format.js';

const utf8Bytes = (s) => new TextEncoder().encode(s).length;

// The command text of a conditional write, or throws an Error that says what to fix.
// op: 'set' | 'del'; cond: 'value' | 'revision' | 'missing'.
export function conditionalCommand({ op, key, value, cond, prev }) {
  if (!key || /\s/.test(key)) throw new Error('Give a key without spaces.');
  if (op === 'set' && !value) throw new Error('Give the value to write.');
  if ([key, value, prev].some((s) => s && s.includes('#'))) {
    throw new Error('Leave out “#”: on the playground’s command lines it starts a comment.');
  }
  const write = op === 'set' ? `set ${key} ${value}` : `del ${key}`;
  if (cond === 'missing') return `if-rev 0 ${write}`;
  if (cond === 'revision') {
    if (!/^\d+$/.test(prev)) throw new Error('A revision is a whole number (a log index; 0 means missing).');
    return `if-rev ${prev} ${write}`;
  }
  if (!prev) throw new Error('Give the value the key must hold now.');
  return `if-value ${utf8Bytes(prev)} ${prev} ${write}`;
}

// What a request's client was told, in words: [text, class].
export function requestAnswer(r) {
  if (r.outcome !== 'ok') return [r.outcome, r.outcome];
  if (r.kind === 'get') return [r.result === null ? '✓ missing' : `✓ ${r.result}`, 'ok'];
  if (r.condition_failed) {
    const now = r.current === null ? `${r.key} is missing` : `${r.key} is “${r.current}” at revision ${r.revision}`;
    return [`✗ refused: ${now}`, 'refused'];
  }
  return [`✓ revision ${r.revision}`, 'ok'];
}

export class KvPanel {
  // el: the form's and the watch view's elements (index.html); handlers.propose(command),
  // handlers.error(message).
  constructor(el, handlers) {
    this.el = el;
    this.watchStamp = '';
    el.casIf.addEventListener('change', () => this.syncForm());
    el.casOp.addEventListener('change', () => this.syncForm());
    el.casForm.addEventListener('submit', (ev) => {
      ev.preventDefault();
      try {
        handlers.propose(conditionalCommand({
          op: el.casOp.value, key: el.casKey.value.trim(), value: el.casValue.value.trim(),
          cond: el.casIf.value, prev: el.casPrev.value.trim(),
        }));
      } catch (err) {
        handlers.error(err.message);
      }
    });
    for (const input of [el.watchKey, el.watchPrefix, el.watchNode]) input.addEventListener('change', () => { this.watchStamp = ''; });
    el.watchKey.addEventListener('input', () => { this.watchStamp = ''; });
    this.syncForm();
  }

  syncForm() {
    const e = this.el;
    e.casValue.hidden = e.casOp.value === 'del';
    e.casPrev.hidden = e.casIf.value === 'missing';
    e.casPrev.placeholder = e.casIf.value === 'revision' ? 'revision' : 'value now';
    e.casPrev.inputMode = e.casIf.value === 'revision' ? 'numeric' : 'text';
  }

  render(state, sim) {
    this.renderAnswer(state.requests);
    this.renderWatch(state, sim);
  }

  // The newest conditional write and what it was told.
  renderAnswer(requests) {
    const r = [...requests].reverse().find((q) => q.condition);
    let text = '';
    if (r) {
      const [answer] = requestAnswer(r);
      text = `${r.command} → ${r.outcome === 'pending' ? 'waiting for the leader…' : answer}`;
    }
    if (this.el.casAnswer.textContent !== text) this.el.casAnswer.textContent = text;
  }

  // The node watched: the one picked, else the leader, else node 1.
  watchedNode(state) {
    const picked = Number(this.el.watchNode.value);
    return picked >= 1 && picked <= state.nodes.length ? picked : state.leader ?? 1;
  }

  renderWatch(state, sim) {
    const e = this.el;
    const options = ['<option value="0">the leader</option>', ...state.nodes.map((n) => `<option value="${n.id}">S${n.id}</option>`)].join('');
    const keep = e.watchNode.value;
    if (showHtml(e.watchNode, options)) e.watchNode.value = Number(keep) <= state.nodes.length ? keep : '0';
    const key = e.watchKey.value.trim();
    const prefix = e.watchPrefix.checked;
    const id = this.watchedNode(state);
    const node = state.nodes[id - 1];
    // Redrawn only when the watched node applied something, or the question changed.
    const stamp = JSON.stringify([key, prefix, id, node && node.up, node && node.applied_index, node && node.snapshot && node.snapshot.index]);
    if (stamp === this.watchStamp) return;
    this.watchStamp = stamp;
    if (!key && !prefix) {
      showHtml(e.watchList, '<span class="hint">type a key to watch</span>');
      return;
    }
    const w = JSON.parse(sim.watch(id, key));
    const changes = prefix ? w.changes : w.changes.filter((c) => c.key === key);
    const what = prefix ? `keys starting with “${h(key)}”` : `“${h(key)}”`;
    let html = `<div class="hint">S${id}${state.leader === id ? ' (leader)' : ''} · ${what}</div>`;
    if (w.up && w.floor > 0) html += `<div class="hint">from revision ${w.floor + 1} on (S${id} restarted or installed a snapshot at ${w.floor})</div>`;
    if (!w.up) {
      html += `<span class="hint">S${id} is down: its watchers hear nothing until it restarts.</span>`;
    } else {
      html += changes.map((c) => `<div class="change${c.deleted ? ' deleted' : ''}" data-revision="${c.revision}">` +
        `<span class="rev">rev ${c.revision}</span> <span>${h(c.key)} ${c.deleted ? 'deleted' : `= ${h(c.value)}`}</span></div>`).join('');
      if (!changes.length) html += '<span class="hint">no changes yet</span>';
    }
    showHtml(e.watchList, html);  // a busy leader applies entries every frame
  }
}
