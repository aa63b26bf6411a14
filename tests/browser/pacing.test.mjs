// Lessons at a reader's pace (The Secret Lives of Data): a lesson stops after each
// sentence and at its key moments (a rejection, an overwrite, a commit) until the
// reader presses Next; Step inside a wait moves to the next change with a caption of
// what it did; and each lesson ends settled, with its checks in plain words and a last
// sentence saying what was shown.

import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { moment, pause, playLessonThrough, screenshot, session, setSpeed, webRoot } from './harness.mjs';

const s = session();
before(s.before);
after(s.after);

const lessons = JSON.parse(fs.readFileSync(path.join(webRoot, 'scenarios/index.json'), 'utf8'));

const held = (page) => page.waitForFunction(() => !window.playground.playing && document.getElementById('lesson-status').dataset.held === 'true',
  null, { timeout: 30000 });
const says = (page) => page.$$eval('#narration li.say', (li) => li.map((x) => x.textContent));

// Presses Next until the lesson stops at a key moment of this kind; the page's state then.
async function nextKeyMoment(page, kind) {
  for (let i = 0; i < 40; i++) {
    await held(page);
    const current = await page.$eval('#narration li.current', (li) => ({ kind: li.dataset.kind, key: li.classList.contains('key'), text: li.textContent }));
    if (current.key && current.kind === kind) return { ...current, state: await page.evaluate(() => window.playground.state) };
    await page.click('#lesson-next');
  }
  throw new Error(`the lesson never stopped at a ${kind}`);
}

test('a lesson stops after each sentence until the reader presses Next', () => s.page(async (page) => {
  await page.click('[data-lesson="follower_behind"]');
  await setSpeed(page, 99);
  await held(page);
  const first = await moment(page);
  assert.equal((await says(page)).length, 1);
  assert.match(await page.textContent('#lesson-status'), /press Next/);
  // Frames go by; nothing moves while the lesson waits for the reader.
  await page.evaluate(() => new Promise((r) => { let n = 10; const f = () => (--n ? requestAnimationFrame(f) : r()); requestAnimationFrame(f); }));
  assert.deepEqual(await moment(page), first);
  await page.click('#lesson-next');
  await held(page);
  assert.equal((await says(page)).length, 2, 'Next runs on to the next sentence, and stops there');
  assert.ok((await moment(page)).time > first.time);
}));

test('follower behind stops at the rejection, with the rejecting reply on screen and a caption naming it', () => s.page(async (page) => {
  await page.click('[data-lesson="follower_behind"]');
  await setSpeed(page, 99);
  const stop = await nextKeyMoment(page, 'reject');
  assert.match(stop.text, /S3 rejected S1's AppendEntries/);
  assert.ok(stop.state.messages.some((m) => m.type === 'AppendResp' && m.from === 3 && m.to === 1 && !m.success),
    'the rejection is in flight while the lesson waits on it');
  const s3 = stop.state.nodes.find((n) => n.id === 3);
  assert.equal(s3.log_last_index, 7, 'S3 has not caught up yet');
  const seen = await page.evaluate(() => {
    const r = document.querySelector('#narration li.current').getBoundingClientRect();
    const panel = document.querySelector('.panel.left').getBoundingClientRect();
    return r.top >= panel.top && r.bottom <= panel.bottom && r.bottom <= innerHeight;
  });
  assert.ok(seen, 'the caption is scrolled into view');
  await screenshot(page, 'pacing-rejection');
  const commit = await nextKeyMoment(page, 'commit');
  assert.match(commit.text, /S1 committed up to entry 11/);
}));

test('conflicting entry: the lesson stops at the overwrite, showing the entry replaced', () => s.page(async (page) => {
  await page.click('[data-lesson="conflict_overwritten"]');
  await setSpeed(page, 99);
  const stop = await nextKeyMoment(page, 'overwrite');
  assert.match(stop.text, /S3 overwrote entry 7: its .* of term 2 is replaced by the leader's .* of term 3/);
  const s3 = stop.state.nodes.find((n) => n.id === 3);
  assert.equal(s3.log.find((e) => e.index === 7).term, 3);
}));

test('Step inside a wait moves to the next change with a caption, in order, and lands where the script does', () => s.page(async (page) => {
  await page.click('[data-lesson="follower_behind"]');
  await setSpeed(page, 99);
  // Up to the sentence before `wait commit 3 >= 11`.
  for (;;) {
    await held(page);
    const next = await page.evaluate(() => window.playground.timeline.entries[window.playground.timeline.begun]?.line);
    if (next && next.startsWith('wait commit 3')) break;
    await page.click('#lesson-next');
  }
  await pause(page);
  const captions = [];
  let last = (await moment(page)).time;
  while (await page.evaluate(() => window.playground.timeline.active() || window.playground.timeline.entries[window.playground.timeline.begun - 1].kind !== 'wait')) {
    await page.click('#step');
    const now = await moment(page);
    assert.ok(now.time >= last);
    last = now.time;
    captions.push(await page.$eval('#narration li.current', (li) => li.textContent));
    assert.ok(captions.length < 100, 'the wait ends');
    if (captions.length === 3) {  // a link to a moment inside the wait opens that moment
      await page.evaluate(() => window.playground.writeUrl(true));
      await s.page(async (other) => assert.deepEqual(await moment(other), now), new URL(page.url()).hash);
    }
  }
  assert.ok(captions.length >= 4, `only ${captions.length} steps: ${captions.join(' | ')}`);
  const reject = captions.findIndex((c) => /S3 rejected/.test(c));
  const append = captions.findIndex((c) => /S1 sent S3 AppendEntries with 4 entries after prev \(7, term 1\)/.test(c));
  const commit = captions.findIndex((c) => /committed up to entry 11/.test(c));
  assert.ok(reject >= 0 && append > reject && commit >= 0, captions.join('\n'));

  await playLessonThrough(page);
  const straight = await page.evaluate(async () => {
    const text = await (await fetch('scenarios/follower_behind.txt')).text();
    const rb = window.playground.rb;
    const sim = rb.Simulation.fromScenario(text);
    for (const a of JSON.parse(rb.parseScenario(text)).actions) sim.runAction(a.text);
    const out = { hash: sim.traceHash(), time: sim.time() };
    sim.delete();
    return out;
  });
  assert.deepEqual(await moment(page), straight, 'stepping changes nothing about where the lesson lands');
}));

for (const lesson of lessons) {
  const id = lesson.file.replace(/\.txt$/, '');
  test(`lesson "${lesson.title}" ends settled, with plain checks and a sentence saying what was shown`, () => s.page(async (page) => {
    await page.click(`[data-lesson="${id}"]`);
    await setSpeed(page, 99);
    await playLessonThrough(page);
    const st = await page.evaluate(() => window.playground.state);
    const leader = st.nodes.find((n) => n.up && n.id === st.leader);
    if (leader && !st.violations.length) {
      const cut = (a, b) => st.links_down.some(([x, y]) => x === a && y === b);
      const reached = st.nodes.filter((x) => x.up && !cut(leader.id, x.id) && !cut(x.id, leader.id));
      assert.ok(reached.length > st.nodes.length / 2);
      for (const n of reached) assert.equal(n.commit_index, leader.commit_index, `S${n.id} shows the final commit`);
    }
    const items = await page.$$eval('#narration li', (li) => li.map((x) => ({ cls: x.className, text: x.textContent })));
    const lastItem = items[items.length - 1];
    assert.match(lastItem.cls, /say/);
    assert.match(lastItem.text, /^What you saw: /);
    const checks = items.filter((x) => /expect/.test(x.cls)).map((x) => x.text);
    assert.ok(checks.length > 0);
    for (const c of checks) assert.doesNotMatch(c, /^. (log|commit|kv|role|term|leader|same|safe)\b|>=|\.\./, `a check in script syntax: ${c}`);
  }));
}
