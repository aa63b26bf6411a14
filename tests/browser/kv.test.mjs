// The key-value side of the playground in chromium: a conditional write composed in
// the client panel applies while its condition holds and is otherwise refused with the
// key's current value; the inspector shows each key's revision; the Watch card lists a
// key's changes in revision order as the simulation applies them, and only its own.

import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { artifacts, moment, session, setSpeed, waitForLeader } from './harness.mjs';

const s = session();
before(s.before);
after(s.after);

async function send(page, command) {
  await page.fill('#command', command);
  await page.click('#send');
}

async function sendIf(page, { op = 'set', key, value = '', cond, prev = '' }) {
  await page.selectOption('#cas-op', op);
  await page.fill('#cas-key', key);
  if (op === 'set') await page.fill('#cas-value', value);
  await page.selectOption('#cas-if', cond);
  if (cond !== 'missing') await page.fill('#cas-prev', prev);
  await page.click('#cas-send');
}

// The answer line once it is no longer waiting.
async function answer(page, command) {
  const handle = await page.waitForFunction((c) => {
    const t = document.getElementById('cas-answer').textContent;
    return t.startsWith(`${c} → `) && !t.includes('waiting') ? t : null;
  }, command, { timeout: 20000 });
  return handle.jsonValue();
}

const revisionOf = async (page, key) => page.evaluate((k) => {
  const app = window.playground;
  return app.state.nodes[app.state.leader - 1].kv_revisions[k];
}, key);

test('a conditional write applies while its condition holds, else it is refused with the current value', () => s.page(async (page) => {
  await setSpeed(page, 90);
  await waitForLeader(page);
  await send(page, 'set x 5');
  await page.waitForFunction(() => window.playground.state.leader && window.playground.state.nodes[window.playground.state.leader - 1].kv.x === '5', null, { timeout: 20000 });
  const r5 = await revisionOf(page, 'x');

  await sendIf(page, { key: 'x', value: '6', cond: 'value', prev: '5' });
  const applied = await answer(page, 'if-value 1 5 set x 6');
  const m = applied.match(/✓ revision (\d+)$/);
  assert.ok(m, `applied: ${applied}`);
  assert.ok(Number(m[1]) > r5);

  await sendIf(page, { key: 'x', value: '7', cond: 'revision', prev: String(r5) });
  assert.equal(await answer(page, `if-rev ${r5} set x 7`), `if-rev ${r5} set x 7 → ✗ refused: x is “6” at revision ${m[1]}`);

  await sendIf(page, { key: 'y', value: 'new', cond: 'missing' });
  assert.match(await answer(page, 'if-rev 0 set y new'), /→ ✓ revision \d+$/);
  await sendIf(page, { op: 'del', key: 'z', cond: 'value', prev: 'a b' });
  assert.equal(await answer(page, 'if-value 3 a b del z'), 'if-value 3 a b del z → ✗ refused: z is missing');

  // The requests list tells the same answers; the inspector shows each key's revision.
  const requests = await page.textContent('#requests');
  assert.match(requests, /if-rev \d+ set x 7✗ refused: x is “6”/);
  await page.evaluate(() => window.playground.select({ kind: 'node', id: window.playground.state.leader }));
  await moment(page);
  const kv = await page.textContent('#inspector .kv');
  assert.match(kv, new RegExp(`x = 6 rev ${m[1]}`));
  assert.match(kv, /y = new rev \d+/);
}));

test('a conditional write the playground cannot send says what to fix', () => s.page(async (page) => {
  await waitForLeader(page);
  await sendIf(page, { key: 'x', value: '1', cond: 'revision', prev: 'seven' });
  await page.waitForSelector('#toast.error:not([hidden])');
  assert.match(await page.textContent('#toast'), /revision is a whole number/);
}));

test('the watch view lists a key’s changes in revision order, and only that key’s', () => s.page(async (page) => {
  await setSpeed(page, 90);
  await waitForLeader(page);
  await page.fill('#watch-key', 'w');
  for (const c of ['set w 1', 'set w2 2', 'set w 3', 'del w']) {
    await send(page, c);
    await page.waitForTimeout(150);
  }
  await sendIf(page, { key: 'w', value: '9', cond: 'value', prev: 'nope' });  // refused: no change
  await answer(page, 'if-value 4 nope set w 9');
  const rows = () => page.$$eval('#watch-list .change', (els) => els.map((e) => ({ rev: Number(e.dataset.revision), text: e.textContent })));
  await page.waitForFunction(() => document.querySelectorAll('#watch-list .change').length === 3, null, { timeout: 20000 });
  const changes = await rows();
  assert.deepEqual(changes.map((c) => c.text.replace(/^rev \d+ /, '')), ['w = 1', 'w = 3', 'w deleted']);
  assert.ok(changes[0].rev < changes[1].rev && changes[1].rev < changes[2].rev, JSON.stringify(changes));
  assert.match(await page.textContent('.card.watch'), /streams the changes to a key in revision order/);

  // A prefix takes in every key that starts with it.
  await page.check('#watch-prefix');
  await moment(page);
  assert.deepEqual((await rows()).map((c) => c.text.replace(/^rev \d+ /, '')), ['w = 1', 'w2 = 2', 'w = 3', 'w deleted']);
  // A crashed server's watchers hear nothing.
  const follower = await page.evaluate(() => window.playground.state.nodes.find((n) => n.role === 'follower').id);
  await page.selectOption('#watch-node', String(follower));
  await page.evaluate((n) => window.playground.perform(`crash ${n}`), follower);
  await moment(page);
  assert.match(await page.textContent('#watch-list'), new RegExp(`S${follower} is down`));
}));

test('a conditional write reads short in its log cell: “x=5 if r3”, “x=b if =5”, the full command in its tooltip', () => s.page(async (page) => {
  await setSpeed(page, 90);
  await waitForLeader(page);
  // What the log canvas writes into its cells, from here on.
  await page.evaluate(() => {
    window.cellTexts = [];
    const canvas = document.querySelector('.log-canvas');
    const fillText = CanvasRenderingContext2D.prototype.fillText;
    CanvasRenderingContext2D.prototype.fillText = function (text, ...rest) {
      if (this.canvas !== canvas) window.cellTexts.push(String(text));
      return fillText.call(this, text, ...rest);
    };
  });
  await send(page, 'set x a');
  await page.waitForFunction(() => window.playground.state.leader && window.playground.state.nodes[window.playground.state.leader - 1].kv.x === 'a', null, { timeout: 20000 });
  const rev = await revisionOf(page, 'x');
  for (const [command, label] of [
    [`if-rev ${rev} set x 5`, `x=5 if r${rev}`],
    ['if-value 1 5 set x b', 'x=b if =5'],
    ['if-rev 0 set y 1', 'y=1 if r0'],
  ]) {
    await send(page, command);
    const seen = await page.waitForFunction((l) => window.cellTexts.includes(l), label, { timeout: 20000 }).then(() => true, () => false);
    const read = [...new Set(await page.evaluate(() => window.cellTexts))];
    assert.ok(seen, `no cell reads “${label}” for “${command}” (cells read: ${read.join(', ')})`);
  }
  await setSpeed(page, 33);
  await page.click('#play');
  await moment(page);
  // The tooltip of the cell of "if-value 1 5 set x b" on the leader gives it in full.
  const at = await page.evaluate(() => {
    const app = window.playground, n = app.state.leader;
    const canvas = document.querySelector('.log-canvas').getBoundingClientRect();
    const row = document.querySelector(`.log-label[data-node="${n}"]`).getBoundingClientRect();
    const index = app.state.nodes[n - 1].log.find((e) => e.command === 'if-value 1 5 set x b').index;
    return { x: canvas.left + (index - 0.5) * app.logs.cellWidth - app.logs.viewLeft, y: row.top + row.height / 2 };
  });
  await page.mouse.move(at.x, at.y);
  assert.match(await page.getAttribute('.log-canvas', 'title'), /: if-value 1 5 set x b/);
  await page.locator('.log-canvas').screenshot({ path: `${artifacts}/log-conditional-labels.png` });
}));
