// The page's layout at a phone's, a tablet's and a desktop's size, loaded fresh at each:
// the cluster gets a drawing area a reader can follow, Play and the client's Send are
// on the page without scrolling sideways, the first step of the "New to Raft?" card is
// on screen at first load and tells the reader what to do given whether time is
// running, and a lesson plays with no console error (checked by session().page).

import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { screenshot, session, setSpeed, playLessonThrough } from './harness.mjs';

const s = session();
before(s.before);
after(s.after);

const SIZES = [
  { name: 'phone', width: 390, height: 844 },
  { name: 'tablet', width: 768, height: 1024 },
  { name: 'desktop', width: 1400, height: 900 },
];

// Loads the playground afresh (no hash: the first-load state) at `size`.
async function openAt(page, size) {
  await page.setViewportSize({ width: size.width, height: size.height });
  await page.goto(s.url);
  await page.waitForFunction(() => window.playground && window.playground.state);
  await page.evaluate(() => new Promise((r) => requestAnimationFrame(() => requestAnimationFrame(r))));
}

const box = (page, sel) => page.$eval(sel, (e) => {
  const r = e.getBoundingClientRect();
  return { left: r.left, right: r.right, top: r.top, bottom: r.bottom, width: r.width, height: r.height };
});

const firstStep = (page) => page.$eval('#first-step', (e) => e.innerText.replace(/\s+/g, ' ').trim());

for (const size of SIZES) {
  test(`at ${size.width}×${size.height} the first step is on screen and says what to do`, () => s.page(async (page) => {
    await openAt(page, size);
    const step = await box(page, '#first-step');
    assert.ok(step.height > 0 && step.top >= 0 && step.bottom <= size.height && step.left >= 0 && step.right <= size.width,
      `the first step must be on screen without scrolling, is at ${JSON.stringify(step)}`);
    // At first load time runs; the step says so and does not ask for Play.
    assert.equal(await page.evaluate(() => window.playground.playing), true);
    assert.match(await firstStep(page), /already running/);
    assert.doesNotMatch(await firstStep(page), /press Play/i);
    await screenshot(page, `first-load-${size.name}`);
    await page.click('#play');
    await page.waitForFunction(() => !window.playground.playing);
    assert.match(await firstStep(page), /press Play/i);
    assert.doesNotMatch(await firstStep(page), /already running/);
  }));

  test(`at ${size.width}×${size.height} the cluster, Play and Send fit the page and a lesson runs`, () => s.page(async (page) => {
    await openAt(page, size);
    const cluster = await box(page, '#cluster');
    assert.ok(cluster.width >= 300 && cluster.height >= 250, `the cluster's drawing area is only ${cluster.width}×${cluster.height} px`);
    const scroll = await page.evaluate(() => document.documentElement.scrollWidth);
    assert.ok(scroll <= size.width, `the page is ${scroll} px wide, wider than the ${size.width} px screen`);
    for (const sel of ['#play', '#send']) {
      const b = await box(page, sel);
      assert.ok(b.width > 0 && b.left >= 0 && b.right <= size.width, `${sel} is off the page: ${JSON.stringify(b)}`);
      await page.click(sel, { trial: true });  // visible, and nothing covers it
    }

    await page.click('[data-lesson="follower_behind"]');
    await setSpeed(page, 99);
    await playLessonThrough(page);
    assert.equal(await page.getAttribute('#lesson-status', 'data-state'), 'passed');
    // Every node is drawn inside the cluster's area.
    const outside = await page.evaluate(() => {
      const svg = document.getElementById('cluster').getBoundingClientRect();
      return [...document.querySelectorAll('#cluster .node circle.body')].filter((c) => {
        const r = c.getBoundingClientRect();
        return !(r.width > 0 && r.left >= svg.left && r.right <= svg.right && r.top >= svg.top && r.bottom <= svg.bottom);
      }).length;
    });
    assert.equal(outside, 0, 'nodes drawn outside the cluster area');
    await page.$eval('.stage', (e) => e.scrollIntoView());
    await screenshot(page, `lesson-${size.name}`);
  }));
}

for (const size of SIZES) {
  test(`at ${size.width}×${size.height} with 9 nodes the Add buttons cover no node, no label lies on another node, and the messages line up with the links`, () => s.page(async (page) => {
    await page.setViewportSize({ width: size.width, height: size.height });
    await page.waitForFunction(() => window.playground && window.playground.cluster.laidOut());
    await page.evaluate(() => { window.playground.run(300); window.playground.render(); });  // messages in flight
    const covered = await page.evaluate(() => {
      const hit = (a, b) => a.left < b.right && b.left < a.right && a.top < b.bottom && b.top < a.bottom;
      const buttons = ['#add-node', '#add-learner'].map((sel) => document.querySelector(sel).getBoundingClientRect());
      return [...document.querySelectorAll('#cluster .node')].filter((n) => {
        const r = n.getBoundingClientRect();
        return buttons.some((b) => hit(b, r));
      }).map((n) => n.textContent.trim().slice(0, 3));
    });
    assert.deepEqual(covered, [], `the Add buttons cover nodes ${covered.join(', ')}`);
    // Each node's labels stay readable: its role pill touches no other node's circle or
    // pill, and its name and term fit inside its own circle.
    const crowded = await page.evaluate(() => {
      const hit = (a, b) => a.left < b.right && b.left < a.right && a.top < b.bottom && b.top < a.bottom;
      const nodes = [...document.querySelectorAll('#cluster .node')].map((n) => ({
        name: n.querySelector('text.name').textContent,
        body: n.querySelector('circle.body').getBoundingClientRect(),
        pill: n.querySelector('.role-pill rect').getBoundingClientRect(),
        texts: [...n.querySelectorAll('text.name, text.term')].map((t) => t.getBoundingClientRect()),
      }));
      const found = [];
      for (const a of nodes) {
        for (const b of nodes) {
          if (a === b) continue;
          if (hit(a.pill, b.body)) found.push(`${a.name}'s role label is on ${b.name}`);
          if (a.name < b.name && hit(a.pill, b.pill)) found.push(`${a.name}'s and ${b.name}'s role labels overlap`);
        }
        if (a.texts.some((t) => t.width > a.body.width - 4)) found.push(`${a.name}'s name or term is wider than its circle`);
      }
      return found;
    });
    assert.deepEqual(crowded, [], crowded.join('; '));
    // The message layer lies exactly over the drawing, so a message sits on its link.
    const [svg, canvas] = await Promise.all([box(page, '#cluster'), box(page, '#messages')]);
    assert.ok(Math.abs(svg.left - canvas.left) < 1 && Math.abs(svg.top - canvas.top) < 1,
      `the message layer is at ${JSON.stringify(canvas)}, the drawing at ${JSON.stringify(svg)}`);
    await screenshot(page, `nine-nodes-${size.name}`);
  }, '#nodes=9&seed=7'));
}

test('a cluster built while the stage has no size draws nothing and throws nothing, then takes its place', () => s.page(async (page) => {
  await setSpeed(page, 80);
  await page.$eval('.stage', (e) => { e.style.display = 'none'; });
  await page.selectOption('#nodes', '7');  // a new cluster of 7 nodes that cannot be placed yet
  await page.waitForFunction(() => window.playground.state.nodes.length === 7 && window.playground.state.messages.some((m) => m.from > 5 || m.to > 5));
  await page.evaluate(() => new Promise((r) => requestAnimationFrame(() => requestAnimationFrame(r))));
  assert.equal(await page.evaluate(() => window.playground.cluster.laidOut()), false);
  await page.$eval('.stage', (e) => { e.style.display = ''; });
  await page.waitForFunction(() => window.playground.cluster.laidOut() && window.playground.messages.placed.length > 0);
}));
