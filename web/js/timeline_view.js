// The timeline bar: a slider over all recorded virtual time, with a tick for each
// action (blue), narration line (amber) and failed check (red). Dragging it asks the
// page to seek; the part after the cursor that was recorded earlier is the future the
// page will replay when played, drawn faded.

import { formatTime } from './format.js';

export class TimelineView {
  constructor({ scrub, marks, readout, toStart, toLive }, { onSeek, onScrubStart }) {
    this.scrub = scrub;
    this.marks = marks;
    this.readout = readout;
    this.dragging = false;
    this.marksKey = '';
    this.marksAt = 0;
    scrub.addEventListener('pointerdown', () => {
      this.dragging = true;
      onScrubStart();
    });
    window.addEventListener('pointerup', () => { this.dragging = false; });
    scrub.addEventListener('input', () => onSeek(Number(scrub.value)));
    scrub.addEventListener('keydown', () => onScrubStart());
    toStart.addEventListener('click', () => { onScrubStart(); onSeek(0); });
    toLive.addEventListener('click', () => { onScrubStart(); onSeek(Number(scrub.max)); });
  }

  render(timeline) {
    const now = timeline.now();
    const end = Math.max(timeline.endTime(), 1);
    if (Number(this.scrub.max) !== end) this.scrub.max = end;
    if (!this.dragging && Number(this.scrub.value) !== now) this.scrub.value = now;
    const text = end > now ? `${formatTime(now)} of ${formatTime(end)}` : formatTime(now);
    if (this.readout.textContent !== text) this.readout.textContent = text;

    const t = performance.now();
    const key = `${timeline.version}|${timeline.begun}|${timeline.entries.length}`;
    if (key === this.marksKey && t - this.marksAt < 500) return;
    this.marksKey = key;
    this.marksAt = t;
    const parts = [];
    const entries = timeline.entries;
    for (let i = Math.max(0, entries.length - 400); i < entries.length; i++) {
      const e = entries[i];
      if (!e.rec || e.rec.start == null || e.kind === 'advance' || e.kind === 'wait') continue;
      const cls = ['mark'];
      if (e.rec.ok === false) cls.push('fail');
      else if (e.verb === 'say') cls.push('say');
      else if (e.verb !== 'expect') cls.push('action');
      if (i >= timeline.begun) cls.push('future');
      parts.push(`<i class="${cls.join(' ')}" style="left:${(100 * e.rec.start / end).toFixed(3)}%"></i>`);
    }
    if (end > now) {
      parts.push(`<i class="future-band" style="left:${(100 * now / end).toFixed(3)}%;right:0"></i>`);
    }
    this.marks.innerHTML = parts.join('');
  }
}
