// Shared set-up for the playground's browser tests: a static file server for web/ on a
// free loopback port (node's http module, nothing else), Debian's chromium driven by
// playwright-core with a fresh profile, a page that records console errors, and
// screenshots saved under tests/artifacts/ for a human to look at.
//
// The tests need the wasm build in web/ (raftbook.js, raftbook.wasm); when it is
// missing they fail with the command that builds it.

import assert from 'node:assert/strict';
import fs from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';

const here = path.dirname(fileURLToPath(import.meta.url));
export const webRoot = path.resolve(here, '../../web');
export const artifacts = path.resolve(here, '../artifacts');

const TYPES = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.mjs': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.json': 'application/json; charset=utf-8',
  '.wasm': 'application/wasm',
  '.txt': 'text/plain; charset=utf-8',
  '.svg': 'image/svg+xml',
};

export function checkBuilt() {
  for (const f of ['raftbook.js', 'raftbook.wasm']) {
    if (!fs.existsSync(path.join(webRoot, f))) {
      throw new Error(`web/${f} is missing: build the wasm module first with\n` +
        '  NODE_PATH=/usr/share/nodejs emcmake cmake -S . -B build-wasm && cmake --build build-wasm -j2');
    }
  }
}

// Serves web/ read-only on 127.0.0.1; returns { url, close }.
export async function serveWeb() {
  const server = http.createServer((req, res) => {
    const url = new URL(req.url, 'http://x');
    const rel = decodeURIComponent(url.pathname === '/' ? '/index.html' : url.pathname);
    const file = path.resolve(webRoot, `.${rel}`);
    if (!file.startsWith(webRoot + path.sep) || !fs.existsSync(file) || !fs.statSync(file).isFile()) {
      res.writeHead(404, { 'content-type': 'text/plain' });
      res.end('not found');
      return;
    }
    res.writeHead(200, { 'content-type': TYPES[path.extname(file)] ?? 'application/octet-stream', 'cache-control': 'no-store' });
    fs.createReadStream(file).pipe(res);
  });
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address();
  return { url: `http://127.0.0.1:${port}/`, close: () => new Promise((r) => server.close(r)) };
}

// A loopback port nobody listens on right now (for a native node to take).
export async function freePort() {
  const server = net.createServer();
  await new Promise((r) => server.listen(0, '127.0.0.1', r));
  const { port } = server.address();
  await new Promise((r) => server.close(r));
  return port;
}

export async function launch() {
  const profile = fs.mkdtempSync(path.join(os.tmpdir(), 'raftbook-chromium-'));
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: process.env.CHROMIUM ?? '/usr/bin/chromium',
    headless: true,
    viewport: { width: 1366, height: 768 },
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking',
      '--disable-component-update', '--disable-sync', '--no-first-run'],
  });
  return {
    context,
    close: async () => {
      await context.close();
      fs.rmSync(profile, { recursive: true, force: true });
    },
  };
}

// A page that remembers every console error, page error and failed request, and that
// refuses any request not to our own server (the page must need no network).
export async function openPage(context, url) {
  const page = await context.newPage();
  const problems = [];
  const origin = new URL(url).origin;
  page.on('console', (m) => { if (m.type() === 'error' || m.type() === 'warning') problems.push(`console ${m.type()}: ${m.text()}`); });
  page.on('pageerror', (e) => problems.push(`page error: ${e.message}`));
  page.on('requestfailed', (r) => problems.push(`request failed: ${r.url()}`));
  await page.route('**/*', (route) => {
    if (route.request().url().startsWith(origin)) return route.continue();
    problems.push(`external request: ${route.request().url()}`);
    return route.abort();
  });
  page.problems = problems;
  await page.goto(url);
  await page.waitForFunction(() => window.playground && window.playground.state);
  return { page, problems };
}

export async function screenshot(page, name) {
  fs.mkdirSync(artifacts, { recursive: true });
  await page.screenshot({ path: path.join(artifacts, `${name}.png`) });
}

// The log grid's view of node n: role, commit index and last log index.
export async function nodeRow(page, n) {
  return page.$eval(`.log-label[data-node="${n}"]`, (el) => ({
    role: el.dataset.role,
    commit: Number(el.dataset.commit),
    last: Number(el.dataset.last),
  }));
}

// Where on the log canvas node n's entry at `index` is drawn (scrolled into view first).
export async function cellPosition(page, n, index) {
  return page.evaluate(([n, index]) => {
    const view = window.playground.logs;
    const label = document.querySelector(`.log-label[data-node="${n}"]`);
    const canvas = document.querySelector('.log-canvas').getBoundingClientRect();
    const row = label.getBoundingClientRect();
    const x = (index - 0.5) * view.cellWidth - view.viewLeft;
    if (x < 0 || x > canvas.width) throw new Error(`entry ${index} is not in view`);
    return { x, y: row.top + row.height / 2 - canvas.top };
  }, [n, index]);
}

// The speed slider is logarithmic: 33 = 0.1x, 66 = 1x, 99 = 10x.
export async function setSpeed(page, sliderValue) {
  await page.fill('#speed', String(sliderValue));
}

export async function pause(page) {
  if (await page.evaluate(() => window.playground.playing)) await page.click('#play');
}

// What identifies the moment on screen: the trace hash in the footer and the time.
export async function moment(page) {
  await page.evaluate(() => new Promise((r) => requestAnimationFrame(() => requestAnimationFrame(r))));
  try {
    await page.waitForFunction(() => window.playground.pendingSeek == null && !window.playground.dirty);
  } catch (err) {
    const app = await page.evaluate(() => ({ playing: window.playground.playing, dirty: window.playground.dirty }));
    throw new Error(`the page never settled (${JSON.stringify(app)}; page problems: ${JSON.stringify(page.problems)}): ${err.message}`);
  }
  return page.evaluate(() => ({
    hash: document.getElementById('trace-hash').textContent,
    time: window.playground.timeline.now(),
  }));
}

// Plays the lesson shown to its end, pressing Next each time it stops for the reader
// (after a sentence, at a key moment). Returns the captions of the key moments it
// stopped at.
export async function playLessonThrough(page, timeout = 60000) {
  const stops = [];
  for (;;) {
    const what = await page.waitForFunction(() => {
      const status = document.getElementById('lesson-status').dataset;
      if (status.state === 'passed' || status.state === 'failed') return 'end';
      return !window.playground.playing && status.held === 'true' ? 'held' : null;
    }, null, { timeout });
    if (await what.jsonValue() === 'end') return stops;
    const key = await page.$$eval('#narration li.moment.key.current', (li) => li.map((x) => x.textContent));
    stops.push(...key);
    await page.click('#lesson-next');
  }
}

// Waits until the log grid and the cluster drawing both show a leader (other than
// `not`, if given) and returns its node number.
export async function waitForLeader(page, not = null) {
  const handle = await page.waitForFunction((o) => {
    const row = [...document.querySelectorAll('.log-label[data-role="leader"]')].find((r) => Number(r.dataset.node) !== o);
    const node = row && document.querySelector(`#cluster .node.leader[data-node="${row.dataset.node}"]`);
    return node ? Number(row.dataset.node) : null;
  }, not, { timeout: 30000 });
  return handle.jsonValue();
}

// One browser and one server for a test file; each test opens its own page.
// s.page(fn, hash) runs fn(page) on a fresh page of the playground (at `hash`, if given)
// and then checks that the page logged no error and asked for nothing outside.
export function session() {
  const s = { url: null, context: null };
  s.page = async (fn, hash = '') => {
    const { page, problems } = await openPage(s.context, s.url + hash);
    try {
      await fn(page);
      assert.deepEqual(problems, []);
    } finally {
      await page.close();
    }
  };
  let server, browser;
  s.before = async () => {
    checkBuilt();
    server = await serveWeb();
    browser = await launch();
    s.url = server.url;
    s.context = browser.context;
  };
  s.after = async () => {
    if (browser) await browser.close();
    if (server) await server.close();
  };
  return s;
}

// The colour painted at (x, y) css px of a canvas, as [r, g, b, a], for page.evaluate /
// $eval (a function's source). Copied out through a throwaway 1×1 canvas: reading the
// page's own canvas again and again makes chromium warn.
export const READ_PIXEL = `(canvas, x, y) => {
  const d = window.devicePixelRatio || 1;
  const one = document.createElement('canvas');
  one.width = one.height = 1;
  const ctx = one.getContext('2d', { willReadFrequently: true });
  ctx.drawImage(canvas, Math.round(x * d), Math.round(y * d), 1, 1, 0, 0, 1, 1);
  return [...ctx.getImageData(0, 0, 1, 1).data];
}`;

// Runs lines on the page's timeline as a click does (each to its end, as playing would),
// and waits for the frame.
export async function perform(page, ...lines) {
  for (const line of lines) {
    await page.evaluate((l) => {
      const app = window.playground;
      app.perform(l);
      app.timeline.run(1e9, { maxBegun: app.timeline.entries.length });
      app.dirty = true;
    }, line);
  }
  return moment(page);
}
