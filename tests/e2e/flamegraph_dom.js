// Runs the script embedded in a pyscope flame graph against a minimal DOM
// built from the SVG, performs the actions given as JSON (click a frame,
// reset the zoom, search, hover), and prints what the picture looked like
// after each one as JSON. Used by test_viewer_samples.py when node exists:
//   node flamegraph_dom.js FILE.svg '[{"click": 3}, {"unzoom": true}, {"search": "^b$"}]'
"use strict";
const fs = require("fs");

const svgText = fs.readFileSync(process.argv[2], "utf8");
const actions = JSON.parse(process.argv[3]);
const ENTITIES = { lt: "<", gt: ">", amp: "&", quot: '"', "#39": "'" };

function unescapeXml(s) {
  return s.replace(/&(lt|gt|amp|quot|#39);/g, (m, e) => ENTITIES[e]);
}

function parseAttrs(s) {
  const a = {};
  s.replace(/([\w:-]+)="([^"]*)"/g, (m, k, v) => { a[k] = unescapeXml(v); });
  return a;
}

class El {
  constructor(tag, attrs, parent) {
    this.tagName = tag;
    this.attrs = Object.assign({}, attrs);
    this.children = [];
    this.parentNode = parent || null;
    this.style = { display: "" };
    this.textContent = "";
    this.listeners = {};
    if (parent) parent.children.push(this);
  }
  getAttribute(n) { return n in this.attrs ? this.attrs[n] : null; }
  setAttribute(n, v) { this.attrs[n] = String(v); }
  getElementsByTagName(t) {
    const out = [];
    const walk = (e) => { for (const c of e.children) { if (c.tagName === t) out.push(c); walk(c); } };
    walk(this);
    return out;
  }
  addEventListener(type, fn) { (this.listeners[type] = this.listeners[type] || []).push(fn); }
  fire(type, target) {
    for (const fn of this.listeners[type] || []) fn({ target: target || this, key: "", preventDefault() {} });
  }
}

const svg = new El("svg", parseAttrs(svgText.match(/<svg ([^>]*)>/)[1]));
const byId = {};
for (const m of svgText.matchAll(/<text id="(\w+)"([^>]*)>([^<]*)<\/text>/g)) {
  const e = new El("text", Object.assign(parseAttrs(m[2]), { id: m[1] }), svg);
  e.textContent = unescapeXml(m[3]);
  byId[m[1]] = e;
}
const frames = new El("g", { id: "frames" }, svg);
byId.frames = frames;
const list = [];
const frameRe = /<g class="f" ([^>]*)><title>([^<]*)<\/title><rect ([^>]*)\/><text ([^>]*)>([^<]*)<\/text><\/g>/g;
for (const m of svgText.matchAll(frameRe)) {
  const g = new El("g", Object.assign(parseAttrs(m[1]), { class: "f" }), frames);
  new El("title", {}, g).textContent = unescapeXml(m[2]);
  new El("rect", parseAttrs(m[3]), g);
  new El("text", parseAttrs(m[4]), g).textContent = unescapeXml(m[5]);
  list.push(g);
}

const windowListeners = {};
let promptAnswer = null;
const window = {
  addEventListener(t, f) { (windowListeners[t] = windowListeners[t] || []).push(f); },
  prompt() { return promptAnswer; },
};
const document = { documentElement: svg, getElementById(id) { return byId[id] || null; } };
const script = svgText.match(/<script type="text\/ecmascript"><!\[CDATA\[\n([\s\S]*?)\]\]><\/script>/)[1];
new Function("window", "document", script)(window, document);
for (const f of windowListeners.load || []) f({});

function picture() {
  return {
    frames: list.map((g) => {
      const r = g.getElementsByTagName("rect")[0];
      return {
        name: g.getElementsByTagName("title")[0].textContent.split("\n")[0],
        shown: g.style.display !== "none",
        x: +r.getAttribute("x"),
        width: +r.getAttribute("width"),
        fill: r.getAttribute("fill"),
        label: g.getElementsByTagName("text")[0].textContent,
      };
    }),
    matched: byId.matched.textContent,
    details: byId.details.textContent,
    unzoom: byId.unzoom.getAttribute("class"),
    search: byId.search.textContent,
  };
}

const out = [picture()];
for (const a of actions) {
  const rectOf = (i) => list[i].getElementsByTagName("rect")[0];
  if ("click" in a) frames.fire("click", rectOf(a.click));
  else if ("unzoom" in a) byId.unzoom.fire("click");
  else if ("search" in a) { promptAnswer = a.search; byId.search.fire("click"); }
  else if ("hover" in a) frames.fire("mouseover", rectOf(a.hover));
  out.push(picture());
}
console.log(JSON.stringify(out));
