// The page's state in the URL hash, so that a moment can be shared as a link.
//
//   #nodes=5&seed=42&do=advance+1200ms;crash+1;advance+800ms&at=3&t=2000
//   #nodes=3&seed=7&snap=20&at=0&t=0
//   #scenario=figure8&at=12&t=579
//   #scenario=figure8&replay=1&at=20&t=1200
//
// `nodes`, `seed` and `snap` (snapshot every this many entries; left out when never) (or `scenario`, a file of web/scenarios/ without .txt, and
// `replay=1` for its replay with the rule the other way round) say where the
// simulation starts; `do` lists the timeline's lines (left out when they are a
// scenario's own script, unchanged); `at` and `t` are the timeline cursor: how many
// lines were started and the virtual time in ms. Opening the link rebuilds the same
// simulation and replays to that cursor, so it shows the same trace hash.

function encodeLine(line) {
  return encodeURIComponent(line).replace(/%20/g, '+');
}

function decodeLine(text) {
  return decodeURIComponent(text.replace(/\+/g, ' '));
}

export function encodeHash({ setup, lines, scriptLines, cursor }) {
  const parts = [];
  if (setup.kind === 'scenario') {
    parts.push(`scenario=${encodeURIComponent(setup.id)}`);
    if (setup.replay) parts.push('replay=1');
  } else {
    parts.push(`nodes=${setup.nodes}`, `seed=${encodeURIComponent(setup.seed)}`);
    if (setup.snapshotEvery) parts.push(`snap=${setup.snapshotEvery}`);
  }
  const sameAsScript = scriptLines && lines.length === scriptLines.length && lines.every((l, i) => l === scriptLines[i]);
  if (!sameAsScript && lines.length) parts.push(`do=${lines.map(encodeLine).join(';')}`);
  parts.push(`at=${cursor.begun}`, `t=${cursor.time}`);
  return `#${parts.join('&')}`;
}

// Returns null when the hash holds no playground state, else
// { setup: {kind:'free', nodes, seed, snapshotEvery} | {kind:'scenario', id, replay}, lines (null = the script's), cursor }.
// Throws an Error saying what is wrong with a malformed hash.
export function decodeHash(hash) {
  const text = hash.replace(/^#/, '');
  if (!text) return null;
  const params = new Map();
  for (const part of text.split('&')) {
    const eq = part.indexOf('=');
    if (eq > 0) params.set(part.slice(0, eq), part.slice(eq + 1));
  }
  if (!params.has('scenario') && !params.has('seed') && !params.has('nodes')) return null;
  const whole = (key, lo, hi) => {
    const v = params.get(key);
    if (!/^\d+$/.test(v ?? '') || Number(v) < lo || Number(v) > hi) {
      throw new Error(`the link's ${key}=${v} is not a whole number from ${lo} to ${hi}`);
    }
    return Number(v);
  };
  let setup;
  if (params.has('scenario')) {
    setup = { kind: 'scenario', id: decodeURIComponent(params.get('scenario')), replay: params.get('replay') === '1' };
  } else {
    const seed = decodeURIComponent(params.get('seed') ?? '1');
    if (!/^\d{1,20}$/.test(seed)) throw new Error(`the link's seed=${seed} is not a whole number`);
    setup = { kind: 'free', nodes: params.has('nodes') ? whole('nodes', 1, 9) : 5, seed,
      snapshotEvery: params.has('snap') ? whole('snap', 0, 1000000) : 0 };
  }
  const doText = params.get('do');
  const lines = doText == null ? null : doText === '' ? [] : doText.split(';').map((text, i) => {
    let line = '';
    try {
      line = decodeLine(text).trim();
    } catch {
      throw new Error(`the link's do= line ${i + 1}, "${text}", is not valid URL encoding`);
    }
    if (!line) throw new Error(`the link's do= line ${i + 1} is empty`);
    return line;
  });
  const cursor = params.has('at') && params.has('t')
    ? { begun: whole('at', 0, 1e9), time: whole('t', 0, Number.MAX_SAFE_INTEGER) }
    : null;
  return { setup, lines, cursor };
}
