// The timeline in chromium: Step runs exactly one simulator event; an action taken
// after scrubbing back replaces the recorded future (a branch), and a link to the
// branch reproduces it; a lesson's Step runs its next script line.

import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { moment, pause, screenshot, session, setSpeed, waitForLeader } from './harness.mjs';

const s = session();
before(s.before);
after(s.after);

const events = (page) => page.evaluate(() => window.playground.state.stats.events);
const timeline = (page, what) => page.evaluate((w) => window.playground.timeline[w](), what);

test('Step runs exactly one event', () => s.page(async (page) => {
  await pause(page);
  for (let i = 0; i < 3; i++) {
    await moment(page);
    const before = await events(page);
    await page.click('#step');
    await moment(page);
    assert.equal(await events(page), before + 1);
  }
}));

test('an action in the past cuts off the recorded future, and a link to the branch reproduces it', () => s.page(async (page) => {
  await setSpeed(page, 80);
  await waitForLeader(page);
  await page.waitForTimeout(500);
  await pause(page);
  const end = (await moment(page)).time;
  await page.fill('#scrub', String(Math.floor(end * 0.6)));
  const past = await moment(page);
  assert.ok(past.time < end);
  assert.equal(await timeline(page, 'endTime'), end, 'the future is still recorded');
  await page.fill('#command', 'set branch 1');
  await page.click('#send');
  await moment(page);
  assert.equal(await timeline(page, 'endTime'), past.time, 'the future was cut off');
  await page.click('#play');
  await page.waitForTimeout(700);
  await pause(page);
  const branch = await moment(page);
  assert.ok(branch.time > past.time);
  assert.match(page.url(), /propose\+set\+branch\+1/);
  await s.page(async (other) => assert.deepEqual(await moment(other), branch), new URL(page.url()).hash);
}));

test('in a lesson, Step runs the next line of its script, or inside a wait the next change, captioned', () => s.page(async (page) => {
  await page.click('[data-lesson="leader_crash"]');
  await page.waitForFunction(() => window.playground.lesson && window.playground.lesson.id === 'leader_crash');
  await pause(page);
  let captions = 0;
  for (let i = 0; i < 400 && await page.evaluate(() => window.playground.lessonPlaying); i++) {
    const before = await page.evaluate(() => ({ begun: window.playground.timeline.begun, time: window.playground.timeline.now(),
      moments: window.playground.moments.length }));
    await page.click('#step');
    await moment(page);
    const after = await page.evaluate(() => ({ begun: window.playground.timeline.begun, time: window.playground.timeline.now(),
      active: !!window.playground.timeline.active(), moments: window.playground.moments.length }));
    assert.ok(after.begun === before.begun || after.begun === before.begun + 1, 'one line at most');
    assert.ok(after.time >= before.time);
    // Stopped inside a wait or an advance: only at a change, which is captioned.
    if (after.active) {
      assert.equal(after.moments, before.moments + 1, 'a step that stops inside a wait leaves a caption');
      captions++;
    }
  }
  assert.ok(captions >= 5, `only ${captions} steps stopped inside a wait`);
  await page.waitForFunction(() => document.getElementById('lesson-status').dataset.state === 'passed');
  await screenshot(page, 'lesson-stepped');
}));
