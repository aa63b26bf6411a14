// The small menu that opens next to a node when it is clicked: crash or restart it,
// make it start an election, take a snapshot now, or (for the leader) propose the
// client box's command there. Everything it offers is one scenario line handed to `act`. Escape closes it
// (main.js, which also gives focus back to the node).

import { escapeHtml as h } from './format.js';

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

  // node: the node as state() shows it; at: its centre and radius in stage pixels.
  open(node, at, command) {
    this.nodeId = node.id;
    const items = node.up
      ? [`<button class="btn danger" data-act="crash ${node.id}" role="menuitem">Crash S${node.id}</button>`,
         node.role !== 'leader' ? `<button class="btn" data-act="campaign ${node.id}" role="menuitem">Start an election</button>` : '',
         node.role === 'leader' ? `<button class="btn" data-act="propose ${node.id} ${h(command)}" role="menuitem">Propose “${h(command)}”</button>` : '',
         `<button class="btn" data-act="snapshot ${node.id}" role="menuitem" title="Save the applied state as a snapshot now and discard the log before it">Snapshot now</button>`]
      : [`<button class="btn primary" data-act="restart ${node.id}" role="menuitem">Restart S${node.id}</button>`];
    this.box.innerHTML = `<div class="node-menu-title">S${node.id}</div>${items.join('')}`;
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
