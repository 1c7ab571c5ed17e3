// See timeline_html.hpp.
#include "client/timeline_html.hpp"

#include <unordered_map>

#include "common/duration.hpp"
#include "client/json_writer.hpp"

namespace lokt::client {
namespace {

std::int64_t epoch_ms(WallTime t) { return std::chrono::duration_cast<std::chrono::milliseconds>(t.time_since_epoch()).count(); }

// Columnar arrays of numbers, written as "key":[1,2,3].
void append_numbers(std::string& out, const char* key, const std::vector<std::int64_t>& values) {
    out += '"';
    out += key;
    out += "\":[";
    for (std::size_t i = 0; i < values.size(); ++i) {
        if (i > 0) out += ',';
        out += std::to_string(values[i]);
    }
    out += ']';
}

void append_strings(std::string& out, const char* key, const std::vector<std::string>& values) {
    out += '"';
    out += key;
    out += "\":[";
    for (std::size_t i = 0; i < values.size(); ++i) {
        if (i > 0) out += ',';
        append_script_safe_json_string(out, values[i]);
    }
    out += ']';
}

// Starts as differences from the previous one (the lists are sorted by
// start), so a million-line window stays a few megabytes.
struct Series {
    std::vector<std::int64_t> name, agent, start, duration, code;
    std::int64_t previous = 0;
    void add(std::uint32_t n, std::uint32_t a, std::int64_t start_ms, std::int64_t duration_ms, std::int64_t c) {
        name.push_back(n);
        agent.push_back(a);
        start.push_back(start_ms - previous);
        previous = start_ms;
        duration.push_back(duration_ms);
        code.push_back(c);
    }
    void append(std::string& out, const char* key, const char* code_key) const {
        out += '"';
        out += key;
        out += "\":{";
        append_numbers(out, "n", name);
        out += ',';
        append_numbers(out, "a", agent);
        out += ',';
        append_numbers(out, "s", start);
        out += ',';
        append_numbers(out, "d", duration);
        out += ',';
        append_numbers(out, code_key, code);
        out += '}';
    }
};

std::string data_json(const AuditAnalysis& a) {
    const std::int64_t t0 = epoch_ms(a.window_start);
    auto rel = [&](WallTime t) { return epoch_ms(t) - t0; };
    Series holds, waits, freezes, marks;
    for (const auto& h : a.holds) {
        // The end code, plus 16 for a hold that began before the window.
        holds.add(h.name, h.agent, rel(h.start), millis_between(h.start, h.end),
                  static_cast<std::int64_t>(h.how) + (h.began_before_window ? 16 : 0));
    }
    for (const auto& w : a.waits) waits.add(w.name, w.agent, rel(w.start), millis_between(w.start, w.end), w.granted ? 1 : 0);
    for (const auto& f : a.freezes)
        freezes.add(f.name, f.agent, rel(f.start), millis_between(f.start, f.end), static_cast<std::int64_t>(f.how));
    // Marks: the duration column holds the kind, the code an index into texts.
    std::vector<std::string> texts;
    std::unordered_map<std::string, std::int64_t> text_ids;
    for (const auto& m : a.marks) {
        std::string text = m.event + (m.detail.empty() ? "" : ": " + m.detail);
        auto [it, added] = text_ids.try_emplace(text, static_cast<std::int64_t>(texts.size()));
        if (added) texts.push_back(std::move(text));
        marks.add(m.name, m.agent, rel(m.at), static_cast<std::int64_t>(m.kind), it->second);
    }

    std::vector<std::string> hold_ends, freeze_ends, kinds;
    for (int i = 0; i <= static_cast<int>(HoldEnd::open); ++i) hold_ends.emplace_back(hold_end_name(static_cast<HoldEnd>(i)));
    for (int i = 0; i <= static_cast<int>(FreezeEnd::open); ++i)
        freeze_ends.emplace_back(freeze_end_name(static_cast<FreezeEnd>(i)));
    for (int i = 0; i <= static_cast<int>(MarkKind::expired); ++i) kinds.emplace_back(mark_kind_name(static_cast<MarkKind>(i)));

    std::string out = "{\"start\":" + std::to_string(t0) + ",\"end\":" + std::to_string(epoch_ms(a.window_end)) + ",";
    append_strings(out, "names", a.names);
    out += ',';
    append_strings(out, "agents", a.agents);
    out += ',';
    append_strings(out, "holdEnds", hold_ends);
    out += ',';
    append_strings(out, "freezeEnds", freeze_ends);
    out += ',';
    append_strings(out, "kinds", kinds);
    out += ',';
    append_strings(out, "texts", texts);
    out += ',';
    holds.append(out, "holds", "e");
    out += ',';
    waits.append(out, "waits", "g");
    out += ',';
    freezes.append(out, "freezes", "e");
    out += ',';
    marks.append(out, "marks", "x");
    out += '}';
    return out;
}

std::string ms_text(std::int64_t ms) { return format_duration(std::chrono::milliseconds(ms)); }

std::string cell(std::string_view column, const std::string& text) {
    return "<td data-col=\"" + std::string(column) + "\">" + html_escape(text) + "</td>";
}
std::string cell(std::string_view column, std::uint64_t n) { return cell(column, std::to_string(n)); }

std::string summary_html(const AuditSummary& s) {
    using std::to_string;
    std::string out = "<section id=\"summary\">\n<h2>Summary</h2>\n<dl id=\"totals\">";
    auto total = [&](const char* key, const std::string& label, const std::string& value) {
        out += "<div><dt>" + label + "</dt><dd data-total=\"" + key + "\">" + html_escape(value) + "</dd></div>";
    };
    total("events", "events", to_string(s.events));
    total("holds", "holds", to_string(s.holds));
    total("open", "still held", to_string(s.open));
    total("held_ms", "time held", ms_text(s.held_ms));
    total("refusals", "refusals", to_string(s.refusals));
    total("waits", "waits", to_string(s.waits));
    total("wait_ms", "time waited", ms_text(s.wait_ms));
    total("breaks", "breaks", to_string(s.breaks));
    total("lost", "lost", to_string(s.lost));
    total("expired", "expired", to_string(s.expired));
    total("freezes", "freezes", to_string(s.freezes));
    out += "</dl>\n";

    out +=
        "<h3>Busiest names</h3>\n<table id=\"busiest\"><thead><tr><th>name</th><th>holds</th><th>held</th>"
        "<th>longest</th><th>refusals</th><th>waits</th><th>waited</th><th>breaks</th><th>freezes</th></tr></thead><tbody>\n";
    for (const auto& n : s.names) {
        out += "<tr data-name=\"" + html_escape(n.name) + "\">" + cell("name", n.name) + cell("holds", n.holds) +
               cell("held", ms_text(n.held_ms)) + cell("longest", ms_text(n.longest_hold_ms)) + cell("refusals", n.refusals) +
               cell("waits", n.waits) + cell("waited", ms_text(n.wait_ms)) + cell("breaks", n.breaks) +
               cell("freezes", n.freezes) + "</tr>\n";
    }
    out += "</tbody></table>\n";

    out +=
        "<h3>Longest waits</h3>\n<table id=\"longest-waits\"><thead><tr><th>name</th><th>agent</th><th>started</th>"
        "<th>waited</th></tr></thead><tbody>\n";
    if (s.longest_waits.empty()) out += "<tr><td colspan=\"4\">no wait ended in a grant</td></tr>\n";
    for (const auto& w : s.longest_waits) {
        out += "<tr data-name=\"" + html_escape(w.name) + "\" data-agent=\"" + html_escape(w.agent) + "\" data-wait-ms=\"" +
               to_string(w.wait_ms) + "\">" + cell("name", w.name) + cell("agent", w.agent) +
               cell("started", format_rfc3339_seconds(w.start)) + cell("waited", ms_text(w.wait_ms)) + "</tr>\n";
    }
    out += "</tbody></table>\n";

    out +=
        "<h3>Contention per agent</h3>\n<table id=\"agents\"><thead><tr><th>agent</th><th>acquired</th><th>held</th>"
        "<th>refusals</th><th>waits</th><th>waited</th><th>breaks</th><th>broken</th><th>lost</th></tr></thead><tbody>\n";
    for (const auto& a : s.agents) {
        out += "<tr data-agent=\"" + html_escape(a.agent) + "\">" + cell("agent", a.agent) +
               cell("acquisitions", a.acquisitions) + cell("held", ms_text(a.held_ms)) + cell("refusals", a.refusals) +
               cell("waits", a.waits) + cell("waited", ms_text(a.wait_ms)) + cell("breaks", a.breaks) + cell("broken", a.broken) +
               cell("lost", a.lost) + "</tr>\n";
    }
    out += "</tbody></table>\n</section>\n";
    return out;
}

constexpr const char* k_style = R"(
body{font:13px/1.4 system-ui,-apple-system,"Segoe UI",sans-serif;margin:16px;color:#1d1d1f;background:#fff}
h1{font-size:18px;margin:0 0 4px}h2{font-size:16px;margin:20px 0 6px}h3{font-size:14px;margin:16px 0 4px}
#window{color:#555;margin:0 0 8px}
#controls{margin:6px 0}#controls button{font:inherit}
#legend{display:flex;flex-wrap:wrap;gap:4px 14px;list-style:none;padding:0;margin:6px 0}
#legend li span{display:inline-block;width:10px;height:10px;margin-right:4px;vertical-align:middle;border-radius:2px}
#chart{position:relative;border:1px solid #ddd;overflow:auto;max-height:75vh;cursor:grab;user-select:none}
#chart svg,#chart canvas{display:block}
#tip{position:fixed;pointer-events:none;background:#222;color:#fff;padding:5px 8px;border-radius:4px;white-space:pre;
font:12px/1.35 ui-monospace,monospace;display:none;z-index:9;max-width:60ch}
#note{color:#a40}
dl#totals{display:flex;flex-wrap:wrap;gap:6px 18px;margin:0}dl#totals dt{color:#666}dl#totals dd{margin:0;font-weight:600}
table{border-collapse:collapse;margin:4px 0}th,td{padding:2px 10px;text-align:right;border-bottom:1px solid #eee}
th:first-child,td:first-child,#longest-waits td:nth-child(2){text-align:left}
.keys{color:#555}
)";

// Draws the timeline from the JSON block. Everything it shows from the log
// goes through textContent or setAttribute, never through HTML parsing.
constexpr const char* k_script = R"JS(
(function () {
"use strict";
var started = performance.now();
var D = JSON.parse(document.getElementById("audit-data").textContent);
function undelta(a) { var s = 0, o = new Array(a.length); for (var i = 0; i < a.length; i++) { s += a[i]; o[i] = s; } return o; }
var H = D.holds, W = D.waits, F = D.freezes, M = D.marks;
H.t = undelta(H.s); W.t = undelta(W.s); F.t = undelta(F.s); M.t = undelta(M.s);
var span = Math.max(1, D.end - D.start);
var names = D.names, agents = D.agents;
var ROW = 20, AXIS = 26, SVGNS = "http://www.w3.org/2000/svg";
var longest = 0; for (var i = 0; i < names.length; i++) longest = Math.max(longest, names[i].length);
var LABEL = Math.min(260, 16 + 7 * longest);
var total = H.n.length + W.n.length + F.n.length + M.n.length;
var mode = total <= 20000 ? "svg" : "canvas";
var MAXROWS = mode === "svg" ? names.length : Math.min(names.length, Math.floor(30000 / ROW));
var chart = document.getElementById("chart"), tip = document.getElementById("tip");
document.body.setAttribute("data-mode", mode);
// The first view starts a little before the first thing drawn: a window given
// as --since 8h may hold only its last minutes of activity. Zooming out reaches
// the whole window.
var first = span;
[H, W, F, M].forEach(function (series) { if (series.t.length) first = Math.min(first, series.t[0]); });
var home0 = first >= span ? 0 : Math.max(0, first - (span - first) * 0.02);
var v0 = home0, v1 = span;

function colour(a) { return "hsl(" + ((a * 137.508) % 360).toFixed(1) + "," + (a % 3 === 1 ? "55%" : "68%") + "," + (a % 2 ? "42%" : "55%") + ")"; }
var colours = agents.map(function (_, a) { return colour(a); });
function iso(ms) { return new Date(D.start + ms).toISOString().replace(".000Z", "Z"); }
function dur(ms) {
  if (ms < 1000) return Math.round(ms) + "ms";
  var s = Math.floor(ms / 1000), h = Math.floor(s / 3600), m = Math.floor(s % 3600 / 60); s = s % 60;
  return (h ? h + "h" : "") + (h || m ? m + "m" : "") + s + "s";
}
function describe(kind, i) {
  if (kind === "hold") {
    var e = H.e[i] & 15, before = H.e[i] & 16, open = D.holdEnds[e] === "open";
    return names[H.n[i]] + "\nheld by " + agents[H.a[i]] + "\nfrom " + iso(H.t[i]) + (before ? " (held before the window)" : "") +
      "\nto   " + iso(H.t[i] + H.d[i]) + (open ? " (still held)" : "") + "\nfor  " + dur(H.d[i]) + "\nended: " + D.holdEnds[e];
  }
  if (kind === "wait") {
    return names[W.n[i]] + "\n" + agents[W.a[i]] + " waited\nfrom " + iso(W.t[i]) +
      (W.g[i] ? "\nto   " + iso(W.t[i] + W.d[i]) + "\nfor  " + dur(W.d[i]) + " (granted)" : "\nno grant in the window");
  }
  if (kind === "freeze") {
    return names[F.n[i]] + "\nfrozen by " + agents[F.a[i]] + "\nfrom " + iso(F.t[i]) + "\nto   " + iso(F.t[i] + F.d[i]) +
      "\nfor  " + dur(F.d[i]) + "\nended: " + D.freezeEnds[F.e[i]];
  }
  return names[M.n[i]] + "\n" + D.kinds[M.d[i]] + " at " + iso(M.t[i]) + "\nby " + agents[M.a[i]] + "\n" + D.texts[M.x[i]];
}

var plotW = 0;
function X(t) { return LABEL + (t - v0) / (v1 - v0) * plotW; }
function visible(t, d) { return t + d >= v0 && t <= v1; }
function ticks() {
  var steps = [10, 20, 50, 100, 200, 500, 1e3, 2e3, 5e3, 1e4, 15e3, 3e4, 6e4, 12e4, 3e5, 6e5, 9e5, 18e5, 36e5, 72e5, 108e5, 216e5, 432e5, 864e5];
  var want = (v1 - v0) / Math.max(2, plotW / 110), step = steps[steps.length - 1];
  for (var i = 0; i < steps.length; i++) if (steps[i] >= want) { step = steps[i]; break; }
  var out = [], first = Math.ceil((D.start + v0) / step) * step - D.start;
  for (var t = first; t <= v1; t += step) out.push(t);
  tickStep = step;
  return out;
}
var tickStep = 1000;
function tickLabel(t) { return new Date(D.start + t).toISOString().slice(11, tickStep < 1000 ? 23 : 19); }
// Row geometry: freezes fill the row, holds the middle, waits a thin band below, marks on top.
function rowY(n) { return AXIS + n * ROW; }
var MARKPATH = {
  refusal: function (x, y) { return "M" + (x - 4) + "," + (y + 1) + "h8l-4,6z"; },
  "break": function (x, y) { return "M" + (x - 4) + "," + (y + 1) + "l8,8m0,-8l-8,8"; },
  lost: function (x, y) { return "M" + x + "," + (y + 1) + "l4,4l-4,4l-4,-4z"; },
  expired: function (x, y) { return "M" + (x - 3) + "," + (y + 2) + "h6v6h-6z"; }
};
var MARKCOLOUR = { refusal: "#d00", "break": "#000", lost: "#8a2be2", expired: "#888" };

function drawSvg() {
  var height = AXIS + names.length * ROW + 4, width = LABEL + plotW + 8;
  var svg = document.createElementNS(SVGNS, "svg");
  svg.setAttribute("width", width); svg.setAttribute("height", height); svg.setAttribute("id", "timeline");
  function el(tag, attrs, cls, parent) {
    var e = document.createElementNS(SVGNS, tag);
    for (var k in attrs) e.setAttribute(k, attrs[k]);
    if (cls) e.setAttribute("class", cls);
    (parent || svg).appendChild(e);
    return e;
  }
  var defs = el("defs", {});
  var clip = el("clipPath", { id: "plot" }, null, defs);
  el("rect", { x: LABEL, y: 0, width: plotW + 6, height: height }, null, clip);
  ticks().forEach(function (t) {
    el("line", { x1: X(t), x2: X(t), y1: AXIS - 4, y2: height, stroke: "#eee" });
    el("text", { x: X(t) + 2, y: 14, "font-size": 11, fill: "#555" }).textContent = tickLabel(t);
  });
  for (var r = 0; r < names.length; r++) {
    if (r % 2) el("rect", { x: 0, y: rowY(r), width: width, height: ROW, fill: "#fafafa" });
    var label = el("text", { x: 4, y: rowY(r) + 14, "font-size": 12 }, "row-label");
    label.textContent = names[r];
  }
  var plot = el("g", { "clip-path": "url(#plot)" });
  var i, x0;
  for (i = 0; i < F.n.length; i++) {
    if (!visible(F.t[i], F.d[i])) continue;
    x0 = X(F.t[i]);
    el("rect", { x: x0, y: rowY(F.n[i]), width: Math.max(2, X(F.t[i] + F.d[i]) - x0), height: ROW, fill: "#cfe3ff",
      "data-i": i, "data-name": names[F.n[i]], "data-agent": agents[F.a[i]], "data-end": D.freezeEnds[F.e[i]] }, "freeze", plot);
  }
  for (i = 0; i < W.n.length; i++) {
    if (!visible(W.t[i], W.d[i])) continue;
    x0 = X(W.t[i]);
    el("rect", { x: x0, y: rowY(W.n[i]) + 15, width: Math.max(3, X(W.t[i] + W.d[i]) - x0), height: 3,
      fill: W.g[i] ? colours[W.a[i]] : "#999", opacity: 0.8, "data-i": i, "data-name": names[W.n[i]],
      "data-agent": agents[W.a[i]], "data-granted": W.g[i] ? "true" : "false" }, "wait", plot);
  }
  for (i = 0; i < H.n.length; i++) {
    if (!visible(H.t[i], H.d[i])) continue;
    x0 = X(H.t[i]);
    var open = D.holdEnds[H.e[i] & 15] === "open";
    el("rect", { x: x0, y: rowY(H.n[i]) + 4, width: Math.max(1, X(H.t[i] + H.d[i]) - x0), height: 10, rx: 2,
      fill: colours[H.a[i]], "fill-opacity": open ? 0.55 : 1, stroke: open ? colours[H.a[i]] : "none",
      "stroke-dasharray": open ? "3 2" : "none", "data-i": i, "data-name": names[H.n[i]], "data-agent": agents[H.a[i]],
      "data-end": D.holdEnds[H.e[i] & 15] }, "hold", plot);
  }
  for (i = 0; i < M.n.length; i++) {
    if (!visible(M.t[i], 0)) continue;
    var kind = D.kinds[M.d[i]];
    el("path", { d: MARKPATH[kind](X(M.t[i]), rowY(M.n[i])), fill: kind === "break" ? "none" : MARKCOLOUR[kind],
      stroke: MARKCOLOUR[kind], "stroke-width": kind === "break" ? 2 : 0.5, "data-i": i, "data-name": names[M.n[i]],
      "data-agent": agents[M.a[i]], "data-kind": kind }, "mark " + kind, plot);
  }
  chart.replaceChildren(svg);
}

var canvas = null, groups = null;
function group(series) {
  var out = agents.map(function () { return []; });
  for (var i = 0; i < series.n.length; i++) out[series.a[i]].push(i);
  return out;
}
var sprites = {};
function sprite(kind) {
  if (sprites[kind]) return sprites[kind];
  var dpr = window.devicePixelRatio || 1, c = document.createElement("canvas"), g = c.getContext("2d");
  c.width = c.height = 10 * dpr;
  g.scale(dpr, dpr); g.beginPath(); MARKDRAW[kind](g, 5, 0);
  g.strokeStyle = g.fillStyle = MARKCOLOUR[kind];
  if (kind === "break") { g.lineWidth = 2; g.stroke(); } else g.fill();
  return (sprites[kind] = c);
}
var MARKDRAW = {
  refusal: function (g, x, y) { g.moveTo(x - 4, y + 1); g.lineTo(x + 4, y + 1); g.lineTo(x, y + 7); g.closePath(); },
  "break": function (g, x, y) { g.moveTo(x - 4, y + 1); g.lineTo(x + 4, y + 9); g.moveTo(x + 4, y + 1); g.lineTo(x - 4, y + 9); },
  lost: function (g, x, y) { g.moveTo(x, y + 1); g.lineTo(x + 4, y + 5); g.lineTo(x, y + 9); g.lineTo(x - 4, y + 5); g.closePath(); },
  expired: function (g, x, y) { g.rect(x - 3, y + 2, 6, 6); }
};
function drawCanvas() {
  var rows = MAXROWS, height = AXIS + rows * ROW + 4, width = LABEL + plotW + 8, dpr = window.devicePixelRatio || 1;
  if (!canvas) { canvas = document.createElement("canvas"); canvas.id = "timeline"; chart.replaceChildren(canvas); }
  canvas.width = width * dpr; canvas.height = height * dpr;
  canvas.style.width = width + "px"; canvas.style.height = height + "px";
  var g = canvas.getContext("2d");
  g.setTransform(dpr, 0, 0, dpr, 0, 0);
  g.fillStyle = "#fff"; g.fillRect(0, 0, width, height);
  g.font = "11px sans-serif"; g.fillStyle = "#555"; g.strokeStyle = "#eee";
  ticks().forEach(function (t) { g.fillRect(X(t), AXIS - 4, 1, height); g.fillText(tickLabel(t), X(t) + 2, 14); });
  g.font = "12px sans-serif";
  for (var r = 0; r < rows; r++) {
    if (r % 2) { g.fillStyle = "#fafafa"; g.fillRect(0, rowY(r), width, ROW); }
    g.fillStyle = "#1d1d1f"; g.fillText(names[r], 4, rowY(r) + 14);
  }
  g.save(); g.beginPath(); g.rect(LABEL, 0, plotW + 6, height); g.clip();
  var i, j, a, k, x0, list;
  g.fillStyle = "#cfe3ff";
  for (i = 0; i < F.n.length; i++) {
    if (F.n[i] >= rows || !visible(F.t[i], F.d[i])) continue;
    x0 = X(F.t[i]); g.fillRect(x0, rowY(F.n[i]), Math.max(2, X(F.t[i] + F.d[i]) - x0), ROW);
  }
  // One colour at a time: changing fillStyle per rectangle costs more than drawing it.
  if (!groups) groups = { h: group(H), w: group(W) };
  for (a = 0; a <= agents.length; a++) {
    g.fillStyle = a < agents.length ? colours[a] : "#999";
    list = a < agents.length ? groups.w[a] : W.n.map(function (_, n) { return n; });
    for (j = 0; j < list.length; j++) {
      i = list[j];
      if ((W.g[i] ? 1 : 0) !== (a < agents.length ? 1 : 0) || W.n[i] >= rows || !visible(W.t[i], W.d[i])) continue;
      x0 = X(W.t[i]); g.fillRect(x0, rowY(W.n[i]) + 15, Math.max(3, X(W.t[i] + W.d[i]) - x0), 3);
    }
  }
  for (a = 0; a < agents.length; a++) {
    g.fillStyle = colours[a];
    list = groups.h[a];
    var covered = {};  // per row, the right edge drawn so far: holds inside it add nothing
    for (j = 0; j < list.length; j++) {
      i = list[j];
      if (H.n[i] >= rows || !visible(H.t[i], H.d[i])) continue;
      x0 = X(H.t[i]);
      var x1 = Math.max(x0 + 1, X(H.t[i] + H.d[i]));
      if (covered[H.n[i]] !== undefined && x1 <= covered[H.n[i]] + 0.5) continue;
      covered[H.n[i]] = Math.max(x1, covered[H.n[i]] || 0);
      g.fillRect(x0, rowY(H.n[i]) + 4, x1 - x0, 10);
    }
  }
  // Markers are stamped from a small pre-drawn image, at most one per pixel
  // column of a row and kind: a hundred thousand paths would take a minute.
  for (k = 0; k < D.kinds.length; k++) {
    var stamp = sprite(D.kinds[k]), last = {};
    for (i = 0; i < M.n.length; i++) {
      if (M.d[i] !== k || M.n[i] >= rows || !visible(M.t[i], 0)) continue;
      x0 = Math.round(X(M.t[i]));
      if (last[M.n[i]] === x0) continue;
      last[M.n[i]] = x0;
      g.drawImage(stamp, x0 - 5, rowY(M.n[i]), 10, 10);
    }
  }
  g.restore();
}

// Hit test on the canvas: the last drawn item under the pointer, marks first.
function hit(px, py) {
  var r = Math.floor((py - AXIS) / ROW);
  if (r < 0 || r >= MAXROWS || px < LABEL) return null;
  var t = v0 + (px - LABEL) / plotW * (v1 - v0), slack = 4 / plotW * (v1 - v0), yin = py - rowY(r), i;
  for (i = M.n.length - 1; i >= 0; i--) if (M.n[i] === r && Math.abs(M.t[i] - t) <= slack && yin < 10) return ["mark", i];
  for (i = H.n.length - 1; i >= 0; i--) if (H.n[i] === r && H.t[i] - slack <= t && t <= H.t[i] + H.d[i] + slack) return ["hold", i];
  for (i = W.n.length - 1; i >= 0; i--) if (W.n[i] === r && W.t[i] - slack <= t && t <= W.t[i] + W.d[i] + slack) return ["wait", i];
  for (i = F.n.length - 1; i >= 0; i--) if (F.n[i] === r && F.t[i] <= t && t <= F.t[i] + F.d[i]) return ["freeze", i];
  return null;
}

function draw() {
  plotW = Math.max(300, chart.clientWidth - LABEL - 12);
  if (mode === "svg") drawSvg(); else drawCanvas();
}

var legend = document.getElementById("legend");
agents.forEach(function (name, a) {
  var li = document.createElement("li"), sw = document.createElement("span");
  sw.style.background = colours[a]; li.appendChild(sw); li.appendChild(document.createTextNode(name)); legend.appendChild(li);
});
if (MAXROWS < names.length) {
  document.getElementById("note").textContent = "Only the first " + MAXROWS + " of " + names.length +
    " names are drawn; narrow the window with --name.";
}

draw();
document.body.setAttribute("data-render-ms", (performance.now() - started).toFixed(1));
document.body.setAttribute("data-ready-at-ms", performance.now().toFixed(1));
document.body.setAttribute("data-ready", "true");

// Hover details.
chart.addEventListener("mousemove", function (ev) {
  var found = null;
  if (mode === "svg") {
    var target = ev.target, cls = target.getAttribute && target.getAttribute("class");
    if (cls && target.hasAttribute("data-i")) found = [cls.split(" ")[0], +target.getAttribute("data-i")];
  } else {
    var box = canvas.getBoundingClientRect();
    found = hit(ev.clientX - box.left, ev.clientY - box.top);
  }
  if (!found || dragging) { tip.style.display = "none"; return; }
  tip.textContent = describe(found[0], found[1]);
  tip.style.display = "block";
  tip.style.left = Math.min(ev.clientX + 14, window.innerWidth - tip.offsetWidth - 8) + "px";
  tip.style.top = Math.min(ev.clientY + 14, window.innerHeight - tip.offsetHeight - 8) + "px";
});
chart.addEventListener("mouseleave", function () { tip.style.display = "none"; });

// Zoom with the wheel around the pointer, pan by dragging.
var pending = false;
function redraw() { if (!pending) { pending = true; requestAnimationFrame(function () { pending = false; draw(); }); } }
chart.addEventListener("wheel", function (ev) {
  var box = chart.getBoundingClientRect(), px = ev.clientX - box.left + chart.scrollLeft - LABEL;
  if (px < 0) return;
  ev.preventDefault();
  var at = v0 + px / plotW * (v1 - v0), f = ev.deltaY > 0 ? 1.25 : 0.8;
  var width = Math.min(span, Math.max(50, (v1 - v0) * f));
  v0 = Math.max(0, at - (at - v0) / (v1 - v0) * width); v1 = Math.min(span, v0 + width); v0 = Math.max(0, v1 - width);
  redraw();
}, { passive: false });
var dragging = null;
chart.addEventListener("mousedown", function (ev) { dragging = { x: ev.clientX, v0: v0, v1: v1 }; chart.style.cursor = "grabbing"; });
window.addEventListener("mouseup", function () { dragging = null; chart.style.cursor = ""; });
window.addEventListener("mousemove", function (ev) {
  if (!dragging) return;
  var dt = (ev.clientX - dragging.x) / plotW * (dragging.v1 - dragging.v0), width = dragging.v1 - dragging.v0;
  v0 = Math.min(Math.max(0, dragging.v0 - dt), span - width); v1 = v0 + width;
  redraw();
});
document.getElementById("reset").addEventListener("click", function () { v0 = home0; v1 = span; redraw(); });
window.addEventListener("resize", redraw);
})();
)JS";

}  // namespace

void append_script_safe_json_string(std::string& out, std::string_view text) {
    append_json_string(out, text, JsonStringFor::html_script);
}

std::string html_escape(std::string_view text) {
    std::string out;
    out.reserve(text.size());
    for (char c : text) {
        switch (c) {
            case '&': out += "&amp;"; break;
            case '<': out += "&lt;"; break;
            case '>': out += "&gt;"; break;
            case '"': out += "&quot;"; break;
            case '\'': out += "&#39;"; break;
            default: out.push_back(c);
        }
    }
    return out;
}

std::string render_timeline_html(const TimelinePage& page) {
    const auto& a = page.analysis;
    std::string out =
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
        "<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; script-src 'unsafe-inline'; "
        "style-src 'unsafe-inline'; img-src data:\">\n"
        "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n"
        "<title>lokt audit timeline</title>\n<style>";
    out += k_style;
    out += "</style>\n</head>\n<body>\n<h1>lokt audit timeline</h1>\n<p id=\"window\">";
    out += html_escape(format_rfc3339_seconds(a.window_start) + " to " + format_rfc3339_seconds(a.window_end) + " (" +
                       format_duration_seconds(a.window_end - a.window_start) + "), " + std::to_string(a.events) + " events");
    if (!page.filter.empty()) out += " &middot; <code>" + html_escape(page.filter) + "</code>";
    out +=
        "</p>\n<div id=\"controls\"><button id=\"reset\" type=\"button\">Reset zoom</button> "
        "<span class=\"keys\">wheel: zoom &middot; drag: pan &middot; hover: details &middot; "
        "bar: a hold (dashed: still held) &middot; thin line: a wait &middot; blue band: a freeze &middot; "
        "<span style=\"color:#d00\">&#9660;</span> refusal &middot; &#10005; break &middot; "
        "<span style=\"color:#8a2be2\">&#9670;</span> lost &middot; <span style=\"color:#888\">&#9632;</span> "
        "expired</span></div>\n"
        "<ul id=\"legend\"></ul>\n<p id=\"note\"></p>\n<div id=\"chart\"><noscript>The timeline is drawn by the page's "
        "script; the summary below needs none.</noscript></div>\n<div id=\"tip\"></div>\n";
    out += summary_html(page.summary);
    out += "<script type=\"application/json\" id=\"audit-data\">";
    out += data_json(a);
    out += "</script>\n<script>";
    out += k_script;
    out += "</script>\n</body>\n</html>\n";
    return out;
}

}  // namespace lokt::client
