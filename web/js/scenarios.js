// Lessons: the guided scenarios of web/scenarios/, listed in index.json as
// {file, title, description}. Each is a scenario script (the same files the Catch2
// tests run); the page builds the cluster its header describes and plays its lines.
//
// The narration panel is drawn from the timeline itself: every `say` line run so far
// is a paragraph (the newest highlighted), every `expect` a check that passed (green)
// or failed (red, with the reason) worded in plain language, and any other line that
// failed an error. Between them sit the moments the page captioned inside a wait (a
// rejection, an overwrite, a commit; moments.js). The lesson stops after each sentence
// and at each key moment until the reader presses Next. When the reader takes an
// action of their own mid-lesson, the rest of the script is dropped (the timeline
// branches) and the panel says so.
//
// Three lessons can be replayed with their rule the other way round (REPLAYS): Figure 8
// with the bug it warns of switched on, and the control runs of the missing-prevLog
// lesson with the check kept and of the 2015 membership bug with the correction kept. A replay is the same script with one `fault` line changed, run
// like any lesson; its narration still tells the lesson's story, so the panel says up
// front which of its checks fail and why.

import { NARROW, escapeHtml as h, formatTime } from './format.js';

export const REPLAYS = {
  figure8: {
    button: 'Replay with the bug on',
    back: 'Back to the lesson',
    title: 'with the bug on',
    hint: 'Run the same script with node 1 committing an old-term entry by counting replicas (commit_old_term_by_count)',
    // Node 1 is the term-4 leader holding entry 2 from term 2 on a majority: with the
    // switch on, it commits that entry by counting replicas.
    find: /^partition 1,2,3 \| 4 \| 5$/m,
    edit: (text, m) => text.replace(m, 'fault 1 commit_old_term_by_count\n$&'),
    note: 'Replay with the bug on: node 1 runs with commit_old_term_by_count, so it commits entry 2 of term 2 ' +
      'by counting replicas. When node 5 wins and overwrites it, a committed entry is lost: the checker catches it ' +
      'as a Leader Completeness violation, and the checks below that expect safety (S1 has committed nothing; no broken safety rule) fail — as they should.',
    outcome: 'with the bug on, the checker caught the lost committed entry and the checks that expect safety failed.',
  },
  missing_prevlog_check: {
    button: 'Replay with the rule kept',
    back: 'Back to the lesson',
    title: 'with the rule kept',
    hint: 'The control run: the same script with node 3 keeping its prevLog check',
    find: /^fault 3 skip_prev_log_check$/m,
    edit: (text, m) => text.replace(m, 'fault 3 skip_prev_log_check off'),
    note: 'Replay with the rule kept: the same script with node 3\'s prevLog check left on. Node 3 rejects entry 11, ' +
      'the leader backs up and overwrites its entries 7–10, and the checker stays green — so the check below that ' +
      'expects a Log Matching violation fails, and the narration describes the broken run, not this one.',
    outcome: 'with the rule kept, the checker found nothing, so the check that expects a violation failed.',
  },
  membership_2015_bug: {
    button: 'Replay with the rule kept',
    back: 'Back to the lesson',
    title: 'with the rule kept',
    hint: 'The control run: the same script with node 2 keeping the 2015 correction (a new leader commits an entry of its own term before it changes the configuration)',
    find: /^fault 2 config_change_before_commit_in_term$/m,
    edit: (text, m) => text.replace(m, 'fault 2 config_change_before_commit_in_term off'),
    note: 'Replay with the rule kept: node 2 keeps the 2015 correction, so as a new leader it refuses to remove node 4 until ' +
      'an entry of its own term is committed — which needs node 4, cut off from it. C2 never exists; node 1 wins later and every ' +
      'log agrees. The checker stays green, so the checks below on C2 and on the violations fail, and the narration describes ' +
      'the broken run, not this one.',
    outcome: 'with the rule kept, the checker found nothing, so the checks that expect a violation failed.',
  },
};

// The replay's script: `text` (the lesson's) with its fault line changed.
export function replayScript(id, text) {
  const r = REPLAYS[id];
  if (!r) throw new Error(`the lesson ${id} has no replay`);
  if (!r.find.test(text)) throw new Error(`scenarios/${id}.txt no longer has the line ${r.find.source} that its replay changes`);
  return r.edit(text, r.find);
}

// An `expect` line's condition (`expect ` cut off) as a sentence.
export function plainCheck(args) {
  const w = args.trim().split(/\s+/);
  const S = (n) => `S${n}`;
  const cmp = { '>=': 'at least', '<=': 'at most', '=': 'exactly', '>': 'more than', '<': 'less than' };
  switch (w[0]) {
    case 'leader':
      return w[1] === 'any' ? 'Some node is the leader.' : w[1] === 'none' ? 'No node is the leader.' : `${S(w[1])} is the leader.`;
    case 'role':
      return w[2] === 'not' ? `${S(w[1])} is not the ${w[3]}.` : `${S(w[1])} is a ${w[2]}.`;
    case 'term':
      if (cmp[w[2]]) return `${S(w[1])}'s term is ${cmp[w[2]]} ${w[3]}.`;
      break;
    case 'commit':
      if (cmp[w[2]]) return w[3] === '0' && w[2] === '=' ? `${S(w[1])} has committed nothing.` : `${S(w[1])} has committed ${cmp[w[2]]} ${w[3]} entr${w[3] === '1' ? 'y' : 'ies'}.`;
      break;
    case 'log':
      if (w[2] === '=' && /^\d+\.\.\d+$/.test(w[3] ?? '')) return `${S(w[1])}'s log holds exactly entries ${w[3].replace('..', '–')}.`;
      if (w[2] === 'terms') return `${S(w[1])}'s log holds entries of terms ${w.slice(3).join(' ').split(',').join(', ')}.`;
      break;
    case 'snapshot':
      if (cmp[w[2]]) return `${S(w[1])} has a snapshot covering its log up to ${w[2] === '=' ? '' : `${cmp[w[2]]} `}index ${w[3]}.`;
      break;
    case 'kv':
      return w[3] === 'missing' ? `${S(w[1])} has no key ${w[2]}.` : `${S(w[1])} has applied ${w[2]} = ${w.slice(4).join(' ')}.`;
    case 'safe':
      return 'The checker found no broken safety rule.';
    case 'violation':
      return `The checker caught a ${w.slice(1).join(' ')} violation.`;
    case 'same':
      return 'Every running node holds the same log.';
    case 'members':
    case 'learners': {
      // "members = 1,2,3" (the leader's configuration) or "members 4 = 1,2,3" (node 4's).
      const eq = w.indexOf('=');
      const whose = eq === 2 ? `${S(w[1])}'s configuration` : 'The leader\'s configuration';
      const ids = (w[eq + 1] ?? '').split(',').filter(Boolean);
      if (eq !== 1 && eq !== 2) break;
      const what = w[0] === 'members' ? 'voters' : 'learners';
      return ids[0] === 'none' || !ids.length ? `${whose} has no ${what}.` : `${whose} has ${what} ${ids.map(S).join(', ')}.`;
    }
  }
  return args;
}

// Scrolls `list` (its own scroll container, position: relative) so that `item` shows.
function reveal(list, item) {
  const top = item.offsetTop, bottom = top + item.offsetHeight;
  if (bottom > list.scrollTop + list.clientHeight) list.scrollTop = bottom - list.clientHeight;
  if (top < list.scrollTop) list.scrollTop = top;
}

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
  // onReplay() switches between a lesson and its replay (the page knows which is on).
  constructor({ card, title, list, status, onReplay }) {
    this.card = card;
    this.title = title;
    this.list = list;
    this.status = status;
    this.key = '';
    this.replay = null;  // the REPLAYS entry while a replay runs
    this.replayButton = document.createElement('button');
    this.replayButton.id = 'lesson-replay';
    this.replayButton.className = 'btn small';
    this.replayButton.hidden = true;
    this.replayButton.addEventListener('click', () => onReplay());
    card.querySelector('.narration-buttons').prepend(this.replayButton);
    this.note = document.createElement('p');
    this.note.id = 'lesson-note';
    this.note.className = 'lesson-note';
    this.note.hidden = true;
    list.before(this.note);
  }

  hide() {
    this.card.hidden = true;
    this.key = '';
  }

  // The lesson `id` is shown, as its replay when `replaying`: the replay button (for the
  // lessons that have one) offers the other run, and a replay gets its note.
  setLesson(id, replaying) {
    const r = REPLAYS[id] ?? null;
    this.replay = replaying ? r : null;
    this.replayButton.hidden = !r;
    if (r) {
      this.replayButton.textContent = replaying ? r.back : r.button;
      this.replayButton.title = replaying ? 'Run the lesson as written' : r.hint;
    }
    this.note.hidden = !replaying;
    this.note.textContent = replaying ? r.note : '';
    this.key = '';
  }

  // script: the lesson's own lines; timeline: what actually ran; moments: captions
  // {entry, time, text, key} of what happened inside time-taking lines; held: the
  // lesson stopped at a sentence or a key moment; waiting: it is paused mid-script.
  render(lessonTitle, script, timeline, { moments = [], held = false, waiting = false } = {}) {
    this.card.hidden = false;
    const now = timeline.now();
    const shown = moments.filter((m) => m.entry < timeline.begun && m.time <= now);
    const key = `${lessonTitle}|${timeline.version}|${timeline.begun}|${timeline.atEnd()}|${shown.length}|${held}|${waiting}`;
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
    let m = 0;
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
        items.push(`<li class="expect ${e.rec.ok ? 'pass' : 'fail'}" title="${h(e.line)}${e.rec.ok && e.rec.message ? `: ${h(e.rec.message)}` : ''}">${
          e.rec.ok ? '✓' : '✗'} ${h(plainCheck(e.line.slice(7)))}${!e.rec.ok && e.rec.message ? `<span class="why">${h(e.rec.message)}</span>` : ''}</li>`);
      } else if (e.rec.done && e.rec.ok === false) {
        failed++;
        items.push(`<li class="error">✗ ${h(e.line)}: ${h(e.rec.message)}</li>`);
      }
      for (; m < shown.length && shown[m].entry === i; m++) {
        const x = shown[m];
        if (x.key || m === shown.length - 1) lastSay = items.length;
        items.push(`<li class="moment${x.key ? ' key' : ''}" data-kind="${h(x.kind)}"><span class="at">${formatTime(x.time)}</span> ${h(x.text)}</li>`);
      }
    }
    if (lastSay >= 0) items[lastSay] = items[lastSay].replace(/class="(say|moment)/, 'class="$1 current');
    this.list.innerHTML = items.join('') || '<li class="say">Press Play to start the lesson.</li>';
    const finished = deviation === -1 && timeline.begun >= script.length && !timeline.active();
    // What is new is scrolled into view: in the side panel on a wide screen; on a narrow
    // one within the list alone, never the page (that would pull the cluster out of view
    // while the reader watches it).
    const current = finished ? this.list.lastElementChild : this.list.querySelector('.current') ?? this.list.lastElementChild;
    if (current && window.matchMedia(NARROW).matches) reveal(this.list, current);
    else if (current) (finished ? this.status : current).scrollIntoView({ block: 'nearest' });

    this.status.className = `lesson-status${finished ? (failed ? ' failed' : ' done') : ''}`;
    const free = deviation >= 0 && deviation < timeline.begun;
    this.status.textContent = finished
      ? (this.replay ? `Replay over: ${this.replay.outcome} (${failed} failed, ${passed} passed)`
        : failed ? `Lesson over: ${failed} check${failed > 1 ? 's' : ''} failed.` : `Lesson complete: all ${passed} checks passed.`)
      : free ? 'Playing freely from here.'
      : `${held ? 'Paused for you: press Next to go on. ' : waiting ? 'Paused. ' : ''}Line ${Math.min(timeline.begun, script.length)} of ${script.length}`;
    this.status.dataset.state = finished ? (failed ? 'failed' : 'passed') : 'running';
    this.status.dataset.held = String(held && !finished);
    const next = this.card.querySelector('#lesson-next');
    next.hidden = finished || free;
    next.classList.toggle('attention', held && !finished);
  }
}
