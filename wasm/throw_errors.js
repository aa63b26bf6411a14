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

  // Wraps a bound class: every method checks, and so does `new`, which returns the
  // object the embind constructor made and shares its prototype, so instanceof and
  // every method work as before.
  function wrapClass(name) {
    var Base = Module[name];
    Object.getOwnPropertyNames(Base.prototype).forEach(function (method) {
      if (method !== 'constructor') Base.prototype[method] = checked(Base.prototype[method]);
    });
    function Wrapped() {
      var object = new (Function.prototype.bind.apply(Base, [null].concat(Array.prototype.slice.call(arguments))))();
      check();
      return object;
    }
    Wrapped.prototype = Base.prototype;
    Module[name] = Wrapped;
    return Base;
  }
  var Simulation = wrapClass('Simulation');
  Module['Simulation']['fromScenario'] = checked(Simulation['fromScenario']);
  wrapClass('BrowserNode');
});
