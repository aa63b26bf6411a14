// Messages in flight, drawn moving along the links.
//
// A message sent at sent_ms that arrives at arrives_ms sits, at display time t, the
// fraction (t - sent_ms) / (arrives_ms - sent_ms) of the way from its sender to its
// receiver, in the lane for that direction. Its shape says its kind: a blue box for
// AppendEntries (with the number of entries it carries), a small pink dot for a
// heartbeat, an amber diamond for a vote request (pale for a pre-vote), a green ✓ or
// red ✗ disc for a reply, and a teal "C" tag for a client's request that a follower
// forwards to the leader (its answer: a teal disc with ✓ or ✗). A chunk of InstallSnapshot
// is a purple tag with its offset in the snapshot ("snap 64/96 B": bytes 64 on of 96),
// the follower's reply to it a pale purple tag with the offset it expects next. A
// leader handing leadership over tells the target to campaign with a green "go!" tag
// (TimeoutNow).
//
// A message on a link that is cut, headed for a crashed node, or dropped by the reader
// (the inspector's "Drop this message": `lost`) will be lost when it arrives (unless
// the link heals or the node restarts first): it is drawn being lost, fading as it
// goes, struck through with a red cross. Messages the network drops as they are sent
// (at random, or onto a cut link) are never in flight; the state lists the last few
// (`dropped`), and each is drawn for a moment leaving its sender, struck through,
// fading out a short way along its link.
//
// Messages sent together along one link arrive together too when the latency is the
// same (a snapshot's chunks, often): each one after the first is drawn a tag's height
// above the one before, so that every one of them can be read and clicked.
//
// Dropping one takes one click: the message under the pointer, and the selected one,
// carry a small red ✕ handle above and to the right of them; a click on it drops the
// message (main.js records `lose N` on the timeline, as the inspector's button does).
// The handle stays while the pointer is on it, though the message moves on from under it.
//
// A busy cluster has hundreds of messages in flight and every one moves every frame,
// so they are painted on a <canvas> laid over the cluster drawing rather than kept as
// SVG elements; the canvas lets clicks through, and the page asks hit() which message,
// if any, is under the pointer.

const LANE = 5;
const DROP_SHOWN_MS = 40;   // virtual ms a message dropped at the send stays drawn
const DROP_REACH = 0.3;     // ...and how far along its link it gets
const HIT_RADIUS = 12;
const HANDLE = 14;          // px right and up from a message to its drop handle's centre
const HANDLE_R = 6.5;
const HANDLE_HIT = 9;
const STACK = 17;           // px between messages sent and arriving together
const FONT = 'system-ui, -apple-system, "Segoe UI", Roboto, "Noto Sans", "Liberation Sans", Arial, sans-serif';
import { chunkLabel } from './format.js';

const COLOURS = {
  append: '#4c6ef5', heartbeat: '#e64980', heartbeatResp: '#f3a5c3', vote: '#f59f00', preVote: '#ffd27a',
  yes: '#2f9e44', no: '#e03131', ring: '#1d2333', client: '#0c8599', lost: '#e03131',
  snapshot: '#7048e8', snapshotResp: '#d0bfff', timeoutNow: '#2b8a3e',
};

// A red cross over a message that is being lost.
function strike(ctx, x, y) {
  ctx.strokeStyle = COLOURS.lost;
  ctx.lineWidth = 2.5;
  ctx.lineCap = 'round';
  ctx.beginPath();
  ctx.moveTo(x - 7, y - 7);
  ctx.lineTo(x + 7, y + 7);
  ctx.moveTo(x + 7, y - 7);
  ctx.lineTo(x - 7, y + 7);
  ctx.stroke();
  ctx.lineCap = 'butt';
}

// The drop handle: a small red disc with a white ✕, at (x, y).
function handle(ctx, x, y) {
  ctx.fillStyle = COLOURS.lost;
  ctx.strokeStyle = '#fff';
  ctx.lineWidth = 1.5;
  ctx.beginPath();
  ctx.arc(x, y, HANDLE_R, 0, 2 * Math.PI);
  ctx.fill();
  ctx.stroke();
  ctx.fillStyle = '#fff';
  ctx.font = `bold 9px ${FONT}`;
  ctx.fillText('✕', x, y + 0.5);
}

// "yes" or "no" for replies, "" for requests.
function answer(m) {
  if (m.type === 'AppendResp') return m.success ? 'yes' : 'no';
  if (m.type === 'VoteResp' || m.type === 'PreVoteResp') return m.granted ? 'yes' : 'no';
  if (m.type === 'ClientReply') return m.ok ? 'yes' : 'no';
  return '';
}

// Draws message m at (x, y); returns the text written on it, if any.
function draw(ctx, m, x, y) {
  switch (m.type) {
    case 'Append':
      ctx.fillStyle = COLOURS.append;
      ctx.beginPath();
      ctx.roundRect(x - 11, y - 7.5, 22, 15, 3);
      ctx.fill();
      ctx.fillStyle = '#fff';
      ctx.font = `bold 9.5px ${FONT}`;
      ctx.fillText(String(m.entries ?? 0), x, y + 0.5);
      return;
    case 'Heartbeat':
    case 'HeartbeatResp':
      ctx.fillStyle = m.type === 'Heartbeat' ? COLOURS.heartbeat : COLOURS.heartbeatResp;
      ctx.beginPath();
      ctx.arc(x, y, m.type === 'Heartbeat' ? 4.5 : 3.2, 0, 2 * Math.PI);
      ctx.fill();
      return;
    case 'Vote':
    case 'PreVote':
      ctx.beginPath();
      ctx.moveTo(x, y - 8);
      ctx.lineTo(x + 8, y);
      ctx.lineTo(x, y + 8);
      ctx.lineTo(x - 8, y);
      ctx.closePath();
      ctx.fillStyle = m.type === 'Vote' ? COLOURS.vote : COLOURS.preVote;
      ctx.fill();
      if (m.type === 'PreVote') {
        ctx.strokeStyle = COLOURS.vote;
        ctx.lineWidth = 1.5;
        ctx.stroke();
      }
      return;
    case 'Snapshot':
    case 'SnapshotResp': {
      const text = m.type === 'Snapshot' ? chunkLabel(m) : `next ${m.offset}`;
      ctx.font = `bold 9px ${FONT}`;
      const w = ctx.measureText(text).width + 10;
      ctx.fillStyle = m.type === 'Snapshot' ? COLOURS.snapshot : COLOURS.snapshotResp;
      ctx.beginPath();
      ctx.roundRect(x - w / 2, y - 7.5, w, 15, 7.5);
      ctx.fill();
      ctx.fillStyle = m.type === 'Snapshot' ? '#fff' : '#3b2a8c';
      ctx.fillText(text, x, y + 0.5);
      return text;
    }
    case 'TimeoutNow': {
      ctx.font = `bold 9px ${FONT}`;
      const w = ctx.measureText('go!').width + 10;
      ctx.fillStyle = COLOURS.timeoutNow;
      ctx.beginPath();
      ctx.roundRect(x - w / 2, y - 7.5, w, 15, 7.5);
      ctx.fill();
      ctx.fillStyle = '#fff';
      ctx.fillText('go!', x, y + 0.5);
      return 'go!';
    }
    case 'ClientRequest':
      ctx.fillStyle = COLOURS.client;
      ctx.beginPath();
      ctx.roundRect(x - 8, y - 7, 16, 14, 7);
      ctx.fill();
      ctx.fillStyle = '#fff';
      ctx.font = `bold 9px ${FONT}`;
      ctx.fillText('C', x, y + 0.5);
      return;
    default: {
      const yes = answer(m) === 'yes';
      ctx.fillStyle = m.type === 'ClientReply' ? COLOURS.client : yes ? COLOURS.yes : COLOURS.no;
      ctx.beginPath();
      ctx.arc(x, y, m.type === 'AppendResp' ? 6.5 : 6, 0, 2 * Math.PI);
      ctx.fill();
      ctx.fillStyle = '#fff';
      ctx.font = `bold 8px ${FONT}`;
      ctx.fillText(yes ? '✓' : '✗', x, y + 0.5);
    }
  }
}

export class MessagesView {
  constructor(canvas, cluster) {
    this.canvas = canvas;
    this.ctx = canvas.getContext('2d');
    this.cluster = cluster;
    this.placed = [];  // [{ id, x, y, lost, text }] as drawn last
    this.pointer = null;  // { x, y } in cluster px while the pointer is over the cluster
    this.hovered = null;  // the id of the message under the pointer (or its handle)
    this.handles = [];    // [{ id, x, y }]: the drop handles drawn last
    this.sized = '';
  }

  size() {
    const w = this.cluster.width, h = this.cluster.height, dpr = window.devicePixelRatio || 1;
    const key = `${w}|${h}|${dpr}`;
    if (key === this.sized) return;
    this.sized = key;
    this.canvas.width = Math.round(w * dpr);
    this.canvas.height = Math.round(h * dpr);
    this.canvas.style.width = `${w}px`;
    this.canvas.style.height = `${h}px`;
    this.dpr = dpr;
  }

  // world: the state's `links_down` and `nodes` (only `id` and `up` are read), to tell
  // which messages will be lost; without it no message is drawn being lost.
  render(messages, now, selectedId, world = null) {
    this.size();
    const ctx = this.ctx;
    ctx.setTransform(this.dpr, 0, 0, this.dpr, 0, 0);
    ctx.clearRect(0, 0, this.cluster.width, this.cluster.height);
    ctx.textAlign = 'center';
    ctx.textBaseline = 'middle';
    this.placed = [];
    this.dropsDrawn = 0;
    this.ringed = null;  // the message drawn with the selection ring
    const cut = new Set(world ? world.links_down.map(([a, b]) => `${a}>${b}`) : []);
    const crashed = new Set(world ? world.nodes.filter((n) => !n.up).map((n) => n.id) : []);
    for (const m of world && world.dropped ? world.dropped : []) {
      const age = now - m.sent_ms;
      if (age < 0 || age >= DROP_SHOWN_MS) continue;
      const seg = this.cluster.segment(m.from, m.to, LANE);
      if (!seg) continue;
      const [p, q] = seg, f = DROP_REACH * (age / DROP_SHOWN_MS);
      const x = p.x + (q.x - p.x) * f, y = p.y + (q.y - p.y) * f;
      ctx.globalAlpha = 1 - age / DROP_SHOWN_MS;
      draw(ctx, m, x, y);
      strike(ctx, x, y);
      ctx.globalAlpha = 1;
      this.dropsDrawn++;
    }
    const together = new Map();  // from>to|sent|arrives -> messages drawn there so far
    for (const m of messages) {
      // Nothing to draw along a link whose ends have no place yet (or no such node).
      const seg = this.cluster.segment(m.from, m.to, LANE);
      if (!seg) continue;
      const [p, q] = seg;
      const span = m.arrives_ms - m.sent_ms;
      const f = span > 0 ? Math.max(0, Math.min(1, (now - m.sent_ms) / span)) : 1;
      const key = `${m.from}>${m.to}|${m.sent_ms}|${m.arrives_ms}`;
      const stacked = together.get(key) ?? 0;
      together.set(key, stacked + 1);
      const x = p.x + (q.x - p.x) * f, y = p.y + (q.y - p.y) * f - STACK * stacked;
      const lost = m.lost || cut.has(`${m.from}>${m.to}`) || crashed.has(m.to);
      if (lost) ctx.globalAlpha = 1 - 0.6 * f;
      const text = draw(ctx, m, x, y);
      ctx.globalAlpha = 1;
      if (lost) strike(ctx, x, y);
      if (m.id === selectedId) {
        this.ringed = m.id;
        ctx.strokeStyle = COLOURS.ring;
        ctx.lineWidth = 1.5;
        ctx.setLineDash([2, 2]);
        ctx.beginPath();
        ctx.arc(x, y, 13, 0, 2 * Math.PI);
        ctx.stroke();
        ctx.setLineDash([]);
      }
      this.placed.push({ id: m.id, x, y, lost, text, droppable: !m.lost });
    }
    this.drawHandles(selectedId);
  }

  // Drop handles on the message under the pointer and the selected one, on top of the
  // rest; one that will be lost anyway has none.
  drawHandles(selectedId) {
    const p = this.pointer;
    const onHandle = p && this.handles.find((d) => d.id === this.hovered && (d.x - p.x) ** 2 + (d.y - p.y) ** 2 <= HANDLE_HIT ** 2);
    this.hovered = onHandle ? this.hovered : p ? this.hit(p.x, p.y) : null;
    this.handles = [];
    for (const m of this.placed) {
      if (!m.droppable || (m.id !== this.hovered && m.id !== selectedId)) continue;
      const x = m.x + HANDLE, y = m.y - HANDLE;
      handle(this.ctx, x, y);
      this.handles.push({ id: m.id, x, y });
    }
  }

  // The id of the message whose drop handle is at (x, y) in cluster pixels, if any.
  hitHandle(x, y) {
    const d = this.handles.find((d) => (d.x - x) ** 2 + (d.y - y) ** 2 <= HANDLE_HIT ** 2);
    return d ? d.id : null;
  }

  // The id of the message drawn nearest to (x, y) in cluster pixels, within reach.
  hit(x, y) {
    let best = null, bestD = HIT_RADIUS * HIT_RADIUS;
    for (const p of this.placed) {
      const d = (p.x - x) ** 2 + (p.y - y) ** 2;
      if (d <= bestD) {
        best = p.id;
        bestD = d;
      }
    }
    return best;
  }
}
