// The small menu that opens next to a node when it is clicked: crash or restart it,
// make it start an election, take a snapshot now, or (for the leader) propose the
// client box's command there; and change the membership (membershipItems): promote a
// learner, remove a member, hand leadership to a voter, add a new node. Everything it
// offers is one scenario line handed to `act`. Escape closes it (main.js, which also
// gives focus back to the node).

import { escapeHtml as h } from './format.js';

const MEMBER_WORD = { learner: 'learner', removed: 'removed', joining: 'joining' };

// The membership changes that make sense for this node, as buttons (menu items, unless
// `inMenu` is false: the inspector shows them too): each becomes a request to the leader
// (the change is refused there if it is not allowed).
export function membershipItems(node, { leader, next }, inMenu = true) {
  const item = (line, text, title) =>
    `<button class="btn" data-act="${line}"${inMenu ? ' role="menuitem"' : ''} title="${h(title)}">${text}</button>`;
  const out = [];
  if (node.cluster_member === 'learner') {
    out.push(item(`promote ${node.id}`, `Promote S${node.id} to voter`,
      'Make this learner a voter: it then votes and counts toward a majority. The leader refuses until the learner has caught up.'));
  }
  if (node.cluster_member === 'voter' && node.id !== leader && leader) {
    out.push(item(`transfer ${node.id}`, 'Transfer leadership here',
      `The leader stops taking new requests, brings S${node.id} up to date and sends it TimeoutNow: S${node.id} starts an election at once and wins it.`));
  }
  if (node.cluster_member === 'voter' || node.cluster_member === 'learner') {
    out.push(item(`remove ${node.id}`, `Remove S${node.id}`,
      `Take S${node.id} out of the cluster: a configuration entry without it. It keeps running but takes no part, and can never rejoin.`));
  }
  if (next) {
    out.push(item(`add ${next}`, `Add node S${next}`,
      `Start a new node S${next}: it joins as a learner and becomes a voter once it has caught up.`));
  }
  return out;
}

export class NodeMenu {
  constructor(stage, act) {
    this.stage = stage;
    this.box = document.createElement('div');
    this.box.className = 'node-menu';
    this.box.hidden = true;
    this.box.setAttribute('role', 'menu');
    stage.appendChild(this.box);
    this.nodeId = null;
    this.box.addEventListener('click', (ev) => {
      const b = ev.target.closest('[data-act]');
      if (!b) return;
      act(b.dataset.act);
      this.close();
    });
  }

  // node: the node as state() shows it; at: its centre and radius in stage pixels;
  // cluster: { leader (id or null), next (the id an added node gets, or 0 when full) }.
  open(node, at, command, cluster) {
    this.nodeId = node.id;
    const voter = node.cluster_member === 'voter';
    const items = node.up
      ? [`<button class="btn danger" data-act="crash ${node.id}" role="menuitem">Crash S${node.id}</button>`,
         node.role !== 'leader' && voter ? `<button class="btn" data-act="campaign ${node.id}" role="menuitem">Start an election</button>` : '',
         node.role === 'leader' ? `<button class="btn" data-act="propose ${node.id} ${h(command)}" role="menuitem">Propose “${h(command)}”</button>` : '',
         `<button class="btn" data-act="snapshot ${node.id}" role="menuitem" title="Save the applied state as a snapshot now and discard the log before it">Snapshot now</button>`]
      : [`<button class="btn primary" data-act="restart ${node.id}" role="menuitem">Restart S${node.id}</button>`];
    const members = membershipItems(node, cluster);
    this.box.innerHTML = `<div class="node-menu-title">S${node.id}${voter ? '' : ` · ${h(MEMBER_WORD[node.cluster_member] ?? '')}`}</div>${
      items.join('')}${members.length ? `<div class="node-menu-sep" role="separator"></div>${members.join('')}` : ''}`;
    this.box.hidden = false;
    const w = this.box.offsetWidth, hgt = this.box.offsetHeight;
    const sw = this.stage.clientWidth, sh = this.stage.clientHeight;
    let left = at.x + at.r + 14;
    if (left + w > sw - 6) left = at.x - at.r - 14 - w;
    const top = Math.max(6, Math.min(sh - hgt - 6, at.y - hgt / 2));
    this.box.style.left = `${Math.max(6, left)}px`;
    this.box.style.top = `${top}px`;
  }

  // Puts keyboard focus on the first item (the menu was opened from the keyboard).
  focus() {
    const first = this.box.querySelector('[data-act]');
    if (first) first.focus();
  }

  close() {
    this.box.hidden = true;
    this.nodeId = null;
  }
}
