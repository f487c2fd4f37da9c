/*
 * The SVG flame graph writer (flamegraph.h), written for pyscope in the
 * manner of Brendan Gregg's flamegraph.pl: a static picture any browser or
 * image viewer shows, made interactive by a small script when opened in a
 * browser.
 *
 * Each frame is a <g class="f"> holding a <title> (the tooltip: name,
 * location, samples, time, share), a <rect> and a <text> label. Its place
 * in weight units is in fg:x and fg:w (integers, exact in JavaScript up to
 * 2^53), from which the script recomputes pixels on zoom; the script reads
 * names back from the titles. So the script is one constant string with no
 * data in it, and every name from the program is XML-escaped text or
 * attribute content, never script source.
 *
 * Colours are stable per file: a warm hue for Python code chosen by the
 * file (shaded by the function), aqua for builtins, blue for native code,
 * grey for the root, threads and pseudo-frames.
 */
#include "flamegraph.h"
#include "error.h"
#include "format.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#define DEFAULT_WIDTH 1200
#define XPAD 10
#define FRAME_H 16
#define FONT_PX 12
#define CHAR_W 7.2 /* monospace at FONT_PX, for fitting labels */
#define TOP_PAD 64
#define BOTTOM_PAD 34
#define DEFAULT_MIN_PX 0.1

/* The behaviour of the picture; no data from the run in it. */
static const char script[] =
    "\"use strict\";\n"
    "(function () {\n"
    "  var svg = document.documentElement, frames, details, matched, unzoomBtn, searchBtn;\n"
    "  var total, width, xpad, charw, searching = false;\n"
    "  function num(el, name) { return parseFloat(el.getAttribute(name)); }\n"
    "  function part(g, tag) { return g.getElementsByTagName(tag)[0]; }\n"
    "  function lines(g) { return part(g, \"title\").textContent.split(\"\\n\"); }\n"
    "  function frameOf(el) {\n"
    "    for (; el && el !== svg; el = el.parentNode)\n"
    "      if (el.getAttribute && el.getAttribute(\"class\") === \"f\") return el;\n"
    "    return null;\n"
    "  }\n"
    "  function each(fn) {\n"
    "    var all = frames.getElementsByTagName(\"g\");\n"
    "    for (var i = 0; i < all.length; i++) fn(all[i]);\n"
    "  }\n"
    "  function place(g, px, pw) {\n"
    "    var r = part(g, \"rect\"), t = part(g, \"text\"), name = lines(g)[0];\n"
    "    var n = Math.floor((pw - 6) / charw);\n"
    "    r.setAttribute(\"x\", px.toFixed(2));\n"
    "    r.setAttribute(\"width\", pw.toFixed(2));\n"
    "    t.setAttribute(\"x\", (px + 3).toFixed(2));\n"
    "    t.textContent = name.length <= n ? name : n >= 4 ? name.slice(0, n - 3) + \"...\" : "
    "\"\";\n"
    "  }\n"
    "  function show(g, on) { g.style.display = on ? \"\" : \"none\"; }\n"
    "  function zoom(z) {\n"
    "    var zx = num(z, \"fg:x\"), zw = num(z, \"fg:w\"), zy = num(part(z, \"rect\"), \"y\");\n"
    "    each(function (g) {\n"
    "      var x = num(g, \"fg:x\"), w = num(g, \"fg:w\"), y = num(part(g, \"rect\"), \"y\");\n"
    "      if (y <= zy && x >= zx && x + w <= zx + zw) {\n"
    "        show(g, true);\n"
    "        place(g, xpad + (x - zx) / zw * width, w / zw * width);\n"
    "      } else if (y > zy && x <= zx && x + w >= zx + zw) {\n"
    "        show(g, true);\n"
    "        place(g, xpad, width);\n"
    "      } else {\n"
    "        show(g, false);\n"
    "      }\n"
    "    });\n"
    "    unzoomBtn.setAttribute(\"class\", \"ctl\");\n"
    "  }\n"
    "  function unzoom() {\n"
    "    each(function (g) {\n"
    "      show(g, true);\n"
    "      place(g, xpad + num(g, \"fg:x\") / total * width, num(g, \"fg:w\") / total * width);\n"
    "    });\n"
    "    unzoomBtn.setAttribute(\"class\", \"ctl hide\");\n"
    "  }\n"
    "  function resetSearch() {\n"
    "    each(function (g) {\n"
    "      var r = part(g, \"rect\");\n"
    "      if (r.pyscopeFill) { r.setAttribute(\"fill\", r.pyscopeFill); r.pyscopeFill = null; }\n"
    "    });\n"
    "    matched.textContent = \" \";\n"
    "    searchBtn.textContent = \"Search\";\n"
    "    searching = false;\n"
    "  }\n"
    "  function search(term) {\n"
    "    var re, spans = [], sum = 0, end = -Infinity;\n"
    "    resetSearch();\n"
    "    if (!term) return;\n"
    "    try { re = new RegExp(term); }\n"
    "    catch (e) { re = new RegExp(term.replace(/[.*+?^${}()|[\\]\\\\]/g, \"\\\\$&\")); }\n"
    "    each(function (g) {\n"
    "      var l = lines(g), r = part(g, \"rect\");\n"
    "      if (!re.test(l[0] + \" \" + (l.length > 2 ? l[1] : \"\"))) return;\n"
    "      r.pyscopeFill = r.getAttribute(\"fill\");\n"
    "      r.setAttribute(\"fill\", \"rgb(230,0,230)\");\n"
    "      spans.push([num(g, \"fg:x\"), num(g, \"fg:x\") + num(g, \"fg:w\")]);\n"
    "    });\n"
    "    spans.sort(function (a, b) { return a[0] - b[0]; });\n"
    "    spans.forEach(function (s) {\n"
    "      if (s[1] <= end) return;\n"
    "      sum += s[1] - Math.max(s[0], end);\n"
    "      end = s[1];\n"
    "    });\n"
    "    matched.textContent = \"Matched: \" + (100 * sum / total).toFixed(1) + \"%\";\n"
    "    searchBtn.textContent = \"Reset Search\";\n"
    "    searching = true;\n"
    "  }\n"
    "  function ask() {\n"
    "    var term = window.prompt(\"Search for a function or file (regular expression):\", "
    "\"\");\n"
    "    if (term !== null) search(term);\n"
    "  }\n"
    "  window.addEventListener(\"load\", function () {\n"
    "    frames = document.getElementById(\"frames\");\n"
    "    details = document.getElementById(\"details\");\n"
    "    matched = document.getElementById(\"matched\");\n"
    "    unzoomBtn = document.getElementById(\"unzoom\");\n"
    "    searchBtn = document.getElementById(\"search\");\n"
    "    total = num(svg, \"fg:total\");\n"
    "    width = num(svg, \"fg:width\");\n"
    "    xpad = num(svg, \"fg:xpad\");\n"
    "    charw = num(svg, \"fg:charw\");\n"
    "    frames.addEventListener(\"click\", function (e) {\n"
    "      var g = frameOf(e.target);\n"
    "      if (g) zoom(g);\n"
    "    });\n"
    "    frames.addEventListener(\"mouseover\", function (e) {\n"
    "      var g = frameOf(e.target);\n"
    "      if (g) details.textContent = lines(g).join(\"   \");\n"
    "    });\n"
    "    frames.addEventListener(\"mouseout\", function () { details.textContent = \" \"; });\n"
    "    unzoomBtn.addEventListener(\"click\", unzoom);\n"
    "    searchBtn.addEventListener(\"click\", function () { if (searching) resetSearch(); "
    "else ask(); });\n"
    "    window.addEventListener(\"keydown\", function (e) {\n"
    "      if (e.key === \"F3\" || ((e.ctrlKey || e.metaKey) && e.key === \"f\")) {\n"
    "        e.preventDefault();\n"
    "        ask();\n"
    "      } else if (e.key === \"Escape\") {\n"
    "        resetSearch();\n"
    "      }\n"
    "    });\n"
    "  });\n"
    "})();\n";

static const char style[] = "text { font-family: monospace; font-size: 12px; fill: rgb(0,0,0); }\n"
                            "#title { font-size: 17px; }\n"
                            "#subtitle { fill: rgb(90,90,90); }\n"
                            ".f { cursor: pointer; }\n"
                            ".f text { pointer-events: none; }\n"
                            ".f:hover rect { stroke: rgb(0,0,0); stroke-width: 0.5; }\n"
                            ".ctl { cursor: pointer; fill: rgb(30,30,160); }\n"
                            ".hide { display: none; }\n";

void flame_put_xml(FILE *out, const char *s)
{
    if (!s)
        return;
    for (const unsigned char *p = (const unsigned char *)s; *p;) {
        unsigned char c = *p;
        if (c >= 0x80) {
            size_t n = fmt_utf8_len(p);
            /* A byte that is not UTF-8 as the terminal shows it (format.h);
             * U+0000, U+FFFE and U+FFFF are not XML characters. */
            if (fmt_is_nul(p)) {
                fputs("\\x00", out);
                n = 2;
            } else if (!n) {
                fprintf(out, "\\x%02x", c);
                n = 1;
            } else if (n == 3 && p[0] == 0xEF && p[1] == 0xBF && p[2] >= 0xBE) {
                fputs("\xEF\xBF\xBD", out);
            } else {
                fwrite(p, 1, n, out);
            }
            p += n;
            continue;
        }
        switch (c) {
        case '&':
            fputs("&amp;", out);
            break;
        case '<':
            fputs("&lt;", out);
            break;
        case '>':
            fputs("&gt;", out);
            break;
        case '"':
            fputs("&quot;", out);
            break;
        case '\'':
            fputs("&#39;", out);
            break;
        default:
            putc(c < 0x20 || c == 0x7f ? ' ' : c, out);
        }
        p++;
    }
}

/* FNV-1a of s, scaled to [0, 1). */
static double hash01(const char *s)
{
    uint32_t h = 2166136261u;
    for (; s && *s; s++)
        h = (h ^ (unsigned char)*s) * 16777619u;
    h ^= h >> 15;
    return (double)(h & 0xFFFF) / 65536.0;
}

static void put_color(FILE *out, const struct smp_node *n)
{
    int r = 190, g = 190, b = 200;
    if (n->kind == SMP_NODE_FRAME && !n->fn->special) {
        double file = hash01(n->fn->filename ? n->fn->filename : n->fn->name);
        double name = hash01(n->fn->qualname);
        switch (n->fn->kind) {
        case SMP_KIND_PYTHON:
            r = 205 + (int)(50 * name);
            g = 80 + (int)(150 * file);
            b = 30 + (int)(40 * name);
            break;
        case SMP_KIND_BUILTIN:
            r = 50 + (int)(50 * name);
            g = 175 + (int)(60 * file);
            b = 175 + (int)(60 * file);
            break;
        case SMP_KIND_NATIVE:
            r = 110 + (int)(60 * name);
            g = 120 + (int)(60 * file);
            b = 215 + (int)(40 * name);
            break;
        }
    } else if (n->kind == SMP_NODE_FRAME) {
        r = g = b = 175;
    }
    fprintf(out, "rgb(%d,%d,%d)", r, g, b);
}

/* The label of node n into buf. */
static const char *node_name(const struct smp_node *n, char *buf, size_t len)
{
    if (n->kind == SMP_NODE_ROOT)
        return "all";
    if (n->kind == SMP_NODE_THREAD)
        return smp_thread_label(n->thread, buf, len);
    return n->fn->qualname;
}

/*
 * "1,234 samples, 12.3 ms, 45.67%"; for a snapshot "1.5 KiB in 12 blocks,
 * 45.67%", the share being of the bytes the snapshot traced.
 */
static void put_stats(FILE *out, const struct smp_profile *p, const struct smp_node *n,
                      int64_t total)
{
    char num[FMT_BUFSZ], dur[FMT_BUFSZ];
    int64_t ns = smp_weight_ns(p, n->s.total_weight);
    if (smp_snapshot(p))
        fprintf(out, "%s in %s block%s", fmt_bytes(dur, sizeof dur, n->s.total_weight),
                fmt_int(num, sizeof num, n->s.total_samples), n->s.total_samples == 1 ? "" : "s");
    else
        fprintf(out, "%s sample%s", fmt_int(num, sizeof num, n->s.total_samples),
                n->s.total_samples == 1 ? "" : "s");
    if (ns >= 0)
        fprintf(out, ", %s", fmt_duration(dur, sizeof dur, ns));
    fprintf(out, ", %.2f%%", total > 0 ? 100.0 * (double)n->s.total_weight / (double)total : 0.0);
}

static void put_frame(FILE *out, const struct smp_profile *p, const struct smp_node *n, int64_t x,
                      int64_t whole, double scale, double y)
{
    char namebuf[512], loc[1024], label[512];
    const char *name = node_name(n, namebuf, sizeof namebuf);
    double px = XPAD + (double)x * scale, pw = (double)n->s.total_weight * scale;
    long cols = (long)((pw - 6) / CHAR_W);

    fprintf(out, "<g class=\"f\" fg:x=\"%" PRId64 "\" fg:w=\"%" PRId64 "\"><title>", x,
            n->s.total_weight);
    flame_put_xml(out, name);
    putc('\n', out);
    if (n->kind == SMP_NODE_FRAME && *smp_location(p, n->fn, n->line, loc, sizeof loc)) {
        flame_put_xml(out, loc);
        putc('\n', out);
    }
    put_stats(out, p, n, whole);
    fprintf(out, "</title><rect x=\"%.2f\" y=\"%.1f\" width=\"%.2f\" height=\"%d\" fill=\"", px, y,
            pw, FRAME_H - 1);
    put_color(out, n);
    fprintf(out, "\" rx=\"2\" ry=\"2\"/><text x=\"%.2f\" y=\"%.1f\">", px + 3, y + FRAME_H - 4.5);
    if ((long)fmt_width(name) <= cols)
        flame_put_xml(out, name);
    else if (cols >= 4)
        flame_put_xml(out, fmt_ellipsize(label, sizeof label, name, (size_t)cols));
    fputs("</text></g>\n", out);
}

struct pending {
    uint32_t node;
    int64_t x;
};

int flame_write_svg(FILE *out, const struct smp_profile *p, const struct smp_tree *t,
                    const struct flame_opts *o)
{
    static const struct flame_opts defaults = {0};
    const struct smp_node *root = &t->nodes[0];
    const struct smp_snapshot *snap = smp_snapshot(p);
    int64_t total = root->s.total_weight;
    /* A snapshot's shares are of all it traced, a function filter or not. */
    int64_t whole = snap && snap->traced_bytes > 0 ? snap->traced_bytes : total;
    int width, height, depth_shown = 0;
    double scale, min_px;
    struct pending *stack = NULL;
    size_t sp = 0;

    if (!o)
        o = &defaults;
    width = o->width > 0 ? o->width : DEFAULT_WIDTH;
    min_px = o->min_px > 0 ? o->min_px : DEFAULT_MIN_PX;
    scale = total > 0 ? (double)(width - 2 * XPAD) / (double)total : 0;

    /* The depth drawn: levels with a frame at least min_px wide. */
    for (size_t i = 0; i < t->nnodes; i++)
        if ((double)t->nodes[i].s.total_weight * scale >= min_px &&
            (int)t->nodes[i].depth > depth_shown)
            depth_shown = (int)t->nodes[i].depth;
    height = TOP_PAD + (total > 0 ? (depth_shown + 1) * FRAME_H : 2 * FRAME_H) + BOTTOM_PAD;

    fprintf(out,
            "<?xml version=\"1.0\" encoding=\"UTF-8\" standalone=\"no\"?>\n"
            "<svg version=\"1.1\" xmlns=\"http://www.w3.org/2000/svg\""
            " xmlns:fg=\"urn:pyscope:flamegraph\" width=\"%d\" height=\"%d\""
            " viewBox=\"0 0 %d %d\" fg:total=\"%" PRId64 "\" fg:width=\"%d\" fg:xpad=\"%d\""
            " fg:charw=\"%.1f\">\n",
            width, height, width, height, total, width - 2 * XPAD, XPAD, CHAR_W);
    fprintf(out, "<style type=\"text/css\"><![CDATA[\n%s]]></style>\n", style);
    fprintf(out, "<script type=\"text/ecmascript\"><![CDATA[\n%s]]></script>\n", script);
    fputs("<defs><linearGradient id=\"bg\" x1=\"0\" y1=\"0\" x2=\"0\" y2=\"1\">"
          "<stop stop-color=\"#eeeeee\" offset=\"5%\"/><stop stop-color=\"#eeeeb0\" "
          "offset=\"95%\"/></linearGradient></defs>\n",
          out);
    fprintf(out, "<rect x=\"0\" y=\"0\" width=\"%d\" height=\"%d\" fill=\"url(#bg)\"/>\n", width,
            height);
    fprintf(out, "<text id=\"title\" x=\"%d\" y=\"24\" text-anchor=\"middle\">", width / 2);
    flame_put_xml(out, o->title ? o->title : "Flame graph");
    fputs("</text>\n", out);
    fprintf(out, "<text id=\"subtitle\" x=\"%d\" y=\"44\" text-anchor=\"middle\">", width / 2);
    flame_put_xml(out, o->subtitle);
    fputs("</text>\n", out);
    fprintf(out, "<text id=\"unzoom\" class=\"ctl hide\" x=\"%d\" y=\"24\">Reset Zoom</text>\n",
            XPAD);
    fprintf(
        out,
        "<text id=\"search\" class=\"ctl\" x=\"%d\" y=\"24\" text-anchor=\"end\">Search</text>\n",
        width - XPAD);
    fprintf(out, "<text id=\"matched\" x=\"%d\" y=\"%d\" text-anchor=\"end\"> </text>\n",
            width - XPAD, height - 12);
    fprintf(out, "<text id=\"details\" x=\"%d\" y=\"%d\"> </text>\n", XPAD, height - 12);
    if (total <= 0)
        fprintf(out, "<text x=\"%d\" y=\"%d\" text-anchor=\"middle\">%s</text>\n", width / 2,
                TOP_PAD + FRAME_H, snap ? "no live allocations" : "no samples");
    fputs("<g id=\"frames\">\n", out);

    if (total > 0) {
        if (!(stack = malloc(t->nnodes * sizeof *stack)))
            return PYSCOPE_ENOMEM;
        stack[sp++] = (struct pending){0, 0};
    }
    while (sp > 0) {
        struct pending cur = stack[--sp];
        const struct smp_node *n = &t->nodes[cur.node];
        double y = height - BOTTOM_PAD - (double)(n->depth + 1) * FRAME_H;
        put_frame(out, p, n, cur.x, whole, scale, y);
        /* Children left to right from the parent's left edge; pushed in reverse. */
        int64_t x = cur.x + n->s.total_weight - n->s.self_weight;
        for (uint32_t k = n->nkids; k-- > 0;) {
            const struct smp_node *kid = &t->nodes[t->kids[n->first_kid + k]];
            x -= kid->s.total_weight;
            if ((double)kid->s.total_weight * scale >= min_px)
                stack[sp++] = (struct pending){t->kids[n->first_kid + k], x};
        }
    }
    free(stack);
    fputs("</g>\n</svg>\n", out);
    return 0;
}
