// The playground: wires the simulator (through its wasm JavaScript API only) to the
// views and controls, and runs the frame loop.
//
// Each frame, while playing, the page runs (real ms elapsed × speed) of virtual time
// through the timeline, then asks the simulator for one state() — with the log limited
// to the index window the log grid shows — and hands it to every view. Everything the
// user does becomes one scenario line performed on the timeline, so it is recorded,
// can be rewound and replayed, and ends up in the shareable URL.
//
// A lesson is played at a reader's pace (runLesson): it stops after each sentence and
// at each key moment until Next. Whatever a canvas draws is also reachable from the
// keyboard (links and nodes are focusable SVG, messages a list of buttons, the log grid
// a cursor), and Escape closes what a key opened and gives focus back to its opener.

import { ClusterView } from './cluster_view.js';
import { CheckerView } from './checker_view.js';
import { Controls } from './controls.js';
import { MESSAGE_LABEL, NARROW, chunkLabel, escapeHtml as h, formatTime, showHtml } from './format.js';
import { Inspector } from './inspector.js';
import { KvPanel, requestAnswer } from './kv_panel.js';
import { LogView } from './log_view.js';
import { MessagesView } from './messages_view.js';
import { describeChange } from './moments.js';
import { NodeMenu } from './node_menu.js';
import { LessonList, Narration, loadLessonIndex, loadLessonScript, REPLAYS, replayScript } from './scenarios.js';
import { Timeline } from './timeline.js';
import { TimelineView } from './timeline_view.js';
import { decodeHash, encodeHash } from './url_state.js';
import { loadRaftbook } from './wasm_module.js';

const $ = (id) => document.getElementById(id);
const DEFAULT_SPEED = 0.1;
const URL_EVERY_MS = 2000;  // while playing; at once when paused
const STEP_LIMIT_MS = 60000;  // a Step in a lesson runs at most this far looking for a change
const MESSAGE_LIST = 30;       // messages in flight listed for the keyboard...
const MESSAGE_LIST_EVERY_MS = 1000;  // ...and how often the list may change while playing
const SNAPSHOT_CHUNK_BYTES = 64;  // InstallSnapshot chunk size of a free cluster
const MAX_NODES = 9;              // the simulator's machine slots (Simulator::kMaxNodes)
const MEMBERSHIP_VERBS = new Set(['add', 'promote', 'remove', 'transfer']);

// A membership change or transfer as the request list shows it.
const MEMBERSHIP_OP = {
  add_learner: (n) => `add S${n} as a learner`,
  promote: (n) => `promote S${n} to voter`,
  remove: (n) => `remove S${n}`,
  transfer_leader: (n) => `transfer leadership to S${n}`,
};

class Playground {
  constructor(rb) {
    this.rb = rb;
    this.faultNames = JSON.parse(rb.faultNames());
    this.setup = null;       // { kind: 'free', nodes, seed } or { kind: 'scenario', id, replay }
    this.timeline = null;
    this.lesson = null;      // { id, title, file, script, replay } while a lesson is loaded
    this.lessonPlaying = false;  // the lesson's script is still being played
    this.held = false;       // the lesson stopped for the reader (a sentence or a key moment)
    this.moments = [];       // captions of what happened inside the lesson's waits
    this.lessonPrev = null;  // the state the next caption is measured from
    this.lessons = [];
    this.playing = false;
    this.speed = DEFAULT_SPEED;
    this.carry = 0;          // virtual ms not yet run (less than one)
    this.lastFrame = null;
    this.selection = null;   // { kind: 'node' | 'message' | 'link' | 'entry', ... }
    this.focusedMessage = null;  // the message whose button in the list has focus
    this.opener = null;      // what opened the node menu or sent focus to the inspector
    this.messageListKey = '';
    this.messageListAt = -Infinity;  // performance.now() of the list's last rebuild
    this.pendingSeek = null;
    this.refusalsSeen = null;  // ids of membership changes whose answer the page has seen
    this.dirty = true;
    this.urlWritten = 0;
    this.lastHash = '';

    this.cluster = new ClusterView($('cluster'));
    this.cluster.onLayout = () => { this.dirty = true; };
    this.messages = new MessagesView($('messages'), this.cluster);
    this.logs = new LogView($('log-grid'), $('follow'));
    this.logs.onChange = () => { this.dirty = true; };
    this.logs.onSelectEntry = (node, index, snapshot) => this.select(snapshot ? { kind: 'snapshot', node } : { kind: 'entry', node, index });
    $('follow').addEventListener('change', () => { this.dirty = true; });
    this.checker = new CheckerView($('verdict'), $('verdict-text'), $('violation-banner'));
    this.inspector = new Inspector($('inspector-title'), $('inspector'), {
      act: (line) => this.perform(line),
      fetchMessage: (id) => JSON.parse(this.timeline.sim.message(id)),
      fetchSnapshot: (node) => JSON.parse(this.timeline.sim.snapshotContents(node)),
      faultNames: this.faultNames,
    });
    this.nodeMenu = new NodeMenu(document.querySelector('.stage'), (line) => this.perform(line));
    this.controls = new Controls({
      togglePlay: () => (this.playing ? this.pause() : this.play()),
      step: () => this.step(),
      setSpeed: (x) => { this.speed = x; },
      reset: (nodes, seed, snapshotEvery) => this.resetFree(nodes, seed, snapshotEvery),
      propose: (cmd) => this.perform(`propose ${cmd}`),
      setRate: (r) => this.perform(`rate ${r}`),
      setDrop: (p) => this.perform(`net drop=${p}`),
      setLatency: ([lo, hi]) => this.perform(`net latency=${lo}..${hi}`),
      partition: (groups) => {
        if (groups.length < 2) this.toast('Put at least one node on another side first (click the chips).', true);
        else this.perform(`partition ${groups.map((g) => g.join(',')).join(' | ')}`);
      },
      heal: () => this.perform('heal'),
    });
    this.controls.setSpeedDisplay(this.speed);
    this.kvPanel = new KvPanel({
      casForm: $('cas-form'), casOp: $('cas-op'), casKey: $('cas-key'), casValue: $('cas-value'),
      casIf: $('cas-if'), casPrev: $('cas-prev'), casAnswer: $('cas-answer'),
      watchKey: $('watch-key'), watchPrefix: $('watch-prefix'), watchNode: $('watch-node'), watchList: $('watch-list'),
    }, {
      propose: (cmd) => this.perform(`propose ${cmd}`),
      error: (message) => this.toast(message, true),
    });
    this.timelineView = new TimelineView(
      { scrub: $('scrub'), marks: $('marks'), readout: $('time-readout'), toStart: $('to-start'), toLive: $('to-live') },
      { onSeek: (t) => { this.pendingSeek = t; this.dirty = true; }, onScrubStart: () => this.pause() });
    this.lessonList = new LessonList($('lesson-list'), async (lesson) => {
      if (await this.startLesson(lesson)) this.showLessonOnPhone();
    });
    this.narration = new Narration({
      card: $('narration-card'), title: $('lesson-title'), list: $('narration'), status: $('lesson-status'),
      onReplay: () => this.lesson && this.startLesson(this.lesson, null, null, !this.lesson.replay),
    });
    $('lesson-restart').addEventListener('click', () => this.lesson && this.startLesson(this.lesson, null, null, this.lesson.replay));
    $('lesson-finish').addEventListener('click', () => this.finishLesson());
    $('lesson-next').addEventListener('click', () => this.play());
    $('lesson-exit').addEventListener('click', () => this.resetFree(Number($('nodes').value), $('seed').value.trim(), this.controls.snapshotEvery()));
    $('cluster').addEventListener('click', (ev) => this.clusterClick(ev));
    $('cluster').addEventListener('mousemove', (ev) => this.clusterPointer(ev));
    $('cluster').addEventListener('mouseleave', () => { this.messages.pointer = null; this.dirty = true; });
    $('cluster').addEventListener('keydown', (ev) => this.clusterKey(ev));
    // A message focused in the list is ringed on the canvas, as a selected one is.
    $('message-list').addEventListener('focusin', (ev) => { this.focusedMessage = Number(ev.target.dataset.message) || null; this.dirty = true; });
    $('message-list').addEventListener('focusout', () => { this.focusedMessage = null; this.dirty = true; });
    $('message-list').addEventListener('click', (ev) => {
      const b = ev.target.closest('[data-message]');
      if (b) this.pickMessage(b);
    });
    // Delete (or Backspace) on a message in the list drops it, as its ✕ handle does.
    $('message-list').addEventListener('keydown', (ev) => {
      const b = ev.target.closest('[data-message]');
      if (!b || (ev.key !== 'Delete' && ev.key !== 'Backspace') || ev.ctrlKey || ev.metaKey || ev.altKey) return;
      ev.preventDefault();
      this.dropMessage(Number(b.dataset.message));
    });
    this.logs.onPickEntry = (node, index, snapshot) => {
      this.select(snapshot ? { kind: 'snapshot', node } : { kind: 'entry', node, index });
      this.openPanel(this.logs.canvas);
    };
    document.addEventListener('keydown', (ev) => this.escape(ev));
    $('share').addEventListener('click', () => this.share());
    $('help').addEventListener('click', () => $('help-dialog').showModal());
    $('help-link').addEventListener('click', (ev) => { ev.preventDefault(); $('help-dialog').showModal(); });
    $('verdict').addEventListener('click', () => this.showViolation());
    $('add-node').addEventListener('click', () => this.addNode(false));
    $('add-learner').addEventListener('click', () => this.addNode(true));
    window.addEventListener('hashchange', () => this.openHash());
  }

  async start() {
    try {
      this.lessons = await loadLessonIndex();
      this.lessonList.show(this.lessons);
    } catch (err) {
      this.lessonList.showError(err.message);
    }
    const opened = await this.openHash();
    if (!opened) {
      this.resetFree(5, '1');
      this.play();
    }
    requestAnimationFrame((t) => this.frame(t));
  }

  // Opens the state a link's hash describes; false when the hash holds none.
  async openHash() {
    if (this.timeline && location.hash === this.lastHash) return true;
    let link;
    try {
      link = decodeHash(location.hash);
    } catch (err) {
      this.toast(`This link is malformed: ${err.message}. Starting a fresh cluster instead.`, true);
      return false;
    }
    if (!link) return false;
    this.pause();
    let opened;
    if (link.setup.kind === 'scenario') {
      const lesson = this.lessons.find((l) => l.id === link.setup.id) ?? { id: link.setup.id, file: `${link.setup.id}.txt`, title: link.setup.id };
      opened = await this.startLesson(lesson, link.lines, link.cursor, link.setup.replay);
    } else {
      opened = this.startFree(link.setup.nodes, link.setup.seed, link.lines ?? [], link.cursor, link.setup.snapshotEvery);
    }
    const problems = opened ? this.linkProblems(link.cursor) : [];
    if (problems.length) this.toast(`In this link, ${problems.join('; ')}.`, true);
    return opened;
  }

  // What a link asked for that the page could not do: lines up to its cursor that did
  // not run (not an action, or an impossible one; a failed check or wait is part of
  // the story, not a problem), and a cursor its lines never reach.
  linkProblems(cursor) {
    const tl = this.timeline;
    const out = [];
    tl.entries.slice(0, tl.begun).forEach((e, i) => {
      if (e.rec.done && e.rec.ok === false && e.verb !== 'expect' && e.kind !== 'wait') {
        out.push(`line ${i + 1}, “${e.line}”, did not run: ${e.rec.message}`);
      }
    });
    if (cursor && (tl.begun !== cursor.begun || tl.now() !== cursor.time)) {
      out.push(`the moment at=${cursor.begun}, t=${cursor.time} is not on its recording of ${tl.entries.length} line${tl.entries.length === 1 ? '' : 's'}, so the page shows at=${tl.begun}, t=${tl.now()} instead`);
    }
    return out;
  }

  resetFree(nodes, seed, snapshotEvery = 0) {
    if (!/^\d{1,20}$/.test(seed)) {
      this.toast(`The seed must be a whole number, not "${seed}".`, true);
      return;
    }
    this.startFree(nodes, seed, [], null, snapshotEvery);
  }

  // snapshotEvery: each node snapshots after this many entries applied (0: only when
  // asked to), keeping a quarter of that before the snapshot as a catch-up tail; chunks
  // of 64 bytes, so that even a small snapshot travels as several.
  startFree(nodes, seed, lines, cursor, snapshotEvery = 0) {
    const config = JSON.stringify({ nodes, seed: String(seed), snapshot_entries: snapshotEvery,
      catchup_entries: Math.floor(snapshotEvery / 4), snapshot_chunk_bytes: SNAPSHOT_CHUNK_BYTES });
    const ok = this.install({ kind: 'free', nodes, seed: String(seed), snapshotEvery }, () => new this.rb.Simulation(config), lines, cursor);
    if (ok) {
      this.lesson = null;
      this.lessonPlaying = false;
      this.narration.hide();
      this.lessonList.setActive(null);
      document.querySelector('.lessons').classList.remove('compact');
      $('welcome-card').hidden = false;
    }
    return ok;
  }

  // replay: run the lesson's replay (scenarios.js REPLAYS) instead of its script.
  async startLesson(lesson, lines = null, cursor = null, replay = false) {
    let text, script, title;
    try {
      text = await loadLessonScript(lesson);
      if (replay) text = replayScript(lesson.id, text);
      const parsed = JSON.parse(this.rb.parseScenario(text));
      script = parsed.actions.map((a) => a.text);
      title = parsed.title || lesson.title;
    } catch (err) {
      this.toast(`Lesson "${lesson.title}" could not be opened: ${err.message}`, true);
      return false;
    }
    const setup = replay ? { kind: 'scenario', id: lesson.id, replay: true } : { kind: 'scenario', id: lesson.id };
    const ok = this.install(setup, () => this.rb.Simulation.fromScenario(text), lines ?? script, cursor);
    if (!ok) return false;
    this.lesson = { ...lesson, title: replay ? `${title} — ${REPLAYS[lesson.id].title}` : title, script, replay };
    this.narration.setLesson(lesson.id, replay);
    this.lessonPlaying = !this.timeline.atEnd() && this.timeline.lines().every((l, i) => l === script[i]);
    this.lessonList.setActive(lesson.id);
    document.querySelector('.lessons').classList.add('compact');
    $('welcome-card').hidden = true;
    if (!cursor) this.play();
    return true;
  }

  // On a narrow screen the lesson list sits below the cluster: once a lesson is picked
  // there, the page scrolls up to the cluster, with the lesson's narration under it.
  // (After the frame that lays out the narration, so nothing moves it afterwards.)
  showLessonOnPhone() {
    if (!window.matchMedia(NARROW).matches) return;
    this.render();
    document.querySelector('.stage').scrollIntoView({ block: 'start' });
  }

  // Replaces the simulation: a new timeline for `setup`, replayed to `cursor` if given.
  install(setup, createSim, lines, cursor) {
    let timeline;
    try {
      timeline = new Timeline(createSim, lines);
      if (cursor) timeline.seek(cursor.time, cursor.begun);
    } catch (err) {
      this.toast(`Could not build the simulation: ${err.message}`, true);
      return false;
    }
    if (this.timeline) this.timeline.dispose();
    this.timeline = timeline;
    this.setup = setup;
    this.selection = null;
    this.nodeMenu.close();
    this.carry = 0;
    this.held = false;
    this.moments = [];
    this.lessonPrev = null;
    this.refusalsSeen = null;
    const count = JSON.parse(timeline.sim.state(JSON.stringify({ log_from: 1, log_to: 0, requests: 0 }))).nodes.length;
    this.cluster.setCount(count);
    this.logs.setCount(count);
    this.controls.setCount(count);
    this.lastHash = '';
    this.dirty = true;
    return true;
  }

  play() {
    if (this.lesson && this.lessonPlaying && this.timeline.atEnd()) this.lessonPlaying = false;
    this.held = false;
    this.playing = true;
    this.dirty = true;
  }

  pause() {
    this.playing = false;
    this.carry = 0;
    this.dirty = true;
  }

  // Step: in a lesson, run its next line, or inside a wait or advance run to the next
  // change a reader would see (captioned); otherwise run exactly one simulator event.
  step() {
    this.pause();
    if (this.lesson && this.lessonPlaying) {
      this.runLesson(STEP_LIMIT_MS, { untilChange: true });
    } else {
      this.perform('step');
    }
    this.dirty = true;
  }

  finishLesson() {
    if (!this.lesson) return;
    this.pause();
    if (this.lessonPlaying) this.timeline.run(Number.MAX_SAFE_INTEGER);
    this.lessonPlaying = false;
    this.held = false;
    this.dirty = true;
  }

  // Every user action: one line on the timeline (cutting off any recorded future).
  perform(line) {
    const e = this.timeline.perform(line);
    this.lessonPlaying = false;
    this.held = false;
    if (e.rec && e.rec.ok === false) this.toast(`“${line}” did not work: ${e.rec.message}`, true);
    this.dirty = true;
  }

  select(selection) {
    this.selection = selection;
    if (!selection || selection.kind !== 'node') this.nodeMenu.close();
    this.dirty = true;
  }

  clusterClick(ev) {
    const box = $('cluster').getBoundingClientRect();
    const drop = this.messages.hitHandle(ev.clientX - box.left, ev.clientY - box.top);
    if (drop != null) {
      this.dropMessage(drop);
      return;
    }
    const id = this.messages.hit(ev.clientX - box.left, ev.clientY - box.top);
    if (id != null) {
      const m = this.state.messages.find((x) => x.id === id);
      if (m) this.inspector.selectMessage(m);
      this.select({ kind: 'message', id });
      return;
    }
    const node = ev.target.closest('[data-node]');
    if (node) {
      this.opener = node;
      this.openNodeMenu(Number(node.dataset.node));
      return;
    }
    const link = ev.target.closest('[data-link]');
    if (link) {
      this.toggleLink(link.dataset.link);
      return;
    }
    this.select(null);
  }

  // The pointer over the cluster: the message under it gets a drop handle.
  clusterPointer(ev) {
    const box = $('cluster').getBoundingClientRect();
    const x = ev.clientX - box.left, y = ev.clientY - box.top;
    this.messages.pointer = { x, y };
    const onMessage = this.messages.hitHandle(x, y) ?? this.messages.hit(x, y);
    $('cluster').style.cursor = onMessage != null ? 'pointer' : '';
    this.dirty = true;
  }

  // Drops message id in flight, as if the network lost it: one timeline line (`lose N`),
  // so a seek or a shared link replays it. It stays selected, shown being lost.
  dropMessage(id) {
    const m = this.state.messages.find((x) => x.id === id);
    if (!m || m.lost) return;
    this.perform(`lose ${id}`);
    this.inspector.selectMessage(m);
    this.select({ kind: 'message', id });
  }

  // Enter or Space on a focused node opens its menu, as a click does, with focus on the
  // menu's first item; on a focused link it cuts or restores the link.
  clusterKey(ev) {
    if ((ev.key !== 'Enter' && ev.key !== ' ') || ev.ctrlKey || ev.metaKey || ev.altKey) return;
    const node = ev.target.closest('[data-node]');
    const link = ev.target.closest('[data-link]');
    if (!node && !link) return;
    ev.preventDefault();
    if (link) {
      this.toggleLink(link.dataset.link);
      return;
    }
    this.opener = node;
    this.openNodeMenu(Number(node.dataset.node));
    this.nodeMenu.focus();
  }

  toggleLink(id) {
    const [a, b] = id.split('-').map(Number);
    const down = this.state.links_down.some(([x, y]) => (x === a && y === b) || (x === b && y === a));
    this.select({ kind: 'link', id });
    this.perform(`${down ? 'restore' : 'cut'} ${a}-${b}`);
  }

  // The messages in flight as a list of buttons, for the keyboard and screen readers
  // (the canvas that draws them cannot be focused): the first MESSAGE_LIST ones by
  // arrival. Rebuilt when the messages change, at most once a second while playing (a
  // busy cluster changes them every frame; a list that is redrawn under the reader's
  // focus 60 times a second could not be read).
  renderMessageList(messages) {
    const shown = messages.slice(0, MESSAGE_LIST);
    const key = shown.map((m) => `${m.id}${m.lost ? 'x' : ''}`).join(',') + `|${messages.length}`;
    if (key === this.messageListKey) return;
    const t = performance.now();
    if (this.playing && t - this.messageListAt < MESSAGE_LIST_EVERY_MS) return;
    this.messageListAt = t;
    this.messageListKey = key;
    const list = $('message-list');
    const focused = document.activeElement && list.contains(document.activeElement) ? document.activeElement.dataset.message : null;
    list.innerHTML = shown.map((m) => `<li><button class="btn small" data-message="${m.id}"${
      m.lost ? '' : ' aria-keyshortcuts="Delete" title="Enter reads it; Delete drops it"'}>${h(MESSAGE_LABEL[m.type] ?? m.type)}${
      m.type === 'Snapshot' ? ` (${chunkLabel(m)})` : ''} S${m.from} → S${m.to}${
      m.lost ? ' (will be lost)' : ''}</button></li>`).join('') +
      (messages.length > shown.length ? `<li class="hint">and ${messages.length - shown.length} more</li>` : '') +
      (messages.length ? '' : '<li class="hint">No message is in flight.</li>');
    $('message-count').textContent = String(messages.length);
    if (focused) (list.querySelector(`[data-message="${focused}"]`) ?? list.querySelector('button') ?? $('message-list-head')).focus();
  }

  // A message picked from the list: shown in the inspector, with focus there (its Drop
  // button is the next Tab); Escape comes back here.
  pickMessage(button) {
    const id = Number(button.dataset.message);
    const m = this.state.messages.find((x) => x.id === id);
    if (!m) return;
    this.inspector.selectMessage(m);
    this.select({ kind: 'message', id });
    this.openPanel(button);
  }

  // Focus moves into the inspector, remembering what sent it there.
  openPanel(opener) {
    this.opener = opener;
    this.render();
    $('inspector').focus();
  }

  // Escape: the node menu or the inspector closes, and focus goes back to what opened it.
  escape(ev) {
    if (ev.key !== 'Escape' || $('help-dialog').open) return;
    const menuOpen = this.nodeMenu.nodeId != null;
    const inInspector = $('inspector').contains(document.activeElement) || document.activeElement === $('inspector');
    if (!menuOpen && !(inInspector && this.selection)) return;
    ev.preventDefault();
    this.nodeMenu.close();
    this.select(null);
    // A message's button may have been redrawn meanwhile: its successor, or the list.
    const gone = this.opener && !this.opener.isConnected && this.opener.dataset.message;
    const back = !this.opener ? null : this.opener.isConnected ? this.opener
      : gone ? $('message-list').querySelector(`[data-message="${gone}"]`) ?? $('message-list-head') : null;
    this.opener = null;
    if (back) back.focus();
  }

  openNodeMenu(id) {
    this.select({ kind: 'node', id });
    const p = this.cluster.pos[id - 1];
    const svg = $('cluster').getBoundingClientRect(), stage = document.querySelector('.stage').getBoundingClientRect();
    this.nodeMenu.open(this.state.nodes[id - 1], { x: p.x + svg.left - stage.left, y: p.y + svg.top - stage.top, r: this.cluster.radius },
      this.controls.command(), { leader: this.state.leader, next: this.nextNode() });
  }

  // The id a node added now gets (the next machine slot), or 0 when the cluster is full.
  nextNode() {
    const n = this.state ? this.state.nodes.length : 0;
    return n < MAX_NODES ? n + 1 : 0;
  }

  addNode(learner) {
    const next = this.nextNode();
    if (!next) this.toast(`The playground runs at most ${MAX_NODES} nodes.`, true);
    else this.perform(`add ${next}${learner ? ' learner' : ''}`);
  }

  // Scrolls the log grid to the first violation's index (when the checker names one).
  showViolation() {
    const v = this.state && this.state.violations[0];
    if (!v || !v.index) return;
    $('follow').checked = false;
    this.logs.scrollTo(v.index);
    this.dirty = true;
  }

  frame(t) {
    try {
      this.tick(t);
    } finally {
      requestAnimationFrame((next) => this.frame(next));
    }
  }

  tick(t) {
    const dt = this.lastFrame == null ? 0 : Math.min(100, t - this.lastFrame);
    this.lastFrame = t;
    if (this.pendingSeek != null) {
      const seek = this.pendingSeek;
      this.pendingSeek = null;
      this.timeline.seek(seek);
      this.refusalsSeen = null;
      this.lessonPrev = null;
      this.held = false;
      this.dirty = true;
    }
    if (this.playing) {
      this.carry += dt * this.speed;
      const whole = Math.floor(this.carry);
      if (whole > 0) {
        this.carry -= whole;
        this.run(whole);
      }
      this.dirty = true;
    }
    if (this.dirty) this.render();
  }

  run(ms) {
    if (this.lesson && this.lessonPlaying) this.runLesson(ms);
    else this.timeline.run(ms, { extend: true });
  }

  // Plays the lesson's script for up to `budget` ms of virtual time and stops where the
  // reader should look, as The Secret Lives of Data does: after a `say` (its sentence is
  // now on the page) and at a key moment inside an advance or a wait (a rejection, an
  // overwrite, a commit; moments.js). Time-taking lines run a millisecond at a time, so
  // no moment slips by at any speed; a millisecond run as part of a wait or an advance
  // lands exactly where the whole line would (timeline.js). With `untilChange` (Step) it
  // also stops at the first change of any kind, or after one line that takes no time.
  runLesson(budget, { untilChange = false } = {}) {
    const tl = this.timeline;
    if (!this.lessonPrev) this.lessonPrev = this.lessonState();
    let left = budget;
    for (;;) {
      if (tl.atEnd()) {
        this.lessonPlaying = false;
        this.pause();
        return;
      }
      const cur = tl.active();
      if (!cur) {
        const next = tl.entries[tl.begun];
        const timed = next.kind === 'advance' || next.kind === 'wait';
        if (timed && left <= 0) return;
        tl.run(0, { maxBegun: tl.begun + 1 });
        if (timed) continue;
        // A crash or a cut is the line's doing, not a moment; but a membership line may
        // have the leader append its configuration change at once, which is one.
        const st = this.lessonState();
        const config = MEMBERSHIP_VERBS.has(next.verb) ? describeChange(this.lessonPrev, st).filter((c) => c.kind === 'config') : [];
        this.lessonPrev = st;
        if (config.length) {
          this.recordMoment(config);
          this.held = true;
          this.pause();
          return;
        }
        if (next.verb === 'say') {
          this.held = true;
          this.pause();
          return;
        }
        if (untilChange) return;
        continue;
      }
      if (left <= 0) return;
      const hash = tl.sim.traceHash(), t0 = tl.now();
      tl.run(1, { maxBegun: tl.begun });
      left -= Math.max(1, tl.now() - t0);
      const ended = !tl.active();
      if (tl.sim.traceHash() === hash) {
        if (ended && untilChange) return;  // one line at most per Step
        continue;
      }
      const st = this.lessonState();
      const seen = this.lessonCaptions(describeChange(this.lessonPrev, st));
      this.lessonPrev = st;
      if (!seen.length || !(untilChange || seen[0].key)) {
        if (ended && untilChange) return;
        continue;
      }
      this.recordMoment(seen);
      if (seen[0].key) this.held = true;
      this.pause();
      return;
    }
  }

  // Which captions are still moments to stop at. Under a client load (a `rate` line
  // since the lesson's last sentence, or a rate in force) the leader commits all the
  // time: a commit is then only a caption. So is a moment the lesson already stopped at
  // (the same words again), and, once the checker has found a violation, a rejection:
  // the logs are broken and the leader may probe them again and again.
  lessonCaptions(seen) {
    const entries = this.timeline.entries;
    let loaded = this.currentRate() > 0;
    for (let i = this.timeline.begun - 1; i >= 0 && entries[i].verb !== 'say'; i--) if (entries[i].kind === 'rate') loaded = true;
    const broken = this.lessonPrev && this.lessonPrev.violations.length > 0;
    const stopped = new Set(this.moments.flatMap((m) => m.keys));
    const still = (c) => c.key && !(loaded && c.kind === 'commit') && !(broken && c.kind === 'reject') && !stopped.has(c.text);
    return seen.map((c) => (c.key && !still(c) ? { ...c, key: false } : c)).sort((a, b) => (b.key ? 1 : 0) - (a.key ? 1 : 0));
  }

  // The lesson's world, whole (lessons are small), for captions.
  lessonState() {
    return JSON.parse(this.timeline.sim.state(JSON.stringify({ requests: 0 })));
  }

  recordMoment(seen) {
    const tl = this.timeline;
    const text = seen.slice(0, 2).map((c) => c.text).join(' ');
    const at = { entry: tl.begun - 1, time: tl.now() };
    if (this.moments.some((m) => m.entry === at.entry && m.time === at.time)) return;
    this.moments.push({ ...at, text, key: !!seen[0].key, keys: seen.filter((c) => c.key).map((c) => c.text), kind: seen[0].kind ?? 'step' });
  }

  render() {
    this.dirty = false;
    const sim = this.timeline.sim;
    const win = this.logs.window();
    const state = JSON.parse(sim.state(JSON.stringify({ log_from: win.from, log_to: win.to, requests: 8 })));
    this.state = state;
    // Adding a node grows the cluster; rewinding past that shrinks it again.
    if (state.nodes.length !== this.cluster.count) {
      this.cluster.setCount(state.nodes.length);
      this.logs.setCount(state.nodes.length);
      this.controls.setCount(state.nodes.length);
      this.dirty = true;
    }
    const now = state.time_ms + (this.playing ? this.carry : 0);
    const sel = this.selection;
    this.cluster.render(state, now, sel);
    this.messages.render(state.messages, now, sel && sel.kind === 'message' ? sel.id : this.focusedMessage, state);
    this.logs.render(state, sel, this.checker.cells(state));
    this.inspector.render(state, sel, this.controls.command());
    this.timelineView.render(this.timeline);
    this.checker.render(state.violations);
    this.renderRequests(state.requests, state.membership_changes);
    this.reportRefusals(state.membership_changes);
    const full = state.nodes.length >= MAX_NODES;
    if ($('add-node').disabled !== full) $('add-node').disabled = $('add-learner').disabled = full;
    this.kvPanel.render(state, sim);
    this.renderMessageList(state.messages);
    this.renderFooter(state);
    this.controls.sync({
      playing: this.playing,
      stepTitle: this.lesson && this.lessonPlaying ? 'Run the next line of the lesson (.)' : 'Run exactly one simulator event (.)',
      nodes: state.nodes.length,
      seed: state.config.seed,
      snapshotEvery: state.config.snapshot_entries,
      network: state.network,
      rate: this.currentRate(),
      linksDown: state.links_down,
    });
    if (this.lesson) {
      this.narration.render(this.lesson.title, this.lesson.script, this.timeline, {
        moments: this.moments, held: this.held, waiting: this.lessonPlaying && !this.playing,
      });
    }
    this.writeUrl();
  }

  // A membership change the leader refused is said out loud once, with its reason
  // (not while a lesson plays its script: its narration tells that story).
  reportRefusals(changes) {
    if (!this.refusalsSeen) {  // a new simulation, or a seek: what happened before is no news
      this.refusalsSeen = new Set(changes.filter((c) => c.outcome !== 'pending').map((c) => c.id));
      return;
    }
    for (const c of changes) {
      if (c.outcome === 'pending' || this.refusalsSeen.has(c.id)) continue;
      this.refusalsSeen.add(c.id);
      if (c.outcome === 'refused' && !this.lessonPlaying) this.toast(`The leader refused to ${(MEMBERSHIP_OP[c.op] ?? ((n) => `${c.op} S${n}`))(c.node)}: ${c.error}`, true);
    }
  }

  // The rate of random requests in force: the last `rate` line run.
  currentRate() {
    const entries = this.timeline.entries;
    for (let i = this.timeline.begun - 1; i >= 0; i--) if (entries[i].kind === 'rate') return entries[i].perSecond;
    return 0;
  }

  // Client requests and membership changes, newest first.
  renderRequests(requests, changes = []) {
    const rows = requests.map((r) => {
      const [answer, cls] = requestAnswer(r);
      return { at: r.invoke_ms, html: `<div class="${h(cls)}"><span>${h(r.command)}</span><span>${h(answer)}</span></div>` };
    });
    for (const c of changes) {
      const [answer, cls] = c.outcome === 'pending' ? ['pending…', 'pending'] : c.outcome === 'ok'
        ? [c.op === 'transfer_leader' ? 'done' : `done at ${c.index}`, 'ok'] : [`refused: ${c.error}`, 'fail'];
      rows.push({ at: c.invoke_ms, html: `<div class="${cls} membership-op" title="${h(c.error)}"><span>${h((MEMBERSHIP_OP[c.op] ?? ((n) => `${c.op} S${n}`))(c.node))}</span><span>${h(answer)}</span></div>` });
    }
    const html = rows.sort((a, b) => b.at - a.at).map((r) => r.html).join('');
    showHtml($('requests'), html);
  }

  renderFooter(state) {
    const s = state.stats;
    const n = (x) => String(x).replace(/\B(?=(\d{3})+(?!\d))/g, ',');
    const text = `t = ${formatTime(state.time_ms)} · ${n(s.events)} events · ${n(s.messages_sent)} messages sent, ` +
      `${n(s.messages_dropped)} dropped · ${s.elections} election${s.elections === 1 ? '' : 's'} · ${n(s.committed)} committed · ` +
      (s.snapshots_taken || s.snapshots_installed ? `${n(s.snapshots_taken)} snapshots taken, ${n(s.snapshots_installed)} installed · ` : '') +
      (this.setup.kind === 'free' ? `seed ${this.setup.seed}, ${this.setup.nodes} nodes` : `lesson “${this.lesson ? this.lesson.title : this.setup.id}”`);
    if (this.footerText !== text) {
      this.footerText = text;
      $('stats').textContent = text;
    }
    if (this.footerHash !== state.trace_hash) {
      this.footerHash = state.trace_hash;
      $('trace-hash').textContent = state.trace_hash;
    }
  }

  hash() {
    return encodeHash({
      setup: this.setup,
      lines: this.timeline.lines(),
      scriptLines: this.lesson ? this.lesson.script : null,
      cursor: this.timeline.cursor(),
    });
  }

  writeUrl(force = false) {
    const t = performance.now();
    if (!force && this.playing && t - this.urlWritten < URL_EVERY_MS) return;
    this.urlWritten = t;
    const hash = this.hash();
    if (hash !== location.hash) history.replaceState(null, '', hash);
    this.lastHash = location.hash;
  }

  async share() {
    this.writeUrl(true);
    try {
      await navigator.clipboard.writeText(location.href);
      this.toast('Link to this moment copied. Whoever opens it sees exactly this state.');
    } catch {
      this.toast(`Copy this link: ${location.href}`);
    }
  }

  toast(message, error = false) {
    const box = $('toast');
    box.textContent = message;
    box.className = `toast${error ? ' error' : ''}`;
    box.hidden = false;
    clearTimeout(this.toastTimer);
    this.toastTimer = setTimeout(() => { box.hidden = true; }, error ? 6000 : 3500);
  }
}

async function boot() {
  // ?join opens the Live mode instead: this tab joins a real cluster (live.html).
  if (new URLSearchParams(location.search).has('join')) {
    location.replace(`live.html${location.search}${location.hash}`);
    return;
  }
  let rb;
  try {
    rb = await loadRaftbook();
  } catch (err) {
    const box = $('fatal');
    box.textContent = err.message;
    box.hidden = false;
    return;
  }
  const app = new Playground(rb);
  window.playground = app;  // for the browser tests and the curious
  await app.start();
}

boot();
