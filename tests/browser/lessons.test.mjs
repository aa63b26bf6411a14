// Every lesson listed in web/scenarios/index.json, run from its button in chromium at
// full speed: it must play to its end with every `expect` passing, and land on the
// same trace hash as the same script run straight through the simulator's API — the
// frame-by-frame animation of `advance` and `wait` changes nothing.

import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { moment, screenshot, session, setSpeed, webRoot, playLessonThrough } from './harness.mjs';

const s = session();
before(s.before);
after(s.after);

const lessons = JSON.parse(fs.readFileSync(path.join(webRoot, 'scenarios/index.json'), 'utf8'));

for (const lesson of lessons) {
  const id = lesson.file.replace(/\.txt$/, '');
  test(`lesson "${lesson.title}" runs to its end with every check passing`, () => s.page(async (page) => {
    await page.click(`[data-lesson="${id}"]`);
    await setSpeed(page, 99);
    await playLessonThrough(page);
    const status = await page.textContent('#lesson-status');
    const failures = await page.$$eval('.narration-list li.fail, .narration-list li.error', (li) => li.map((x) => x.textContent));
    assert.deepEqual(failures, []);
    assert.equal(await page.getAttribute('#lesson-status', 'data-state'), 'passed', status);
    assert.equal(await page.evaluate(() => window.playground.playing), false, 'the lesson pauses at its end');

    const shown = await moment(page);
    const straight = await page.evaluate(async (file) => {
      const text = await (await fetch(`scenarios/${file}`)).text();
      const rb = window.playground.rb;
      const sim = rb.Simulation.fromScenario(text);
      for (const a of JSON.parse(rb.parseScenario(text)).actions) sim.runAction(a.text);
      const out = { hash: sim.traceHash(), time: sim.time() };
      sim.delete();
      return out;
    }, lesson.file);
    assert.deepEqual(shown, straight);
    await screenshot(page, `lesson-${id}`);
  }));
}
