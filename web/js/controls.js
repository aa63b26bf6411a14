// The page's controls: time (play, step, speed), the cluster (size, seed, reset), the
// client (a command to send, a rate of random requests), log compaction (snapshot
// every N entries: part of the cluster's setup, so changing it resets) and the network (drop rate,
// latency, a partition into sides, heal). Each control calls one handler; sync() puts
// the controls back in line with the simulation after a seek, a reset or a shared link.
//
// The partition chips show the network as it is: one chip per node, lettered by its
// side of the current split (all A when nothing is cut), read from the links that are
// down. Clicking a chip plans a move (drawn dashed, "A→B") that Split network applies;
// any change to the real links — a split, a heal, a lesson's `partition` — replaces
// the plan with the new state. Links cut one by one that split nothing cleanly leave
// the chips as a plan only, and the heading says so.

const SIDE_CLASSES = ['side-a', 'side-b', 'side-c'];  // more sides than these are grey
const letter = (s) => 'ABCDEFGHI'[s];
const sideClass = (s) => SIDE_CLASSES[s] ?? 'side-more';

// The speed slider is logarithmic: 0 -> 0.01x, 33 -> 0.1x, 66 -> 1x, 99 -> 10x.
function speedFromSlider(v) {
  return 10 ** ((v - 66) / 33);
}

function sliderFromSpeed(speed) {
  return Math.round(66 + 33 * Math.log10(speed));
}

function formatSpeed(x) {
  return `${x >= 1 ? x.toFixed(x >= 9.95 ? 0 : 1).replace(/\.0$/, '') : x.toPrecision(x < 0.1 ? 1 : 2).replace(/0+$/, '').replace(/\.$/, '')}×`;
}

// Latency slider value L means one-way latency uniform in [L/2, 3L/2].
function latencyRange(l) {
  return [Math.round(l / 2), Math.round((3 * l) / 2)];
}

export class Controls {
  constructor(handlers) {
    this.h = handlers;
    const $ = (id) => document.getElementById(id);
    this.el = {
      play: $('play'), step: $('step'), speed: $('speed'), speedOut: $('speed-out'),
      nodes: $('nodes'), seed: $('seed'), reset: $('reset'), dice: $('dice'), snapEvery: $('snap-every'),
      form: $('propose-form'), command: $('command'), rate: $('rate'), rateOut: $('rate-out'),
      drop: $('drop'), dropOut: $('drop-out'), latency: $('latency'), latencyOut: $('latency-out'),
      chips: $('partition-chips'), apply: $('partition-apply'), heal: $('heal'),
      chipsHint: document.querySelector('.partition-head .hint'),
    };
    this.now = [];    // per node, its side of the network as it is; null when not a clean split
    this.sides = [];  // per node, its side in the plan that Split network applies
    const e = this.el;
    e.play.addEventListener('click', () => handlers.togglePlay());
    e.step.addEventListener('click', () => handlers.step());
    e.speed.addEventListener('input', () => {
      const x = speedFromSlider(Number(e.speed.value));
      e.speedOut.textContent = formatSpeed(x);
      handlers.setSpeed(x);
    });
    const reset = () => handlers.reset(Number(e.nodes.value), e.seed.value.trim(), this.snapshotEvery());
    e.reset.addEventListener('click', reset);
    e.nodes.addEventListener('change', reset);
    e.snapEvery.addEventListener('change', reset);
    e.seed.addEventListener('keydown', (ev) => {
      if (ev.key === 'Enter') reset();
    });
    e.dice.addEventListener('click', () => {
      e.seed.value = String(1 + Math.floor(Math.random() * 99999));
      reset();
    });
    e.form.addEventListener('submit', (ev) => {
      ev.preventDefault();
      const cmd = e.command.value.trim();
      if (cmd) handlers.propose(cmd);
    });
    e.rate.addEventListener('input', () => { e.rateOut.textContent = this.rateText(Number(e.rate.value)); });
    e.rate.addEventListener('change', () => handlers.setRate(Number(e.rate.value)));
    e.drop.addEventListener('input', () => { e.dropOut.textContent = `${e.drop.value}%`; });
    e.drop.addEventListener('change', () => handlers.setDrop(Number(e.drop.value) / 100));
    e.latency.addEventListener('input', () => { e.latencyOut.textContent = this.latencyText(latencyRange(Number(e.latency.value))); });
    e.latency.addEventListener('change', () => handlers.setLatency(latencyRange(Number(e.latency.value))));
    e.chips.addEventListener('click', (ev) => {
      const chip = ev.target.closest('[data-chip]');
      if (!chip) return;
      const i = Number(chip.dataset.chip);
      this.sides[i] = (this.sides[i] + 1) % Math.max(SIDE_CLASSES.length, ...this.sides.map((x) => x + 1));
      this.renderChips();
    });
    e.apply.addEventListener('click', () => {
      const groups = [...new Set(this.sides)].sort((a, b) => a - b).map((s) => this.sides.map((side, i) => (side === s ? i + 1 : 0)).filter(Boolean));
      handlers.partition(groups);
    });
    e.heal.addEventListener('click', () => handlers.heal());
    // Space plays and pauses, '.' steps, unless the key belongs to something else: a text
    // box or a dialog takes both, and any other control that has focus (a button, a
    // slider, a node of the drawing) takes its own Space.
    document.addEventListener('keydown', (ev) => {
      if (ev.defaultPrevented || ev.ctrlKey || ev.metaKey || ev.altKey) return;
      if (ev.target.closest('input[type=text], select, textarea, dialog')) return;
      if (ev.key === ' ') {
        if (ev.target.closest('button, input, a[href], summary, [tabindex], [role=button]')) return;
        ev.preventDefault();
        handlers.togglePlay();
      } else if (ev.key === '.') {
        handlers.step();
      }
    });
  }

  // The snapshot threshold chosen: entries applied between snapshots (0: never).
  snapshotEvery() {
    return Number(this.el.snapEvery.value);
  }

  command() {
    return this.el.command.value.trim() || 'set x 5';
  }

  rateText(r) {
    return r ? `${r} / s` : 'off';
  }

  latencyText([lo, hi]) {
    return lo === hi ? `${lo} ms` : `${lo}–${hi} ms`;
  }

  // A new simulation of `count` nodes: one network until sync() says otherwise.
  setCount(count) {
    this.linksKey = '';
    this.now = Array(count).fill(0);
    this.sides = Array(count).fill(0);
    this.renderChips();
  }

  renderChips() {
    const e = this.el;
    e.chips.innerHTML = this.sides.map((s, i) => {
      const was = this.now ? this.now[i] : null;
      const planned = was !== s;
      const where = was == null ? `S${i + 1} would go to side ${letter(s)}` : planned
        ? `S${i + 1} is on side ${letter(was)}, planned for side ${letter(s)}` : `S${i + 1} is on side ${letter(s)}`;
      return `<button class="chip ${sideClass(s)}${planned ? ' planned' : ''}" data-chip="${i}" data-side="${was == null ? '' : letter(was)}" ` +
        `title="${where}; click to move it">S${i + 1} · ${was != null && planned ? `${letter(was)}→` : ''}${letter(s)}</button>`;
    }).join('');
    if (!e.chipsHint) return;
    const planning = !this.now || this.sides.some((s, i) => s !== this.now[i]);
    const split = this.now && Math.max(...this.now) > 0;
    e.chipsHint.textContent = !this.now ? 'links cut one by one, no clean split; click chips to plan one'
      : planning ? 'dashed: planned; Split network applies it'
      : split ? 'the network now; click a chip to plan a change' : 'one network now; click a chip to plan a split';
  }

  // When the links that are down change, the chips show the new state and the plan
  // starts again from it (a plan survives only links cut one by one).
  showPartition(linksDown) {
    const key = JSON.stringify(linksDown);
    if (key === this.linksKey) return;
    this.linksKey = key;
    this.now = this.split(linksDown);
    if (this.now) this.sides = [...this.now];
    this.renderChips();
  }

  // The sides of the network as it is, numbered from node 1's: when the links that are
  // down split the cluster cleanly (every link inside a side up, every link between
  // sides down), each node's side (all 0 when nothing is down); otherwise null.
  split(linksDown) {
    const n = this.sides.length;
    const down = new Set(linksDown.map(([a, b]) => `${a}>${b}`));
    const joined = (a, b) => !down.has(`${a}>${b}`) && !down.has(`${b}>${a}`);
    const side = [];
    for (let a = 1; a <= n; a++) {
      let s = -1;
      for (let b = 1; b < a && s < 0; b++) if (joined(a, b)) s = side[b - 1];
      side.push(s >= 0 ? s : Math.max(-1, ...side) + 1);
    }
    for (let a = 1; a <= n; a++) {
      for (let b = a + 1; b <= n; b++) if (joined(a, b) !== (side[a - 1] === side[b - 1])) return null;
    }
    return side;
  }

  // playing, speed, step label; the setup (nodes, seed); the network and rate in force.
  // Called every frame: it writes only what changed (each write has the browser style
  // or lay out the page again).
  sync({ playing, stepTitle, nodes, seed, snapshotEvery, network, rate, linksDown }) {
    const e = this.el;
    this.showPartition(linksDown);
    document.body.classList.toggle('playing', playing);
    const label = e.play.querySelector('.label'), action = playing ? 'Pause' : 'Play';
    if (label.textContent !== action) label.textContent = action;
    if (e.step.title !== stepTitle) e.step.title = stepTitle;
    if (nodes != null && document.activeElement !== e.nodes) e.nodes.value = String(nodes);
    if (seed != null && document.activeElement !== e.seed) e.seed.value = seed;
    if (snapshotEvery != null && document.activeElement !== e.snapEvery && Number(e.snapEvery.value) !== snapshotEvery) {
      // A lesson's own threshold may be none of the choices: it is shown as one more.
      if (![...e.snapEvery.options].some((o) => Number(o.value) === snapshotEvery)) e.snapEvery.add(new Option(`${snapshotEvery} entries`, String(snapshotEvery)));
      e.snapEvery.value = String(snapshotEvery);
    }
    if (network && document.activeElement !== e.drop) {
      const pct = Math.round(network.drop * 100);
      if (Number(e.drop.value) !== pct) {
        e.drop.value = pct;
        e.dropOut.textContent = `${pct}%`;
      }
    }
    if (network && document.activeElement !== e.latency) {
      const [lo, hi] = network.latency_ms;
      const l = Math.round((lo + hi) / 2);
      if (Number(e.latency.value) !== l) e.latency.value = l;
      const text = this.latencyText([lo, hi]);
      if (e.latencyOut.textContent !== text) e.latencyOut.textContent = text;
    }
    if (document.activeElement !== e.rate && Number(e.rate.value) !== rate) {
      e.rate.value = rate;  // a rate past the slider's end (a script's) leaves it at its end
      const text = this.rateText(rate);
      if (e.rateOut.textContent !== text) e.rateOut.textContent = text;
    }
  }

  setSpeedDisplay(speed) {
    this.el.speed.value = sliderFromSpeed(speed);
    this.el.speedOut.textContent = formatSpeed(speed);
  }
}
