// Browser members (issue 13): what two browser voters cost a cluster, and how long a
// page takes to join a cluster with a long history.
//
// Starts 3 native `raftbook serve` nodes on loopback (fresh data dirs, serve's defaults:
// --snapshot-entries 10000 --catchup-entries 5000), each serving web/, then:
//   latency   `raftbook bench` against the leader at 1 and 16 clients: writes/s, p50 and
//             p99 of a durable write, first with the 3 native voters, then with 2
//             headless Chromium tabs joined in Live mode and promoted (3 native + 2
//             browser voters; a commit then needs 3 of 5, and a browser's ack crosses a
//             relay when its link is not to the leader);
//   join      for each HISTORY size: that many writes (64-byte values over 100k keys),
//             then a new tab opens `?join`: the time until its node is a member (a
//             learner), and until it has applied what the leader had committed when
//             the tab opened (a snapshot, then the log after it).
//
//   node bench/browser_members/run.mjs
//   SECONDS=10 HISTORY=100000,1000000 node bench/browser_members/run.mjs
// Needs the native build (build/native/raftbook), the wasm build in web/ and
// tests/browser's npm packages (scripts/setup.sh and scripts/build.sh make all three).
// Prints progress on stderr and the tables on stdout.
import { execFile, spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { freePort, launch, webRoot } from '../../tests/browser/harness.mjs';

const here = path.dirname(fileURLToPath(import.meta.url));
const RAFTBOOK = process.env.RAFTBOOK_BIN || path.resolve(here, '../../build/native/raftbook');
const SECONDS = Number(process.env.SECONDS || 5);
const HISTORY = (process.env.HISTORY || '100000,1000000').split(',').map(Number);
const run = promisify(execFile);
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const say = (s) => process.stderr.write(`run.mjs: ${s}\n`);

if (!fs.existsSync(RAFTBOOK)) {
  say(`${RAFTBOOK} is missing; build first: scripts/build.sh`);
  process.exit(1);
}

async function until(what, fn, timeoutMs = 600000) {
  const end = Date.now() + timeoutMs;
  for (;;) {
    let v;
    try { v = await fn(); } catch { v = null; }
    if (v) return v;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await sleep(20);
  }
}

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'raftbook-browser-bench-'));
const nodes = [];
for (let id = 1; id <= 3; id++) nodes.push({ id, peer: `127.0.0.1:${await freePort()}`, http: `127.0.0.1:${await freePort()}` });
const cluster = nodes.map((n) => `${n.id}=${n.peer}/${n.http}`).join(',');
for (const n of nodes) {
  const out = fs.openSync(path.join(dir, `node${n.id}.log`), 'a');
  n.proc = spawn(RAFTBOOK, ['serve', '--id', String(n.id), '--http', n.http, '--data', path.join(dir, `node${n.id}`),
    '--cluster', cluster, '--web', webRoot, '--remove-absent-browsers-after', '2s'], { stdio: ['ignore', out, out] });
  fs.closeSync(out);
}
let browser;
const cleanup = async () => {
  if (browser) await browser.close().catch(() => {});
  for (const n of nodes) n.proc.kill('SIGKILL');
  fs.rmSync(dir, { recursive: true, force: true });
};
process.on('SIGINT', async () => { await cleanup(); process.exit(130); });

const status = async (n) => (await fetch(`http://${n.http}/status`, { signal: AbortSignal.timeout(2000) })).json();
const leader = async () => {
  const all = await Promise.all(nodes.map(status));
  const l = all[0].leader;
  return l && all.every((s) => s.leader === l) ? nodes.find((n) => n.id === l) : null;
};

async function bench(args) {
  const l = await until('a leader', leader);
  const { stdout } = await run(RAFTBOOK, ['bench', '--server', l.http, '--json', ...args], { maxBuffer: 1 << 24 });
  return JSON.parse(stdout);
}

// A tab in Live mode joined through node `n`'s own page.
async function openTab(context, n) {
  const page = await context.newPage();
  await page.goto(`http://${n.http}/?join`);
  await page.waitForFunction(() => window.live && window.live.id, null, { timeout: 60000 });
  return page;
}
const self = (page) => page.evaluate(() => window.live.self);

try {
  const l = await until('a leader', leader, 30000);
  say(`cluster up, node ${l.id} leads; latency with 3 native voters (${SECONDS} s a row)`);
  const rows = [];
  for (const r of await bench(['--clients', '1,16', '--seconds', String(SECONDS)])) rows.push({ voters: '3 native', ...r });

  browser = await launch();
  const { context } = browser;
  const tabs = [await openTab(context, nodes[0]), await openTab(context, nodes[1])];
  const ids = await Promise.all(tabs.map((p) => p.evaluate(() => window.live.id)));
  say(`tabs ${ids.join(', ')} joining; promoting them`);
  for (const t of tabs) {
    await until('the tab to join', async () => (await self(t)).joined);
    await t.click('#live-promote');
  }
  await until('both tabs to be voters', async () => {
    const s = await status(nodes[0]);
    return ids.every((id) => s.members.some((m) => m.id === id && m.voter));
  });
  say('latency with 3 native + 2 browser voters');
  for (const r of await bench(['--clients', '1,16', '--seconds', String(SECONDS)])) rows.push({ voters: '3 native + 2 browser', ...r });
  for (const t of tabs) await t.close();
  await until('the closed tabs to be removed', async () => (await status(nodes[0])).members.length === 3, 60000);

  const joins = [];
  let written = 0;
  for (const h of HISTORY) {
    say(`writing the history up to ${h} entries`);
    if (h > written) await bench(['--clients', '64', '--writes', String(h - written), '--keys', '100000']);
    written = Math.max(written, h);
    const target = (await status(await until('a leader', leader))).commit_index;
    const t0 = performance.now();
    const page = await openTab(context, nodes[2]);
    await until('the tab to join', async () => (await self(page)).joined);
    const joined = performance.now() - t0;
    await until('the tab to catch up', async () => (await self(page)).applied_index >= target);
    const caught = performance.now() - t0;
    joins.push({ history: h, target, joined, caught });
    say(`history ${h}: member after ${(joined / 1000).toFixed(2)} s, caught up after ${(caught / 1000).toFixed(2)} s`);
    await page.close();
    await until('the closed tab to be removed', async () => (await status(nodes[0])).members.length === 3, 60000);
  }

  console.log('Commit latency and throughput: `raftbook bench` against the leader, durable writes of 64 bytes\n');
  console.log('| voters | clients | writes/s | p50 ms | p99 ms | errors |');
  console.log('|---|---|---|---|---|---|');
  for (const r of rows) {
    console.log(`| ${r.voters} | ${r.clients} | ${r.writes_per_second.toFixed(0)} | ${r.p50_ms.toFixed(2)} | ${r.p99_ms.toFixed(2)} | ${r.errors} |`);
  }
  console.log('\nA page joining (headless Chromium, `?join` on a follower\'s page): from opening the page\n');
  console.log('| history (entries) | leader commit | member after s | caught up after s |');
  console.log('|---|---|---|---|');
  for (const j of joins) {
    console.log(`| ${j.history} | ${j.target} | ${(j.joined / 1000).toFixed(2)} | ${(j.caught / 1000).toFixed(2)} |`);
  }
} finally {
  await cleanup();
}
