/* Run buttons under the pure Clojure blocks of a page (marked .clj-run by the build, see
 * course/clojure_blocks.py), evaluated in the browser by Scittle (ClojureScript on SCI).
 *
 * - Scittle (~1 MB) is served by the site and loaded on the first Run only.
 * - Blocks of a page share one namespace, like a REPL; Reset starts a fresh one.
 * - Printed output (println, prn) and the value of each top-level form are shown in an
 *   aria-live region under the block; errors are shown readably, with the line.
 * - Works across Material's instant navigation (document$).
 */
(function () {
  "use strict";

  // where this script is served from tells where the site serves Scittle
  var SELF = document.currentScript && document.currentScript.src;
  var SCITTLE_URL = new URL("../vendor/scittle/scittle.js", SELF || location.href).href;

  var loading = null;     // the promise of Scittle, once the first Run asked for it
  var generation = 0;     // bumps on Reset: the namespace course.run<generation>
  var baseline = null;    // the namespaces that existed before any block ran

  function loadScittle() {
    if (loading) return loading;
    loading = new Promise(function (resolve, reject) {
      if (window.scittle && window.scittle.core) return resolve(window.scittle.core);
      var s = document.createElement("script");
      s.src = SCITTLE_URL;
      s.async = true;
      s.onload = function () {
        if (window.scittle && window.scittle.core) resolve(window.scittle.core);
        else reject(new Error("Scittle loaded but did not start"));
      };
      s.onerror = function () {
        loading = null;
        reject(new Error("could not load " + SCITTLE_URL));
      };
      document.head.appendChild(s);
    });
    return loading;
  }

  function evalString(core, code) { return core.eval_string(code); }

  function currentNs() { return "course.run" + generation; }

  // pr-str of a ClojureScript value, through Scittle itself; bounded for infinite seqs
  function show(core, value) {
    window.__cljRunValue = value;
    try {
      return evalString(core, "(binding [*print-length* 100 *print-level* 10] " +
        "(pr-str (.-__cljRunValue js/window)))");
    } finally {
      window.__cljRunValue = undefined;
    }
  }

  // "ExceptionInfo: insufficient funds {:amount 130}" from what Scittle threw (Scittle
  // cannot resolve the symbol ExceptionInfo: ex-data tells an ex-info apart)
  function describeError(core, err) {
    window.__cljRunError = err;
    try {
      return evalString(core, "(let [e (.-__cljRunError js/window) " +
        "d (ex-data e) c (or (ex-cause e) e) " +
        "cls (cond (some? (ex-data c)) \"ExceptionInfo\" " +
        "(instance? js/Error c) (.-name c) :else (str (type c))) " +
        "cd (ex-data c) " +
        "msg (or (ex-message c) (ex-message e) (str c))] " +
        "(str (if (= :sci.error/parse (:type d)) \"Syntax error\" cls) \": \" msg " +
        "(when (seq cd) (str \" \" (binding [*print-length* 20] (pr-str cd))))))");
    } catch (_) {
      return String(err && err.message || err);
    } finally {
      window.__cljRunError = undefined;
    }
  }

  // the block's top-level forms, from the offsets the build computed; the whole block
  // when they do not fit the text (then only the last value is shown)
  function forms(block, code) {
    var spans = (block.getAttribute("data-clj-forms") || "").split(/\s+/).filter(Boolean);
    var out = [], last = 0;
    for (var i = 0; i < spans.length; i++) {
      var ab = spans[i].split("-"), a = +ab[0], b = +ab[1];
      var gap = code.slice(last, a);
      if (!(a >= last && b > a && b <= code.length) || !/^(\s|,|;[^\n]*)*$/.test(gap)) {
        return [{ text: code, start: 0 }];
      }
      out.push({ text: code.slice(a, b), start: a });
      last = b;
    }
    if (!/^(\s|,|;[^\n]*)*$/.test(code.slice(last))) return [{ text: code, start: 0 }];
    return out.length ? out : [{ text: code, start: 0 }];
  }

  function lineOf(code, offset) { return code.slice(0, offset).split("\n").length; }

  function run(core, block, code) {
    var lines = [];   // {kind: "out" | "value" | "error", text}
    var log = console.log;
    console.log = function () {
      lines.push({ kind: "out", text: Array.prototype.slice.call(arguments).join(" ") });
    };
    try {
      if (baseline === null) {
        baseline = evalString(core, "(mapv (comp str ns-name) (all-ns))");
        window.__cljRunBaseline = baseline;
      }
      evalString(core, "(ns " + currentNs() + ")");
      var fs = forms(block, code);
      for (var i = 0; i < fs.length; i++) {
        var value;
        try {
          value = evalString(core, fs[i].text);
        } catch (err) {
          var where = fs.length > 1 ? " (line " + lineOf(code, fs[i].start) + ")" : "";
          lines.push({ kind: "error", text: describeError(core, err) + where });
          break;
        }
        var isVar = false;
        window.__cljRunValue = value;
        try { isVar = evalString(core, "(var? (.-__cljRunValue js/window))"); } catch (_) {}
        if (!isVar) lines.push({ kind: "value", text: show(core, value) });
      }
    } finally {
      console.log = log;
    }
    return lines;
  }

  function reset(core) {
    // drop every namespace the blocks created, then use a fresh one
    if (core && baseline !== null) {
      try {
        evalString(core, "(let [keep (set (js->clj (.-__cljRunBaseline js/window)))] " +
          "(doseq [n (all-ns) :let [s (str (ns-name n))] :when (not (contains? keep s))] " +
          "(remove-ns (symbol s))))");
      } catch (_) { /* a fresh namespace is enough */ }
    }
    generation += 1;
  }

  function render(output, lines) {
    output.textContent = "";
    lines.forEach(function (l) {
      var row = document.createElement("div");
      row.className = "clj-run-" + l.kind;
      row.textContent = (l.kind === "value" ? "⇒ " : "") + l.text;
      output.appendChild(row);
    });
    if (!lines.length) {
      var none = document.createElement("div");
      none.className = "clj-run-value";
      none.textContent = "⇒ nil";
      output.appendChild(none);
    }
  }

  function setUp(block) {
    if (block.dataset.cljRunReady) return;
    block.dataset.cljRunReady = "1";
    var bar = document.createElement("div");
    bar.className = "clj-run-bar";
    var runButton = document.createElement("button");
    runButton.type = "button";
    runButton.className = "md-button md-button--primary clj-run-button";
    runButton.textContent = "Run";
    runButton.setAttribute("aria-label", "Run this Clojure code in your browser");
    var resetButton = document.createElement("button");
    resetButton.type = "button";
    resetButton.className = "md-button clj-reset-button";
    resetButton.textContent = "Reset";
    resetButton.setAttribute("aria-label", "Reset: forget every definition made on this page");
    var output = document.createElement("div");
    output.className = "clj-run-output";
    output.setAttribute("role", "status");
    output.setAttribute("aria-live", "polite");
    output.setAttribute("aria-label", "Result of the Clojure code");
    bar.appendChild(runButton);
    bar.appendChild(resetButton);
    block.insertAdjacentElement("afterend", bar);
    bar.insertAdjacentElement("afterend", output);

    runButton.addEventListener("click", function () {
      var codeEl = block.querySelector("pre code") || block.querySelector("code");
      var code = codeEl ? codeEl.textContent.replace(/\n$/, "") : "";
      runButton.disabled = true;
      output.setAttribute("aria-busy", "true");
      output.textContent = loading ? "Running…" : "Loading Clojure (Scittle)…";
      loadScittle().then(function (core) {
        render(output, run(core, block, code));
      }, function (err) {
        render(output, [{ kind: "error", text: "Could not start Clojure in this page: " + err.message }]);
      }).then(function () {
        runButton.disabled = false;
        output.removeAttribute("aria-busy");
      });
    });
    resetButton.addEventListener("click", function () {
      reset(window.scittle && window.scittle.core);
      document.querySelectorAll(".clj-run-output").forEach(function (o) { o.textContent = ""; });
      output.textContent = "Reset: a fresh namespace, nothing defined.";
    });
  }

  function setUpPage() {
    document.querySelectorAll("div.clj-run").forEach(setUp);
  }

  if (window.document$ && typeof window.document$.subscribe === "function") {
    window.document$.subscribe(setUpPage);   // every page, instant navigation included
  } else if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", setUpPage);
  } else {
    setUpPage();
  }
})();
