/* The course's guard around a JupyterLite lab page (injected by course/lite_extras.py).
 *
 * Runs before the app starts (the page waits for `window.courseLabGate`) and:
 *  1. checks that this browser can save files; if not (private mode, storage disabled or
 *     full) it tells the learner plainly and starts the app with memory storage;
 *  2. on a small screen or a slow connection, says how much a first start downloads and
 *     waits for the learner to choose;
 *  3. if the learner's saved copy of this lab is older than the published one, keeps it as
 *     "name (my copy YYYY-MM-DD).ipynb" and lets the new version open, saying so;
 *  4. carries out a "Reset this lab" the learner asked for (keeping a backup copy).
 * Then it shows a toolbar (Download my notebook, Reset this lab, kept copies) and records
 * lab runs and check results in the site's progress store (localStorage "course-progress").
 *
 * JupyterLite keeps files in IndexedDB through localforage: database
 * "JupyterLite Storage - <baseUrl>", store "files", key = path, value = the contents model
 * ({name, path, type, format, content, ...}); store "checkpoints" holds older versions.
 */
(function () {
  "use strict";
  var resolveGate;
  window.courseLabGate = new Promise(function (resolve) { resolveGate = resolve; });

  var params = new URLSearchParams(location.search);
  var path = params.get("path") || "";
  var liteRoot = new URL("../", location.href);
  var DB_NAME = "JupyterLite Storage - " + liteRoot.pathname;
  var PROGRESS_KEY = "course-progress";
  var STARTED_KEY = "course-lab-started";
  var ACTION_KEY = "course-lab-action";
  var NOTICE_KEY = "course-lab-notice";
  var COPY_RE = / \((my copy|backup) [^)]*\)(?=\.ipynb$)/;
  var manifest = null;

  function today() { return new Date().toISOString().slice(0, 10); }
  function stamp() { return new Date().toISOString().slice(0, 16).replace("T", " ").replace(":", ""); }
  function basename(p) { return p.split("/").pop(); }
  function dirname(p) { var i = p.lastIndexOf("/"); return i < 0 ? "" : p.slice(0, i + 1); }
  function labOf(p) { return p.replace(COPY_RE, "").replace(/\.ipynb$/, ""); }
  function isCopy(p) { return COPY_RE.test(p); }
  function labUrl(p) { return location.pathname + "?path=" + encodeURIComponent(p).replace(/%2F/g, "/"); }

  /* ---------- storage probes ---------- */

  function probeLocalStorage() {
    try {
      var k = "course-probe";
      localStorage.setItem(k, "1");
      localStorage.removeItem(k);
      return true;
    } catch (e) { return false; }
  }
  var lsSession = {};
  function sget(store, key) {
    try { return store.getItem(key); } catch (e) { return lsSession[key] || null; }
  }
  function sset(store, key, value) {
    try { store.setItem(key, value); return true; } catch (e) { lsSession[key] = value; return false; }
  }
  function sdel(store, key) {
    try { store.removeItem(key); } catch (e) { delete lsSession[key]; }
  }

  function req(r) {
    return new Promise(function (resolve, reject) {
      r.onsuccess = function () { resolve(r.result); };
      r.onerror = function () { reject(r.error); };
    });
  }

  /** Open JupyterLite's database without ever creating it (a new one is left to the app). */
  function openDb() {
    return new Promise(function (resolve, reject) {
      var r;
      try { r = window.indexedDB.open(DB_NAME); } catch (e) { reject(e); return; }
      var fresh = false;
      r.onupgradeneeded = function () { fresh = true; r.transaction.abort(); };
      r.onsuccess = function () {
        var db = r.result;
        if (!db.objectStoreNames.contains("files")) { db.close(); resolve(null); return; }
        resolve(db);
      };
      r.onerror = function (ev) {
        if (fresh) { if (ev && ev.preventDefault) ev.preventDefault(); resolve(null); }
        else reject(r.error);
      };
      r.onblocked = function () { reject(new Error("storage is busy in another tab")); };
    });
  }

  function probeIndexedDb() {
    if (!window.indexedDB || typeof window.indexedDB.open !== "function") return Promise.resolve(false);
    return new Promise(function (resolve) {
      var name = "course-probe";
      var r;
      try { r = window.indexedDB.open(name); } catch (e) { resolve(false); return; }
      var timer = setTimeout(function () { resolve(false); }, 3000);
      r.onsuccess = function () {
        clearTimeout(timer);
        r.result.close();
        try { window.indexedDB.deleteDatabase(name); } catch (e) { /* ignore */ }
        resolve(true);
      };
      r.onerror = function () { clearTimeout(timer); resolve(false); };
    });
  }

  function getFile(db, key) {
    return req(db.transaction("files").objectStore("files").get(key));
  }
  function allKeys(db) {
    return req(db.transaction("files").objectStore("files").getAllKeys());
  }
  /** Move (or copy) a saved file and its checkpoints to a new path in one transaction. */
  function moveFile(db, from, to, keepOriginal) {
    return new Promise(function (resolve, reject) {
      var stores = ["files"];
      if (db.objectStoreNames.contains("checkpoints")) stores.push("checkpoints");
      var tx = db.transaction(stores, "readwrite");
      var files = tx.objectStore("files");
      files.get(from).onsuccess = function (ev) {
        var model = ev.target.result;
        if (!model) return;
        var copy = Object.assign({}, model, {
          name: basename(to), path: to, last_modified: new Date().toISOString(),
        });
        files.put(copy, to);
        if (!keepOriginal) files.delete(from);
      };
      if (stores.length > 1) {
        var cps = tx.objectStore("checkpoints");
        cps.get(from).onsuccess = function (ev) {
          if (ev.target.result) {
            cps.put(ev.target.result, to);
            if (!keepOriginal) cps.delete(from);
          }
        };
      }
      tx.oncomplete = function () { resolve(); };
      tx.onerror = function () { reject(tx.error); };
      tx.onabort = function () { reject(tx.error || new Error("storage transaction aborted")); };
    });
  }
  function freePath(keys, base) {
    var candidate = base + ".ipynb";
    for (var n = 2; keys.indexOf(candidate) >= 0; n++) candidate = base + " " + n + ".ipynb";
    return candidate;
  }

  /* ---------- the toolbar ---------- */

  var bar, statusEl, copiesEl, actionsEl;
  function ensureBar() {
    if (bar) return bar;
    bar = document.createElement("div");
    bar.id = "course-lab-bar";
    bar.className = "course-lab-bar";
    bar.setAttribute("role", "region");
    bar.setAttribute("aria-label", "Lab toolbar");
    var home = document.createElement("a");
    home.className = "course-lab-home";
    home.href = new URL("../", liteRoot).href;
    home.textContent = "← Course";
    statusEl = document.createElement("div");
    statusEl.className = "course-lab-status";
    statusEl.setAttribute("role", "status");
    statusEl.setAttribute("aria-live", "polite");
    actionsEl = document.createElement("div");
    actionsEl.className = "course-lab-actions";
    copiesEl = document.createElement("div");
    copiesEl.className = "course-lab-copies";
    bar.appendChild(home);
    bar.appendChild(statusEl);
    bar.appendChild(copiesEl);
    bar.appendChild(actionsEl);
    document.body.insertBefore(bar, document.body.firstChild);
    fitBar();
    window.addEventListener("resize", fitBar);
    return bar;
  }
  var lastHeight = -1;
  function fitBar() {
    if (!bar) return;
    var h = bar.offsetHeight;
    document.documentElement.style.setProperty("--course-lab-bar", h + "px");
    if (h !== lastHeight) {
      lastHeight = h;
      // let the app's layout refit to the space left under the bar
      setTimeout(function () { window.dispatchEvent(new Event("resize")); }, 0);
    }
  }
  function say(kind, html) {
    ensureBar();
    var p = document.createElement("p");
    p.className = "course-lab-msg course-lab-msg--" + kind;
    p.innerHTML = html;
    statusEl.appendChild(p);
    fitBar();
    return p;
  }
  function button(label, onClick, extra) {
    var b = document.createElement("button");
    b.type = "button";
    b.className = "course-lab-button" + (extra ? " " + extra : "");
    b.textContent = label;
    b.addEventListener("click", onClick);
    return b;
  }
  function esc(s) {
    return String(s).replace(/[&<>"']/g, function (c) {
      return { "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" }[c];
    });
  }
  function mb(bytes) { return Math.max(1, Math.round(bytes / 1e6)) + " MB"; }

  /* ---------- 1. storage ---------- */

  var canSave = true;
  /** Start the app on memory storage: config-utils fetches jupyter-lite.json, so patch it. */
  function useMemoryStorage() {
    var target = new URL("jupyter-lite.json", liteRoot).href;
    var memoryConfig = {
      enableMemoryStorage: "true",
      contentsStorageDrivers: JSON.stringify(["memoryStorageDriver"]),
      settingsStorageDrivers: JSON.stringify(["memoryStorageDriver"]),
      workspacesStorageDrivers: JSON.stringify(["memoryStorageDriver"]),
    };
    var original = window.fetch;
    window.fetch = function (input, init) {
      var url = typeof input === "string" ? input : (input && input.url) || String(input);
      var abs;
      try { abs = new URL(url, location.href); } catch (e) { abs = null; }
      if (!abs || abs.origin + abs.pathname !== target) return original.apply(this, arguments);
      return original.apply(this, arguments).then(function (res) {
        if (!res.ok) return res;
        return res.json().then(function (json) {
          json["jupyter-config-data"] = Object.assign(json["jupyter-config-data"] || {}, memoryConfig);
          return new Response(JSON.stringify(json), {
            status: 200, headers: { "Content-Type": "application/json" },
          });
        });
      });
    };
  }

  /* ---------- 2. size ---------- */

  function slowOrSmall() {
    var c = navigator.connection || {};
    var small = window.matchMedia && window.matchMedia("(max-width: 600px)").matches;
    var slow = c.saveData === true || /^(slow-2g|2g|3g)$/.test(c.effectiveType || "");
    return { small: small, slow: slow, any: small || slow };
  }
  function askToStart(bytes) {
    return new Promise(function (resolve) {
      var how = slowOrSmall();
      var gate = document.createElement("div");
      gate.className = "course-lab-gate";
      gate.setAttribute("role", "dialog");
      gate.setAttribute("aria-modal", "true");
      gate.setAttribute("aria-labelledby", "course-lab-gate-title");
      var why = how.slow ? "Your connection looks slow or set to save data." : "You are on a small screen.";
      gate.innerHTML =
        '<h1 id="course-lab-gate-title">Start this lab?</h1>' +
        "<p>" + esc(why) + " Starting the lab downloads <strong>about " +
        (bytes ? mb(bytes) : "25 MB") + "</strong> the first time (Python in WebAssembly and " +
        "the lab app); after that your browser keeps it.</p>" +
        "<p>The lab runs entirely in your browser. On a phone it works, but a wider screen " +
        "is more comfortable.</p>";
      var row = document.createElement("div");
      row.className = "course-lab-gate-actions";
      var start = button("Start the lab", function () {
        sset(localStorage, STARTED_KEY, new Date().toISOString());
        gate.remove();
        resolve(true);
      }, "course-lab-button--primary");
      var back = document.createElement("a");
      back.className = "course-lab-button";
      back.textContent = "Not now, back to the course";
      back.href = document.referrer && new URL(document.referrer).origin === location.origin
        ? document.referrer : new URL("../", liteRoot).href;
      row.appendChild(start);
      row.appendChild(back);
      gate.appendChild(row);
      document.body.appendChild(gate);
      start.focus();
    });
  }

  /* ---------- 3 and 4. versions, reset ---------- */

  function fetchPublished(p) {
    var url = new URL("files/" + p.split("/").map(encodeURIComponent).join("/"), liteRoot);
    return fetch(url, { cache: "no-cache" }).then(function (r) {
      return r.ok ? r.json() : null;
    }).catch(function () { return null; });
  }
  function versionOf(nb) {
    var c = nb && nb.metadata && nb.metadata.course;
    return c && c.version ? String(c.version) : null;
  }

  function pendingAction() {
    var raw = sget(sessionStorage, ACTION_KEY);
    if (!raw) return null;
    sdel(sessionStorage, ACTION_KEY);
    try { return JSON.parse(raw); } catch (e) { return null; }
  }

  async function reconcile(db) {
    var action = pendingAction();
    if (action && action.op === "reset" && action.path === path) {
      var keys = await allKeys(db);
      if (keys.indexOf(path) >= 0) {
        var backup = freePath(keys, path.replace(/\.ipynb$/, "") + " (backup " + stamp() + ")");
        await moveFile(db, path, backup, false);
        note("reset", backup);
      } else {
        note("reset", null);
      }
      return;
    }
    if (isCopy(path)) return;
    var saved = await getFile(db, path);
    if (!saved || !saved.content) return;
    var content = typeof saved.content === "string" ? safeParse(saved.content) : saved.content;
    var mine = versionOf(content);
    var published = await fetchPublished(path);
    var theirs = versionOf(published);
    if (!published || !theirs || mine === theirs) return;
    var allk = await allKeys(db);
    var copy = freePath(allk, path.replace(/\.ipynb$/, "") + " (my copy " + today() + ")");
    await moveFile(db, path, copy, false);
    note("updated", copy);
  }
  function safeParse(s) { try { return JSON.parse(s); } catch (e) { return null; } }

  function note(kind, copy) {
    var msg = { kind: kind, copy: copy, path: path, time: new Date().toISOString() };
    sset(sessionStorage, NOTICE_KEY, JSON.stringify(msg));
  }
  function showNotice() {
    var raw = sget(sessionStorage, NOTICE_KEY);
    if (!raw) return;
    var n = safeParse(raw);
    if (!n || n.path !== path) return;
    sdel(sessionStorage, NOTICE_KEY);
    var link = n.copy ? ' <a href="' + esc(labUrl(n.copy)) + '">' + esc(basename(n.copy)) + "</a>" : "";
    if (n.kind === "updated") {
      say("update", "<strong>This lab was updated on the site.</strong> You are looking at the " +
        "new version. Your work is kept, unchanged, in" + link + ".");
    } else if (n.kind === "reset") {
      say("info", "<strong>The lab was reset to the published version.</strong>" +
        (n.copy ? " Your previous work is kept in" + link + "." : ""));
    }
  }

  async function listCopies(db) {
    var keys = db ? await allKeys(db) : [];
    var lab = labOf(path);
    var mine = keys.filter(function (k) {
      return typeof k === "string" && k !== path && isCopy(k) && labOf(k) === lab;
    }).sort();
    copiesEl.textContent = "";
    if (isCopy(path)) {
      var cur = document.createElement("p");
      cur.innerHTML = "This is your kept copy. <a href=\"" + esc(labUrl(lab + ".ipynb")) +
        "\">Open the current version of the lab</a>";
      copiesEl.appendChild(cur);
    }
    if (!mine.length) { fitBar(); return; }
    var det = document.createElement("details");
    var sum = document.createElement("summary");
    sum.textContent = "Your kept copies (" + mine.length + ")";
    det.appendChild(sum);
    var ul = document.createElement("ul");
    mine.forEach(function (k) {
      var li = document.createElement("li");
      var a = document.createElement("a");
      a.href = labUrl(k);
      a.textContent = basename(k);
      li.appendChild(a);
      ul.appendChild(li);
    });
    det.appendChild(ul);
    det.addEventListener("toggle", fitBar);
    copiesEl.appendChild(det);
    fitBar();
  }

  /* ---------- toolbar actions ---------- */

  function currentPanel() {
    var app = window.jupyterapp;
    if (!app || !app.shell) return null;
    var w = app.shell.currentWidget;
    if (w && w.context && w.context.model) return w;
    try {
      var it = app.shell.widgets("main");
      var x = it.next();
      while (x && !x.done) {
        if (x.value && x.value.context && x.value.context.path === path) return x.value;
        x = it.next();
      }
    } catch (e) { /* older iterator API */ }
    return null;
  }

  async function notebookJson() {
    var panel = currentPanel();
    if (panel) return panel.context.model.toJSON();
    try {
      var db = canSave ? await openDb() : null;
      if (db) {
        var saved = await getFile(db, path);
        db.close();
        if (saved && saved.content) {
          return typeof saved.content === "string" ? JSON.parse(saved.content) : saved.content;
        }
      }
    } catch (e) { /* fall through */ }
    return fetchPublished(path);
  }

  async function download() {
    var nb = await notebookJson();
    if (!nb) { say("error", "Could not read the notebook to download it."); return; }
    var blob = new Blob([JSON.stringify(nb, null, 1) + "\n"], { type: "application/x-ipynb+json" });
    var a = document.createElement("a");
    a.href = URL.createObjectURL(blob);
    a.download = basename(path) || "notebook.ipynb";
    document.body.appendChild(a);
    a.click();
    setTimeout(function () { URL.revokeObjectURL(a.href); a.remove(); }, 1000);
  }

  async function reset() {
    var ok = window.confirm("Reset this lab to the published version?\n\nYour current notebook " +
      (canSave ? "is kept as a backup copy, which you can open from \u201cYour kept copies\u201d."
               : "will be lost: this browser is not saving files. Download it first to keep it."));
    if (!ok) return;
    var panel = currentPanel();
    if (panel && canSave) {
      try { await panel.context.save(); } catch (e) { /* keep going: the saved copy is backed up */ }
    }
    if (panel) { try { panel.context.model.dirty = false; } catch (e) { /* ignore */ } }
    if (canSave) {
      sset(sessionStorage, ACTION_KEY, JSON.stringify({ op: "reset", path: path }));
      location.reload();
    } else {
      if (panel) {
        var published = await fetchPublished(path);
        if (published) { panel.context.model.fromJSON(published); panel.context.model.dirty = false; }
      }
      say("info", "The lab was reset to the published version.");
    }
  }

  function addActions() {
    actionsEl.textContent = "";
    if (!path) return;
    actionsEl.appendChild(button("Download my notebook", download));
    actionsEl.appendChild(button("Reset this lab", reset));
    fitBar();
  }

  /* ---------- progress: lab runs and checks ---------- */

  var ranThisSession = false;
  function loadProgress() {
    var raw = sget(localStorage, PROGRESS_KEY);
    var p = raw ? safeParse(raw) : null;
    if (!p || p.format !== "course-progress") {
      p = { format: "course-progress", version: 1, chapters: {}, labs: {}, exercises: {} };
    }
    p.chapters = p.chapters || {}; p.labs = p.labs || {}; p.exercises = p.exercises || {};
    return p;
  }
  var progressWarned = false;
  function saveProgress(p) {
    p.updated = new Date().toISOString();
    if (!sset(localStorage, PROGRESS_KEY, JSON.stringify(p)) && !progressWarned) {
      progressWarned = true;
      say("warn", "Your progress (labs run, checks passed) cannot be saved in this browser; " +
        "it will be forgotten when you close this tab.");
    }
  }
  function recordLab(field) {
    var lab = labOf(path);
    if (!lab) return;
    var p = loadProgress();
    var entry = p.labs[lab] || {};
    var now = new Date().toISOString();
    if (field === "opened") entry.opened = entry.opened || now;
    entry["last" + field[0].toUpperCase() + field.slice(1)] = now;
    if (field === "ran") entry.ran = entry.ran || now;
    p.labs[lab] = entry;
    saveProgress(p);
  }
  function recordCheck(el) {
    var ex = el.getAttribute("data-exercise");
    var status = el.getAttribute("data-status");
    if (!ex || !/^(passed|failed|not-yet)$/.test(status || "")) return;
    var p = loadProgress();
    var now = new Date().toISOString();
    var entry = p.exercises[ex] || {};
    entry.status = status;
    entry.time = now;
    entry.lab = labOf(path);
    if (status === "passed") entry.passed = entry.passed || now;
    p.exercises[ex] = entry;
    saveProgress(p);
  }
  function watchRuns() {
    var seen = new WeakSet();
    function scan(root) {
      if (!root || root.nodeType !== 1) return;
      var found = root.matches && root.matches(".course-check") ? [root] : [];
      found = found.concat(Array.prototype.slice.call(root.querySelectorAll(".course-check")));
      found.forEach(function (el) {
        if (seen.has(el)) return;
        seen.add(el);
        // outputs saved with the notebook re-render on load; only fresh runs count
        if (ranThisSession) recordCheck(el);
      });
    }
    var obs = new MutationObserver(function (muts) {
      for (var i = 0; i < muts.length; i++) {
        var m = muts[i];
        var t = m.target.nodeType === 1 ? m.target : m.target.parentElement;
        if (!ranThisSession && t && t.closest && t.closest(".jp-InputPrompt") &&
            /\[\*\]/.test(t.closest(".jp-InputPrompt").textContent)) {
          ranThisSession = true;
          recordLab("ran");
        }
        for (var j = 0; j < m.addedNodes.length; j++) scan(m.addedNodes[j]);
      }
    });
    obs.observe(document.body, { childList: true, subtree: true, characterData: true });
  }

  /* ---------- start ---------- */

  async function main() {
    if (document.readyState === "loading") {
      await new Promise(function (r) { document.addEventListener("DOMContentLoaded", r, { once: true }); });
    }
    document.documentElement.classList.add("course-lab-page");
    ensureBar();
    try {
      manifest = await fetch(new URL("course-lab.json", liteRoot), { cache: "no-cache" })
        .then(function (r) { return r.ok ? r.json() : null; });
    } catch (e) { manifest = null; }

    var lsOk = probeLocalStorage();
    var idbOk = await probeIndexedDb();
    canSave = idbOk;
    if (!idbOk) {
      useMemoryStorage();
      say("warn", "<strong>This browser is not saving files for this site</strong> (private " +
        "browsing, or storage is disabled or full). The lab works, but your edits last only " +
        "until you close this tab: use <em>Download my notebook</em> to keep them.");
    } else if (!lsOk) {
      say("warn", "This browser does not let the site save your progress (storage is full or " +
        "disabled): the lab and your notebook still work, but checks you pass are not recorded.");
    }
    if (navigator.storage && navigator.storage.estimate && idbOk) {
      navigator.storage.estimate().then(function (e) {
        if (e && e.quota && e.usage / e.quota > 0.95) {
          say("warn", "Storage for this site is almost full: saving may fail. Download your " +
            "notebook to keep it, and delete old copies.");
        }
      }).catch(function () {});
    }

    if (slowOrSmall().any && !sget(localStorage, STARTED_KEY)) {
      var total = manifest && manifest.download ? manifest.download.total : 0;
      await askToStart(total);
    }

    var db = null;
    if (idbOk && path) {
      try {
        db = await openDb();
        if (db) await reconcile(db);
      } catch (e) {
        console.warn("course lab guard:", e);
      }
    }
    showNotice();
    resolveGate();

    addActions();
    if (db) {
      try { await listCopies(db); } finally { db.close(); }
    } else if (isCopy(path)) {
      listCopies(null);
    }
    if (path) recordLab("opened");
    watchRuns();
  }

  main().catch(function (e) {
    console.error("course lab guard:", e);
    resolveGate();
  });
})();
