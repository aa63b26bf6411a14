// An automated accessibility check of the playground: axe-core (from npm, injected
// into the page, nothing fetched) runs its WCAG 2 A/AA rules on the page as a reader
// meets it — at first load, with a lesson running, at the end of the lesson that
// breaks safety on purpose (red verdict, banner, failed checks), with the help dialog
// open and with a node's menu open — on a laptop screen
// (1400×900) and on a phone (390×844). No violation of impact "serious" or "critical"
// may remain; "moderate" and "minor" ones are printed as information.
//
// axe sees the DOM only: the log grid and the message dots are drawn on canvases, and
// their colours are not checked here. Nor can it judge the text in the cluster drawing
// (the message canvas lies over it), so the last test measures that itself: each
// node's name and term against its circle, its role label against its pill, for every
// role a node can show.

import assert from 'node:assert/strict';
import { createRequire } from 'node:module';
import { after, before, test } from 'node:test';
import { pause, session, setSpeed, playLessonThrough } from './harness.mjs';

const require = createRequire(import.meta.url);
const axePath = require.resolve('axe-core/axe.min.js');

const s = session();
before(s.before);
after(s.after);

const screens = [
  { name: 'wide', width: 1400, height: 900 },
  { name: 'phone', width: 390, height: 844 },
];

// The moments checked: each gets the page as the reader left it.
const moments = [
  { name: 'at first load', reach: async () => {} },
  {
    name: 'with a lesson running',
    reach: async (page) => {
      await page.click('[data-lesson="follower_behind"]');
      await page.waitForFunction(() => document.getElementById('lesson-status').dataset.held === 'true');
    },
  },
  {
    name: 'at the end of the lesson that breaks safety',
    reach: async (page) => {
      await page.click('[data-lesson="missing_prevlog_check"]');
      await setSpeed(page, 99);
      await playLessonThrough(page);
      await page.waitForSelector('#verdict.unsafe');
    },
  },
  {
    name: 'with the help open',
    reach: async (page) => {
      await page.click('#help');
      await page.waitForSelector('#help-dialog[open]');
    },
  },
  {
    name: 'with a node\'s menu open',
    reach: async (page) => {
      await page.click('#cluster .node[data-node="1"]');
      await page.waitForSelector('.node-menu');
    },
  },
];

// One line for the rule, one per element it flags.
function describe(v) {
  const where = v.nodes.map((n) => `  ${n.target.join(' ')}: ${n.failureSummary.split('\n').slice(1).join(' ').trim()}`);
  return [`${v.impact} ${v.id} (${v.nodes.length}): ${v.help}`, ...where];
}

for (const screen of screens) {
  for (const m of moments) {
    test(`no serious or critical accessibility violation ${m.name}, ${screen.name} (${screen.width}×${screen.height})`, (t) => s.page(async (page) => {
      await page.setViewportSize({ width: screen.width, height: screen.height });
      await m.reach(page);
      await page.addScriptTag({ path: axePath });
      const result = await page.evaluate(() => window.axe.run(document, {
        runOnly: { type: 'tag', values: ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa', 'best-practice'] },
        resultTypes: ['violations'],
      }));
      const grave = result.violations.filter((v) => v.impact === 'serious' || v.impact === 'critical');
      for (const v of result.violations.filter((x) => !grave.includes(x))) describe(v).forEach((line) => t.diagnostic(line));
      const counts = result.violations.map((v) => `${v.impact} ${v.id}: ${v.nodes.length}`).join(', ');
      t.diagnostic(`axe ${m.name}, ${screen.name}: ${counts || 'no violations'}`);
      assert.deepEqual(grave.flatMap(describe), []);
    }));
  }
}

test('the text in the cluster drawing is at least 4.5:1 against its shape, in every role', () => s.page(async (page) => {
  await pause(page);
  const low = await page.evaluate(() => {
    // WCAG 2 relative luminance and contrast ratio of two computed 'rgb(r, g, b)' colours.
    const luminance = (css) => {
      const [r, g, b] = css.match(/[\d.]+/g).slice(0, 3).map((v) => {
        const c = Number(v) / 255;
        return c <= 0.03928 ? c / 12.92 : ((c + 0.055) / 1.055) ** 2.4;
      });
      return 0.2126 * r + 0.7152 * g + 0.0722 * b;
    };
    const contrast = (a, b) => {
      const [hi, lo] = [luminance(a), luminance(b)].sort((x, y) => y - x);
      return (hi + 0.05) / (lo + 0.05);
    };
    const fill = (el) => getComputedStyle(el).fill;
    const node = document.querySelector('#cluster .node');
    node.querySelector('circle.body').style.transition = 'none'; // the colours a role ends at
    const out = [];
    for (const role of ['follower', 'precandidate', 'candidate', 'leader', 'down']) {
      node.setAttribute('class', `node ${role}`);
      const body = fill(node.querySelector('circle.body'));
      const pill = fill(node.querySelector('.role-pill rect'));
      for (const [what, text, behind] of [
        ['name', fill(node.querySelector('text.name')), body],
        ['term', fill(node.querySelector('text.term')), body],
        ['role label', fill(node.querySelector('.role-pill text')), pill],
      ]) {
        const ratio = contrast(text, behind);
        if (ratio < 4.5) out.push(`${role} ${what}: ${text} on ${behind} is ${ratio.toFixed(2)}:1`);
      }
    }
    return out;
  });
  assert.deepEqual(low, []);
}));
