// The script of pyscope's HTML report (viewer/report.c embeds it). It reads
// the run's data from the page's <script id="pyscope-data"> element and
// draws every tab from it: nothing is fetched. Names from the program only
// ever reach the page as text (textContent, title), never as markup.
"use strict";
(function () {
  const D = JSON.parse(document.getElementById("pyscope-data").textContent);
  const STATES = ["running", "native", "idle", "gil", "runnable"];
  const STATE_TEXT = {
    running: "running Python", native: "native, without the GIL", idle: "idle",
    gil: "waiting for the GIL", runnable: "runnable, waiting for a CPU",
  };
  const ROW = 18; // px per flame graph level
  const $ = (id) => document.getElementById(id);

  // An element with attributes and children (strings become text nodes).
  function el(tag, attrs, ...kids) {
    const e = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (k === "text") e.textContent = v;
      else if (k === "class") e.className = v;
      else if (k.startsWith("on")) e.addEventListener(k.slice(2), v);
      else if (k === "style") e.style.cssText = v;
      else e.setAttribute(k, v);
    }
    for (const kid of kids) if (kid != null) e.append(kid);
    return e;
  }

  // ---- numbers as the terminal shows them ----
  function fmtInt(n) { return Math.round(n).toString().replace(/\B(?=(\d{3})+(?!\d))/g, ","); }
  function fmtNs(ns) {
    if (ns == null) return "";
    const a = Math.abs(ns);
    if (a >= 3600e9) return `${Math.floor(ns / 3600e9)} h ${String(Math.floor(ns % 3600e9 / 60e9)).padStart(2, "0")} min`;
    if (a >= 120e9) return `${Math.floor(ns / 60e9)} min ${String(Math.floor(ns % 60e9 / 1e9)).padStart(2, "0")} s`;
    if (a >= 1e9) return `${(ns / 1e9).toFixed(2)} s`;
    if (a >= 1e6) return `${(ns / 1e6).toFixed(1)} ms`;
    if (a >= 1e3) return `${(ns / 1e3).toFixed(1)} us`;
    return `${ns} ns`;
  }
  function fmtBytes(b) {
    const a = Math.abs(b);
    if (a < 1024) return `${b} B`;
    const units = ["KiB", "MiB", "GiB", "TiB"];
    let v = b / 1024, i = 0;
    while (Math.abs(v) >= 1024 && i < units.length - 1) { v /= 1024; i++; }
    return `${v.toFixed(1)} ${units[i]}`;
  }
  function fmtDelta(b) { return `${b > 0 ? "+" : ""}${fmtBytes(b)}`; }
  function fmtPct(part, whole) { return whole > 0 ? `${(100 * part / whole).toFixed(1)}%` : ""; }

  // ---- the run's tables ----
  // The run is `pyscope summary --json`'s: its processes hold their threads.
  const THREADS = D.run.processes.flatMap((p) => p.threads.map((t) => ({
    id: t.id, name: t.name, pid: p.pid, tid: t.os_tid, process_id: p.id, main: t.is_main,
    started_ns: t.started_ns, ended_ns: t.ended_ns })));
  const threads = new Map(THREADS.map((t) => [t.id, t]));
  const fnName = (f) => D.functions[f][0];
  const fnFile = (f) => D.functions[f][1];
  const fnKind = (f) => (D.functions[f][4] ? "pseudo" : D.functions[f][3]);
  const interval = D.interval_ns || 0;
  // A function at a line, as the reports name it: a native function's line
  // only where debug information gave one, a Python function's first line
  // when no line is asked for.
  function where(f, line) {
    const file = fnFile(f);
    if (!file) return "";
    const at = line || (fnKind(f) === "native" ? 0 : D.functions[f][2]);
    return at ? `${file}:${at}` : file;
  }
  function threadLabel(t) {
    return `${t.name || "thread " + t.id} (pid ${t.pid}${t.tid ? ", tid " + t.tid : ""})`;
  }
  // Each tree node's frames, root first, made once.
  const nodePaths = new Array(D.nodes.length);
  function nodePath(n) {
    if (nodePaths[n]) return nodePaths[n];
    const [parent, frame] = D.nodes[n];
    const p = parent < 0 ? [frame] : nodePath(parent).concat([frame]);
    nodePaths[n] = p;
    return p;
  }

  // ---- the filters every sampled view shares ----
  const F = { clock: "cpu", process: "", thread: "", states: new Set(STATES), order: "weight",
              lines: false, search: "" };
  function selected() {
    const out = [];
    for (const [tid, node, state, all, cpu, cpuTicks] of D.samples) {
      const t = threads.get(tid);
      if (F.thread && String(tid) !== F.thread) continue;
      if (F.process && t && String(t.pid) !== F.process) continue;
      if (!F.states.has(STATES[state])) continue;
      // wall time without a known interval: weighed in samples. The CPU
      // clock counts the samples that used CPU time, as the commands do.
      const w = F.clock === "cpu" ? cpu : interval ? all * interval : all;
      const ticks = F.clock === "cpu" ? cpuTicks : all;
      if (w > 0) out.push({ node, ticks, w, state });
    }
    return out;
  }
  function totalText(rows) {
    const w = rows.reduce((a, r) => a + r.w, 0), n = rows.reduce((a, r) => a + r.ticks, 0);
    const what = F.clock === "cpu" ? "CPU time" : "wall time";
    return { w, n, text: `${what}: ${fmtNs(w)} in ${fmtInt(n)} samples` };
  }

  function setupFilters() {
    const pids = [...new Set(THREADS.map((t) => t.pid))];
    $("f-process").append(el("option", { value: "", text: "all" }),
      ...pids.map((p) => el("option", { value: String(p), text: `pid ${p}` })));
    const sampled = new Set(D.samples.map((s) => s[0]));
    $("f-thread").append(el("option", { value: "", text: "all" }),
      ...THREADS.filter((t) => sampled.has(t.id))
        .map((t) => el("option", { value: String(t.id), text: threadLabel(t) })));
    for (const s of STATES) {
      const box = el("input", { type: "checkbox", id: `f-state-${s}` });
      box.checked = true;
      box.addEventListener("change", () => { box.checked ? F.states.add(s) : F.states.delete(s); redraw(); });
      $("f-states").append(el("label", { title: STATE_TEXT[s] }, box, ` ${s}`));
    }
    const on = (id, key, value) => $(id).addEventListener(id === "f-search" ? "input" : "change", () => {
      F[key] = value($(id));
      if (key !== "search") { sampleView.zoom = []; timeZoom = null; }
      redraw();
    });
    on("f-clock", "clock", (e) => e.value);
    on("f-process", "process", (e) => e.value);
    on("f-thread", "thread", (e) => e.value);
    on("f-order", "order", (e) => e.value);
    on("f-lines", "lines", (e) => e.checked);
    on("f-search", "search", (e) => e.value.trim().toLowerCase());
    $("f-reset").addEventListener("click", () => { sampleView.zoom = []; timeZoom = null; redraw(); });
  }

  // ---- the flame graph ----
  // The merged tree of the selected samples: frames merge by function (or
  // function and line), each node weighing its samples and those below.
  function buildTree(rows) {
    const root = { key: -1, frame: -1, w: 0, self: 0, kids: new Map(), parent: null, depth: 0 };
    for (const r of rows) {
      let n = root;
      n.w += r.w;
      for (const frame of nodePath(r.node)) {
        const key = F.lines ? frame : D.frames[frame][0];
        let k = n.kids.get(key);
        if (!k) {
          k = { key, frame, w: 0, self: 0, kids: new Map(), parent: n, depth: n.depth + 1 };
          n.kids.set(key, k);
        }
        k.w += r.w;
        n = k;
      }
      n.self += r.w;
    }
    return root;
  }
  function nodeName(n) { return n.frame < 0 ? "all" : fnName(D.frames[n.frame][0]); }
  function nodeWhere(n) {
    if (n.frame < 0) return "";
    const [f, line] = D.frames[n.frame];
    return where(f, F.lines ? line : 0);
  }
  function matches(n) {
    if (!F.search || n.frame < 0) return false;
    return nodeName(n).toLowerCase().includes(F.search) || nodeWhere(n).toLowerCase().includes(F.search);
  }
  function colour(n) {
    if (n.frame < 0) return "#ccd";
    const f = D.frames[n.frame][0], kind = fnKind(f), name = fnName(f);
    let h = 0;
    for (let i = 0; i < name.length; i++) h = (h * 31 + name.charCodeAt(i)) >>> 0;
    const v = h % 30;
    if (kind === "native") return `hsl(${200 + v}, 55%, ${72 + v % 8}%)`;
    if (kind === "builtin") return `hsl(${95 + v}, 45%, ${68 + v % 8}%)`;
    if (kind === "pseudo") return "hsl(0, 0%, 82%)";
    return `hsl(${10 + v}, 80%, ${62 + v % 10}%)`;
  }
  function sortedKids(n) {
    const kids = [...n.kids.values()];
    if (F.order === "weight") kids.sort((a, b) => b.w - a.w || nodeName(a).localeCompare(nodeName(b)));
    else kids.sort((a, b) => nodeName(a).localeCompare(nodeName(b)) || nodeWhere(a).localeCompare(nodeWhere(b)));
    return kids;
  }
  function describe(n, total, fmt) {
    const self = n.kids.size ? `, self ${fmt(n.self)} (${fmtPct(n.self, total)})` : "";
    const loc = nodeWhere(n);
    return `${nodeName(n)}${loc ? "  " + loc : ""}: ${fmt(n.w)} (${fmtPct(n.w, total)})${self}`;
  }
  // Draw the tree of rows into view's box: view.zoom is the path of keys
  // to the node shown whole, view.fmt writes a weight, view.what(w, n)
  // says what the total is.
  function renderFlame(view, rows) {
    const root = buildTree(rows);
    let top = root;
    const path = [];
    for (const key of view.zoom) {
      const k = top.kids.get(key);
      if (!k) break;
      top = k;
      path.push(key);
    }
    view.zoom = path;
    const box = view.box;
    box.textContent = "";
    view.detail.textContent = "";
    const width = box.clientWidth || 1000;
    const total = root.w;
    let drawn = 0, matched = 0, maxDepth = 0;
    const add = (n, x, w, cls) => {
      const d = el("div", { class: `node ${cls}`, title: describe(n, total, view.fmt),
                            "data-name": nodeName(n), "data-weight": String(n.w) });
      d.style.left = `${x}px`;
      d.style.top = `${(n.depth - 1) * ROW}px`;
      d.style.width = `${Math.max(w, 1)}px`;
      d.style.background = colour(n);
      d.textContent = w > 24 ? nodeName(n) : "";
      d.addEventListener("click", () => {
        const keys = [];
        for (let p = n; p && p.parent; p = p.parent) keys.unshift(p.key);
        view.zoom = keys;
        view.redraw();
      });
      d.addEventListener("mouseenter", () => { view.detail.textContent = describe(n, total, view.fmt); });
      box.append(d);
      drawn++;
      maxDepth = Math.max(maxDepth, n.depth);
    };
    // the zoomed node and its callers, full width; its callers dimmed
    for (let p = top; p && p.parent; p = p.parent) add(p, 0, width, p === top ? "" : "ancestor");
    const scale = top.w > 0 ? width / top.w : 0;
    const walk = (n, x) => {
      for (const k of sortedKids(n)) {
        const w = k.w * scale;
        if (w >= 0.5) {
          add(k, x, w, matches(k) ? "match" : F.search ? "dim" : "");
          walk(k, x);
        }
        x += w;
      }
    };
    walk(top, 0);
    // the weight under matching frames, each sample once
    if (F.search) {
      const seen = (n, inMatch) => {
        const hit = inMatch || matches(n);
        if (hit && !inMatch) matched += n.w;
        for (const k of n.kids.values()) seen(k, hit);
      };
      seen(root, false);
    }
    box.style.height = `${Math.max(maxDepth, 1) * ROW + 2}px`;
    const n = rows.reduce((a, r) => a + r.ticks, 0);
    const zoomText = top !== root ? ` — zoomed to ${nodeName(top)} (${fmtPct(top.w, total)})` : "";
    const searchText = F.search ? ` — "${F.search}" matches ${fmtPct(matched, total) || "0%"}` : "";
    const t = view.total;
    t.textContent = rows.length ? view.what(total, n) + zoomText + searchText : "Nothing in this selection.";
    t.dataset.weight = String(total);
    t.dataset.samples = String(n);
    t.dataset.matched = String(matched);
    t.dataset.zoom = top === root ? "" : nodeName(top);
    box.dataset.nodes = String(drawn);
  }
  const sampleView = {
    box: $("flame"), total: $("flame-total"), detail: $("flame-detail"), zoom: [], fmt: fmtNs,
    what: (w, n) => `${F.clock === "cpu" ? "CPU time" : "wall time"}: ${fmtNs(w)} in ${fmtInt(n)} samples`,
    redraw: () => drawFlame(),
  };
  function drawFlame() {
    if (F.order === "time") drawTimeOrder();
    else renderFlame(sampleView, selected());
  }

  // The time order: one thread's run from left to right in the timeline's
  // slices, each slice showing the stack most of its samples had, frames of
  // neighbouring slices with the same callers merged. A click on a frame
  // zooms to the time it spans.
  let timeZoom = null; // [first slice, last slice]
  function drawTimeOrder() {
    const T = D.timeline, box = sampleView.box, t = sampleView.total;
    box.textContent = "";
    sampleView.detail.textContent = "";
    const sampledThreads = T ? T.threads.filter((e) => e[2].length) : [];
    const main = THREADS.find((x) => x.main && sampledThreads.some((e) => e[0] === x.id));
    const tid = F.thread ? +F.thread : main ? main.id : sampledThreads.length ? sampledThreads[0][0] : null;
    const entry = sampledThreads.find((e) => e[0] === tid);
    if (!entry) {
      t.textContent = "No samples of this thread to show in time order.";
      t.dataset.weight = "0";
      box.dataset.nodes = "0";
      return;
    }
    const per = (T.t1 - T.t0 + 1) / T.buckets;
    const [from, to] = timeZoom || [0, T.buckets - 1];
    const width = box.clientWidth || 1000, scale = width / (to - from + 1);
    const chains = new Map();
    for (const [b, node] of entry[2]) {
      if (b < from || b > to) continue;
      const chain = [];
      for (let n = node; n >= 0; n = D.nodes[n][0]) chain.unshift(n);
      chains.set(b, chain);
    }
    let drawn = 0, depth = 0;
    const detail = sampleView.detail;
    for (let d = 0; ; d++) {
      let any = false, start = -1, cur = -1;
      const close = (end) => {
        if (cur < 0) return;
        const frame = D.nodes[cur][1], f = D.frames[frame][0];
        const name = fnName(f), x = (start - from) * scale, w = (end - start) * scale;
        const text = `${name}  ${where(f, F.lines ? D.frames[frame][1] : 0)}: ${fmtNs(Math.round(T.t0 + start * per))} to ${fmtNs(Math.round(T.t0 + end * per))}`;
        const hit = F.search && (name.toLowerCase().includes(F.search) || where(f, 0).toLowerCase().includes(F.search));
        const e = el("div", { class: `node ${hit ? "match" : F.search ? "dim" : ""}`, title: text, "data-name": name });
        e.style.left = `${x}px`;
        e.style.top = `${d * ROW}px`;
        e.style.width = `${Math.max(w, 1)}px`;
        e.style.background = colour({ frame });
        e.textContent = w > 24 ? name : "";
        const [a, z] = [start, end - 1];
        e.addEventListener("click", () => { timeZoom = [a, z]; drawFlame(); });
        e.addEventListener("mouseenter", () => { detail.textContent = text; });
        box.append(e);
        drawn++;
        depth = Math.max(depth, d + 1);
      };
      for (let b = from; b <= to + 1; b++) {
        const chain = chains.get(b);
        const n = chain && d < chain.length ? chain[d] : -1;
        if (n >= 0) any = true;
        if (n !== cur) {
          close(b);
          cur = n;
          start = b;
        }
      }
      if (!any) break;
    }
    box.style.height = `${Math.max(depth, 1) * ROW + 2}px`;
    const th = threads.get(tid);
    t.textContent = `time order of ${th ? threadLabel(th) : "thread " + tid}: ${fmtNs(Math.round(T.t0 + from * per))} to ${fmtNs(Math.round(T.t0 + (to + 1) * per))}, the stack most samples of each slice of ${fmtNs(Math.round(per))} had` + (timeZoom ? " (zoomed: 'reset zoom' shows the whole run)" : "");
    t.dataset.weight = String(entry[2].length);
    t.dataset.zoom = timeZoom ? `${timeZoom[0]}-${timeZoom[1]}` : "";
    box.dataset.nodes = String(drawn);
  }

  // ---- hot lines ----
  let linesSort = "self";
  function drawLines() {
    const rows = selected();
    const tot = totalText(rows);
    const stat = new Map(); // frame -> [self, total]
    for (const r of rows) {
      const path = nodePath(r.node), seen = new Set();
      path.forEach((frame, i) => {
        const f = D.frames[frame][0];
        if (D.functions[f][4]) return; // pseudo-functions have no line
        let s = stat.get(frame);
        if (!s) stat.set(frame, (s = [0, 0]));
        if (i === path.length - 1) s[0] += r.w;
        if (!seen.has(frame)) { seen.add(frame); s[1] += r.w; }
      });
    }
    // ranked as 'pyscope hot' ranks: the weight, the other weight, then file, line and name
    const byBytes = (x, y) => (x < y ? -1 : x > y ? 1 : 0);
    const place = ([frame]) => {
      const [f, line] = D.frames[frame];
      return [fnFile(f), line, fnName(f)];
    };
    const order = [...stat.entries()].sort((a, b) => {
      const [sa, ta] = a[1], [sb, tb] = b[1];
      const c = linesSort === "self" ? sb - sa || tb - ta : tb - ta || sb - sa;
      if (c) return c;
      const [fa, la, na] = place(a), [fb, lb, nb] = place(b);
      return (fa && fb && byBytes(fa, fb)) || la - lb || byBytes(na, nb);
    });
    const shown = order.slice(0, 200);
    const max = shown.reduce((m, [, s]) => Math.max(m, s[0]), 0);
    const head = el("tr", null,
      el("th", { class: `num sortable${linesSort === "self" ? " sorted" : ""}`, text: "self",
                 onclick: () => { linesSort = "self"; drawLines(); } }),
      el("th", { class: `num sortable${linesSort === "total" ? " sorted" : ""}`, text: "total",
                 onclick: () => { linesSort = "total"; drawLines(); } }),
      el("th", { class: "num", text: "self time" }), el("th", { text: "heat" }),
      el("th", { text: "line" }), el("th", { text: "function" }), el("th", { text: "code" }));
    const table = $("lines-table");
    table.textContent = "";
    table.append(el("thead", null, head));
    const body = el("tbody");
    for (const [frame, [self, total]] of shown) {
      const [f, line] = D.frames[frame];
      body.append(el("tr", { "data-name": fnName(f), "data-line": String(line), "data-self": String(self) },
        el("td", { class: "num", text: fmtPct(self, tot.w) }),
        el("td", { class: "num", text: fmtPct(total, tot.w) }),
        el("td", { class: "num", text: fmtNs(self) }),
        el("td", { class: "heat" }, el("div", { class: "bar", style: `width:${max ? 100 * self / max : 0}%` })),
        el("td", { class: "mono", text: where(f, line) }),
        el("td", { class: "mono", text: fnName(f) }),
        el("td", { class: "code", text: D.sources[frame] || "" })));
    }
    table.append(body);
    $("lines-total").textContent = rows.length
      ? `${tot.text}; ${fmtInt(stat.size)} lines, the first ${shown.length} shown`
      : "No samples in this selection.";
  }

  // ---- call statistics ----
  function drawCalls() {
    const tab = $("tab-calls");
    tab.textContent = "";
    const C = D.calls;
    if (!C) {
      tab.append(el("p", { class: "note", text: "No call statistics in this run: record them with 'pyscope profile --calls'." }));
      return;
    }
    const fns = new Map(C.functions.map((r) => [r[0], r]));
    const name = (id) => (id === 0 ? "<root>" : fns.has(id) ? fns.get(id)[1] : `function ${id}`);
    const loc = (id) => {
      const r = fns.get(id);
      return r && r[2] ? `${r[2]}:${r[3]}` : "";
    };
    const ncalls = (n, p) => (n === p ? fmtInt(n) : `${fmtInt(n)}/${fmtInt(p)}`);
    let sort = 8; // cumtime
    const cols = [["ncalls", 5], ["tottime", 7], ["percall", -1], ["cumtime", 8], ["percall", -2]];
    const table = el("table", { id: "calls-table" });
    const detail = el("div", { class: "detail-columns", id: "calls-detail" });
    tab.append(el("p", { class: "note", text: `${fmtInt(C.functions.reduce((a, r) => a + r[5], 0))} calls of ${fmtInt(C.functions.length)} functions, ${fmtNs(C.tottime_ns)} in them` }), table, detail);
    const pairTable = (title, rows, other) => el("div", null, el("h2", { text: title }),
      el("table", null, el("thead", null, el("tr", null, el("th", { class: "num", text: "ncalls" }),
        el("th", { class: "num", text: "tottime" }), el("th", { class: "num", text: "cumtime" }),
        el("th", { text: "function" }))),
      el("tbody", null, ...rows.map((p) => el("tr", null,
        el("td", { class: "num", text: ncalls(p[2], p[3]) }), el("td", { class: "num", text: fmtNs(p[4]) }),
        el("td", { class: "num", text: fmtNs(p[5]) }),
        el("td", { class: "mono" }, other(p) === 0 ? "<root>" :
          el("a", { class: "fn", text: `${name(other(p))}  ${loc(other(p))}`, onclick: () => show(other(p)) })))))));
    function show(id) {
      detail.textContent = "";
      for (const tr of table.querySelectorAll("tr.selected")) tr.classList.remove("selected");
      const row = table.querySelector(`tr[data-id="${id}"]`);
      if (row) { row.classList.add("selected"); row.scrollIntoView({ block: "nearest" }); }
      detail.dataset.id = String(id);
      detail.append(
        pairTable(`called by (${name(id)})`, C.pairs.filter((p) => p[1] === id).sort((a, b) => b[5] - a[5]), (p) => p[0]),
        pairTable(`calls (${name(id)})`, C.pairs.filter((p) => p[0] === id).sort((a, b) => b[5] - a[5]), (p) => p[1]));
    }
    function draw() {
      const rows = [...C.functions].sort((a, b) => b[sort] - a[sort]);
      table.textContent = "";
      table.append(el("thead", null, el("tr", null, ...cols.map(([label, col]) =>
        col > 0 ? el("th", { class: `num sortable${sort === col ? " sorted" : ""}`, text: label,
                             onclick: () => { sort = col; draw(); } })
          : el("th", { class: "num", text: label })),
        el("th", { text: "filename:lineno(function)" }))));
      table.append(el("tbody", null, ...rows.slice(0, 500).map((r) => el("tr", {
        class: "clickable", "data-id": String(r[0]), "data-name": r[1], "data-ncalls": String(r[5]),
        onclick: () => show(r[0]) },
        el("td", { class: "num", text: ncalls(r[5], r[6]) }),
        el("td", { class: "num", text: fmtNs(r[7]) }),
        el("td", { class: "num", text: r[5] ? fmtNs(Math.round(r[7] / r[5])) : "" }),
        el("td", { class: "num", text: fmtNs(r[8]) }),
        el("td", { class: "num", text: r[6] ? fmtNs(Math.round(r[8] / r[6])) : "" }),
        // as pstats prints them: a builtin by its name alone
        el("td", { class: "mono", text: r[4] === "builtin" || !r[2] ? r[1] : `${loc(r[0])}(${r[1]})` })))));
    }
    draw();
  }


  // ---- memory ----
  const M = D.memory;
  const memView = {
    box: $("mem-flame"), total: $("mem-total"), detail: $("mem-detail"), zoom: [], fmt: fmtBytes,
    what: (w, n) => `live memory of ${snapLabel(M.snapshots.find((s) => String(s.id) === $("m-snap").value))}: ${fmtBytes(w)} in ${fmtInt(n)} blocks`,
    redraw: () => drawMemory(),
  };
  function snapLabel(s) {
    return s ? `snapshot ${s.id}${s.label ? " '" + s.label + "'" : ""} (${s.trigger}, pid ${s.pid}, ${fmtNs(s.t_ns)})` : "";
  }
  function mframeText(k) {
    const [file, line, fn] = D.mframes[k];
    return `${file}:${line}${fn ? " (" + fn + ")" : ""}`;
  }
  // A traceback key's frames (mframes indices), oldest first: its tree
  // node's path from the root.
  function tbFrames(k) {
    const frames = [];
    for (let n = D.tbkeys[k][1]; n >= 0; n = D.tbnodes[n][0]) frames.push(D.tbnodes[n][1]);
    return frames.reverse();
  }
  function keyText(by, k) {
    if (by === "line") return mframeText(k);
    return (D.tbkeys[k][0] ? "[truncated] > " : "") + tbFrames(k).map(mframeText).join(" > ");
  }
  // A snapshot's list of a memory part ([[key, size, count]...]), from what
  // changed since its base, each list made once.
  const memLists = new Map();
  function memList(name, snap) {
    const id = `${name}:${snap}`;
    if (memLists.has(id)) return memLists.get(id);
    const chain = [];
    for (let s = snap; s != null && !memLists.has(`${name}:${s}`) && M[name][s]; s = M[name][s].base)
      chain.push(String(s));
    for (const s of chain.reverse()) {
      const e = M[name][s];
      const rows = new Map(e.base == null ? [] : memLists.get(`${name}:${e.base}`).map((r) => [r[0], r]));
      for (const k of e.gone) rows.delete(k);
      for (const r of e.rows) rows.set(r[0], r);
      memLists.set(`${name}:${s}`, [...rows.values()]);
    }
    if (!memLists.has(id)) memLists.set(id, []);
    return memLists.get(id);
  }
  function drawChart() {
    const NS = "http://www.w3.org/2000/svg", W = 1000, H = 160, P = 8;
    const snaps = M.snapshots.filter((s) => s.traced_bytes != null);
    const t0 = Math.min(...snaps.map((s) => s.t_ns)), t1 = Math.max(...snaps.map((s) => s.t_ns));
    const top = Math.max(1, ...snaps.map((s) => s.traced_bytes));
    const x = (t) => P + (t1 > t0 ? (t - t0) / (t1 - t0) : 0.5) * (W - 2 * P);
    const y = (b) => H - P - b / top * (H - 2 * P);
    const svg = document.createElementNS(NS, "svg");
    svg.setAttribute("viewBox", `0 0 ${W} ${H}`);
    svg.setAttribute("width", "100%");
    svg.setAttribute("height", String(H));
    svg.style.border = "1px solid #d8dce5";
    for (const proc of new Set(snaps.map((s) => s.process_id))) {
        const mine = snaps.filter((s) => s.process_id === proc).sort((a, b) => a.t_ns - b.t_ns);
        const line = document.createElementNS(NS, "polyline");
        line.setAttribute("points", mine.map((s) => `${x(s.t_ns)},${y(s.traced_bytes)}`).join(" "));
        line.setAttribute("fill", "none");
        line.setAttribute("stroke", "#2f5fb3");
        svg.append(line);
        for (const s of mine) {
            const c = document.createElementNS(NS, "circle");
            c.setAttribute("cx", x(s.t_ns));
            c.setAttribute("cy", y(s.traced_bytes));
            c.setAttribute("r", "5");
            c.setAttribute("fill", s.trigger === "peak" ? "#e4572e" : "#2f5fb3");
            c.setAttribute("data-id", String(s.id));
            c.style.cursor = "pointer";
            const title = document.createElementNS(NS, "title");
            title.textContent = `${snapLabel(s)}: ${fmtBytes(s.traced_bytes)} traced`;
            c.append(title);
            c.addEventListener("click", () => {
                $("m-snap").value = String(s.id);
                memView.zoom = [];
                drawMemory();
            });
            svg.append(c);
        }
    }
    $("mem-chart").append(el("div", { class: "note", text: `traced memory over time: up to ${fmtBytes(top)}, ${fmtNs(t1 - t0)} from the first snapshot to the last (a point is a snapshot; the peak is red)` }), svg);
  }
  function setupMemory() {
    if (!M) {
      $("tab-memory").textContent = "";
      $("tab-memory").append(el("p", { class: "note", text: "No memory snapshots in this run: record them with 'pyscope profile --memory'." }));
      return;
    }
    drawChart();
    const opts = (sel, none) => {
      if (none) sel.append(el("option", { value: "", text: none }));
      for (const s of M.snapshots) sel.append(el("option", { value: String(s.id), text: snapLabel(s) }));
    };
    opts($("m-snap"));
    opts($("m-base"), "nothing (statistics)");
    // the program's own peak (its children have theirs), else its last
    const top = (D.run.processes || []).find((p) => p.parent_id == null);
    const rootId = top && M.snapshots.some((s) => s.process_id === top.id)
                       ? top.id
                       : M.snapshots[0].process_id;
    const root = M.snapshots.filter((s) => s.process_id === rootId);
    const peak = root.find((s) => s.trigger === "peak") || root[root.length - 1];
    $("m-snap").value = String(peak.id);
    for (const id of ["m-snap", "m-base", "m-view"])
      $(id).addEventListener("change", () => { memView.zoom = []; drawMemory(); });
  }
  // A key's frames, oldest first, as (file, line) pairs.
  function keyFrames(by, k) {
    return by === "line" ? [D.mframes[k]] : tbFrames(k).map((f) => D.mframes[f]);
  }
  // Keys compared as tracemalloc compares tracebacks: frame by frame, oldest
  // first, by file name (code point order) then line; a traceback before its
  // extensions.
  function cmpKey(by, a, b) {
    const fa = keyFrames(by, a), fb = keyFrames(by, b);
    for (let i = 0; i < fa.length && i < fb.length; i++) {
      if (fa[i][0] !== fb[i][0]) return fa[i][0] < fb[i][0] ? -1 : 1;
      if (fa[i][1] !== fb[i][1]) return fa[i][1] - fb[i][1];
    }
    return fa.length - fb.length;
  }
  // tracemalloc's order: statistics by size, count; a comparison by the
  // change of size, size, the change of count, count; all descending, then
  // by traceback, descending.
  function memRows(by, snap, base) {
    const part = by === "line" ? "by_line" : "by_traceback";
    const now = new Map(memList(part, snap).map(([k, size, count]) => [k, [size, count]]));
    if (!base) {
      return [...now.entries()].map(([k, [size, count]]) => ({ k, size, count, sizeDiff: 0, countDiff: 0 }))
        .sort((a, b) => b.size - a.size || b.count - a.count || cmpKey(by, b.k, a.k));
    }
    const then = new Map(memList(part, base).map(([k, size, count]) => [k, [size, count]]));
    const keys = new Set([...now.keys(), ...then.keys()]);
    return [...keys].map((k) => {
      const [size, count] = now.get(k) || [0, 0], [s0, c0] = then.get(k) || [0, 0];
      return { k, size, count, sizeDiff: size - s0, countDiff: count - c0 };
    }).sort((a, b) => Math.abs(b.sizeDiff) - Math.abs(a.sizeDiff) || b.size - a.size ||
      Math.abs(b.countDiff) - Math.abs(a.countDiff) || b.count - a.count || cmpKey(by, b.k, a.k));
  }
  function drawMemory() {
    if (!M) return;
    const snap = $("m-snap").value, base = $("m-base").value, view = $("m-view").value;
    const table = $("mem-table");
    table.textContent = "";
    memView.box.style.display = view === "flame" ? "" : "none";
    if (view === "flame") {
      const rows = memList("traces", snap).map(([node, bytes, blocks]) => ({ node, w: bytes, ticks: blocks }))
        .filter((r) => r.w > 0 || r.ticks > 0); // a block of 0 bytes still counts
      renderFlame(memView, rows);
      return;
    }
    memView.detail.textContent = "";
    const rows = memRows(view, snap, base);
    const total = rows.reduce((a, r) => a + r.size, 0);
    const head = el("tr", null, el("th", { class: "num", text: "size" }), el("th", { class: "num", text: "count" }),
      ...(base ? [el("th", { class: "num", text: "size change" }), el("th", { class: "num", text: "count change" })] : []),
      el("th", { class: "num", text: "average" }), el("th", { text: view === "line" ? "line" : "traceback (outermost first)" }));
    table.append(el("thead", null, head), el("tbody", null, ...rows.slice(0, 300).map((r) => el("tr", {
      "data-key": keyText(view, r.k), "data-size": String(r.size), "data-size-diff": String(r.sizeDiff) },
      el("td", { class: "num", text: fmtBytes(r.size) }), el("td", { class: "num", text: fmtInt(r.count) }),
      ...(base ? [el("td", { class: "num", text: fmtDelta(r.sizeDiff) }),
                  el("td", { class: "num", text: `${r.countDiff > 0 ? "+" : ""}${fmtInt(r.countDiff)}` })] : []),
      el("td", { class: "num", text: r.count ? fmtBytes(Math.round(r.size / r.count)) : "" }),
      el("td", { class: "mono", text: keyText(view, r.k) })))));
    const s = M.snapshots.find((x) => String(x.id) === snap), b = M.snapshots.find((x) => String(x.id) === base);
    memView.total.textContent = `${snapLabel(s)}: ${fmtBytes(total)} in ${fmtInt(rows.reduce((a, r) => a + r.count, 0))} blocks, ${fmtInt(rows.length)} ${view === "line" ? "lines" : "tracebacks"}` +
      (b ? `; compared with ${snapLabel(b)}: ${fmtDelta(rows.reduce((a, r) => a + r.sizeDiff, 0))}` : "");
  }


  // ---- timeline ----
  const STATE_COLOUR = { running: "#e4572e", native: "#2f5fb3", idle: "#d8dce5", gil: "#f2c14e",
                         runnable: "#9b59b6" };
  function drawTimeline() {
    const T = D.timeline, box = $("timeline");
    box.textContent = "";
    if (!T) {
      $("tl-note").textContent = "No samples or collections to show over time.";
      return;
    }
    const span = T.t1 - T.t0 + 1, per = span / T.buckets, NS = "http://www.w3.org/2000/svg";
    $("tl-note").textContent = `${fmtNs(span)} of the run, in ${T.buckets} slices of ${fmtNs(Math.round(per))}: each thread's samples by state; below, the collections, snapshots and processes`;
    const legend = $("tl-legend");
    legend.textContent = "";
    for (const s of STATES) legend.append(el("span", { class: "swatch", style: `background:${STATE_COLOUR[s]}` }), STATE_TEXT[s]);
    const row = (label, title) => {
      const svg = document.createElementNS(NS, "svg");
      svg.setAttribute("viewBox", `0 0 ${T.buckets} 1`);
      svg.setAttribute("preserveAspectRatio", "none");
      const r = el("div", { class: "tl-row" }, el("div", { class: "tl-label", text: label, title: title || label }), svg);
      box.append(r);
      return [r, svg];
    };
    const rect = (svg, x, w, colour, title, attrs) => {
      const e = document.createElementNS(NS, "rect");
      e.setAttribute("x", String(x));
      e.setAttribute("y", "0");
      e.setAttribute("width", String(Math.max(w, 0.6)));
      e.setAttribute("height", "1");
      e.setAttribute("fill", colour);
      for (const [k, v] of Object.entries(attrs || {})) e.setAttribute(k, v);
      const t = document.createElementNS(NS, "title");
      t.textContent = title;
      e.append(t);
      e.addEventListener("mouseenter", () => { $("tl-detail").textContent = title; });
      svg.append(e);
    };
    const when = (b) => `${fmtNs(Math.round(T.t0 + b * per))}`;
    for (const [tid, buckets] of T.threads) {
      const t = threads.get(tid) || { id: tid, pid: "?" };
      const [r, svg] = row(threadLabel(t));
      let ticks = 0;
      // consecutive slices with the same most frequent state are one rect
      let run = null;
      const flush = () => {
        if (!run) return;
        const parts = STATES.map((s, i) => [s, run.counts[i]]).filter(([, n]) => n);
        const all = parts.reduce((a, [, n]) => a + n, 0);
        rect(svg, run.from, run.to - run.from + 1, STATE_COLOUR[run.state],
             `${threadLabel(t)}, ${when(run.from)} to ${when(run.to + 1)}: ` +
             parts.map(([s, n]) => `${s} ${fmtPct(n, all)}`).join(", "), { "data-state": run.state });
        run = null;
      };
      for (const [b, ...counts] of buckets) {
        ticks += counts.reduce((a, n) => a + n, 0);
        const top = STATES[counts.indexOf(Math.max(...counts))];
        if (run && (run.state !== top || run.to !== b - 1)) flush();
        if (!run) run = { from: b, to: b, state: top, counts: [0, 0, 0, 0, 0] };
        run.to = b;
        counts.forEach((n, i) => { run.counts[i] += n; });
      }
      flush();
      r.dataset.thread = String(tid);
      r.dataset.ticks = String(ticks);
    }
    const bucketOf = (t) => Math.min(T.buckets - 1, Math.max(0, (t - T.t0) / per));
    if (T.gc.length) {
      const [, svg] = row(`garbage collections (${fmtInt(T.gc.length)})`);
      const gen = ["#7fb069", "#e6aa68", "#ca3c25"];
      for (const [, , t, dur, g, collected] of T.gc)
        rect(svg, bucketOf(t), dur / per, gen[g] || gen[2],
             `generation ${g} at ${fmtNs(t)}: ${fmtNs(dur)}, ${fmtInt(collected)} objects freed`);
    }
    if (M) {
      const [, svg] = row(`snapshots (${M.snapshots.length})`);
      for (const s of M.snapshots) rect(svg, bucketOf(s.t_ns) - 1, 2, s.trigger === "peak" ? "#e4572e" : "#2f5fb3",
        `${snapLabel(s)}: ${s.traced_bytes != null ? fmtBytes(s.traced_bytes) + " traced" : ""}`);
    }
    const [, psvg] = row("processes");
    for (const p of D.run.processes) {
      const from = p.started_ns != null ? bucketOf(p.started_ns) : 0;
      const to = p.ended_ns != null ? bucketOf(p.ended_ns) : T.buckets;
      rect(psvg, from, to - from, "#b8c4dc", `pid ${p.pid}: ${p.argv || ""}, from ${fmtNs(p.started_ns)}` +
        (p.ended_ns != null ? ` to ${fmtNs(p.ended_ns)}` : ""), { opacity: "0.8" });
    }
  }


  // ---- reference cycles ----
  function drawCycles() {
    const tab = $("tab-cycles"), C = D.cycles;
    tab.textContent = "";
    if (!C) {
      tab.append(el("p", { class: "note", text: "No object graph in this run: record one with 'pyscope profile --heap'." }));
      return;
    }
    const L = C.last;
    tab.append(el("p", { class: "note", id: "cycles-total", text: `snapshot ${L.snapshot}${L.label ? " '" + L.label + "'" : ""} (pid ${L.pid}): ${fmtInt(L.objects)} objects tracked, ${fmtInt(L.garbage)} garbage (the collector would free them) in ${fmtInt(L.garbage_cycles)} cycles` }));
    const groups = el("table", { id: "cycles-groups" }, el("thead", null, el("tr", null,
      el("th", { class: "num", text: "cycles" }), el("th", { class: "num", text: "objects" }),
      el("th", { class: "num", text: "size" }), el("th", { text: "types" }), el("th", { text: "allocated" }),
      el("th", { text: "example" }))));
    groups.append(el("tbody", null, ...L.groups.map((g) => el("tr", { "data-cycles": String(g.cycles) },
      el("td", { class: "num", text: fmtInt(g.cycles) }), el("td", { class: "num", text: fmtInt(g.objects) }),
      el("td", { class: "num", text: fmtBytes(g.bytes) }),
      el("td", { class: "mono", text: g.types.map((t) => `${t.count} x ${t.type}`).join(", ") }),
      el("td", { class: "mono", text: g.allocated.map((a) => `${a.filename || "?"}:${a.line} (${a.function || "?"})`).join("\n") }),
      el("td", { class: "mono", text: g.example.map((e) => e.type + (e.reference != null ? ` --${e.reference}--> ` : "")).join("") })))));
    tab.append(el("h2", { text: "Garbage cycles by shape and allocation line" }), groups);
    const G = C.growth;
    if (G && G.snapshots.length > 1) {
      const table = el("table", { id: "cycles-growth" }, el("thead", null, el("tr", null,
        el("th", { text: "" }), el("th", { text: `cycles in snapshots ${G.snapshots.join(", ")}` }),
        el("th", { class: "num", text: "size at the last" }), el("th", { text: "types" }))));
      table.append(el("tbody", null, ...G.groups.map((g) => el("tr", { "data-grows": String(g.grows) },
        el("td", { text: g.grows ? "grows" : "steady" }), el("td", { class: "mono", text: g.cycles.map(fmtInt).join(" -> ") }),
        el("td", { class: "num", text: fmtBytes(g.bytes[g.bytes.length - 1]) }), el("td", { class: "mono", text: g.types })))));
      tab.append(el("h2", { text: `Growth over the snapshots of pid ${G.pid} with a graph (growing groups first)` }), table);
    }
  }

  // ---- summary ----
  function drawSummary() {
    const tab = $("tab-summary"), m = D.run.meta;
    const ended = (p) => (p.signal != null ? `killed by ${p.signal_name || "signal " + p.signal}` : p.exit_code != null
      ? `exit ${p.exit_code}` : p.ended_ns != null ? "ended" : "did not end while recorded");
    const facts = [["program", m.argv], ["interpreter", [m.python_version && "CPython " + m.python_version, m.python_executable].filter(Boolean).join("  ")],
      ["directory", m.cwd], ["started", [m.started_at, m.host && "on " + m.host].filter(Boolean).join(" ")],
      ["duration", m.duration_ns && fmtNs(+m.duration_ns)], ["ended", m.exit_status],
      ["options", m.options], ["sampling", m.sample_rate_hz && `${m.sample_rate_hz} Hz`],
      ["pyscope", m.pyscope_version]];
    const dl = el("dl", { class: "facts", id: "summary-facts" });
    for (const [k, v] of facts) if (v) dl.append(el("dt", { text: k }), el("dd", { text: v }));
    const ticks = D.samples.reduce((a, s) => a + s[3], 0);
    const byState = STATES.map((s, i) => [s, D.samples.filter((r) => r[2] === i).reduce((a, r) => a + r[3], 0)]);
    const cpu = D.samples.reduce((a, s) => a + s[4], 0);
    tab.append(dl, el("h2", { text: "Samples" }),
      el("p", { id: "summary-samples" }, ticks ? `${fmtInt(ticks)} samples, ${fmtNs(cpu)} of CPU time: ` +
        byState.filter(([, n]) => n).map(([s, n]) => `${fmtPct(n, ticks)} ${STATE_TEXT[s]}`).join(", ")
        : "No samples (recorded with --no-sample?)."),
      el("h2", { text: "Processes" }));
    const procs = el("table", { id: "summary-processes" }, el("thead", null, el("tr", null,
      el("th", { text: "pid" }), el("th", { text: "command" }), el("th", { text: "how it ended" }),
      el("th", { text: "threads" }))));
    const body = el("tbody");
    // the process tree, children under their parent
    const kids = new Map();
    for (const p of D.run.processes) {
      const k = p.parent_id ?? 0;
      if (!kids.has(k)) kids.set(k, []);
      kids.get(k).push(p);
    }
    const ids = new Set(D.run.processes.map((p) => p.id));
    const put = (p, depth) => {
      body.append(el("tr", null, el("td", { class: "num", text: String(p.pid) }),
        el("td", { class: "mono", style: `padding-left:${8 + 16 * depth}px`, text: (p.forked ? "(fork) " : "") + (p.argv || "") }),
        el("td", { text: ended(p) }),
        el("td", { class: "mono", text: p.threads.map((t) => `${t.name || "thread " + t.id}${t.os_tid ? " (" + t.os_tid + ")" : ""}`).join(", ") })));
      for (const k of kids.get(p.id) || []) put(k, depth + 1);
    };
    for (const p of D.run.processes) if (p.parent_id == null || !ids.has(p.parent_id)) put(p, 0);
    procs.append(body);
    tab.append(procs);
    const cy = D.run.cycles;
    if (cy && cy.groups) {
      tab.append(el("h2", { text: "Garbage cycles" }),
        el("p", { class: "note", text: `snapshot ${cy.snapshot}: ${fmtInt(cy.garbage_cycles)} cycles the collector would free, ${fmtInt(cy.garbage)} objects ('pyscope cycles' shows their paths, --growth how they grow)` }),
        el("table", { id: "summary-cycles" }, el("thead", null, el("tr", null, el("th", { class: "num", text: "cycles" }),
          el("th", { class: "num", text: "objects" }), el("th", { class: "num", text: "size" }), el("th", { text: "types" }))),
        el("tbody", null, ...cy.groups.map((g) => el("tr", null, el("td", { class: "num", text: fmtInt(g.cycles) }),
          el("td", { class: "num", text: fmtInt(g.objects) }), el("td", { class: "num", text: fmtBytes(g.bytes) }),
          el("td", { class: "mono", text: g.types }))))));
    }
  }

  // ---- tabs ----
  function showTab(name) {
    for (const b of document.querySelectorAll("#tabs button")) b.classList.toggle("active", b.dataset.tab === name);
    for (const s of document.querySelectorAll("section.tab")) s.classList.toggle("active", s.id === `tab-${name}`);
    $("filters").style.display = name === "flame" || name === "lines" ? "" : "none";
    if (history.replaceState) history.replaceState(null, "", `#${name}`);
    redraw();
  }
  let current = "summary";
  function redraw() {
    current = document.querySelector("#tabs button.active")?.dataset.tab || current;
    if (current === "flame") drawFlame();
    else if (current === "lines") drawLines();
    else if (current === "memory") drawMemory();
    else if (current === "timeline") drawTimeline();
  }

  document.title = `pyscope: ${D.run.meta.argv || D.run.database}`;
  $("run-title").textContent = D.run.meta.argv || D.run.database;
  setupFilters();
  drawSummary();
  drawCalls();
  setupMemory();
  drawCycles();
  for (const b of document.querySelectorAll("#tabs button")) b.addEventListener("click", () => showTab(b.dataset.tab));
  window.addEventListener("resize", () => { if (current === "flame" || current === "memory") redraw(); });
  const first = location.hash.slice(1);
  showTab(["summary", "flame", "lines", "calls", "timeline", "memory", "cycles"].includes(first) ? first : D.samples.length ? "flame" : "summary");
})();
