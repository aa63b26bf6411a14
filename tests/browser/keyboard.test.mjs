// Everything by keyboard: links cut and restored with Enter, messages in flight read
// (and dropped) from a list that opens when focused, log entries walked with the arrow
// keys and read with Enter; a visible focus ring on each; Escape closes a panel and
// gives focus back to what opened it. And on a phone, starting a lesson brings the
// cluster into view instead of leaving the reader at the lesson list.

import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { moment, screenshot, session, waitForLeader } from './harness.mjs';

const s = session();
before(s.before);
after(s.after);

const active = (page) => page.evaluate(() => {
  const a = document.activeElement;
  return { id: a.id, message: a.dataset.message ?? null, node: a.dataset.node ?? null, link: a.dataset.link ?? null,
    cls: a.getAttribute('class') ?? '', visible: a.matches(':focus-visible') };
});

// Plays at 1x to the first leader, then pauses with at least one message in flight.
async function leaderWithMessages(page) {
  await page.fill('#speed', '66');
  await page.click('#play');
  await waitForLeader(page);
  await page.click('#play');
  await moment(page);  // drawn paused: a frame from before the pause has messages further along
  for (let i = 0; i < 200; i++) {
    if (await page.evaluate(() => window.playground.state.messages.length > 0)) return;
    await page.evaluate(() => window.playground.perform('step'));
    await moment(page);
  }
  throw new Error('no message ever in flight');
}

test('a link is cut and restored with Enter, and shows a focus ring', () => s.page(async (page) => {
  await moment(page);
  await page.keyboard.press('Shift');  // keyboard modality, as after any key
  await page.focus('[data-link="1-2"]');
  const ring = await page.$eval('[data-link="1-2"] .wire', (w) => ({ stroke: getComputedStyle(w).stroke, width: getComputedStyle(w).strokeWidth }));
  assert.equal(ring.width, '4px', 'the focused link is drawn thick');
  assert.equal(ring.stroke, 'rgb(59, 91, 219)');
  const playing = await page.evaluate(() => window.playground.playing);
  await page.keyboard.press('Enter');
  await moment(page);
  let down = await page.evaluate(() => window.playground.state.links_down);
  assert.deepEqual(down, [[1, 2], [2, 1]]);
  await page.keyboard.press(' ');
  await moment(page);
  down = await page.evaluate(() => window.playground.state.links_down);
  assert.deepEqual(down, []);
  assert.equal(await page.evaluate(() => window.playground.playing), playing, 'Space on a link does not toggle play');
}, '#nodes=3&seed=1&do=&at=0&t=0'));

test('messages in flight are listed for the keyboard: Enter reads one, Tab reaches Drop, Escape comes back', () => s.page(async (page) => {
  await leaderWithMessages(page);
  await page.keyboard.press('Shift');
  await page.focus('#message-list-head');
  await page.keyboard.press('Tab');
  let a = await active(page);
  assert.ok(a.message, `focus is on a message: ${JSON.stringify(a)}`);
  assert.ok(a.visible, 'with a focus ring');
  await page.evaluate(() => { window.playground.dirty = true; });
  await moment(page);
  assert.equal(await page.evaluate(() => window.playground.messages.ringed), Number(a.message), 'and ringed on the canvas');
  const box = await page.$eval('.message-list-box', (b) => b.getBoundingClientRect().width);
  assert.ok(box > 100, 'the list shows itself when focused');
  await screenshot(page, 'keyboard-message-list');
  const id = Number(a.message);
  await page.keyboard.press('Enter');
  await moment(page);
  a = await active(page);
  assert.equal(a.id, 'inspector');
  assert.equal(await page.evaluate(() => window.playground.selection.id), id);
  await page.keyboard.press('Tab');
  assert.equal(await page.evaluate(() => document.activeElement.textContent), 'Drop this message');
  await page.keyboard.press('Enter');
  await moment(page);
  assert.deepEqual(await page.evaluate(() => window.playground.timeline.lines().slice(-1)), [`lose ${id}`]);
  assert.equal(await page.evaluate((id) => window.playground.state.messages.find((m) => m.id === id).lost, id), true);
  await page.evaluate(() => document.getElementById('inspector').focus());
  await page.keyboard.press('Escape');
  await moment(page);
  a = await active(page);
  assert.equal(a.message, String(id), 'Escape gives focus back to the message it was opened from');
  assert.equal(await page.evaluate(() => window.playground.selection), null, 'and the inspector is closed');
}, '#nodes=3&seed=1&do=&at=0&t=0'));

test('log entries: arrow keys move a ringed cursor, Enter reads the entry, Escape returns to the grid', () => s.page(async (page) => {
  await leaderWithMessages(page);
  await page.keyboard.press('Shift');
  await page.focus('.log-canvas');
  assert.ok((await active(page)).visible, 'the grid shows a focus ring');
  await moment(page);
  const start = await page.$eval('.log-canvas', (c) => c.dataset.cursor);
  const [row, index] = start.split(':').map(Number);
  assert.ok(index >= 1);
  await page.keyboard.press('ArrowDown');
  await page.keyboard.press('Home');
  await moment(page);
  assert.equal(await page.$eval('.log-canvas', (c) => c.dataset.cursor), `${Math.min(3, row + 1)}:1`);
  assert.match(await page.textContent('.log-grid .sr-only'), new RegExp(`^S${Math.min(3, row + 1)}, index 1, term`));
  await page.keyboard.press('Enter');
  await moment(page);
  assert.equal((await active(page)).id, 'inspector');
  assert.equal(await page.textContent('#inspector-title'), `Entry 1 on S${Math.min(3, row + 1)}`);
  await page.keyboard.press('Escape');
  await moment(page);
  assert.match((await active(page)).cls, /log-canvas/);
  assert.equal(await page.evaluate(() => window.playground.selection), null);
}, '#nodes=3&seed=1&do=&at=0&t=0'));

test('Escape closes a node\'s menu and gives focus back to the node', () => s.page(async (page) => {
  await moment(page);
  await page.focus('[data-node="2"]');
  await page.keyboard.press('Enter');
  await page.waitForSelector('.node-menu:not([hidden])');
  assert.equal(await page.evaluate(() => document.activeElement.dataset.act), 'crash 2');
  await page.keyboard.press('Escape');
  await moment(page);
  assert.equal(await page.isHidden('.node-menu'), true);
  assert.equal((await active(page)).node, '2');
}, '#nodes=3&seed=1&do=&at=0&t=0'));

test('clicking a message in flight and then Drop loses it: drawn lost, never delivered, and the link replays it', () => s.page(async (page) => {
  await leaderWithMessages(page);
  const target = await page.evaluate(() => {
    const m = window.playground.state.messages[0];
    const p = window.playground.messages.placed.find((x) => x.id === m.id);
    const box = document.getElementById('cluster').getBoundingClientRect();
    return { id: m.id, to: m.to, arrives: m.arrives_ms, x: box.left + p.x, y: box.top + p.y };
  });
  await page.mouse.click(target.x, target.y);
  await moment(page);
  assert.equal(await page.evaluate(() => window.playground.selection.id), target.id);
  const dropped = await page.evaluate(() => window.playground.state.stats.messages_dropped);
  await page.click('#inspector [data-act^="lose"]');
  await moment(page);
  assert.equal(await page.evaluate((id) => window.playground.messages.placed.find((x) => x.id === id).lost, target.id), true,
    'drawn being lost');
  assert.match(await page.textContent('#inspector'), /will be lost/);
  await page.evaluate((t) => { window.playground.run(t - window.playground.timeline.now() + 1); window.playground.dirty = true; }, target.arrives);
  const after = await moment(page);
  assert.equal(await page.evaluate(() => window.playground.state.stats.messages_dropped), dropped + 1);
  await s.page(async (other) => assert.deepEqual(await moment(other), after), new URL(page.url()).hash);
}, '#nodes=3&seed=1&do=&at=0&t=0'));

test('messages the network drops at random are drawn being lost', () => s.page(async (page) => {
  await page.evaluate(() => window.playground.perform('net drop=0.5'));
  await page.fill('#speed', '66');
  await page.click('#play');
  await page.waitForFunction(() => window.playground.messages.dropsDrawn > 0, null, { timeout: 20000 });
  const st = await page.evaluate(() => window.playground.state);
  assert.ok(st.dropped.length > 0);
  assert.ok(st.dropped.some((m) => st.time_ms - m.sent_ms < 40));
}, '#nodes=3&seed=1&do=&at=0&t=0'));

test('a (pre-)candidate shows its tally, votes granted of votes needed, as the votes arrive', () => s.page(async (page) => {
  await moment(page);
  await page.evaluate(() => { for (const l of ['cut 1-4', 'cut 1-5', 'campaign 1']) window.playground.perform(l); });
  const seen = [];
  for (let i = 0; i < 400; i++) {
    await page.evaluate(() => window.playground.perform('step'));
    await moment(page);
    const v = await page.$eval('[data-node="1"]', (g) => ({ votes: g.dataset.votes, pill: g.querySelector('.role-pill text').textContent,
      role: g.getAttribute('class') }));
    if (v.votes && seen[seen.length - 1] !== v.pill) seen.push(v.pill);
    if (/leader/.test(v.role)) break;
  }
  assert.deepEqual(seen, ['pre-candidate 1/3', 'pre-candidate 2/3', 'candidate 1/3', 'candidate 2/3'],
    'S1 asks first (pre-vote), then campaigns; it leads once S2 and S3 both voted: the third vote ends each tally');
  await screenshot(page, 'votes');
}, '#nodes=5&seed=1&do=&at=0&t=0'));

test('on a phone, starting a lesson from the list brings the cluster into view and keeps it there', async () => {
  const page = await s.context.newPage();
  try {
    await page.setViewportSize({ width: 390, height: 844 });
    await page.goto(s.url);
    await page.waitForFunction(() => window.playground && window.playground.state);
    await page.click('[data-lesson="follower_behind"]');  // scrolls down to the list first
    await page.waitForFunction(() => document.getElementById('lesson-status').dataset.held === 'true');
    for (let i = 0; i < 3; i++) {
      const top = await page.$eval('.stage', (e) => e.getBoundingClientRect().top);
      assert.ok(top > -1 && top < 60, `the cluster starts at ${top} px`);
      const narration = await page.$eval('#narration li.current', (e) => e.getBoundingClientRect());
      assert.ok(narration.top < 844 && narration.bottom > 0, 'the current sentence is on screen too');
      await page.click('#lesson-next');
      await page.waitForFunction(() => document.getElementById('lesson-status').dataset.held === 'true' && !window.playground.playing);
    }
    await screenshot(page, 'phone-lesson');
  } finally {
    await page.close();
  }
});

// Where a message's drop handle is drawn, in page px, once the pointer rests on the message.
async function hoverMessage(page, id) {
  const at = await page.evaluate((id) => {
    const p = window.playground.messages.placed.find((x) => x.id === id);
    const box = document.getElementById('cluster').getBoundingClientRect();
    return { x: box.left + p.x, y: box.top + p.y };
  }, id);
  await page.mouse.move(at.x, at.y);
  await moment(page);
  return page.evaluate((id) => {
    const d = window.playground.messages.handles.find((x) => x.id === id);
    const box = document.getElementById('cluster').getBoundingClientRect();
    return d ? { x: box.left + d.x, y: box.top + d.y } : null;
  }, id);
}

test('one click on the ✕ handle of the message under the pointer drops it, recorded on the timeline', () => s.page(async (page) => {
  await leaderWithMessages(page);
  const m = await page.evaluate(() => window.playground.state.messages.find((x) => !x.lost));
  const handle = await hoverMessage(page, m.id);
  assert.ok(handle, 'the message under the pointer carries a drop handle');
  await screenshot(page, 'message-drop-handle');
  await page.mouse.click(handle.x, handle.y);
  await moment(page);
  assert.equal(await page.evaluate((id) => window.playground.state.messages.find((x) => x.id === id).lost, m.id), true, 'one click dropped it');
  assert.deepEqual(await page.evaluate(() => window.playground.timeline.entries.map((e) => e.line).slice(-1)), [`lose ${m.id}`]);
  assert.equal(await page.evaluate(() => window.playground.messages.handles.length), 0, 'a message being lost has no handle');
  await page.evaluate((t) => { window.playground.run(t - window.playground.timeline.now() + 1); window.playground.dirty = true; }, m.arrives_ms);
  const after = await moment(page);
  await s.page(async (other) => assert.deepEqual(await moment(other), after), new URL(page.url()).hash);
}, '#nodes=3&seed=1&do=&at=0&t=0'));

test('Delete on a message in the list drops it, and focus stays on it', () => s.page(async (page) => {
  await leaderWithMessages(page);
  await page.keyboard.press('Shift');
  await page.focus('#message-list-head');
  await page.keyboard.press('Tab');
  const id = Number((await active(page)).message);
  assert.ok(id, 'focus is on a message');
  await page.keyboard.press('Delete');
  await moment(page);
  assert.equal(await page.evaluate((id) => window.playground.state.messages.find((x) => x.id === id).lost, id), true, 'Delete dropped it');
  assert.deepEqual(await page.evaluate(() => window.playground.timeline.entries.map((e) => e.line).slice(-1)), [`lose ${id}`]);
  assert.equal((await active(page)).message, String(id));
  assert.match(await page.textContent(`[data-message="${id}"]`), /will be lost/);
}, '#nodes=3&seed=1&do=&at=0&t=0'));

