// Membership changes in the playground (thesis ch. 4): the node menu and the Add
// buttons change who is in the cluster, and the page shows it — the ring grows, a
// learner is drawn as one (dashed outline, "learner"), a promoted node as a voter, a
// removed node faded and labelled "removed"; each Config entry is a "cfg" cell in the
// log; a leadership transfer makes the chosen node leader, and the inspector explains
// its TimeoutNow. Both membership lessons play to their end, and the 2015 one shows
// the checker's violation.

import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { moment, pause, perform, playLessonThrough, READ_PIXEL, screenshot, session, setSpeed } from './harness.mjs';

const s = session();
before(s.before);
after(s.after);

const CONFIG_INK = [43, 138, 62];  // log_view.js CONFIG_INK: a Config entry's "cfg" tag

const near = (rgba, rgb) => rgba[3] > 200 && rgb.every((v, i) => Math.abs(rgba[i] - v) <= 12);

const nodeState = (page, n) => page.evaluate((n) => window.playground.state.nodes[n - 1], n);
const drawn = (page, n) => page.evaluate((n) => {
  const g = document.querySelector(`#cluster [data-node="${n}"]`);
  const row = document.querySelector(`.log-label[data-node="${n}"]`);
  return g && { cls: g.getAttribute('class'), pill: g.querySelector('.role-pill text').textContent,
    dash: getComputedStyle(g.querySelector('circle.body')).strokeDasharray, row: row && row.querySelector('.role').textContent };
}, n);

// Clicks node n and then the menu item that runs `line`.
async function menu(page, n, line) {
  await page.click(`#cluster [data-node="${n}"]`);
  await page.click(`.node-menu [data-act="${line}"]`);
  assert.equal(await page.evaluate(() => window.playground.timeline.lines().at(-1)), line);
}

async function freeCluster(page) {
  await pause(page);
  await perform(page, 'wait leader within 3s', 'propose set x 1', 'advance 300ms');
  return page.evaluate(() => window.playground.state.leader);
}

test('Add learner grows the ring with a node drawn as a learner; Promote makes it a voter; Remove fades a node out', () => s.page(async (page) => {
  const leader = await freeCluster(page);
  assert.equal(await page.$$eval('#cluster .node', (n) => n.length), 3);

  await page.click('#add-learner');
  assert.equal(await page.evaluate(() => window.playground.timeline.lines().at(-1)), 'add 4 learner');
  await perform(page, 'advance 1500ms');
  assert.equal(await page.$$eval('#cluster .node', (n) => n.length), 4, 'the ring holds four nodes');
  assert.equal(await page.$$eval('.log-label[data-node]', (n) => n.length), 4, 'and the log grid four rows');
  assert.equal((await nodeState(page, 4)).cluster_member, 'learner');
  let look = await drawn(page, 4);
  assert.match(look.cls, /\blearner\b/);
  assert.equal(look.pill, 'learner');
  assert.notEqual(look.dash, 'none', 'a learner has a dashed outline');
  assert.match(look.row, /^learner/);
  assert.equal((await nodeState(page, 4)).kv.x, '1', 'the learner received the log');
  const voterLook = await drawn(page, leader === 1 ? 2 : 1);
  assert.equal(voterLook.dash, 'none', 'a voter has a solid outline');

  // The Config entry is a cfg cell in the leader's row.
  const cfg = (await nodeState(page, leader)).log.filter((e) => e.type === 'Config');
  assert.deepEqual(cfg.map((e) => e.change), ['+4 learner']);
  await page.uncheck('#follow');
  await page.evaluate((i) => window.playground.logs.scrollTo(i), cfg[0].index);
  await moment(page);
  const at = await page.evaluate(([n, index]) => {
    const view = window.playground.logs;
    const row = document.querySelector(`.log-label[data-node="${n}"]`).getBoundingClientRect();
    const canvas = document.querySelector('.log-canvas').getBoundingClientRect();
    return { x: (index - 1) * view.cellWidth - view.viewLeft, y: row.top - canvas.top };
  }, [leader, cfg[0].index]);
  const tag = await page.evaluate(([read, x, y]) => eval(read)(document.querySelector('.log-canvas'), x, y),
    [READ_PIXEL, at.x + 6, at.y + 2 + 6.5]);
  assert.ok(near(tag, CONFIG_INK), `the cfg tag is drawn on entry ${cfg[0].index}: ${tag}`);
  await screenshot(page, 'membership-learner');
  // Clicked, the cell reads as a configuration change in the inspector.
  const canvas = await page.$eval('.log-canvas', (c) => { const r = c.getBoundingClientRect(); return { left: r.left, top: r.top }; });
  await page.mouse.click(canvas.left + at.x + 20, canvas.top + at.y + 14);
  await moment(page);
  assert.equal(await page.textContent('#inspector-title'), `Entry ${cfg[0].index} on S${leader}`);
  const text = await page.textContent('#inspector');
  assert.match(text, /configuration change \(\+4 learner\): voters S1, S2, S3; learners S4/);
  assert.match(text, /whole new membership/);
  await screenshot(page, 'membership-config-entry');

  await menu(page, 4, 'promote 4');
  await perform(page, 'advance 1500ms');
  assert.equal((await nodeState(page, 4)).cluster_member, 'voter');
  look = await drawn(page, 4);
  assert.doesNotMatch(look.cls, /learner/);
  assert.equal(look.dash, 'none', 'a promoted node is drawn as a voter');

  const victim = leader === 2 ? 3 : 2;
  await menu(page, victim, `remove ${victim}`);
  await perform(page, 'advance 1500ms');
  assert.equal((await nodeState(page, victim)).cluster_member, 'removed');
  look = await drawn(page, victim);
  assert.match(look.cls, /\bremoved\b/);
  assert.equal(look.pill, 'removed');
  const changes = (await nodeState(page, leader)).log.filter((e) => e.type === 'Config').map((e) => e.change);
  assert.deepEqual(changes, ['+4 learner', '4 voter', `\u2212${victim}`]);
  await page.check('#follow');
  await moment(page);
  await screenshot(page, 'membership-removed');
  assert.deepEqual(await page.evaluate(() => window.playground.state.violations), []);
}, '#nodes=3&seed=1'));

test('Add node: the new node catches up and becomes a voter by itself; rewinding shrinks the ring again', () => s.page(async (page) => {
  await freeCluster(page);
  await page.click('#add-node');
  assert.equal(await page.evaluate(() => window.playground.timeline.lines().at(-1)), 'add 4');
  await perform(page, 'advance 3s');
  assert.equal((await nodeState(page, 4)).cluster_member, 'voter');
  assert.equal(await page.$$eval('#cluster .node', (n) => n.length), 4);
  await page.evaluate(() => { window.playground.pendingSeek = 0; });
  await moment(page);
  assert.equal(await page.$$eval('#cluster .node', (n) => n.length), 3, 'before the add, three nodes');
}, '#nodes=3&seed=1'));

test('Transfer leadership here makes the chosen node leader; the inspector explains TimeoutNow', () => s.page(async (page) => {
  const leader = await freeCluster(page);
  const target = leader === 3 ? 1 : 3;
  await menu(page, target, `transfer ${target}`);
  // Step until the leader's TimeoutNow is in flight, and read it in the inspector.
  const m = await page.evaluate(() => {
    const app = window.playground;
    for (let i = 0; i < 5000; i++) {
      const st = JSON.parse(app.timeline.sim.state(JSON.stringify({ log_from: 1, log_to: 0, requests: 0 })));
      const t = st.messages.find((x) => x.type === 'TimeoutNow');
      if (t) return t;
      app.timeline.sim.step();
    }
    return null;
  });
  assert.ok(m, 'the leader sends TimeoutNow');
  assert.equal(m.from, leader);
  assert.equal(m.to, target);
  await page.evaluate((m) => {
    const app = window.playground;
    app.render();
    app.inspector.selectMessage(m);
    app.select({ kind: 'message', id: m.id });
  }, m);
  await moment(page);
  assert.match(await page.textContent('#inspector-title'), /TimeoutNow/);
  assert.match(await page.textContent('#inspector'), /start an election right now/);
  await screenshot(page, 'membership-timeout-now');
  await perform(page, 'advance 1s');
  assert.equal(await page.evaluate(() => window.playground.state.leader), target);
  assert.match((await drawn(page, target)).cls, /\bleader\b/);
  assert.deepEqual(await page.evaluate(() => window.playground.state.violations), []);
}, '#nodes=3&seed=1'));

test('a change the leader refuses (promoting a removed node) is said in a toast with its reason, and listed with the requests', () => s.page(async (page) => {
  const leader = await freeCluster(page);
  const voter = leader === 2 ? 3 : 2;
  await perform(page, `remove ${voter}`, 'advance 1s', `promote ${voter} once`, 'advance 500ms');
  const op = await page.evaluate(() => window.playground.state.membership_changes.at(-1));
  assert.equal(op.outcome, 'refused');
  assert.ok(op.error.length > 0);
  await page.waitForSelector('#toast:not([hidden])');
  assert.equal(await page.textContent('#toast'), `The leader refused to promote S${voter} to voter: ${op.error}`);
  assert.match(await page.textContent('#requests'), new RegExp(`promote S${voter} to voter\\s*refused`));
}, '#nodes=3&seed=1'));

async function openLesson(page, id) {
  await page.click(`[data-lesson="${id}"]`);
  await page.waitForFunction((i) => window.playground.lesson?.id === i, id);
}

async function playToEnd(page) {
  await setSpeed(page, 99);
  const stops = await playLessonThrough(page, 120000);
  return {
    stops,
    state: await page.getAttribute('#lesson-status', 'data-state'),
    status: await page.textContent('#lesson-status'),
    failed: await page.$$eval('.narration-list li.fail, .narration-list li.error', (li) => li.map((x) => x.textContent)),
    pill: await page.textContent('#verdict-text'),
  };
}

test('the lesson "Growing a cluster from 3 to 5" plays to its end, every check passing', () => s.page(async (page) => {
  await openLesson(page, 'grow_cluster');
  const end = await playToEnd(page);
  assert.equal(end.state, 'passed', `${end.status} ${end.failed.join(' | ')}`);
  assert.equal(end.pill, 'safe');
  assert.ok(end.stops.some((t) => /configuration change/.test(t)), `it stops at a configuration change: ${end.stops.join(' | ')}`);
  const st = await page.evaluate(() => window.playground.state);
  assert.deepEqual(st.membership.voters, [1, 2, 3, 4, 5]);
  await screenshot(page, 'lesson-grow-cluster');
}));

test('the lesson "The 2015 membership bug" plays to its end and the checker shows the violation', () => s.page(async (page) => {
  await openLesson(page, 'membership_2015_bug');
  const end = await playToEnd(page);
  assert.equal(end.state, 'passed', `${end.status} ${end.failed.join(' | ')}`);
  assert.match(end.pill, /^violated: /);
  assert.ok(await page.isVisible('#violation-banner'));
  assert.ok((await page.evaluate(() => window.playground.state.violations.length)) > 0);
  await screenshot(page, 'lesson-membership-2015-bug');
}));

test('the 2015 lesson replayed with the correction kept stays safe', () => s.page(async (page) => {
  await openLesson(page, 'membership_2015_bug');
  assert.equal(await page.textContent('#lesson-replay'), 'Replay with the rule kept');
  await page.click('#lesson-replay');
  await page.waitForFunction(() => window.playground.lesson.replay);
  assert.match(await page.textContent('#lesson-note'), /refuses to remove node 4/);
  const end = await playToEnd(page);
  assert.equal(end.pill, 'safe');
  assert.equal(end.state, 'failed');
  assert.match(end.status, /^Replay over: with the rule kept, the checker found nothing/);
  await screenshot(page, 'lesson-membership-2015-kept');
}));
