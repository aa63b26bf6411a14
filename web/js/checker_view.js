// The safety checker's verdict, always in sight: a green "safe" pill in the top bar,
// or a red one naming the broken rule, with a banner that gives the checker's full
// account — which nodes, which entries, and when — and the log cells it names, for
// the log grid to mark: the entry at the violation's index on each node it names and,
// where two logs are named, every index in view at which those two logs differ.

import { escapeHtml as h, formatTime } from './format.js';

export class CheckerView {
  constructor(pill, text, banner) {
    this.pill = pill;
    this.text = text;
    this.banner = banner;
    this.key = '';
  }

  // "node:index" keys of the log cells to mark, from the first violation's nodes and
  // index and the logs in `state` (only the window the grid shows).
  cells(state) {
    const out = new Set();
    const v = state.violations[0];
    if (!v || !Array.isArray(v.nodes)) return out;
    for (const n of v.nodes) if (v.index) out.add(`${n}:${v.index}`);
    if (v.nodes.length === 2) {
      const [a, b] = v.nodes.map((n) => state.nodes[n - 1]);
      if (a && b && a.up && b.up) {
        const terms = new Map(b.log.map((e) => [e.index, e.term]));
        for (const e of a.log) {
          if (terms.has(e.index) && terms.get(e.index) !== e.term) {
            out.add(`${a.id}:${e.index}`);
            out.add(`${b.id}:${e.index}`);
          }
        }
      }
    }
    return out;
  }

  render(violations) {
    const key = violations.length ? `${violations.length}|${violations[0].rule}|${violations[0].detail}` : 'safe';
    if (key === this.key) return;
    this.key = key;
    if (!violations.length) {
      this.pill.className = 'verdict safe';
      this.text.textContent = 'safe';
      this.pill.title = 'The safety checker re-checks Election Safety, Log Matching, Leader Completeness and State Machine Safety after every event: no violation so far.';
      this.banner.hidden = true;
      return;
    }
    const v = violations[0];
    this.pill.className = 'verdict unsafe';
    this.text.textContent = `violated: ${v.rule}`;
    this.pill.title = v.detail;
    const more = violations.length > 1 ? ` (${violations.length - 1} more after it)` : '';
    this.banner.innerHTML = `<b>Safety violated — ${h(v.rule)}</b> at ${formatTime(v.time_ms)}, event ${v.event}: ${h(v.detail)}${h(more)}`;
    this.banner.hidden = false;
  }
}
