// Linked into raftbook.js with --post-js, inside the module factory. The bindings never
// throw across the wasm boundary: a failed call returns an empty value and leaves its
// message for takeError() (see bindings.cpp for why). Once the runtime is up, this
// wraps every bound function so that such a call throws an Error with that message.
addOnPostRun(function () {
  function check() {
    var message = Module['takeError']();
    if (message) throw new Error(message);
  }
  function checked(f) {
    var wrapper = function () {
      var result = f.apply(this, arguments);
      check();
      return result;
    };
    // An overloaded function (state) finds its overloads on itself, by its name.
    return Object.assign(wrapper, f);
  }
  ['parseScenario', 'faultNames'].forEach(function (name) {
    Module[name] = checked(Module[name]);
  });

  var Base = Module['Simulation'];
  Object.getOwnPropertyNames(Base.prototype).forEach(function (name) {
    if (name !== 'constructor') Base.prototype[name] = checked(Base.prototype[name]);
  });
  // `new rb.Simulation(config)` returns the object the embind constructor made, and
  // shares its prototype, so instanceof and every method work as before.
  function Simulation() {
    var sim = new (Function.prototype.bind.apply(Base, [null].concat(Array.prototype.slice.call(arguments))))();
    check();
    return sim;
  }
  Simulation.prototype = Base.prototype;
  Simulation['fromScenario'] = checked(Base['fromScenario']);
  Module['Simulation'] = Simulation;
});
