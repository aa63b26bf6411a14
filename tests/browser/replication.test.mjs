// Replication drawn where the eye already is: the leader's nextIndex and matchIndex for
// each follower as marks in that follower's log row, a crashed node's log kept (greyed)
// as its disk holds it, and a message that will be lost drawn being lost. The checks read
// the pixels the page painted, at the place the simulator's state says.

import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { cellPosition, moment, READ_PIXEL, screenshot, session } from './harness.mjs';

const s = session();
before(s.before);
after(s.after);

const NEXT = [232, 89, 12];     // log_view.js NEXT_COLOUR
const MATCH = [25, 113, 194];   // log_view.js MATCH_COLOUR
const DISK = [221, 224, 232];   // log_view.js DISK_FILL

function pixel(page, selector, x, y) {
  return page.evaluate(([read, selector, x, y]) => eval(read)(document.querySelector(selector), x, y), [READ_PIXEL, selector, x, y]);
}

function near(rgba, rgb) {
  return rgba[3] > 200 && rgb.every((v, i) => Math.abs(rgba[i] - v) <= 12);
}

// Node n's row on the log canvas: its top in canvas px, and where column `index` starts.
async function rowGeometry(page, n) {
  return page.evaluate((n) => {
    const view = window.playground.logs;
    const row = document.querySelector(`.log-label[data-node="${n}"]`).getBoundingClientRect();
    const canvas = document.querySelector('.log-canvas').getBoundingClientRect();
    return { top: row.top - canvas.top, cell: view.cellWidth, left: view.viewLeft };
  }, n);
}

// The leader's progress for follower n, as the page's last state() has it.
function progressFor(page, n) {
  return page.evaluate((n) => {
    const st = window.playground.state;
    const leader = st.nodes.find((x) => x.up && x.id === st.leader);
    const p = leader && leader.progress ? leader.progress.find((x) => x.peer === n) : null;
    return p ? { next: p.next_index, match: p.match_index } : null;
  }, n);
}

async function caretAt(page, n, index) {
  const g = await rowGeometry(page, n);
  return near(await pixel(page, '.log-canvas', (index - 1) * g.cell - g.left + 1, g.top + 4), NEXT);
}

async function matchBarAt(page, n, index) {
  const g = await rowGeometry(page, n);
  return near(await pixel(page, '.log-canvas', (index - 0.5) * g.cell - g.left, g.top + 1), MATCH);
}

// One simulator event at a time until follower n's nextIndex changes; its new progress.
async function stepUntilNextChanges(page, n, from) {
  for (let i = 0; i < 200; i++) {
    await page.evaluate(() => window.playground.perform('step'));
    await moment(page);
    const p = await progressFor(page, n);
    if (p && p.next !== from) return p;
  }
  throw new Error(`S${n}'s nextIndex never left ${from}`);
}

test('follower behind: the caret sits at the leader\'s nextIndex for S3 and backs up from 11 to 8 after the rejection', () => s.page(async (page) => {
  await moment(page);
  const first = await progressFor(page, 3);
  assert.deepEqual(first, { next: 11, match: 0 }, 'the leader first probes S3 after its own log (index 10)');
  assert.equal(await caretAt(page, 3, 11), true, 'the caret is drawn before index 11 in S3\'s row');
  assert.equal(await page.getAttribute('.log-label[data-node="3"]', 'data-next'), '11');

  const back = await stepUntilNextChanges(page, 3, 11);
  assert.equal(back.next, 8, 'S3 rejects and hints its log ends at 7: the leader jumps back to 8');
  assert.equal(await caretAt(page, 3, 8), true, 'the caret moved back to index 8');
  assert.equal(await caretAt(page, 3, 11), false, 'and left index 11');
  await screenshot(page, 'replication-backed-up');

  const caught = await stepUntilNextChanges(page, 3, 8);
  assert.deepEqual(caught, { next: 12, match: 11 });
  assert.equal(await caretAt(page, 3, 12), true, 'once S3 accepts 8..11 the caret moves past them');
  assert.equal(await matchBarAt(page, 3, 11), true, 'and the match mark sits on index 11');
}, '#scenario=follower_behind&at=3&t=81'));

test('a crashed node\'s row keeps its on-disk log, greyed, and nothing past it', () => s.page(async (page) => {
  await moment(page);
  await page.evaluate(() => window.playground.perform('crash 3'));
  await moment(page);
  assert.equal(await page.getAttribute('.log-label[data-node="3"]', 'data-role'), 'down');
  const g = await rowGeometry(page, 3);
  for (let i = 1; i <= 7; i++) {
    const px = await pixel(page, '.log-canvas', (i - 1) * g.cell - g.left + 8, g.top + 5);
    assert.ok(near(px, DISK), `S3's entry ${i}, on its disk, is drawn greyed (got ${px})`);
  }
  const past = await pixel(page, '.log-canvas', 8 * g.cell - g.left + 8, g.top + 5);
  assert.equal(past[3], 0, 'index 9, which S3 never had, stays empty');

  const at = await cellPosition(page, 3, 4);
  const box = await page.$eval('.log-canvas', (c) => { const r = c.getBoundingClientRect(); return { x: r.left, y: r.top }; });
  await page.mouse.click(box.x + at.x, box.y + at.y);
  await moment(page);
  assert.equal(await page.textContent('#inspector-title'), 'Entry 4 on S3\'s disk', 'a click reads the disk entry in the inspector');
  await screenshot(page, 'replication-crashed-disk');
}, '#scenario=follower_behind&at=3&t=81'));

for (const [what, action, doomed] of [
  ['headed for a crashed node', 'crash 3', (m) => m.to === 3],
  ['on a cut link', 'cut 1->2', (m) => m.from === 1 && m.to === 2],
]) test(`a message ${what} is drawn being lost, struck through in red`, () => s.page(async (page) => {
  await moment(page);
  await page.evaluate((action) => window.playground.perform(action), action);
  await moment(page);
  const drawn = await page.evaluate((read) => {
    const app = window.playground;
    const st = app.state;
    app.messages.render(st.messages, st.time_ms, null, st);
    // Read in the same task as the drawing: the page may repaint at the next frame.
    const canvas = document.getElementById('messages');
    return app.messages.placed.map((p) => {
      const m = st.messages.find((x) => x.id === p.id);
      return { ...p, from: m.from, to: m.to, px: eval(read)(canvas, p.x + 5, p.y + 5) };
    });
  }, READ_PIXEL);
  const lost = drawn.filter((p) => p.lost);
  assert.ok(lost.length > 0, `some doomed message is in flight (${JSON.stringify(drawn)})`);
  assert.ok(lost.every(doomed), 'only the doomed messages are drawn lost');
  assert.ok(drawn.filter((p) => !doomed(p)).every((p) => !p.lost), 'the others are not');
  const px = lost[0].px;
  assert.ok(px[0] > 180 && px[1] < 110 && px[2] < 110 && px[3] > 150, `a red cross is drawn on it (got ${px})`);
}, '#scenario=follower_behind&at=3&t=81'));

test('the page itself draws a message on a cut link as lost (its frame loop hands the state to the message layer)', () => s.page(async (page) => {
  await moment(page);
  await page.evaluate(() => window.playground.perform('cut 1->2'));
  await moment(page);
  // The page's own next frames, not a render() call of the test's.
  await page.evaluate(() => new Promise((r) => requestAnimationFrame(() => requestAnimationFrame(r))));
  const lost = await page.evaluate(() => window.playground.messages.placed.filter((p) => p.lost).length);
  assert.ok(lost > 0, 'a message on the cut link is drawn lost');
}, '#scenario=follower_behind&at=3&t=81'));

test('the legend names every role a node can be drawn in, and the candidate\'s tally', () => s.page(async (page) => {
  await moment(page);
  const legend = await page.textContent('.legend');
  const roles = await page.evaluate(async () => Object.values((await import('./js/format.js')).ROLE_LABEL));
  for (const role of [...roles, 'crashed']) assert.match(legend, new RegExp(`(^|\\s)${role}\\b`), `the legend lacks ${role}`);
  assert.match(legend, /candidate n\/m votes/);
}));

// The grid is painted in pieces: each frame shifts last frame's picture along with the
// view and draws again only the cells whose contents changed (log_view.js paint()).
// Frame after frame, under a heavy load, while following the newest entries, scrolling
// back into the snapshot blocks, with a node crashed and restarted, an entry selected
// and the keyboard cursor on the grid, what it shows must be the picture it paints
// from scratch.
test('the log grid painted cell by cell, frame after frame, is the grid painted whole', () => s.page(async (page) => {
  await moment(page);
  const report = await page.evaluate(() => {
    const app = window.playground, view = app.logs;
    app.pause();
    const copy = document.createElement('canvas').getContext('2d', { willReadFrequently: true });
    const pixels = () => {
      copy.canvas.width = view.canvas.width;
      copy.canvas.height = view.canvas.height;
      copy.drawImage(view.canvas, 0, 0);
      return copy.getImageData(0, 0, copy.canvas.width, copy.canvas.height).data;
    };
    // Pixels that differ from a paint from scratch of the same moment.
    const wrong = () => {
      app.render();
      const pieces = pixels();
      view.sized = '';
      app.render();
      const whole = pixels();
      let n = 0;
      for (let i = 0; i < whole.length; i++) if (pieces[i] !== whole[i]) n++;
      return n;
    };
    const out = [];
    const frames = (what, count, ms, each = () => {}) => {
      for (let f = 0; f < count; f++) {
        app.run(ms);
        each(f);
        app.render();
      }
      out.push([what, wrong()]);
    };
    app.perform('rate 400');
    frames('following the newest entries', 40, 16);
    app.perform('crash 2');
    frames('a node crashed', 20, 16);
    app.perform('restart 2');
    frames('the node restarted and catching up', 30, 16);
    const leader = app.state.leader, follower = leader === 3 ? 4 : 3;
    app.select({ kind: 'entry', node: leader, index: view.to - 4 });
    frames('an entry selected', 1, 0);
    frames('the selected entry scrolling away', 10, 16);
    app.perform(`cut ${leader}->${follower}`);
    frames(`S${follower} cut off from the leader`, 20, 16);
    app.perform('heal');
    // The boundary between the compacted log and the catch-up tail in view when the
    // leader takes a snapshot.
    document.getElementById('follow').checked = false;
    const snapped = app.state.nodes[leader - 1].snapshot.index;
    view.scrollTo(snapped + 52);
    for (let f = 0; f < 200 && app.state.nodes[leader - 1].snapshot.index === snapped; f++) {
      app.run(4);
      app.render();
    }
    out.push(['a snapshot taken', wrong()]);
    const snapshotTaken = app.state.nodes[leader - 1].snapshot.index > snapped;
    frames('scrolling back into the snapshot blocks', 30, 16, () => { view.scroller.scrollLeft = Math.max(0, view.scroller.scrollLeft - 61); });
    view.canvas.focus();
    frames('the keyboard cursor on the grid', 10, 16, () => view.key(new KeyboardEvent('keydown', { key: 'ArrowRight' })));
    app.perform('crash 3');
    frames('a crashed node\'s disk scrolled out of view', 10, 16, () => { view.scroller.scrollLeft += 460; });
    return { out, snapshotTaken };
  });
  assert.ok(report.snapshotTaken, 'the leader took a snapshot while its catch-up tail was in view');
  for (const [what, n] of report.out) assert.equal(n, 0, `${what}: ${n} pixel values differ from a paint from scratch`);
}, '#nodes=5&seed=3&snap=60'));
