// The controls in chromium, the small ways they went wrong: Latest after a real drag of
// the timeline returns to the newest moment; Space plays or pauses only when no control
// has focus, and Enter or Space on a focused node opens its menu; a finished lesson
// shows no error when the reader takes over; a link with a line that is not an action,
// or a cursor past its recording, says so on the page; the message inspector never
// speaks of "entry 0 with term 0"; a log label holds 6-digit indexes.

import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { moment, pause, session, setSpeed, waitForLeader, playLessonThrough } from './harness.mjs';

const s = session();
before(s.before);
after(s.after);

const playing = (page) => page.evaluate(() => window.playground.playing);
const events = (page) => page.evaluate(() => window.playground.state.stats.events);
const frames = (page, n) => page.evaluate((k) => new Promise((r) => {
  const next = (left) => (left ? requestAnimationFrame(() => next(left - 1)) : r());
  next(k);
}), n);

test('Latest after dragging the timeline returns to the newest moment, same trace hash', () => s.page(async (page) => {
  await setSpeed(page, 80);
  await waitForLeader(page);
  for (let i = 0; i < 4; i++) {
    await page.waitForTimeout(400);
    await page.fill('#command', `set k${i} ${i}`);
    await page.click('#send');
  }
  await page.waitForTimeout(400);
  await pause(page);
  const live = await moment(page);
  const box = await page.locator('#scrub').boundingBox();
  const y = box.y + box.height / 2;
  await page.mouse.move(box.x + box.width * 0.7, y);
  await page.mouse.down();
  for (const f of [0.6, 0.45, 0.3, 0.1]) {
    await page.mouse.move(box.x + box.width * f, y, { steps: 3 });
    await frames(page, 2);
  }
  await page.mouse.up();
  assert.ok((await moment(page)).time < live.time, 'the drag went back in time');
  await page.click('#to-live');
  assert.deepEqual(await moment(page), live);
}));

test('Space plays and pauses only when no control has focus; a focused button takes its own Space', () => s.page(async (page) => {
  await pause(page);
  await moment(page);
  await page.evaluate(() => document.activeElement.blur());
  await page.keyboard.press(' ');
  assert.equal(await playing(page), true, 'Space with nothing focused plays');
  await page.keyboard.press(' ');
  assert.equal(await playing(page), false, 'and pauses');
  await moment(page);
  const before = await events(page);
  await page.focus('#step');
  await page.keyboard.press(' ');
  await moment(page);
  assert.equal(await playing(page), false, 'Space on the Step button does not play');
  assert.equal(await events(page), before + 1, 'Space on the Step button steps once');
}));

for (const key of ['Enter', ' ']) {
  test(`${key === ' ' ? 'Space' : key} on a focused node opens its menu`, () => s.page(async (page) => {
    await pause(page);
    await page.focus('#cluster .node[data-node="2"]');
    await page.keyboard.press(key);
    await page.waitForSelector('.node-menu:not([hidden]) [data-act="crash 2"]', { timeout: 5000 });
    assert.equal(await playing(page), false, 'the key did not also play');
    assert.equal(await page.evaluate(() => document.activeElement.dataset.act), 'crash 2', 'focus is on the menu');
  }));
}

test('taking over after a completed lesson shows no error line', () => s.page(async (page) => {
  await page.click('[data-lesson="leader_crash"]');
  await setSpeed(page, 99);
  await playLessonThrough(page);
  await page.click('#play');
  await page.waitForTimeout(300);
  await pause(page);
  await page.fill('#command', 'set after 1');
  await page.click('#send');
  await moment(page);
  const errors = await page.$$eval('.narration-list li.error', (li) => li.map((x) => x.textContent));
  assert.deepEqual(errors, []);
}));

test('a link\'s line that is not an action is named on the page', () => s.page(async (page) => {
  await page.waitForSelector('#toast:not([hidden])');
  assert.match(await page.textContent('#toast'), /frobnicate 2/);
}, '#nodes=3&seed=1&do=advance+100ms;frobnicate+2;advance+100ms&at=3&t=200'));

test('a link\'s line that is not valid URL encoding is named on the page', () => s.page(async (page) => {
  await page.waitForSelector('#toast:not([hidden])');
  assert.match(await page.textContent('#toast'), /line 2, "%E0%A4%A"/);
}, '#nodes=3&seed=1&do=advance+300ms;%E0%A4%A&at=1&t=100'));

test('a link\'s cursor past its recording is named on the page', () => s.page(async (page) => {
  await page.waitForSelector('#toast:not([hidden])');
  assert.match(await page.textContent('#toast'), /at=9\b.*t=5000\b/);
  assert.equal((await moment(page)).time, 300, 'the page shows the end of the recording');
}, '#nodes=3&seed=1&do=advance+300ms&at=9&t=5000'));

test('the message inspector says the log is empty for an append at index 0', () => s.page(async (page) => {
  await pause(page);
  // Step a fresh cluster's first election until the new leader's first AppendEntries
  // (prev_index 0) is in flight, then select it as a click would.
  const found = await page.evaluate(() => {
    const app = window.playground;
    for (let i = 0; i < 500; i++) {
      const m = JSON.parse(app.timeline.sim.state()).messages.find((x) => x.type === 'Append' && x.prev_index === 0);
      if (m) {
        app.inspector.selectMessage(m);
        app.select({ kind: 'message', id: m.id });
        return true;
      }
      app.perform('step');
    }
    return false;
  });
  assert.ok(found, 'no AppendEntries at index 0 within 500 events');
  await moment(page);
  const text = await page.textContent('#inspector');
  assert.doesNotMatch(text, /entry 0 (with|has) term 0/);
  assert.match(text, /empty/);
}, '#nodes=3&seed=1&do=campaign+1&at=1&t=0'));

test('a log label has room for 6-digit indexes', () => s.page(async (page) => {
  await pause(page);
  const label = await page.evaluate(() => {
    const logs = window.playground.logs;
    const row = logs.rows[0];
    logs.renderLabel(row, { id: 1, up: true, role: 'precandidate', term: 12, commit_index: 999999, applied_index: 999998, log_last_index: 999999 }, null);
    return { text: row.label.textContent, overflow: row.label.scrollWidth - row.label.clientWidth };
  });
  assert.match(label.text, /999999 \/ 999998/);
  assert.ok(label.overflow <= 0, `"${label.text}" overflows its label by ${label.overflow}px`);
}));
