// Log compaction in the playground: the snapshot block at the start of a compacted log
// (drawn, described on hover and by the keyboard cursor, decoded in the inspector),
// InstallSnapshot chunks drawn with their offsets, the snapshot-threshold control, and
// the snapshot lesson played at the reader's pace. The checks read the pixels the page
// painted where the simulator's state says the block or the chunk is.

import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { moment, perform, playLessonThrough, READ_PIXEL, screenshot, session, setSpeed } from './harness.mjs';

const s = session();
before(s.before);
after(s.after);

const SNAP_FILL = [229, 219, 255];  // log_view.js SNAP_FILL
const CHUNK = [112, 72, 232];       // messages_view.js COLOURS.snapshot
const SNAP_EDGE = [112, 72, 232];   // log_view.js SNAP_EDGE: the bar under the catch-up tail

function near(rgba, rgb) {
  return rgba[3] > 200 && rgb.every((v, i) => Math.abs(rgba[i] - v) <= 12);
}

// Where node n's log column `index` sits on the log canvas (css px), and the canvas's
// place on the page.
function logCell(page, n, index) {
  return page.evaluate(([n, index]) => {
    const view = window.playground.logs;
    const row = document.querySelector(`.log-label[data-node="${n}"]`).getBoundingClientRect();
    const canvas = document.querySelector('.log-canvas').getBoundingClientRect();
    return { x: (index - 0.5) * view.cellWidth - view.viewLeft, y: row.top + row.height / 2 - canvas.top, left: canvas.left, top: canvas.top };
  }, [n, index]);
}

function logPixel(page, x, y) {
  return page.evaluate(([read, x, y]) => eval(read)(document.querySelector('.log-canvas'), x, y), [READ_PIXEL, x, y]);
}

const nodeState = (page, n) => page.evaluate((n) => window.playground.state.nodes[n - 1], n);

test('Snapshot now in the node menu: the compacted log becomes one snapshot block, described on hover, by the keyboard and in the inspector', () => s.page(async (page) => {
  await moment(page);
  await perform(page, 'wait leader within 3s', 'propose set a 1', 'propose set b 2', 'propose set c 3', 'advance 1s');
  const leader = await page.evaluate(() => window.playground.state.leader);
  assert.equal((await nodeState(page, leader)).snapshot.index, 0, 'no snapshot before one is asked for');
  await page.uncheck('#follow');
  await page.evaluate(() => window.playground.logs.scrollTo(1));
  await moment(page);
  let at = await logCell(page, leader, 1);
  assert.ok(!near(await logPixel(page, at.x, at.y - 6), SNAP_FILL), 'entry 1 is an entry, not a snapshot block, before the snapshot');

  await page.click(`#cluster [data-node="${leader}"]`);
  await page.click(`.node-menu [data-act="snapshot ${leader}"]`);
  assert.deepEqual(await page.evaluate(() => window.playground.timeline.lines().slice(-1)), [`snapshot ${leader}`]);
  await perform(page, 'advance 100ms');  // the snapshot is the node's once its disk has it
  const n = await nodeState(page, leader);
  assert.ok(n.snapshot.index >= 4, `the leader took a snapshot of its applied entries (got ${JSON.stringify(n.snapshot)})`);
  assert.equal(n.log_first_index, n.snapshot.index + 1, 'and discarded its log up to it (no catch-up tail in a free cluster without a threshold)');

  // Every compacted column of the row is painted as the block; the next one is not.
  at = await logCell(page, leader, 1);
  for (let i = 1; i <= n.snapshot.index; i++) {
    const c = await logCell(page, leader, i);
    assert.ok(near(await logPixel(page, c.x, c.y - 6), SNAP_FILL), `index ${i} of S${leader} is inside the snapshot block`);
  }
  const past = await logCell(page, leader, n.snapshot.index + 1);
  assert.ok(!near(await logPixel(page, past.x, past.y - 6), SNAP_FILL), 'the first entry kept is drawn as an entry');

  // Hover: the block's tooltip says what it is.
  await page.mouse.move(at.left + at.x, at.top + at.y);
  const title = await page.getAttribute('.log-canvas', 'title');
  assert.match(title, new RegExp(`compacted into its snapshot at index ${n.snapshot.index}, term ${n.snapshot.term}, ${n.snapshot.bytes} bytes`));

  // Click: the inspector shows what the snapshot holds, decoded.
  await page.mouse.click(at.left + at.x, at.top + at.y);
  await moment(page);
  assert.equal(await page.textContent('#inspector-title'), `Snapshot on S${leader}`);
  const body = await page.textContent('#inspector');
  assert.match(body, new RegExp(`entries 1–${n.snapshot.index}`));
  assert.match(body, new RegExp(`${n.snapshot.bytes} bytes`));
  for (const kv of ['a = 1', 'b = 2', 'c = 3']) assert.ok(body.includes(kv), `the inspector lists ${kv} from the snapshot (got ${body})`);
  await screenshot(page, 'snapshot-block');

  // Keyboard: Home on the leader's row lands on the block, Enter reads it.
  await page.keyboard.press('Escape');
  await page.focus('.log-canvas');
  const row = leader - 1 - (await page.evaluate(() => window.playground.logs.cursor.row));
  for (let i = 0; i < Math.abs(row); i++) await page.keyboard.press(row > 0 ? 'ArrowDown' : 'ArrowUp');
  await page.keyboard.press('Home');
  await moment(page);
  assert.match(await page.textContent('.log-scroll .sr-only'), /compacted into its snapshot/);
  await page.keyboard.press('Enter');
  await moment(page);
  assert.equal(await page.textContent('#inspector-title'), `Snapshot on S${leader}`);
}, '#nodes=3&seed=1'));

test('InstallSnapshot chunks are drawn with their offsets, listed for the keyboard and explained in the inspector', () => s.page(async (page) => {
  await moment(page);
  const chunks = await page.evaluate(() => window.playground.state.messages.filter((m) => m.type === 'Snapshot'));
  assert.ok(chunks.length >= 2, `the lesson's leader is sending its snapshot in chunks here (got ${JSON.stringify(chunks)})`);
  const drawn = await page.evaluate((read) => {
    const app = window.playground;
    const st = app.state;
    app.messages.render(st.messages, st.time_ms, null, st);
    const canvas = document.getElementById('messages');
    // Under the tag's text: the tag's colour.
    return app.messages.placed.map((p) => ({ ...p, px: eval(read)(canvas, p.x, p.y + 6) }));
  }, READ_PIXEL);
  for (const c of chunks) {
    const p = drawn.find((d) => d.id === c.id);
    assert.equal(p.text, `snap ${c.offset}/${c.total} B`, `chunk ${c.id} is labelled with its offset`);
    assert.ok(near(p.px, CHUNK), `chunk ${c.id} is drawn as a purple tag (got ${p.px})`);
  }
  const list = await page.textContent('#message-list');
  for (const c of chunks) assert.ok(list.includes(`InstallSnapshot chunk (snap ${c.offset}/${c.total} B) S${c.from} → S${c.to}`), list);

  // Chunks sent together are drawn apart, each one where a click finds it.
  const places = chunks.map((c) => drawn.find((d) => d.id === c.id));
  assert.equal(new Set(places.map((p) => `${Math.round(p.x)},${Math.round(p.y)}`)).size, chunks.length, 'no chunk hides another');
  const box = await page.$eval('#cluster', (c) => { const r = c.getBoundingClientRect(); return { x: r.left, y: r.top }; });
  await page.mouse.click(box.x + places[1].x, box.y + places[1].y);
  await moment(page);
  assert.equal(await page.evaluate(() => window.playground.selection.id), chunks[1].id, 'a click on the second chunk picks it');
  assert.equal(await page.textContent('#inspector-title'), 'InstallSnapshot chunk');
  const body = await page.textContent('#inspector');
  assert.match(body, new RegExp(`bytes ${chunks[1].offset}–${chunks[1].offset + chunks[1].bytes}`));
  assert.match(body, /installs the snapshot only once it has every byte/);
  await screenshot(page, 'snapshot-chunks');

  // The reply to a chunk: drawn too, with the offset the follower expects next.
  for (let i = 0; i < 200; i++) {
    const resp = await page.evaluate(() => window.playground.state.messages.find((m) => m.type === 'SnapshotResp'));
    if (resp) {
      const p = await page.evaluate((id) => window.playground.messages.placed.find((x) => x.id === id), resp.id);
      assert.equal(p.text, `next ${resp.offset}`);
      return;
    }
    await perform(page, 'step');
  }
  assert.fail('no InstallSnapshot reply was sent');
}, '#scenario=snapshot_catch_up&at=15&t=4600'));

// Proposes `count` writes in a fresh free cluster and returns the leader's snapshot.
async function snapshotAfterWrites(page, count) {
  await perform(page, 'wait leader within 3s');
  await page.evaluate((count) => { for (let i = 0; i < count; i++) window.playground.perform(`propose set k${i} ${i}`); }, count);
  await perform(page, 'advance 2s');
  const leader = await page.evaluate(() => window.playground.state.leader);
  return nodeState(page, leader);
}

test('the snapshot threshold control: every N entries, N as chosen, kept in the link; never means never', () => s.page(async (page) => {
  await moment(page);
  await page.evaluate(() => window.playground.pause());
  await page.selectOption('#snap-every', '10');
  await moment(page);
  assert.match(await page.evaluate(() => location.hash), /&snap=10&/, 'the threshold is part of the link');
  assert.equal(await page.evaluate(() => window.playground.state.config.snapshot_entries), 10);
  let n = await snapshotAfterWrites(page, 15);  // 16 entries with the leader's no-op
  assert.ok(n.snapshot.index >= 10 && n.snapshot.index <= 16, `a snapshot taken once 10 entries were applied (got ${JSON.stringify(n.snapshot)})`);
  assert.ok(n.log_first_index > 1, 'and the log before it discarded');

  await page.selectOption('#snap-every', '20');
  await moment(page);
  n = await snapshotAfterWrites(page, 15);
  assert.equal(n.snapshot.index, 0, 'with 20, 16 entries are not yet worth a snapshot');
  n = await snapshotAfterWrites(page, 10);
  assert.ok(n.snapshot.index >= 20, `...26 are (got ${JSON.stringify(n.snapshot)})`);

  await page.selectOption('#snap-every', '0');
  await moment(page);
  assert.doesNotMatch(await page.evaluate(() => location.hash), /snap=/);
  n = await snapshotAfterWrites(page, 30);
  assert.equal(n.snapshot.index, 0, 'never: no snapshot however long the log');
  assert.equal(n.log_first_index, 1);
}, '#nodes=3&seed=1'));

test('a link with snap=N opens a cluster that snapshots every N entries', () => s.page(async (page) => {
  await moment(page);
  assert.equal(await page.evaluate(() => window.playground.state.config.snapshot_entries), 20);
  assert.equal(await page.inputValue('#snap-every'), '20');
}, '#nodes=3&seed=1&snap=20&at=0&t=0'));

test('the snapshot lesson stops for the reader at each sentence, at the first chunk and at the install, not at every commit under load; at its end the catch-up tail is marked', () => s.page(async (page) => {
  await page.click('[data-lesson="snapshot_catch_up"]');
  await setSpeed(page, 99);
  const stops = await playLessonThrough(page);
  assert.ok(stops.length <= 6, `the lesson stops at a few key moments, not at every commit of its client load (${stops.length}: ${stops.join(' / ')})`);
  assert.ok(stops.some((t) => /sent S3 the first chunk of its snapshot/.test(t)), `it stops when the leader starts sending the snapshot (${stops.join(' / ')})`);
  assert.ok(stops.some((t) => /S3 installed the leader's snapshot/.test(t)), 'and when S3 installs it');
  assert.equal(await page.getAttribute('#lesson-status', 'data-state'), 'passed');
  const last = await page.$$eval('#narration li.say', (li) => li[li.length - 1].textContent);
  assert.match(last, /^What you saw: /);
  const says = await page.$$eval('#narration li.say', (li) => li.length);
  assert.equal(says, 5, 'every sentence of the script was shown');
  await screenshot(page, 'lesson-snapshot-end');

  // S1 kept its catch-up tail (entries its snapshot covers too): a purple bar under each.
  const n = await nodeState(page, 1);
  assert.ok(n.log_first_index <= n.snapshot.index, `S1 keeps a tail of entries its snapshot covers (${n.log_first_index}, ${JSON.stringify(n.snapshot)})`);
  const rowH = await page.evaluate(() => window.playground.logs.rowH);
  const bar = async (i) => { const c = await logCell(page, 1, i); return near(await logPixel(page, c.x, c.y + rowH / 2 - 2.75), SNAP_EDGE); };
  for (let i = n.log_first_index; i <= n.snapshot.index; i++) assert.ok(await bar(i), `entry ${i}, kept and in the snapshot, is marked`);
  assert.equal(await bar(n.snapshot.index + 1), false, 'the entry after the snapshot is not');
}));
