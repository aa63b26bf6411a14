// Live mode end to end: three real `raftbook serve` nodes on loopback, each serving the
// page, and two headless Chromium tabs that join their cluster as browser members.
// One tab opens `?join` on node 1's own page; the other opens node 2's page with
// `?join=` node 3's HTTP address (a cross-origin join). Then, as issue 13 asks:
// both join as browser learners (the natives' /status says so); a put from a tab and a
// put from the CLI commit on all five members; both tabs become voters; leadership
// goes to a tab and writes still commit; after kill -9 of a native node and then the
// close of a tab, writes still commit; the closed tab's member is removed after
// --remove-absent-browsers-after. First of all, a tab with a wrong token is refused and
// the cluster goes on unchanged. Last, the history of every client operation (tabs,
// CLI, HTTP reads) is linearizable. (The cluster runs with --token; the tabs join with
// #token=, the CLI with RAFTBOOK_TOKEN.)
//
// The steps run in order on one cluster (each needs the one before). Skipped, with the
// reason, when build/native/raftbook has not been built.

import assert from 'node:assert/strict';
import { execFile, spawn } from 'node:child_process';
import fs from 'node:fs';
import { createRequire } from 'node:module';
import os from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { artifacts, checkBuilt, freePort, launch, webRoot } from './harness.mjs';

const here = path.dirname(fileURLToPath(import.meta.url));
const RAFTBOOK = path.resolve(here, '../../build/native/raftbook');
const missing = fs.existsSync(RAFTBOOK) ? false
  : 'build/native/raftbook is missing: build it with cmake --build build --target raftbook';
const run = promisify(execFile);
const axePath = createRequire(import.meta.url).resolve('axe-core/axe.min.js');
const TIMEOUT = 30000;
const TOKEN = 'live-test-token';
const ABSENT = '3s';  // --remove-absent-browsers-after


const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

// Polls fn until it returns a truthy value (returned) or `timeout` passes (throws,
// with what `describe` says of the state).
async function until(what, fn, { timeout = TIMEOUT, describe = async () => '' } = {}) {
  const end = Date.now() + timeout;
  for (;;) {
    let v;
    try { v = await fn(); } catch { v = null; }
    if (v) return v;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}\n${await describe()}`);
    await sleep(100);
  }
}

// Three native nodes, ids 1..3, each serving web/.
class Natives {
  async start() {
    this.dir = fs.mkdtempSync(path.join(os.tmpdir(), 'raftbook-live-'));
    this.nodes = [];
    const used = new Set();
    while (used.size < 6) used.add(await freePort());
    const ports = [...used];
    for (let id = 1; id <= 3; id++) this.nodes.push({ id, peer: `127.0.0.1:${ports[2 * id - 2]}`, http: `127.0.0.1:${ports[2 * id - 1]}` });
    const cluster = this.nodes.map((n) => `${n.id}=${n.peer}/${n.http}`).join(',');
    for (const n of this.nodes) {
      n.log = path.join(this.dir, `node${n.id}.log`);
      const out = fs.openSync(n.log, 'a');
      n.proc = spawn(RAFTBOOK, ['serve', '--id', String(n.id), '--http', n.http, '--data', path.join(this.dir, `node${n.id}`),
        '--cluster', cluster, '--web', webRoot, '--token', TOKEN,
        '--remove-absent-browsers-after', ABSENT], { stdio: ['ignore', out, out] });
      fs.closeSync(out);
    }
  }

  node(id) { return this.nodes.find((n) => n.id === id); }
  alive() { return this.nodes.filter((n) => !n.killed); }

  async status(id) {
    const res = await fetch(`http://${this.node(id).http}/status`, { signal: AbortSignal.timeout(2000) });
    return res.json();
  }

  // The leader as every live native node's /status agrees on it.
  async leader() {
    const all = await Promise.all(this.alive().map((n) => this.status(n.id)));
    const leader = all[0].leader;
    return leader && all.every((s) => s.leader === leader) ? leader : 0;
  }

  async cli(...args) {
    const server = this.alive()[0].http;
    const env = { ...process.env, RAFTBOOK_TOKEN: TOKEN };
    const { stdout } = await run(RAFTBOOK, [...args, '--server', server, '--json'], { timeout: TIMEOUT, env });
    return JSON.parse(stdout);
  }

  // Every live native has committed and applied index `at`.
  async applied(at) {
    const all = await Promise.all(this.alive().map((n) => this.status(n.id)));
    return all.every((s) => s.commit_index >= at && s.applied_index >= at);
  }

  kill9(id) {
    this.node(id).killed = true;
    this.node(id).proc.kill('SIGKILL');
  }

  logs() {
    return this.nodes.map((n) => `---- node ${n.id} ----\n${fs.readFileSync(n.log, 'utf8').split('\n').slice(-25).join('\n')}`).join('\n');
  }

  async stop() {
    for (const n of this.alive()) n.proc.kill('SIGKILL');
    await sleep(100);
    fs.rmSync(this.dir, { recursive: true, force: true });
  }
}

// A tab in Live mode: its page, its node's id once it has one, and what it reports.
async function openTab(context, url) {
  const page = await context.newPage();
  const errors = [];
  page.on('pageerror', (e) => errors.push(e.message));
  await page.goto(url);
  await page.waitForFunction(() => window.live && window.live.id, null, { timeout: TIMEOUT });
  return { page, errors, id: await page.evaluate(() => window.live.id) };
}

const tabState = (tab) => tab.page.$eval('#live-status', (el) => ({ state: el.dataset.state, text: el.textContent }));
const tabNode = (tab) => tab.page.evaluate(() => window.live.self);

async function waitTab(tab, state, natives) {
  await until(`tab S${tab.id} to be ${state}`, async () => (await tabState(tab)).state === state, {
    describe: async () => `tab says ${JSON.stringify(await tabState(tab))}\n${natives.logs()}`,
  });
}

// The member `id` as native node `from`'s /status lists it.
async function memberOn(natives, from, id) {
  return (await natives.status(from)).members.find((m) => m.id === id);
}

// Clicks `button` of the tab's client box (after filling `fields`) and returns
// the text of its row once answered.
async function tabRequest(tab, button, fields) {
  for (const [sel, v] of Object.entries(fields)) await tab.page.fill(sel, v);
  const n = await tab.page.evaluate(() => window.live.requestCount) + 1;
  await tab.page.click(button);
  return until(`tab S${tab.id}'s request ${n} to be answered`, () => tab.page.$eval(`#requests [data-request="${n}"]`,
    (d) => (d.classList.contains('pending') ? null : d.textContent)));
}

// Every client operation of the test, from the tabs, the CLI and HTTP reads, in
// Jepsen's form (`raftbook lincheck`): the last step checks it is linearizable.
const history = [];
const started = process.hrtime.bigint();
const nanos = () => Number(process.hrtime.bigint() - started);

// Runs `op` as client `proc`'s `f` (write or read) of `key`; `op` returns
// { result, read } (read: the value a read saw, null when absent). An error is recorded
// as an operation of unknown outcome.
async function recorded(proc, f, key, value, op) {
  history.push({ process: proc, type: 'invoke', f, key, value: f === 'read' ? null : value, time: nanos() });
  try {
    const { result, read } = await op();
    history.push({ process: proc, type: 'ok', f, key, value: f === 'read' ? read : value, time: nanos() });
    return result;
  } catch (err) {
    history.push({ process: proc, type: 'info', f, key, value: null, time: nanos() });
    throw err;
  }
}

const CLI = 0;  // the CLI's process in the history (a tab's is its node id)

// A put through the CLI; returns the revision it committed at.
const cliPut = (natives, key, value) => recorded(CLI, 'write', key, value, async () => {
  const rev = (await natives.cli('put', key, value)).revision;
  assert.ok(rev > 0);
  return { result: rev };
});

// A GET /kv/KEY from native node `n`'s HTTP API; returns the value (null: absent).
const httpGet = (n, key) => recorded(100000 + n.id, 'read', key, null, async () => {
  const res = await fetch(`http://${n.http}/kv/${key}`);
  const read = res.status === 404 ? null : await res.text();
  return { result: read, read };
});

// A put from the tab; returns the revision it committed at.
const tabPut = (tab, key, value) => recorded(tab.id, 'write', key, value, async () => {
  const text = await tabRequest(tab, '#put', { '#put-key': key, '#put-value': value });
  assert.match(text, /committed at \d+/);
  return { result: Number(/committed at (\d+)/.exec(text)[1]) };
});

// A get from the tab; returns the row's text ("= VALUE (revision N)" or "not found").
const tabGet = (tab, key) => recorded(tab.id, 'read', key, null, async () => {
  const text = await tabRequest(tab, '#get', { '#get-key': key });
  const found = /= (.*) \(revision \d+\)/.exec(text);
  assert.ok(found || /not found/.test(text), text);
  return { result: text, read: found ? found[1] : null };
});

// Index `at` is committed and applied on every live native and on every open tab.
async function committedEverywhere(natives, tabs, at) {
  await until(`index ${at} to commit on every member`, async () => {
    if (!(await natives.applied(at))) return false;
    for (const tab of tabs) {
      const s = await tabNode(tab);
      if (!(s.commit_index >= at && s.applied_index >= at)) return false;
    }
    return true;
  }, { describe: async () => `tabs: ${JSON.stringify(await Promise.all(tabs.map(tabNode)), (k, v) => (k === 'log' ? undefined : v))}\n${natives.logs()}` });
}

test('live mode: two tabs join three native nodes, become voters, lead, and survive failures', { skip: missing }, async (t) => {
  checkBuilt();
  const natives = new Natives();
  let browser;
  t.after(async () => {
    if (browser) await browser.close();
    await natives.stop();
  });
  await natives.start();
  await until('a native leader', () => natives.leader(), { describe: async () => natives.logs() });
  browser = await launch();
  const tabs = [];
  let closed = null;  // the tab closed in the last step
  // Each step needs the ones before: after a failure the rest are skipped, not failed.
  let broken = false;
  const step = (name, opts, fn) => t.test(name, opts, async (s) => {
    if (broken) return s.skip('an earlier step failed');
    try {
      await fn();
    } catch (err) {
      broken = true;
      throw err;
    }
  });

  // First, on its own: the steps after it build on each other.
  await t.test('a tab with a wrong token is refused, and the cluster goes on as before', async () => {
      const before = (await natives.status(natives.alive()[0].id)).members.map((m) => m.id);
      const wrong = await openTab(browser.context, `http://${natives.node(2).http}/?join#token=not-the-token`);
      await until('the wrong token to be refused', async () => {
        const s = await tabState(wrong);
        return s.state === 'refused' && /wrong token/.test(s.text);
      }, { describe: async () => JSON.stringify(await tabState(wrong)) });
      assert.equal(await wrong.page.isVisible('#token-form'), true);
      const rev = await cliPut(natives, 'after', 'wrong-token');
      await committedEverywhere(natives, [], rev);
      for (const n of natives.alive()) {
        assert.deepEqual((await natives.status(n.id)).members.map((m) => m.id), before);
      }
      assert.deepEqual(wrong.errors, []);
      await wrong.page.close();
    });

  await step('a tab opened with ?join on node 1 and one with ?join=node 3 on node 2 join as browser learners', {}, async () => {
    const token = `#token=${TOKEN}`;
    tabs.push(await openTab(browser.context, `http://${natives.node(1).http}/?join${token}`));
    tabs.push(await openTab(browser.context, `http://${natives.node(2).http}/?join=${natives.node(3).http}${token}`));
    for (const tab of tabs) await waitTab(tab, 'learner', natives);
    for (const tab of tabs) {
      for (const n of natives.alive()) {
        const m = await until(`node ${n.id} to list S${tab.id}`, () => memberOn(natives, n.id, tab.id));
        assert.equal(m.kind, 'browser', `node ${n.id} lists S${tab.id} as ${JSON.stringify(m)}`);
        assert.equal(m.voter, false);
      }
    }
    // Messages in flight as the tab sees them: the leader's heartbeats or appends coming
    // down to it, drawn on the messages canvas.
    const drawn = await until('the tab to draw messages in flight to it', () => tabs[0].page.evaluate(() => {
      const s = window.live.state, me = s.nodes.find((n) => n.self).id;
      const canvas = document.getElementById('messages');
      const pixels = canvas.getContext('2d').getImageData(0, 0, canvas.width, canvas.height).data;
      const painted = pixels.some((v, i) => i % 4 === 3 && v > 0);
      const toMe = s.messages.filter((m) => m.to === me && (m.type === 'Heartbeat' || m.type === 'Append'));
      return painted && toMe.length > 0 && toMe.map((m) => m.type);
    }));
    assert.ok(drawn.length > 0);
    fs.mkdirSync(artifacts, { recursive: true });
    await tabs[0].page.screenshot({ path: path.join(artifacts, 'live-view.png') });
    // As the playground (a11y.test.mjs): no serious or critical WCAG 2 violation.
    await tabs[0].page.addScriptTag({ path: axePath });
    const grave = (await tabs[0].page.evaluate(() => window.axe.run(document, {
      runOnly: { type: 'tag', values: ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa', 'best-practice'] }, resultTypes: ['violations'],
    }))).violations.filter((v) => v.impact === 'serious' || v.impact === 'critical');
    assert.deepEqual(grave.map((v) => `${v.id}: ${v.nodes.map((n) => n.target.join(' ')).join(', ')}`), []);
  });

  await step('a put from a tab and a put from the CLI commit on all five members', {}, async () => {
    const fromTab = await tabPut(tabs[0], 'colour', 'blue');
    const fromCli = await cliPut(natives, 'shape', 'round');
    await committedEverywhere(natives, tabs, Math.max(fromTab, fromCli));
    for (const n of natives.alive()) assert.equal(await httpGet(n, 'colour'), 'blue');
    assert.match(await tabGet(tabs[1], 'shape'), /= round/);
    assert.match(await tabGet(tabs[1], 'colour'), /= blue/);
  });

  await step('both tabs become voters', {}, async () => {
    for (const tab of tabs) await tab.page.click('#live-promote');
    for (const tab of tabs) await waitTab(tab, 'voter', natives);
    for (const tab of tabs) assert.equal((await memberOn(natives, 1, tab.id)).voter, true);
  });

  await step('leadership goes to a tab and writes still commit', {}, async () => {
    const target = tabs[0].id;
    await natives.cli('transfer-leader', String(target));
    await until(`S${target} to lead`, async () => (await natives.leader()) === target && (await tabNode(tabs[0])).role === 'leader');
    const fromCli = await cliPut(natives, 'leader', 'browser');
    const fromTab = await tabPut(tabs[1], 'second', 'tab');
    await committedEverywhere(natives, tabs, Math.max(fromCli, fromTab));
  });

  await step('after kill -9 of a native node, and then the close of a tab, writes still commit', {}, async () => {
    natives.kill9(1);  // the node tab 1 is connected through: it redials another
    const afterKill = await cliPut(natives, 'after', 'kill');
    await committedEverywhere(natives, tabs, afterKill);
    closed = tabs.pop();
    await closed.page.close();
    const afterClose = await cliPut(natives, 'after', 'close');
    const fromTab = await tabPut(tabs[0], 'still', 'here');
    await committedEverywhere(natives, tabs, Math.max(afterClose, fromTab));
    assert.deepEqual(tabs[0].errors, []);
  });

  await step(`the closed tab's member is removed after --remove-absent-browsers-after ${ABSENT}`,
    {}, async () => {
      // Whoever leads removes it: a native node, or the tab, which took the cluster's
      // rule from the /status it joined through.
      await until(`S${closed.id} to be removed`, async () => {
        const s = await natives.status(natives.alive()[0].id);
        return !s.members.some((m) => m.id === closed.id) && s.removed.includes(closed.id);
      }, { describe: async () => `leader ${await natives.leader()}\n${natives.logs()}` });
      const rev = await cliPut(natives, 'after', 'removal');
      await committedEverywhere(natives, tabs, rev);
      for (const n of natives.alive()) assert.equal(await httpGet(n, 'after'), 'removal');
      assert.match(await tabGet(tabs[0], 'leader'), /= browser/);
    });

  await step('every client history is linearizable (raftbook lincheck)', {}, async () => {
    const file = path.join(os.tmpdir(), `raftbook-live-history-${process.pid}.jsonl`);
    fs.writeFileSync(file, history.map((e) => JSON.stringify(e)).join('\n') + '\n');
    const { stdout } = await run(RAFTBOOK, ['lincheck', '--json', file]).catch((err) => err);
    fs.rmSync(file, { force: true });
    const verdict = JSON.parse(stdout);
    assert.equal(verdict.linearizable, true, stdout);
    assert.ok(verdict.operations >= 15, `only ${verdict.operations} operations checked`);
  });

});
