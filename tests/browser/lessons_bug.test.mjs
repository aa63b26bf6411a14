// Replaying a lesson with its rule the other way round, and the partition chips.
//
// Figure 8 replayed with the bug on (node 1 commits an old-term entry by counting
// replicas) must turn the checker red naming Leader Completeness, while the lesson as
// written stays safe; the missing-prevLog lesson replayed with the rule kept must stay
// safe. The page says up front which checks of a replay fail, and a link to a replay
// opens the replay. The partition chips show the network as it is — after a lesson's
// `partition`, after `heal`, with a planned move marked as a plan — and fit 9 nodes.

import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { moment, screenshot, session, setSpeed, playLessonThrough } from './harness.mjs';

const s = session();
before(s.before);
after(s.after);

// Plays the lesson shown to its end at full speed; returns its status, the checks that
// failed and the checker pill's text.
async function playToEnd(page) {
  await setSpeed(page, 99);
  await playLessonThrough(page);
  return {
    state: await page.getAttribute('#lesson-status', 'data-state'),
    status: await page.textContent('#lesson-status'),
    failed: await page.$$eval('.narration-list li.fail, .narration-list li.error', (li) => li.map((x) => x.textContent)),
    pill: await page.textContent('#verdict-text'),
  };
}

// Opens a lesson from its button and waits until it is loaded.
async function openLesson(page, id) {
  await page.click(`[data-lesson="${id}"]`);
  await page.waitForFunction((i) => window.playground.lesson?.id === i, id);
}

const chips = (page) => page.$$eval('#partition-chips .chip', (cs) => cs.map((c) => `${c.textContent}${c.classList.contains('planned') ? ' (planned)' : ''}`));

test('Figure 8 replayed with the bug on: the checker names Leader Completeness; as written it stays safe', () => s.page(async (page) => {
  await openLesson(page, 'figure8');
  assert.equal(await page.textContent('#lesson-replay'), 'Replay with the bug on');
  await page.click('#lesson-replay');
  await page.waitForFunction(() => window.playground.lesson.replay);
  assert.ok(await page.isVisible('#lesson-note'));
  assert.match(await page.textContent('#lesson-note'), /commit_old_term_by_count.*Leader Completeness/s);
  const bug = await playToEnd(page);
  assert.equal(bug.pill, 'violated: Leader Completeness');
  assert.equal(bug.state, 'failed');
  assert.match(bug.status, /^Replay over: with the bug on, the checker caught/);
  assert.deepEqual(bug.failed.map((t) => t.replace(/^✗ /, '').split(/expected/)[0]), ['S1 has committed nothing.', 'The checker found no broken safety rule.']);
  assert.equal(await page.textContent('#lesson-title'), 'Figure 8: a leader never commits an old-term entry by counting — with the bug on');
  assert.match(await page.evaluate(() => location.hash), /^#scenario=figure8&replay=1&at=\d+&t=\d+$/);
  await screenshot(page, 'lesson-figure8-bug');

  await page.click('#lesson-replay');  // now "Back to the lesson"
  await page.waitForFunction(() => !window.playground.lesson.replay);
  assert.ok(!(await page.isVisible('#lesson-note')));
  const ok = await playToEnd(page);
  assert.equal(ok.pill, 'safe');
  assert.equal(ok.state, 'passed', ok.status);
  assert.equal(await page.textContent('#lesson-replay'), 'Replay with the bug on');
}));

test('a link to the Figure 8 replay opens the replay at the same moment', () => s.page(async (page) => {
  await openLesson(page, 'figure8');
  await page.click('#lesson-replay');
  await page.waitForFunction(() => window.playground.lesson.replay);
  await page.click('#lesson-finish');
  const shown = await moment(page);
  const hash = await page.evaluate(() => location.hash);
  assert.match(hash, /^#scenario=figure8&replay=1&/);
  await page.goto('about:blank');
  await page.goto(s.url + hash);
  await page.waitForFunction(() => window.playground && window.playground.state);
  assert.deepEqual(await moment(page), shown);
  assert.equal(await page.textContent('#verdict-text'), 'violated: Leader Completeness');
  assert.ok(await page.isVisible('#lesson-note'));
  assert.equal(await page.getAttribute('#lesson-status', 'data-state'), 'failed');
}));

test('the missing-prevLog lesson replayed with the rule kept stays safe, and says its check fails', () => s.page(async (page) => {
  await openLesson(page, 'missing_prevlog_check');
  assert.equal(await page.textContent('#lesson-replay'), 'Replay with the rule kept');
  await page.click('#lesson-replay');
  await page.waitForFunction(() => window.playground.lesson.replay);
  assert.match(await page.textContent('#lesson-note'), /checker stays green/);
  const kept = await playToEnd(page);
  assert.equal(kept.pill, 'safe');
  assert.deepEqual(kept.failed.map((t) => t.replace(/^✗ /, '').split(/expected/)[0]), ['The checker caught a Log Matching violation.']);
  assert.match(kept.status, /^Replay over: with the rule kept, the checker found nothing/);
  const before = await page.evaluateHandle(() => window.playground.timeline);
  await page.click('#lesson-restart');  // Restart keeps to the replay
  await page.waitForFunction((old) => window.playground.timeline !== old, before);
  assert.equal(await page.evaluate(() => window.playground.lesson.replay), true);
  assert.ok(await page.isVisible('#lesson-note'));

  await page.click('#lesson-replay');
  await page.waitForFunction(() => !window.playground.lesson.replay);
  const broken = await playToEnd(page);
  assert.equal(broken.pill, 'violated: Log Matching');
  assert.equal(broken.state, 'passed', broken.status);
}));

test('lessons without a replay show no replay button', () => s.page(async (page) => {
  await openLesson(page, 'follower_behind');
  assert.equal(await page.isVisible('#lesson-replay'), false);
}));

test('the partition chips follow a lesson\'s partition and its heal', () => s.page(async (page) => {
  await openLesson(page, 'minority_partition');
  // Run the lesson line by line up to and including its `partition`.
  await page.evaluate(() => {
    const app = window.playground;
    app.pause();
    while (!app.timeline.entries[app.timeline.begun - 1]?.line.startsWith('partition')) {
      if (app.timeline.atEnd()) throw new Error('the lesson has no partition line');
      app.step();
    }
  });
  await moment(page);
  assert.deepEqual(await chips(page), ['S1 · A', 'S2 · A', 'S3 · B', 'S4 · B', 'S5 · B']);
  await page.click('#lesson-finish');
  await moment(page);
  assert.deepEqual(await page.evaluate(() => window.playground.state.links_down), []);
  assert.deepEqual(await chips(page), ['S1 · A', 'S2 · A', 'S3 · A', 'S4 · A', 'S5 · A']);
}));

test('a chip clicked is a plan, marked as one, until Split network makes it the state', () => s.page(async (page) => {
  await page.evaluate(() => window.playground.pause());
  assert.deepEqual(await chips(page), ['S1 · A', 'S2 · A', 'S3 · A', 'S4 · A', 'S5 · A']);
  await page.click('[data-chip="4"]');
  assert.deepEqual(await chips(page), ['S1 · A', 'S2 · A', 'S3 · A', 'S4 · A', 'S5 · A→B (planned)']);
  assert.equal(await page.evaluate(() => window.playground.state.links_down.length), 0, 'a plan changes no link');
  await page.click('#partition-apply');
  await moment(page);
  assert.equal(await page.evaluate(() => window.playground.state.links_down.length), 8);
  assert.deepEqual(await chips(page), ['S1 · A', 'S2 · A', 'S3 · A', 'S4 · A', 'S5 · B']);
  await page.click('#heal');
  await moment(page);
  assert.deepEqual(await chips(page), ['S1 · A', 'S2 · A', 'S3 · A', 'S4 · A', 'S5 · A']);
}));

test('with 9 nodes the chips fit their card and show a four-way split', () => s.page(async (page) => {
  await page.selectOption('#nodes', '9');
  await page.waitForFunction(() => window.playground.state.nodes.length === 9);
  await page.evaluate(() => window.playground.perform('partition 1 | 2 | 3 | 4,5,6,7,8,9'));
  await moment(page);
  assert.deepEqual(await chips(page), ['S1 · A', 'S2 · B', 'S3 · C', 'S4 · D', 'S5 · D', 'S6 · D', 'S7 · D', 'S8 · D', 'S9 · D']);
  for (let i = 4; i < 9; i++) await page.click(`[data-chip="${i}"]`);  // the widest labels: "D→A"
  const fit = await page.evaluate(() => {
    const card = document.querySelector('.card.network').getBoundingClientRect();
    const boxes = [...document.querySelectorAll('#partition-chips .chip')].map((c) => c.getBoundingClientRect());
    return { outside: boxes.filter((b) => b.left < card.left || b.right > card.right).length, rows: new Set(boxes.map((b) => Math.round(b.top))).size };
  });
  assert.equal(fit.outside, 0, 'every chip inside the network card');
  assert.ok(fit.rows <= 3, `the chips take ${fit.rows} rows`);
  await screenshot(page, 'chips-9-nodes');
}));
