// Frame-time benchmark of the playground (issue 14's targets, 9 nodes and 10,000 entries
// per log: frame interval p95 <= 17 ms at 20 requests/s and <= 33 ms at 1,000/s; a
// timeline seek to the middle of a 60 s run under 100 ms). Not a test: it prints a table.
//
//   node tests/browser/bench_frames.mjs
//
// It opens the page with 9 nodes, fills every log past 10,000 entries with random
// client requests (1,000 per second of virtual time), then plays at 1x and measures,
// over 3 s each: the interval between animation frames, and the page's own
// work per frame (running the simulator, one state() call and every view). Once with
// a client load a person can follow (20 requests/s), once with the full 1,000/s (a
// few hundred messages in flight); each following the newest entries and scrolled to
// the middle of the logs. The machine's load average is printed with the table:
// frame times on a shared machine are only as good as the share it gets.

import os from 'node:os';
import { checkBuilt, launch, openPage, serveWeb } from './harness.mjs';

function stats(xs) {
  const s = [...xs].sort((a, b) => a - b);
  const q = (p) => s[Math.min(s.length - 1, Math.floor(p * s.length))];
  return { frames: s.length, mean: s.reduce((a, b) => a + b, 0) / s.length, p50: q(0.5), p95: q(0.95), max: s[s.length - 1] };
}

checkBuilt();
const server = await serveWeb();
const browser = await launch();
try {
  const { page, problems } = await openPage(browser.context, `${server.url}#nodes=9&seed=7`);
  const filled = await page.evaluate(() => {
    const app = window.playground;
    app.perform('rate 1000');
    const t0 = performance.now();
    const lasts = () => JSON.parse(app.timeline.sim.state(JSON.stringify({ log_from: 1, log_to: 0, requests: 0 }))).nodes.map((n) => n.log_last_index);
    // Closed-loop clients issue about 2/3 of the offered rate, a third of it reads.
    for (let i = 0; i < 30 && Math.min(...lasts()) < 10000; i++) app.run(2000);
    const ms = performance.now() - t0;
    const s = JSON.parse(app.timeline.sim.state(JSON.stringify({ log_from: 1, log_to: 0 })));
    return { ms, lasts: s.nodes.map((n) => n.log_last_index), events: s.stats.events };
  });
  console.log(`filled the logs: last indexes ${filled.lasts.join(', ')} (${filled.events} events, ${filled.ms.toFixed(0)} ms of simulation)`);
  if (Math.min(...filled.lasts) < 10000) throw new Error('the logs did not reach 10,000 entries');

  const measure = (follow, rate) => page.evaluate(async ([follow, rate]) => {
    const app = window.playground;
    app.perform(`rate ${rate}`);
    app.run(3000);
    const box = document.getElementById('follow');
    box.checked = follow;
    if (!follow) {
      const grid = document.querySelector('.log-scroll');
      grid.scrollLeft = grid.scrollWidth / 2;
    }
    app.speed = 1;
    app.play();
    const work = [], gaps = [];
    const render = app.render.bind(app), run = app.run.bind(app);
    let frameWork = 0;
    app.run = (ms) => { const t = performance.now(); run(ms); frameWork += performance.now() - t; };
    app.render = () => { const t = performance.now(); render(); frameWork += performance.now() - t; work.push(frameWork); frameWork = 0; };
    await new Promise((resolve) => {
      let last = null;
      const start = performance.now();
      const tick = (t) => {
        if (last != null) gaps.push(t - last);
        last = t;
        if (t - start < 3000) requestAnimationFrame(tick); else resolve();
      };
      requestAnimationFrame(tick);
    });
    app.pause();
    app.run = run;
    app.render = render;
    return { work, gaps };
  }, [follow, rate]);

  const rows = [];
  for (const rate of [20, 1000]) {
    for (const follow of [true, false]) {
      const m = await measure(follow, rate);
      const where = `${rate}/s, ${follow ? 'following the tail' : 'scrolled to the middle'}`;
      rows.push([`work per frame, ${where}`, stats(m.work)]);
      rows.push([`frame interval, ${where}`, stats(m.gaps)]);
    }
  }
  // A seek to the middle of a run of at least 60 s of virtual time (the run so far,
  // grown to 60 s at 1,000 requests/s if shorter): rebuild, replay, one frame drawn.
  const seek = await page.evaluate(() => {
    const app = window.playground;
    app.perform('rate 1000');
    const left = 60000 - app.timeline.now();
    if (left > 0) app.run(left);
    const end = app.timeline.now();
    const times = [];
    for (const to of [end / 2, end, end / 2]) {
      const t0 = performance.now();
      app.timeline.seek(Math.floor(to));
      app.render();
      times.push(performance.now() - t0);
    }
    return { end, back: times[0], forward: times[1], again: times[2] };
  });

  console.log(`\n9 nodes, 10,000+ entries per log, 1x speed, client requests at 20/s and 1,000/s (ms); load average ${os.loadavg()[0].toFixed(1)} on ${os.cpus().length} cores`);
  console.log('what'.padEnd(58), 'frames'.padStart(7), 'mean'.padStart(7), 'p50'.padStart(7), 'p95'.padStart(7), 'max'.padStart(7));
  for (const [what, s] of rows) {
    console.log(what.padEnd(58), String(s.frames).padStart(7), ...[s.mean, s.p50, s.p95, s.max].map((x) => x.toFixed(2).padStart(7)));
  }
  console.log(`\nseek in a ${(seek.end / 1000).toFixed(1)} s run: to the middle ${seek.back.toFixed(0)} ms, ` +
    `forward to the end ${seek.forward.toFixed(0)} ms, back to the middle again ${seek.again.toFixed(0)} ms (target: under 100 ms)`);
  if (problems.length) console.log('page problems:', problems);
} finally {
  await browser.close();
  await server.close();
}
