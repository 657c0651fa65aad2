/* Learner progress, kept in this browser only (localStorage "course-progress").
 *
 * Records which chapters were read (scrolled to the end, or a few minutes on the page) and
 * shows, at a glance, chapters read, labs run and exercises passed: on the outline tables
 * (landing page, chapter list), next to lab buttons, and on Start → Your progress, which
 * also exports, imports (validated, merged) and resets it. The lab pages add lab runs and
 * check results to the same store (lab-guard.js): the site and the labs share one origin.
 *
 * Also: the size of a first lab start next to every lab button (from lite/course-lab.json,
 * measured at build time), and text alternatives for Mermaid diagrams.
 * And, on a page with a lab button, it warms the lab's runtime while the learner reads: once
 * the page has been idle a few seconds, it fetches the files every lab start waits for
 * (Pyodide's core, its lock and the start-up wheels: course-lab.json's "warm" list, all of
 * this site) into the browser's cache, one at a time, at low priority; a lab opened later
 * starts from the cache. Never on a connection that saves data, is slow or is cellular,
 * never where the lab would first show its size notice (small screen), never more than
 * once per browser and build, and only from this site. window.courseLabWarm says what it did.
 * When the browser will not save (private mode, storage disabled or full) every page says
 * so and keeps working from memory.
 */
(function () {
  "use strict";
  var KEY = "course-progress";
  var FORMAT = "course-progress";
  var VERSION = 1;
  var READ_AFTER_MS = 3 * 60 * 1000;
  var STATUSES = ["not-yet", "failed", "passed"];
  var here = document.currentScript && document.currentScript.src;
  var ROOT = here ? new URL("../../", here) : new URL("/", location.href);

  /* ---------- the store ---------- */

  var memory = null;
  var storageOk = (function () {
    try {
      localStorage.setItem("course-probe", "1");
      localStorage.removeItem("course-probe");
      return true;
    } catch (e) { return false; }
  })();

  function empty() {
    return { format: FORMAT, version: VERSION, chapters: {}, labs: {}, exercises: {} };
  }
  function load() {
    var raw = null;
    try { raw = localStorage.getItem(KEY); } catch (e) { raw = null; }
    var p = null;
    if (raw) { try { p = JSON.parse(raw); } catch (e) { p = null; } }
    if (memory && (!p || (memory.updated || "") > (p.updated || ""))) p = memory;
    if (!p || p.format !== FORMAT) p = empty();
    p.chapters = p.chapters || {}; p.labs = p.labs || {}; p.exercises = p.exercises || {};
    return p;
  }
  function save(p) {
    p.updated = new Date().toISOString();
    memory = p;
    try {
      localStorage.setItem(KEY, JSON.stringify(p));
      return true;
    } catch (e) {
      storageOk = false;
      showStorageNotice();
      return false;
    }
  }

  /* ---------- helpers ---------- */

  function el(tag, attrs, text) {
    var e = document.createElement(tag);
    Object.keys(attrs || {}).forEach(function (k) {
      if (k === "class") e.className = attrs[k]; else e.setAttribute(k, attrs[k]);
    });
    if (text != null) e.textContent = text;
    return e;
  }
  function chapterOf(href) {
    try {
      var m = /\/chapters\/(\d+)-[^/]+\/?(index\.html)?$/.exec(new URL(href, location.href).pathname);
      return m ? parseInt(m[1], 10) : null;
    } catch (e) { return null; }
  }
  function earliest(a, b) { return !a ? b || null : !b ? a : (a < b ? a : b); }
  function latest(a, b) { return !a ? b || null : !b ? a : (a > b ? a : b); }
  function mb(bytes) { return Math.max(1, Math.round(bytes / 1e6)) + " MB"; }
  var manifest = null;
  var manifestP = fetch(new URL("lite/course-lab.json", ROOT).href)
    .then(function (r) { return r.ok ? r.json() : null; })
    .then(function (m) { manifest = m; return m; })
    .catch(function () { return null; });

  /* ---------- storage notice ---------- */

  function showStorageNotice() {
    if (storageOk) return;
    var inner = document.querySelector(".md-content__inner");
    if (!inner || inner.querySelector(".course-storage-notice")) return;
    var box = el("div", { "class": "admonition warning course-storage-notice", role: "status" });
    box.appendChild(el("p", { "class": "admonition-title" }, "Your progress is not being saved"));
    box.appendChild(el("p", {}, "This browser does not let the site store data (private " +
      "browsing, or storage is disabled or full). Everything works, but the chapters you read " +
      "and the checks you pass are forgotten when you close this tab. On Your progress you " +
      "can still export what this tab has recorded."));
    inner.insertBefore(box, inner.firstChild);
  }

  /* ---------- chapters read ---------- */

  var readTimer = null;
  function trackChapter() {
    if (readTimer) { clearTimeout(readTimer); readTimer = null; }
    var n = chapterOf(location.href);
    if (n == null) return;
    var p = load();
    var c = p.chapters[n] || {};
    c.visited = c.visited || new Date().toISOString();
    c.lastVisited = new Date().toISOString();
    p.chapters[n] = c;
    save(p);
    function markRead(why) {
      var q = load();
      var cc = q.chapters[n] || {};
      if (!cc.read) {
        cc.read = new Date().toISOString();
        cc.readBy = why;
        q.chapters[n] = cc;
        save(q);
      }
    }
    readTimer = setTimeout(function () { markRead("time"); }, READ_AFTER_MS);
    var article = document.querySelector(".md-content__inner");
    if (!article || !("IntersectionObserver" in window)) return;
    var end = el("div", { "class": "course-read-sentinel", "aria-hidden": "true" });
    article.appendChild(end);
    var io = new IntersectionObserver(function (entries) {
      entries.forEach(function (e) {
        if (e.isIntersecting && (window.scrollY > 0 ||
            document.documentElement.scrollHeight <= window.innerHeight + 50)) {
          markRead("scroll");
          io.disconnect();
        }
      });
    });
    io.observe(end);
  }

  /* ---------- at a glance ---------- */

  function labsOfChapter(n) {
    if (!manifest) return [];
    var prefix = "ch" + (n < 10 ? "0" : "") + n + "/";
    return Object.keys(manifest.labs).filter(function (k) { return k.indexOf(prefix) === 0; });
  }
  function exerciseCounts(labs, p) {
    var total = 0, passed = 0;
    labs.forEach(function (lab) {
      (manifest.labs[lab].exercises || []).forEach(function (ex) {
        total++;
        if (p.exercises[ex] && p.exercises[ex].passed) passed++;
      });
    });
    return { total: total, passed: passed };
  }
  function badge(kind, text, label) {
    var b = el("span", { "class": "course-badge course-badge--" + kind }, text);
    if (label) b.setAttribute("title", label);
    return b;
  }
  function decorateOutline(p) {
    var tables = [];
    document.querySelectorAll(".md-typeset table").forEach(function (t) {
      var links = t.querySelectorAll("a[href]");
      var chapterLinks = Array.prototype.filter.call(links, function (a) { return chapterOf(a.href) != null; });
      if (chapterLinks.length) tables.push({ table: t, links: chapterLinks });
    });
    tables.forEach(function (t) {
      t.table.setAttribute("data-outline", "");
      t.links.forEach(function (a) {
        var n = chapterOf(a.href);
        var cell = a.closest("td") || a.parentElement;
        cell.querySelectorAll(".course-badge").forEach(function (b) { b.remove(); });
        var c = p.chapters[n];
        var row = a.closest("tr");
        if (row) row.setAttribute("data-chapter", String(n));
        if (c && c.read) cell.appendChild(badge("read", "✓ read"));
        else if (c && c.visited) cell.appendChild(badge("visited", "started"));
        var labs = labsOfChapter(n);
        var ran = labs.filter(function (l) { return p.labs[l] && p.labs[l].ran; }).length;
        if (ran) cell.appendChild(badge("lab", "lab run"));
        if (labs.length) {
          var ec = exerciseCounts(labs, p);
          if (ec.total && ec.passed) {
            cell.appendChild(badge(ec.passed === ec.total ? "done" : "part",
              ec.passed + "/" + ec.total + " exercises"));
          }
        }
      });
    });
    return tables;
  }
  function summaryText(p, published) {
    var read = 0;
    published.forEach(function (n) { if (p.chapters[n] && p.chapters[n].read) read++; });
    var labsRun = Object.keys(p.labs).filter(function (k) { return p.labs[k].ran; }).length;
    var total = 0, passed = 0;
    if (manifest) {
      Object.keys(manifest.labs).forEach(function (k) {
        (manifest.labs[k].exercises || []).forEach(function (ex) {
          total++;
          if (p.exercises[ex] && p.exercises[ex].passed) passed++;
        });
      });
    } else {
      passed = Object.keys(p.exercises).filter(function (k) { return p.exercises[k].passed; }).length;
    }
    return read + " of " + published.length + " chapters read · " + labsRun + " lab" +
      (labsRun === 1 ? "" : "s") + " run · " + passed + (total ? " of " + total : "") +
      " exercise" + ((total || passed) === 1 ? "" : "s") + " passed";
  }
  function addSummary(p, tables) {
    document.querySelectorAll(".course-summary").forEach(function (s) { s.remove(); });
    if (!tables.length || document.getElementById("course-progress")) return;
    var published = [];
    tables[0].links.forEach(function (a) { published.push(chapterOf(a.href)); });
    var box = el("p", { "class": "course-summary" });
    box.appendChild(el("strong", {}, "Your progress in this browser: "));
    box.appendChild(document.createTextNode(summaryText(p, published) + ". "));
    var a = el("a", { href: new URL("start/progress/", ROOT).href }, "See, export or reset it");
    box.appendChild(a);
    tables[0].table.closest(".md-typeset__table, table").before(box);
  }
  function decorateLabButtons(p) {
    document.querySelectorAll("a.lab-button[data-lab]").forEach(function (a) {
      var lab = a.getAttribute("data-lab");
      var holder = a.closest(".lab-launch") || a.parentElement;
      holder.querySelectorAll(".course-lab-progress, .course-lab-size").forEach(function (x) { x.remove(); });
      if (manifest && manifest.download && manifest.download.total) {
        var size = el("span", { "class": "lab-note course-lab-size" },
          "First start downloads about " + mb(manifest.download.total) + ", once.");
        a.insertAdjacentElement("afterend", size);
      }
      var info = p.labs[lab];
      var parts = [];
      if (info && info.ran) parts.push("you ran this lab");
      if (manifest && manifest.labs[lab]) {
        var ec = exerciseCounts([lab], p);
        if (ec.total) parts.push(ec.passed + " of " + ec.total + " exercises passed");
      }
      if (parts.length && info) {
        holder.appendChild(el("span", { "class": "lab-note course-lab-progress" },
          parts.join(" · ").replace(/^./, function (c) { return c.toUpperCase(); }) + "."));
      }
    });
  }

  /* ---------- the progress page ---------- */

  function validate(data) {
    if (!data || typeof data !== "object" || Array.isArray(data)) {
      throw new Error("it does not contain a progress object");
    }
    if (data.format !== FORMAT) throw new Error("it is not a progress export from this course");
    if (typeof data.version !== "number" || data.version > VERSION) {
      throw new Error("it was made by a newer version of the course (format version " +
        data.version + "); reload this page and try again");
    }
    ["chapters", "labs", "exercises"].forEach(function (k) {
      if (data[k] != null && (typeof data[k] !== "object" || Array.isArray(data[k]))) {
        throw new Error("its \u201c" + k + "\u201d part is not a list of entries");
      }
    });
    return data;
  }
  function isTime(v) { return typeof v === "string" && !isNaN(Date.parse(v)); }
  function merge(into, from) {
    var n = { chapters: 0, labs: 0, exercises: 0, skipped: 0 };
    Object.keys(from.chapters || {}).forEach(function (k) {
      var c = from.chapters[k];
      if (!/^\d+$/.test(k) || !c || typeof c !== "object") { n.skipped++; return; }
      var cur = into.chapters[k] || {};
      cur.visited = earliest(cur.visited, isTime(c.visited) ? c.visited : null);
      cur.read = earliest(cur.read, isTime(c.read) ? c.read : null);
      cur.lastVisited = latest(cur.lastVisited, isTime(c.lastVisited) ? c.lastVisited : null);
      into.chapters[k] = cur; n.chapters++;
    });
    Object.keys(from.labs || {}).forEach(function (k) {
      var l = from.labs[k];
      if (!/^[\w.-]+\/[\w.-]+$/.test(k) || !l || typeof l !== "object") { n.skipped++; return; }
      var cur = into.labs[k] || {};
      ["opened", "ran"].forEach(function (f) { cur[f] = earliest(cur[f], isTime(l[f]) ? l[f] : null); });
      ["lastOpened", "lastRan"].forEach(function (f) { cur[f] = latest(cur[f], isTime(l[f]) ? l[f] : null); });
      into.labs[k] = cur; n.labs++;
    });
    Object.keys(from.exercises || {}).forEach(function (k) {
      var e = from.exercises[k];
      if (!e || typeof e !== "object" || STATUSES.indexOf(e.status) < 0 || !isTime(e.time)) {
        n.skipped++; return;
      }
      var cur = into.exercises[k] || {};
      if (!cur.time || e.time > cur.time) { cur.status = e.status; cur.time = e.time; cur.lab = e.lab || cur.lab; }
      cur.passed = earliest(cur.passed, isTime(e.passed) ? e.passed : null);
      into.exercises[k] = cur; n.exercises++;
    });
    return n;
  }

  function fmt(t) { return t ? new Date(t).toLocaleString() : ""; }

  function renderProgressPage(root) {
    var p = load();
    var panel = root.querySelector(".course-progress-panel");
    if (!panel) {
      panel = el("div", { "class": "course-progress-panel" });
      root.insertBefore(panel, root.firstChild);
    }
    panel.textContent = "";
    var published = [];
    root.querySelectorAll("table a[href]").forEach(function (a) {
      var c = chapterOf(a.href);
      if (c != null) published.push(c);
    });
    panel.appendChild(el("p", { "class": "course-summary-line" }, summaryText(p, published) + "."));

    var status = el("p", { "class": "course-progress-status", role: "status", "aria-live": "polite" });
    var actions = el("div", { "class": "course-progress-actions" });
    var exp = el("button", { type: "button", "class": "md-button md-button--primary" }, "Export my progress");
    exp.addEventListener("click", function () {
      var data = load();
      data.exported = new Date().toISOString();
      var blob = new Blob([JSON.stringify(data, null, 1) + "\n"], { type: "application/json" });
      var a = el("a", { href: URL.createObjectURL(blob),
        download: "course-progress-" + new Date().toISOString().slice(0, 10) + ".json" });
      document.body.appendChild(a);
      a.click();
      setTimeout(function () { URL.revokeObjectURL(a.href); a.remove(); }, 1000);
      status.textContent = "Exported: keep the file, then import it on your other device.";
    });
    var inputId = "course-progress-import";
    var label = el("label", { "for": inputId, "class": "md-button" }, "Import progress from a file");
    var input = el("input", { type: "file", id: inputId, accept: ".json,application/json",
      "class": "course-visually-hidden" });
    label.addEventListener("keydown", function (ev) {
      if (ev.key === "Enter" || ev.key === " ") { ev.preventDefault(); input.click(); }
    });
    label.setAttribute("tabindex", "-1");
    input.addEventListener("change", function () {
      var file = input.files && input.files[0];
      if (!file) return;
      var reader = new FileReader();
      reader.onload = function () {
        var data;
        try {
          data = JSON.parse(String(reader.result));
        } catch (e) {
          status.textContent = "Could not import \u201c" + file.name + "\u201d: it is not a JSON " +
            "file. Choose the file you exported from Your progress. Nothing was changed.";
          status.className = "course-progress-status course-progress-status--error";
          input.value = "";
          return;
        }
        try {
          validate(data);
        } catch (e) {
          status.textContent = "Could not import \u201c" + file.name + "\u201d: " + e.message +
            ". Nothing was changed.";
          status.className = "course-progress-status course-progress-status--error";
          input.value = "";
          return;
        }
        var cur = load();
        var n = merge(cur, data);
        var saved = save(cur);
        input.value = "";
        renderProgressPage(root);
        var st = root.querySelector(".course-progress-status");
        st.className = "course-progress-status course-progress-status--ok";
        st.textContent = "Imported and merged \u201c" + file.name + "\u201d: " + n.chapters +
          " chapters, " + n.labs + " labs, " + n.exercises + " exercises" +
          (n.skipped ? " (" + n.skipped + " unreadable entries skipped)" : "") + "." +
          (saved ? "" : " This browser is not saving, so it lasts until you close this tab.");
      };
      reader.onerror = function () {
        status.textContent = "Could not read \u201c" + file.name + "\u201d. Nothing was changed.";
      };
      reader.readAsText(file);
    });
    var reset = el("button", { type: "button", "class": "md-button" }, "Reset my progress");
    reset.addEventListener("click", function () {
      if (!window.confirm("Forget all your progress in this browser (chapters read, labs run, " +
          "exercises passed)? Your notebooks are not affected. Export first if you want to keep it.")) {
        status.textContent = "Nothing was reset.";
        return;
      }
      memory = null;
      try { localStorage.removeItem(KEY); } catch (e) { /* nothing stored */ }
      memory = empty();
      memory.updated = new Date().toISOString();
      renderProgressPage(root);
      root.querySelector(".course-progress-status").textContent = "Your progress was reset.";
    });
    actions.appendChild(exp);
    actions.appendChild(input);
    actions.appendChild(label);
    actions.appendChild(reset);
    panel.appendChild(actions);
    panel.appendChild(status);

    // exercises table
    var ids = {};
    if (manifest) {
      Object.keys(manifest.labs).forEach(function (lab) {
        (manifest.labs[lab].exercises || []).forEach(function (ex) { ids[ex] = lab; });
      });
    }
    Object.keys(p.exercises).forEach(function (ex) { ids[ex] = ids[ex] || p.exercises[ex].lab || ""; });
    var keys = Object.keys(ids).sort();
    panel.appendChild(el("h2", { id: "exercises" }, "Exercises"));
    if (!keys.length) {
      panel.appendChild(el("p", {}, "No exercises yet: open a lab from a chapter and run its check cells."));
    } else {
      var wrap = el("div", { "class": "md-typeset__table" });
      var table = el("table", { "class": "course-progress-exercises" });
      var head = el("tr");
      ["Exercise", "Lab", "Status", "When"].forEach(function (h) { head.appendChild(el("th", { scope: "col" }, h)); });
      var thead = el("thead"); thead.appendChild(head); table.appendChild(thead);
      var tbody = el("tbody");
      keys.forEach(function (ex) {
        var e = p.exercises[ex];
        var tr = el("tr", { "data-exercise": ex });
        tr.appendChild(el("td", {}, ex));
        tr.appendChild(el("td", {}, ids[ex]));
        var st = !e ? "not started" : e.status === "passed" ? "passed"
          : e.passed ? e.status + " (passed before)" : e.status;
        var td = el("td", { "data-status": e ? e.status : "none" }, st);
        tr.appendChild(td);
        tr.appendChild(el("td", {}, e ? fmt(e.time) : ""));
        tbody.appendChild(tr);
      });
      table.appendChild(tbody);
      wrap.appendChild(table);
      panel.appendChild(wrap);
    }
    panel.appendChild(el("h2", { id: "chapters" }, "Chapters"));
  }

  /* ---------- diagrams ---------- */

  function describeDiagrams() {
    document.querySelectorAll(".md-typeset .mermaid").forEach(function (d) {
      if (d.closest("figure.course-diagram")) return;
      var src = d.textContent || "";
      var m = /(?:^|\n)\s*accTitle\s*:\s*(.+)/.exec(src) || /(?:^|\n)\s*title\s*:\s*(.+)/.exec(src);
      var label = m ? m[1].trim() : "";
      if (!label) {
        var prev = d.previousElementSibling;
        while (prev && !/^(P|H[1-6])$/.test(prev.tagName)) prev = prev.previousElementSibling;
        label = prev ? prev.textContent.trim().replace(/¶$/, "") : "";
      }
      if (label.length > 240) label = label.slice(0, 237) + "…";
      label = "Diagram: " + (label || "see the text around it");
      var fig = el("figure", { "class": "course-diagram", role: "img", "aria-label": label });
      d.parentNode.insertBefore(fig, d);
      fig.appendChild(d);
    });
  }

  /* ---------- every page ---------- */

  /** Names for two of the theme's ARIA widgets that have none (axe: serious). */
  function nameThemeWidgets() {
    var bar = document.querySelector(".md-progress");
    if (bar && !bar.getAttribute("aria-label")) bar.setAttribute("aria-label", "Loading the page");
    var search = document.querySelector(".md-search[role=dialog]");
    if (search && !search.getAttribute("aria-label")) search.setAttribute("aria-label", "Search");
  }

  /* ---------- warming the lab's runtime while the learner reads ---------- */

  var WARM_KEY = "course-lab-warm";
  var warm = window.courseLabWarm = { state: "idle", reason: "", fetched: [] };
  var warmMemory = null;

  function warmBlocker() {
    var c = navigator.connection || {};
    if (c.saveData === true) return "save-data";
    if (/^(slow-2g|2g|3g)$/.test(c.effectiveType || "")) return "slow connection";
    if (c.type === "cellular") return "cellular connection";
    // the lab asks before a first download on a small screen (lab-guard.js): do not pre-empt it
    if (window.matchMedia && window.matchMedia("(max-width: 600px)").matches) return "small screen";
    return "";
  }
  // the warm list names content-addressed URLs (course.fingerprint): its hash names the build's runtime
  function warmId(m) {
    var text = m.warm.join("|"), h = 5381;
    for (var i = 0; i < text.length; i++) h = ((h * 33) ^ text.charCodeAt(i)) >>> 0;
    return m.warm.length + ":" + h.toString(16);
  }
  function warmDone(id) {
    if (!storageOk) return warmMemory === id;
    try { return localStorage.getItem(WARM_KEY) === id; } catch (e) { return warmMemory === id; }
  }
  function warmMark(id) {
    warmMemory = id;
    if (storageOk) { try { localStorage.setItem(WARM_KEY, id); } catch (e) { /* memory only */ } }
  }
  function warmUrls(m) {
    var lite = new URL("lite/", ROOT);
    return m.warm.map(function (path) {
      if (typeof path !== "string" || /^[a-z][a-z0-9+.-]*:|^\/|\.\.\//i.test(path)) return null;
      var u = new URL(path, lite);
      return u.origin === location.origin && u.href.indexOf(lite.href) === 0 ? u.href : null;
    }).filter(Boolean);
  }
  function drain(res) {
    if (!res.ok || !res.body) return res.ok;
    var reader = res.body.getReader();
    function next() { return reader.read().then(function (r) { return r.done ? true : next(); }); }
    return next();
  }
  function runWarm(urls) {
    warm.state = "running";
    return urls.reduce(function (chain, url) {
      return chain.then(function () {
        return fetch(url, { credentials: "same-origin", priority: "low" })
          .then(drain).then(function () { warm.fetched.push(url); });
      });
    }, Promise.resolve()).then(function () { warm.state = "done"; },
      function (e) { warm.state = "failed"; warm.reason = String(e); });
  }
  function scheduleWarm() {
    if (warm.state !== "idle" || !document.querySelector("a.lab-button[data-lab]")) return;
    warm.state = "waiting";
    manifestP.then(function (m) {
      var blocker = warmBlocker();
      if (!m || !Array.isArray(m.warm) || !m.warm.length) blocker = blocker || "no warm list";
      else if (warmDone(warmId(m))) blocker = blocker || "already warmed";
      if (blocker) { warm.state = "skipped"; warm.reason = blocker; return; }
      var delay = typeof window.courseLabWarmDelay === "number" ? window.courseLabWarmDelay : 5000;
      setTimeout(function () {
        var idle = window.requestIdleCallback || function (f) { setTimeout(f, 1); };
        idle(function () {
          if (warmDone(warmId(m)) || warmBlocker()) { warm.state = "skipped"; warm.reason = "changed"; return; }
          warmMark(warmId(m));  // before the first fetch: never twice, even if left halfway
          runWarm(warmUrls(m));
        }, { timeout: 10000 });
      }, delay);
    });
  }

  function onPage() {
    scheduleWarm();
    nameThemeWidgets();
    showStorageNotice();
    trackChapter();
    describeDiagrams();
    var p = load();
    var tables = decorateOutline(p);
    decorateLabButtons(p);
    addSummary(p, tables);
    var root = document.getElementById("course-progress");
    if (root) renderProgressPage(root);
    manifestP.then(function () {
      var q = load();
      var t = decorateOutline(q);
      decorateLabButtons(q);
      addSummary(q, t);
      if (root && document.body.contains(root)) renderProgressPage(root);
    });
  }

  window.addEventListener("storage", function (ev) {
    if (ev.key === KEY) onPageRefresh();
  });
  function onPageRefresh() {
    var p = load();
    var t = decorateOutline(p);
    decorateLabButtons(p);
    addSummary(p, t);
    var root = document.getElementById("course-progress");
    if (root) renderProgressPage(root);
  }

  if (window.document$ && typeof window.document$.subscribe === "function") {
    window.document$.subscribe(function () { onPage(); });
  } else if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", onPage);
  } else {
    onPage();
  }
  window.courseProgress = { load: load, save: save, merge: merge, validate: validate };
})();
