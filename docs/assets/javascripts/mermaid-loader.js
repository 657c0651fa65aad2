/* Serve Mermaid from the site, and only to pages that draw a diagram.
 *
 * Material for MkDocs renders `.mermaid` blocks with the global `mermaid`, and fetches it
 * from a CDN when that global is undefined. This file defines a tiny stand-in for that
 * global on every page; the first `render` loads the real library from this site (about
 * 3 MB, once, and only on pages with a diagram). It keeps working across instant
 * navigation because the stand-in lives for the whole session of the page.
 */
(function () {
  "use strict";
  if (typeof window.mermaid !== "undefined") return;
  var here = document.currentScript && document.currentScript.src;
  var src = here
    ? new URL("../vendor/mermaid/mermaid.min.js", here).href
    : "/assets/vendor/mermaid/mermaid.min.js";
  var config = {};
  var loading = null;
  function load() {
    if (!loading) {
      loading = new Promise(function (resolve, reject) {
        var stub = window.mermaid;
        var script = document.createElement("script");
        script.src = src;
        script.onload = function () {
          var real = window.mermaid;
          if (!real || real === stub) {
            reject(new Error("Mermaid did not load from " + src));
            return;
          }
          real.initialize(config);
          resolve(real);
        };
        script.onerror = function () {
          reject(new Error("Could not load Mermaid from " + src));
        };
        document.head.appendChild(script);
      });
    }
    return loading;
  }
  window.mermaid = {
    initialize: function (c) { config = c || {}; },
    render: function (id, text) {
      return load().then(function (m) { return m.render(id, text); });
    },
  };
})();
