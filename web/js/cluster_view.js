// The cluster as a ring of nodes joined by links, drawn in SVG.
//
// Each node shows its name, term and role (a candidate's with its tally, votes granted
// of votes needed), and a ring around it that empties as its election timer runs down (it refills whenever the node hears from a leader; when it
// runs out the node starts an election). A crashed node is greyed out and crossed.
// Each pair of nodes has a link; a link the network currently drops is drawn dashed
// red (both ways) or orange with an arrow (one way). The view owns the geometry —
// where each node sits — which the message layer (drawn over it) reuses.
//
// Membership (thesis ch. 4): the ring holds every machine the simulator runs, and grows
// when a node is added. Where each stands in the cluster's configuration (cluster_member)
// shows on it: a learner — it receives the log but never votes — has a dashed outline
// and a "learner" label; a machine added but not yet in the configuration is "joining";
// a removed one stays in its place, faded, labelled "removed", its links faded too. A
// leader handing leadership over says to whom ("leader → S4").
//
// The live page (live.js) draws a real cluster with this same view (its state says
// `live`): its nodes carry a `label` (their real id; the ring numbers them 1..N by
// position), a `kind` ("native" or "browser", shown in a tag over the node; `self` for
// the page's own node), a node that is not up is one that does not answer, and the
// state lists the `links` that exist (a browser has one, to the native member it is
// connected through); the others are not drawn. A node that has no election timer to
// show (its `election_elapsed` is unknown) has no ring.

import { ROLE_LABEL } from './format.js';

const SVG = 'http://www.w3.org/2000/svg';

// A node's place in the configuration, as a class and a label ('' for a voter).
const MEMBER_CLASS = { learner: 'learner', removed: 'removed', joining: 'joining' };
const MEMBER_NOTE = {
  learner: ' It is a learner: it receives the log but does not vote, and the leader does not count it toward a majority.',
  removed: ' It was removed from the cluster: it takes no part any more.',
  joining: ' It was just started and is not in the configuration yet: the leader adds it as a learner.',
};

// Where a node's writing goes (px): the name and term inside the circle, the role pill
// below it (its width per character and padding, as the font sets them in style.css),
// and the room beside the ring for half of a long role label ("candidate 3/5"). Small
// circles close together write smaller (the `compact` class).
const WRITING = {
  regular: { nameY: -6, termY: 10, pillY: 19, pillHeight: 16, charWidth: 6.2, pillPad: 14, side: 40 },
  compact: { nameY: -5, termY: 8, pillY: 15, pillHeight: 14, charWidth: 5.2, pillPad: 10, side: 18 },
};

function el(name, attrs = {}, parent = null) {
  const e = document.createElementNS(SVG, name);
  for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, v);
  if (parent) parent.appendChild(e);
  return e;
}

// A circle of radius r from 12 o'clock, clockwise (the election timer's track).
function circlePath(r) {
  return `M 0 ${-r} A ${r} ${r} 0 1 1 0 ${r} A ${r} ${r} 0 1 1 0 ${-r}`;
}

export class ClusterView {
  constructor(svg) {
    this.svg = svg;
    this.linkLayer = el('g', { class: 'links' }, svg);
    this.nodeLayer = el('g', { class: 'nodes' }, svg);
    this.width = 0;
    this.height = 0;
    this.count = 0;
    this.nodes = [];      // per node: { g, body, timer, name, term, pill, pillText, title, ... }
    this.links = new Map();  // "a-b" (a < b) -> { g, wire, hit, mark, title }
    this.pos = [];        // centre of node i + 1 at pos[i]
    this.radius = 30;
    this.writing = WRITING.regular;  // layout() picks it for the circles' size
    this.timerSeen = [];  // per node: { elapsed, since } to run the timer smoothly between ticks
    new ResizeObserver(() => this.layout()).observe(svg);
  }

  // Rebuilds the drawing for `count` nodes.
  setCount(count) {
    if (count === this.count) return;
    this.count = count;
    this.linkLayer.replaceChildren();
    this.nodeLayer.replaceChildren();
    this.links.clear();
    this.nodes = [];
    this.timerSeen = [];
    this.pos = [];
    for (let a = 1; a <= count; a++) {
      for (let b = a + 1; b <= count; b++) {
        const g = el('g', { class: 'link', 'data-link': `${a}-${b}`, tabindex: 0, role: 'button' }, this.linkLayer);
        const title = el('title', {}, g);
        const wire = el('line', { class: 'wire' }, g);
        const hit = el('line', { class: 'hit' }, g);
        const mark = el('text', { class: 'scissors' }, g);
        const arrow = el('path', { class: 'arrow' }, g);
        this.links.set(`${a}-${b}`, { g, wire, hit, mark, arrow, title, a, b, key: '' });
      }
    }
    for (let id = 1; id <= count; id++) {
      const g = el('g', { class: 'node follower', 'data-node': id, tabindex: 0, role: 'button', 'aria-haspopup': 'menu' }, this.nodeLayer);
      const title = el('title', {}, g);
      const halo = el('circle', { class: 'halo' }, g);
      const track = el('circle', { class: 'timer-track' }, g);
      const timer = el('path', { class: 'timer', pathLength: 1 }, g);
      const body = el('circle', { class: 'body' }, g);
      const cross = el('g', { class: 'cross' }, g);
      const name = el('text', { class: 'name' }, g);
      name.textContent = `S${id}`;
      const term = el('text', { class: 'term' }, g);
      const pill = el('g', { class: 'role-pill' }, g);
      const pillRect = el('rect', { height: 16, rx: 8 }, pill);
      const pillText = el('text', {}, pill);
      const badge = el('g', { class: 'fault' }, g);
      const kind = el('g', { class: 'kind-tag' }, g);
      const kindRect = el('rect', { height: 13, rx: 6.5 }, kind);
      const kindText = el('text', {}, kind);
      this.nodes.push({ g, title, halo, track, timer, body, cross, name, term, pill, pillRect, pillText, badge, kind, kindRect, kindText, key: '' });
      this.timerSeen.push({ elapsed: -1, since: 0 });
    }
    this.layout();
  }

  // Places the nodes in a ring that fills the drawing area. Until the area has a size
  // (the page is still being laid out, or the stage is hidden) nothing is placed, and
  // laidOut() says so; the ResizeObserver calls this again once it has one.
  layout() {
    const w = this.svg.clientWidth, h = this.svg.clientHeight;
    if (!w || !h || !this.count) return;
    this.width = w;
    this.height = h;
    this.svg.setAttribute('viewBox', `0 0 ${w} ${h}`);
    const n = this.count;
    const r = Math.max(18, Math.min(34, Math.min(w, h) * (n <= 5 ? 0.085 : 0.07)));
    // Small circles close together (six or more nodes on a small screen) get smaller
    // writing, so a node's name and term fit inside it and its role label stays off its
    // neighbours.
    const compact = r < 26 && n > 5;
    this.svg.classList.toggle('compact', compact);
    const wr = this.writing = compact ? WRITING.compact : WRITING.regular;
    // Room above the top node for its timer ring, below the bottom ones for the role
    // label: the ring sits a little above the middle.
    const cy = (h - 17) / 2, cx = w / 2;
    const ry = Math.max(0, cy - r - 12);
    const rx = Math.max(0, Math.min(w / 2 - r - wr.side, ry * 1.5));
    this.radius = r;
    this.pos = [];
    for (let i = 0; i < n; i++) {
      const a = -Math.PI / 2 + (2 * Math.PI * i) / n;
      this.pos.push({ x: cx + rx * Math.cos(a), y: cy + ry * Math.sin(a) });
    }
    this.nodes.forEach((nd, i) => {
      const p = this.pos[i];
      nd.g.setAttribute('transform', `translate(${p.x.toFixed(1)} ${p.y.toFixed(1)})`);
      nd.halo.setAttribute('r', r + 12);
      nd.track.setAttribute('r', r + 6);
      nd.timer.setAttribute('d', circlePath(r + 6));
      nd.body.setAttribute('r', r);
      nd.name.setAttribute('y', wr.nameY);
      nd.term.setAttribute('y', wr.termY);
      nd.pill.setAttribute('transform', `translate(0 ${r + wr.pillY})`);
      nd.pillRect.setAttribute('height', wr.pillHeight);
      nd.pillRect.setAttribute('y', -wr.pillHeight / 2);
      nd.kind.setAttribute('transform', `translate(0 ${-r - 3})`);
      nd.kindRect.setAttribute('y', -6.5);
      const d = r * 0.5;
      nd.cross.replaceChildren();
      el('line', { x1: -d, y1: -d, x2: d, y2: d }, nd.cross);
      el('line', { x1: d, y1: -d, x2: -d, y2: d }, nd.cross);
      nd.key = '';
    });
    for (const link of this.links.values()) {
      const [p, q] = this.segment(link.a, link.b, 0);
      for (const line of [link.wire, link.hit]) {
        line.setAttribute('x1', p.x); line.setAttribute('y1', p.y);
        line.setAttribute('x2', q.x); line.setAttribute('y2', q.y);
      }
      link.key = '';
    }
    if (this.onLayout) this.onLayout();
  }

  // Whether every node has its place (layout() has run at the current node count).
  laidOut() {
    return this.count > 0 && this.pos.length === this.count;
  }

  // The stretch of the link from node a's edge to node b's edge, shifted sideways by
  // `lane` px (to the right of the a -> b direction), so traffic each way has its lane;
  // null while either node has no place yet.
  segment(a, b, lane) {
    const p = this.pos[a - 1], q = this.pos[b - 1];
    if (!p || !q) return null;
    const dx = q.x - p.x, dy = q.y - p.y, len = Math.hypot(dx, dy) || 1;
    const ux = dx / len, uy = dy / len, gap = this.radius + 8;
    const ox = -uy * lane, oy = ux * lane;
    return [
      { x: p.x + ux * gap + ox, y: p.y + uy * gap + oy },
      { x: q.x - ux * gap + ox, y: q.y - uy * gap + oy },
    ];
  }

  // state: the simulator's state(); now: display time in ms (may be fractional);
  // selection: { kind, id } of what the inspector shows.
  render(state, now, selection) {
    const down = new Set(state.links_down.map(([a, b]) => `${a}>${b}`));
    const gone = new Set(state.nodes.filter((n) => n.cluster_member === 'removed').map((n) => n.id));
    const exists = state.links ? new Set(state.links) : null;
    // Links are drawn between placed nodes; layout() clears their keys, so they are
    // drawn on the first render after it.
    for (const link of this.laidOut() ? this.links.values() : []) {
      const ab = down.has(`${link.a}>${link.b}`), ba = down.has(`${link.b}>${link.a}`);
      const selected = selection && selection.kind === 'link' && selection.id === `${link.a}-${link.b}`;
      const faded = gone.has(link.a) || gone.has(link.b);
      const absent = exists && !exists.has(`${link.a}-${link.b}`);
      const key = `${ab}|${ba}|${selected}|${faded}|${absent}`;
      if (key === link.key) continue;
      link.key = key;
      link.g.setAttribute('class', `link${ab && ba ? ' cut' : ab || ba ? ' half' : ''}${selected ? ' selected' : ''}${faded ? ' gone' : ''}${absent ? ' absent' : ''}`);
      const [p, q] = this.segment(link.a, link.b, 0);
      const mx = (p.x + q.x) / 2, my = (p.y + q.y) / 2;
      link.mark.textContent = ab && ba ? '✂' : '';
      link.mark.setAttribute('x', mx); link.mark.setAttribute('y', my);
      if (ab !== ba) {
        const [from, to] = ab ? [p, q] : [q, p];
        const ang = Math.atan2(to.y - from.y, to.x - from.x) * 180 / Math.PI;
        link.arrow.setAttribute('d', 'M 7 0 L -5 -6 L -5 6 Z');
        link.arrow.setAttribute('transform', `translate(${mx} ${my}) rotate(${ang})`);
      } else {
        link.arrow.setAttribute('d', '');
      }
      link.title.textContent = ab && ba ? `Link S${link.a}–S${link.b} is cut both ways. Click to restore it.`
        : ab ? `Messages from S${link.a} to S${link.b} are lost. Click to restore.`
        : ba ? `Messages from S${link.b} to S${link.a} are lost. Click to restore.`
        : `Link S${link.a}–S${link.b}. Click to cut it both ways.`;
      link.g.setAttribute('aria-label', link.title.textContent.replace('Click', 'Press Enter'));
    }

    state.nodes.forEach((node, i) => {
      const nd = this.nodes[i];
      if (!nd) return;
      const role = node.up ? node.role : 'down';
      const selected = selection && selection.kind === 'node' && selection.id === node.id;
      const faults = node.faults && node.faults.length ? node.faults.join(', ') : '';
      const votes = node.up && node.votes ? `${node.votes.granted}/${node.votes.needed}` : '';
      const member = MEMBER_CLASS[node.cluster_member] ?? '';
      const handover = node.up && node.transfer_target ? node.transfer_target : 0;
      const name = node.label ?? `S${node.id}`;
      const kind = !state.live ? '' : node.self ? 'this tab' : node.kind ?? '';
      const key = `${role}|${node.term}|${selected}|${faults}|${votes}|${member}|${handover}|${name}|${kind}`;
      if (key !== nd.key) {
        nd.key = key;
        nd.g.setAttribute('class', `node ${role}${member ? ` ${member}` : ''}${selected ? ' selected' : ''}${
          kind ? ` ${node.kind}` : ''}${node.self ? ' self' : ''}`);
        nd.name.textContent = name;
        nd.kind.style.display = kind ? '' : 'none';
        nd.kindText.textContent = kind;
        nd.kindRect.setAttribute('width', kind ? kind.length * 5.6 + 10 : 0);
        nd.kindRect.setAttribute('x', kind ? -(kind.length * 5.6 + 10) / 2 : 0);
        nd.g.dataset.membership = node.cluster_member ?? '';
        const down = state.live ? 'no answer' : 'crashed';
        nd.term.textContent = node.up ? `term ${node.term}` : state.live ? '' : down;
        const label = !node.up ? down : member && node.role !== 'leader' ? member : ROLE_LABEL[node.role] ?? node.role;
        nd.pillText.textContent = votes ? `${label} ${votes}` : handover ? `${label} → S${handover}` : label;
        nd.g.dataset.votes = votes;
        const width = nd.pillText.textContent.length * this.writing.charWidth + this.writing.pillPad;
        nd.pillRect.setAttribute('x', -width / 2);
        nd.pillRect.setAttribute('width', width);
        nd.cross.style.display = node.up ? 'none' : '';
        nd.badge.replaceChildren();
        if (faults) {
          const r = this.radius;
          el('circle', { class: 'fault-badge', cx: r * 0.75, cy: -r * 0.75, r: 8 }, nd.badge);
          el('text', { class: 'fault-badge-text', x: r * 0.75, y: -r * 0.75 }, nd.badge).textContent = '!';
        }
        nd.title.textContent = (node.up
          ? `${name}${kind ? ` (${kind})` : ''}: ${label} in term ${node.term}${votes ? `, ${node.votes.granted} of the ${node.votes.needed} votes it needs` : ''}${
            handover ? `, handing leadership over to S${handover}` : ''}${faults ? ` — rule switched off: ${faults}` : ''}.`
          : state.live ? `${name} does not answer.` : `S${node.id} has crashed; its log and vote wait on its disk.`) + (MEMBER_NOTE[member] ?? '') +
          (state.live ? '' : node.up ? ' Click for actions.' : ' Click to restart it.');
      }
      this.renderTimer(nd, node, i, state, now);
    });
  }

  renderTimer(nd, node, i, state, now) {
    if (!node.up || node.role === 'leader') {
      this.timerSeen[i].elapsed = -1;
      return;
    }
    if (node.election_elapsed == null) {
      this.setTimer(nd, 0);
      return;
    }
    const seen = this.timerSeen[i];
    if (node.election_elapsed !== seen.elapsed) {
      seen.elapsed = node.election_elapsed;
      seen.since = state.time_ms;
    }
    // Between two ticks the ring keeps draining, at most one tick's worth.
    const between = Math.min(1, Math.max(0, (now - seen.since) / state.tick_ms));
    const left = 1 - (node.election_elapsed + between) / Math.max(1, node.election_timeout);
    this.setTimer(nd, Math.max(0, Math.min(1, left)));
  }

  // The timer's ring shows the fraction f of the circle (pathLength 1): the dash offset
  // moves its end, which the browser only repaints, where a new path would make it lay
  // out the whole drawing again every frame.
  setTimer(nd, f) {
    const offset = f > 0.001 ? (1 - f).toFixed(4) : '';  // nothing at all, not a round dot
    if (offset === nd.offset) return;
    nd.offset = offset;
    nd.timer.style.strokeDashoffset = offset;
    nd.timer.style.strokeOpacity = offset ? '' : '0';
    nd.timer.classList.toggle('late', f < 0.25);
  }
}
