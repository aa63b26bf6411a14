// The timeline: everything done to the simulation, as a list of entries, and a cursor
// saying how far into that list the live simulation is.
//
// The simulator is deterministic, so a moment is fully described by where it started
// (a setup: cluster size and seed, or a scenario script) and the list of things done
// since. Every entry is one line of the scenario format — `advance 1200ms`,
// `propose set x 5`, `crash 2`, `wait leader within 2s`, `expect safe` — plus three the
// page adds: `step` (run exactly one event), `rate 5` (random client requests per
// second) and `lose 51` (message 51, in flight, is lost; message ids are as
// deterministic as everything else). Playing the page appends `advance` time to the list; clicking appends an
// action. To go back to an earlier time the page builds a fresh simulation from the
// setup and replays the entries up to there; replaying the rest plays the recorded
// future again, and any new action taken in the past cuts that future off (a branch).
//
// Exactness rests on two facts of the simulator: advance(a) then advance(b) is
// advance(a + b), and a `wait` run as several shorter waits (`wait leader within 16ms`,
// again and again) stops at the same event as one long wait, because the core checks
// the condition before every event. So the page can animate advances and waits frame by
// frame and still land exactly where a test running the same lines lands.
//
// Going back does not start from the setup each time: as it runs, the timeline keeps
// checkpoints — copies of the whole simulation (rb.Simulation.clone) with the cursor
// where each was taken — about every `spacing` ms of virtual time, and a seek restores
// the last one on the way to the target and replays only the rest. Each copy holds
// every log, so at most MAX_CHECKPOINTS are kept, holding at most CHECKPOINT_ENTRIES
// log entries: when there would be more, the spacing doubles and every other one goes.
// A seek back from the end of the recording keeps one more there, so that coming back
// to the end replays nothing. A checkpoint stays on the recorded path as long as
// nothing before it changes: an action taken in the past drops the ones after it.
//
// The cursor is (begun, time): entries [0, begun) have been started, all but the last
// are finished, and the last one may be a partly run advance or wait. A shared link
// stores exactly that pair.

const DEFAULT_WAIT_MS = 10000;  // the scenario format's default for `wait ... ` without `within`
const CHECKPOINT_MS = 1000;     // the first spacing of checkpoints (it doubles as the run grows)
const MAX_CHECKPOINTS = 16;
// ...and at most this many log entries in all of them (each costs some 250 bytes of
// wasm memory, counting the disk's copy, the checker's and messages in flight): a long,
// busy run keeps fewer, further apart. 60 s at 1,000 requests/s on 9 nodes keeps 16.
const CHECKPOINT_ENTRIES = 2500000;

// "500ms", "2s", "1.5s" or a bare number of milliseconds; NaN when it is none of these.
function parseDuration(text) {
  const m = /^(\d+(?:\.\d+)?)(ms|s)?$/.exec(text);
  if (!m) return NaN;
  return Math.floor(Number(m[1]) * (m[2] === 's' ? 1000 : 1));
}

// Splits a line into the timeline's kind of entry: time-taking `advance` and `wait`,
// the atomic `step`, the page's own `rate`, and every other scenario action (`line`).
function makeEntry(line) {
  const text = line.trim();
  const words = text.split(/\s+/);
  const verb = words[0];
  if (verb === 'advance' && words.length === 2 && !Number.isNaN(parseDuration(words[1]))) {
    return { line: text, kind: 'advance', ms: parseDuration(words[1]), rec: null };
  }
  if (verb === 'wait') {
    const n = words.length;
    const hasWithin = n >= 3 && words[n - 2] === 'within' && !Number.isNaN(parseDuration(words[n - 1]));
    const cond = words.slice(1, hasWithin ? n - 2 : n).join(' ');
    const limit = hasWithin ? parseDuration(words[n - 1]) : DEFAULT_WAIT_MS;
    return { line: text, kind: 'wait', cond, limit, rec: null };
  }
  if (verb === 'step' && words.length === 1) return { line: text, kind: 'step', rec: null };
  if (verb === 'rate' && words.length === 2) return { line: text, kind: 'rate', perSecond: Number(words[1]), rec: null };
  if (verb === 'lose' && words.length === 2) return { line: text, kind: 'lose', id: Number(words[1]), rec: null };
  return { line: text, kind: 'line', verb, rec: null };
}

const takesTime = (e) => e.kind === 'advance' || e.kind === 'wait';

export class Timeline {
  // createSim() returns a fresh rb.Simulation for this timeline's setup.
  constructor(createSim, lines = []) {
    this.createSim = createSim;
    this.entries = lines.map(makeEntry);
    this.sim = null;
    this.begun = 0;
    this.version = 0;  // bumps whenever the entry list changes shape
    this.checkpoints = [];  // { sim, begun, time, rec, entries } by time; rec: entry begun-1's then
    this.spacing = CHECKPOINT_MS;
    this.rebuild();
  }

  rebuild() {
    if (this.sim) this.sim.delete();
    this.sim = this.createSim();
    this.begun = 0;
  }

  dispose() {
    if (this.sim) this.sim.delete();
    this.sim = null;
    this.dropCheckpoints(() => true);
  }

  // The simulation and cursor as at checkpoint c (which stays, for later seeks).
  restore(c) {
    if (this.sim) this.sim.delete();
    this.sim = c.sim.clone();
    this.begun = c.begun;
    if (!c.rec) return;
    const e = this.entries[c.begun - 1];
    const rec = { ...c.rec };
    // An advance finished then, and grown at the end of the list since, runs on.
    if (e.kind === 'advance' && rec.start + e.ms > c.time) Object.assign(rec, { end: null, done: false, ok: null });
    e.rec = rec;
  }

  // Keeps a checkpoint here when the stretch of `spacing` ms it falls in has none.
  checkpoint() {
    const time = this.now();
    const slot = Math.floor(time / this.spacing);
    if (slot === 0) return;  // near the start, the setup is as quick to rebuild
    const cps = this.checkpoints;
    let i = cps.length;
    while (i > 0 && cps[i - 1].time > time) i--;
    if (i > 0 && Math.floor(cps[i - 1].time / this.spacing) === slot) return;
    if (i < cps.length && Math.floor(cps[i].time / this.spacing) === slot) return;
    this.keep(i);
  }

  // Keeps a copy of the simulation as it is now as checkpoint i (they are in time
  // order); when they hold too much, the spacing doubles and every other one goes. The
  // one kept at the end of the recording (`end`, see seek()) is one more, never thinned,
  // and takes the simulation itself, not a copy: the seek replaces it anyway.
  keep(i, end = false) {
    const time = this.now();
    const last = this.entries[this.begun - 1];
    const nodes = JSON.parse(this.sim.state('{"log_from": 1, "log_to": 0, "requests": 0}')).nodes;
    const entries = nodes.reduce((sum, n) => sum + n.log_last_index - n.log_first_index + 1, 0);
    this.checkpoints.splice(i, 0, { sim: end ? this.sim : this.sim.clone(), begun: this.begun, time, rec: last ? { ...last.rec } : null, entries, end });
    const spaced = () => this.checkpoints.filter((c) => !c.end);
    const held = () => spaced().reduce((sum, c) => sum + c.entries, 0);
    while (spaced().length > MAX_CHECKPOINTS || (spaced().length > 1 && held() > CHECKPOINT_ENTRIES)) {
      this.spacing *= 2;
      const kept = [];
      let prev = null;
      for (const c of this.checkpoints) {
        if (!c.end && prev && Math.floor(prev.time / this.spacing) === Math.floor(c.time / this.spacing)) {
          c.sim.delete();
          continue;
        }
        kept.push(c);
        if (!c.end) prev = c;
      }
      this.checkpoints = kept;
    }
  }

  // Where the next checkpoint is due: a run pauses there to take it.
  nextCheckpoint() {
    return (Math.floor(this.now() / this.spacing) + 1) * this.spacing;
  }

  dropCheckpoints(stale) {
    this.checkpoints = this.checkpoints.filter((c) => {
      const drop = stale(c);
      if (drop) c.sim.delete();
      return !drop;
    });
  }

  now() {
    return this.sim.time();
  }

  // The entry being run, if it is a partly run advance or wait.
  active() {
    const e = this.entries[this.begun - 1];
    return e && takesTime(e) && !e.rec.done ? e : null;
  }

  atEnd() {
    return this.begun === this.entries.length && !this.active();
  }

  // Where a shared link puts the cursor.
  cursor() {
    return { begun: this.begun, time: this.now() };
  }

  // The end of everything recorded, in this pass or an earlier one (a rewind starts
  // entries again, but where they ended last time stays known: `ended`).
  endTime() {
    let t = this.now();
    for (const e of this.entries) if (e.ended != null) t = Math.max(t, e.ended);
    return t;
  }

  // Runs up to `budget` ms of virtual time through the entries from the cursor on.
  // Options:
  //   extend     at the end of the list, keep going by appending `advance` time
  //   maxBegun   start no entry at or past this index; entries before it are started
  //              even with no budget left (replaying a shared cursor)
  run(budget, { extend = false, maxBegun = Infinity } = {}) {
    let left = budget;
    for (;;) {
      this.checkpoint();
      const sim = this.sim;
      const cur = this.active();
      if (cur) {
        const before = sim.time();
        const due = this.nextCheckpoint() - before;
        if (cur.kind === 'advance') {
          const d = Math.min(cur.rec.start + cur.ms - before, left, due);
          if (d > 0 || cur.ms === 0) sim.advance(Math.max(0, d));
          left -= d;
          if (sim.time() !== cur.rec.start + cur.ms) {
            if (left > 0) continue;  // stopped for a checkpoint
            break;
          }
          this.finish(cur, true, '');
        } else {
          const d = Math.min(cur.limit - (before - cur.rec.start), left, due);
          const r = this.action(`wait ${cur.cond} within ${d}ms`);
          left = Math.max(0, left - (sim.time() - before));
          if (r.ok) this.finish(cur, true, r.message);
          else if (sim.time() - before < d) this.finish(cur, false, r.message);
          else if (sim.time() - cur.rec.start >= cur.limit) {
            this.finish(cur, false, `not reached within ${cur.limit} ms`);
          } else if (left <= 0) break;
        }
        continue;
      }
      if (this.begun >= Math.min(this.entries.length, maxBegun)) {
        if (extend && left > 0 && this.begun === this.entries.length) this.extendAdvance(left);
        break;
      }
      const e = this.entries[this.begun];
      if (takesTime(e) || e.kind === 'step') {
        if (left <= 0 && maxBegun === Infinity) break;
      }
      this.begun++;
      const before = sim.time();
      e.rec = { start: before, end: null, done: false, ok: null, message: '' };
      if (e.kind === 'advance' || e.kind === 'wait') continue;
      if (e.kind === 'step') {
        const ran = this.guard(() => sim.step());
        this.finish(e, ran.ok, ran.ok ? '' : ran.message);
        left = Math.max(0, left - (sim.time() - before));
      } else if (e.kind === 'rate') {
        const r = this.guard(() => sim.setClientRate(e.perSecond));
        this.finish(e, r.ok, r.message);
      } else if (e.kind === 'lose') {
        const r = this.guard(() => sim.lose(e.id));
        this.finish(e, r.ok, r.message);
      } else {
        const r = this.action(e.line);
        this.finish(e, r.ok, r.message);
      }
    }
  }

  // Plays `ms` more at the end of the list, growing the trailing advance this method
  // made last time if that is the last thing that happened (advance(a) + advance(b) =
  // advance(a + b)). Lines that came from elsewhere (a script, a link) are left as they are.
  extendAdvance(ms) {
    for (let left = ms; left > 0; this.checkpoint()) {
      const d = Math.min(left, this.nextCheckpoint() - this.now());
      this.extendBy(d);
      left -= d;
    }
  }

  extendBy(ms) {
    const start = this.now();
    this.sim.advance(ms);
    const last = this.entries[this.entries.length - 1];
    if (last && last.grown && last.rec && last.rec.done && last.rec.end === start) {
      last.ms += ms;
      last.line = `advance ${last.ms}ms`;
      last.rec.end = last.ended = this.now();
      return;
    }
    const e = makeEntry(`advance ${ms}ms`);
    e.grown = true;
    e.rec = { start, end: this.now(), done: true, ok: true, message: '' };
    e.ended = e.rec.end;
    this.entries.push(e);
    this.begun++;
    this.version++;
  }

  finish(e, ok, message) {
    e.rec.done = true;
    e.rec.end = e.ended = this.now();
    e.rec.ok = ok;
    e.rec.message = message;
  }

  // Runs one scenario line through the core; a thrown Error becomes a failed result.
  action(line) {
    try {
      return JSON.parse(this.sim.runAction(line));
    } catch (err) {
      return { ok: false, message: err.message };
    }
  }

  guard(f) {
    try {
      f();
      return { ok: true, message: '' };
    } catch (err) {
      return { ok: false, message: err.message };
    }
  }

  // A new action at the cursor: the recorded future is cut off, a partly run advance
  // or wait is shortened to what ran, and the line is appended and run.
  perform(line) {
    const cur = this.active();
    if (cur) {
      const ran = this.now() - cur.rec.start;
      if (cur.kind === 'advance' && ran === 0) {
        this.entries.splice(--this.begun, 1);  // never ran: as if it had not begun
      } else if (cur.kind === 'advance') {
        cur.ms = ran;
        cur.line = `advance ${ran}ms`;
        this.finish(cur, true, '');
      } else {
        cur.limit = ran;
        cur.line = `wait ${cur.cond} within ${ran}ms`;
        this.finish(cur, true, '');
      }
    }
    this.entries.length = this.begun;
    const now = this.now();
    this.dropCheckpoints((c) => c.begun > this.begun || c.time > now);
    const e = makeEntry(line);
    this.entries.push(e);
    this.version++;
    this.run(0, { maxBegun: this.entries.length });
    return e;
  }

  // Moves the cursor to virtual time `t`, from the last checkpoint on the way there
  // when that is past the cursor or the target lies in the past (else from the setup).
  // With `begun` given (a shared link), exactly that many entries are started.
  // A seek back from the end of the recording keeps a checkpoint at the end first: going
  // back there (the live button, a drag to the end) is then a restore, not a replay of
  // up to `spacing` ms (4 s in a 60 s run at 1,000 requests/s on 9 nodes, some 50 ms).
  seek(t, begun = null) {
    const target = begun ?? this.begunAt(t);
    const back = t < this.now() || target < this.begun;
    if (back && this.now() >= this.endTime() && !this.checkpoints.some((c) => c.time === this.now() && c.begun === this.begun)) {
      this.dropCheckpoints((c) => c.end);
      this.keep(this.checkpoints.filter((c) => c.time <= this.now()).length, true);
      this.sim = null;  // the checkpoint's now
    }
    let from = null;
    for (const c of this.checkpoints) if (c.time <= t && c.begun <= target) from = c;
    if (from && (back || from.time > this.now() || from.begun > this.begun)) this.restore(from);
    else if (back) this.rebuild();
    this.run(Math.max(0, t - this.now()), { maxBegun: target });
  }

  // How many entries a seek to time t starts: those recorded to start before t, those
  // that start and end at t, and steps that land by t. An entry a rewind left partly run
  // (a seek into it, then one back before it, as a drag of the timeline does) still
  // ends where an earlier pass saw it end (`ended`): the simulator is deterministic.
  begunAt(t) {
    let n = 0;
    for (const e of this.entries) {
      const r = e.rec;
      if (!r) break;
      const end = r.end ?? e.ended;
      if (end == null) {  // partly run and never finished: nothing after it has begun
        if (!(takesTime(e) && r.start < t)) break;
        n++;
        continue;
      }
      const starts = e.kind === 'step' ? end <= t
                   : takesTime(e) ? r.start < t || (r.start === t && end === t)
                   : r.start <= t;
      if (!starts) break;
      n++;
    }
    return n;
  }

  lines() {
    return this.entries.map((e) => e.line);
  }
}
