// Loads the simulator: raftbook.js (an Emscripten ES module whose default export is the
// factory createRaftbook) and raftbook.wasm, both built into web/ by the wasm build.
// When they are missing the page says how to build them instead of failing silently.

export async function loadRaftbook() {
  let factory;
  try {
    ({ default: factory } = await import('../raftbook.js'));
  } catch (err) {
    throw new Error('The simulator (raftbook.js and raftbook.wasm) is missing from web/.\n' +
      'Build it with:\n  emcmake cmake -S . -B build-wasm && cmake --build build-wasm\n' +
      `(${err.message})`);
  }
  return factory();
}
