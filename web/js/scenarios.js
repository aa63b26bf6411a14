// Lessons: the guided scenarios of web/scenarios/, listed in index.json as
// {file, title, description}. Each is a scenario script (the same files the Catch2
// tests run); the page builds the cluster its header describes and plays its lines.
//
// The narration panel is drawn from the timeline itself: every `say` line run so far
// is a paragraph (the newest highlighted), every `expect` a check that passed (green)
// or failed (red, with the reason), and any other line that failed an error. When the
// reader takes an action of their own mid-lesson, the rest of the script is dropped
// (the timeline branches) and the panel says so.

import { escapeHtml as h, formatTime } from './format.js';

export async function loadLessonIndex() {
  const res = await fetch('scenarios/index.json');
  if (!res.ok) throw new Error(`scenarios/index.json could not be loaded (HTTP ${res.status})`);
  const list = await res.json();
  if (!Array.isArray(list)) throw new Error('scenarios/index.json must be a list of {file, title, description}');
  return list.map((s) => ({ ...s, id: String(s.file).replace(/\.txt$/, '') }));
}

export async function loadLessonScript(lesson) {
  const res = await fetch(`scenarios/${lesson.file}`);
  if (!res.ok) throw new Error(`scenarios/${lesson.file} could not be loaded (HTTP ${res.status})`);
  return res.text();
}

export class LessonList {
  constructor(root, onPick) {
    this.root = root;
    this.lessons = [];
    root.addEventListener('click', (ev) => {
      const b = ev.target.closest('[data-lesson]');
      if (b) onPick(this.lessons.find((l) => l.id === b.dataset.lesson));
    });
  }

  show(lessons) {
    this.lessons = lessons;
    this.root.innerHTML = lessons.map((l) => `
      <button class="lesson" data-lesson="${h(l.id)}" title="${h(l.description ?? '')}">
        <b>${h(l.title)}</b>${l.description ? `<small>${h(l.description)}</small>` : ''}
      </button>`).join('');
  }

  showError(message) {
    this.root.innerHTML = `<p class="hint">${h(message)}</p>`;
  }

  setActive(id) {
    for (const b of this.root.querySelectorAll('[data-lesson]')) b.classList.toggle('active', b.dataset.lesson === id);
  }
}

export class Narration {
  constructor({ card, title, list, status }) {
    this.card = card;
    this.title = title;
    this.list = list;
    this.status = status;
    this.key = '';
  }

  hide() {
    this.card.hidden = true;
    this.key = '';
  }

  // script: the lesson's own lines; timeline: what actually ran.
  render(lessonTitle, script, timeline) {
    this.card.hidden = false;
    const key = `${lessonTitle}|${timeline.version}|${timeline.begun}|${timeline.atEnd()}`;
    if (key === this.key) return;
    this.key = key;
    this.title.textContent = lessonTitle;
    const entries = timeline.entries;
    let deviation = -1;
    for (let i = 0; i < entries.length; i++) {
      // What the reader does after the script's end (playing on, or acting) drops
      // nothing of the lesson: only a changed or cut script line is a deviation.
      if (i >= script.length) break;
      if (entries[i].line !== script[i]) {
        deviation = i;
        break;
      }
    }

    const items = [];
    let lastSay = -1;
    let passed = 0, failed = 0;
    for (let i = 0; i < timeline.begun; i++) {
      const e = entries[i];
      if (i === deviation) {
        const at = e.kind === 'advance' || e.kind === 'wait' ? e.rec.end ?? e.rec.start : e.rec.start;
        items.push(`<li class="error">You took over at ${formatTime(at)}: the rest of the lesson's script was dropped. Restart to see it again.</li>`);
      }
      if (e.verb === 'say') {
        lastSay = items.length;
        items.push(`<li class="say">${h(e.line.slice(4))}</li>`);
      } else if (e.verb === 'expect' && e.rec.done) {
        if (e.rec.ok) passed++; else failed++;
        items.push(`<li class="expect ${e.rec.ok ? 'pass' : 'fail'}">${e.rec.ok ? '✓' : '✗'} ${h(e.line.slice(7))}${
          e.rec.message ? `<span class="why">${h(e.rec.message)}</span>` : ''}</li>`);
      } else if (e.rec.done && e.rec.ok === false) {
        failed++;
        items.push(`<li class="error">✗ ${h(e.line)}: ${h(e.rec.message)}</li>`);
      }
    }
    if (lastSay >= 0) items[lastSay] = items[lastSay].replace('class="say"', 'class="say current"');
    this.list.innerHTML = items.join('') || '<li class="say">Press Play to start the lesson.</li>';
    const finished = deviation === -1 && timeline.begun >= script.length && !timeline.active();
    const current = finished ? this.status : this.list.querySelector('.current') ?? this.list.lastElementChild;
    if (current) current.scrollIntoView({ block: 'nearest' });

    this.status.className = `lesson-status${finished ? (failed ? ' failed' : ' done') : ''}`;
    this.status.textContent = finished
      ? (failed ? `Lesson over: ${failed} check${failed > 1 ? 's' : ''} failed.` : `Lesson complete: all ${passed} checks passed.`)
      : deviation >= 0 && deviation < timeline.begun ? 'Playing freely from here.'
      : `Line ${Math.min(timeline.begun, script.length)} of ${script.length}`;
    this.status.dataset.state = finished ? (failed ? 'failed' : 'passed') : 'running';
  }
}
