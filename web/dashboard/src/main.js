// ecoinfer dashboard: renders /dashboard/api/state and follows /dashboard/api/events (SSE).
import uPlot from "uplot";
import "uplot/dist/uPlot.min.css";

const base = location.pathname.replace(/\/+$/, "");
// a server with API keys: /dashboard?key=KEY, passed on to the API calls
const key = new URLSearchParams(location.search).get("key");
const api = (p) => `${base}/api/${p}` + (key ? `?key=${encodeURIComponent(key)}` : "");
const $ = (sel) => document.querySelector(sel);
const fmt = (x, d = 2) => (x === null || x === undefined || Number.isNaN(x) ? "–" : Number(x).toFixed(d));
const esc = (s) => String(s ?? "").replace(/[&<>"']/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" }[c]));
const palette = ["#0b6bcb", "#1a7f37", "#cf222e", "#9a6700", "#8250df", "#bf3989"];

// Carbon with a unit that keeps edge-sized values readable: g, mg, µg.
const grams = (g) => {
  if (g === null || g === undefined || Number.isNaN(g)) return "–";
  const a = Math.abs(g);
  if (a >= 1 || a === 0) return `${Number(g.toPrecision(4))} g`;
  if (a >= 1e-3) return `${Number((g * 1e3).toPrecision(4))} mg`;
  return `${Number((g * 1e6).toPrecision(4))} µg`;
};

// Axis labels that stay readable for tiny values (gCO2 per request ~ 1e-4).
const small = (v) => (v === 0 ? "0" : Math.abs(v) < 0.01 ? v.toExponential(1) : Number(v.toPrecision(3)).toString());

let charts = {};
let seen = new Set();

function card(k, v, tag) {
  return `<div class="card"><div class="k">${esc(k)}</div><div class="v">${v}</div>${tag ? `<div class="tag">${esc(tag)}</div>` : ""}</div>`;
}

// "routing 1.2 mg · directives 3 mg · shifting 0 g · evaluation -0.1 mg", then the label.
function leverTag(t) {
  const l = t.saved_by_lever;
  const parts = l ? ["routing", "directives", "shifting", "evaluation"].filter((k) => l[k]).map((k) => `${k} ${grams(l[k])}`) : [];
  return [parts.join(" · "), t.saved_label || "predicted"].filter(Boolean).join(" — ");
}

function renderTotals(s) {
  const t = s.totals || {};
  $("#totals").innerHTML =
    card("requests", t.requests ?? 0) +
    card("carbon", grams(t.carbon_g), "measured receipts") +
    card("CO₂ / request", grams(t.g_per_request)) +
    card("CO₂ / 1k tokens", grams(t.g_per_1k_tokens)) +
    card("saved", grams(t.saved_g), leverTag(t));
  $("#role").textContent = s.role || "router";
}

function renderZones(s) {
  $("#zones tbody").innerHTML = (s.zones || []).map((z) => {
    const fc = (z.forecast || []).slice(0, 8).map((p) => fmt(p[1], 0)).join(" · ");
    return `<tr><td>${esc(z.zone)}</td><td>${fmt(z.gco2_kwh, 0)}</td><td>${esc(z.source)}${z.estimated ? ' <span class="tag">estimated</span>' : ""}</td><td>${fc || '<span class="muted">none</span>'}</td></tr>`;
  }).join("");
}

function renderNodes(s) {
  $("#nodes tbody").innerHTML = (s.nodes || []).map((n) => {
    const health = n.circuit_open ? '<span class="open">circuit open</span>' : `<span class="${esc(n.health)}">${esc(n.health)}</span>`;
    return `<tr><td>${esc(n.id)}</td><td>${esc(n.device)}</td><td>${esc(n.zone)}</td><td>${health}</td><td>${n.queue ?? 0}</td><td>${n.batch ?? 0}</td><td>${fmt(n.tokens_per_s, 1)}</td>` +
      `<td>${fmt(n.power_w, 1)} <span class="tag">${esc(n.power_source || "")}</span></td><td>${fmt(n.j_per_token, 3)} <span class="tag">${esc(n.energy_source || "")}</span></td></tr>`;
  }).join("");
}

function renderDirectives(s) {
  const d = s.directives;
  if (d && d.eval) $("#directive-eval").textContent = d.eval;
  if (!d || !d.mix || !d.mix.length) return;
  const parts = d.mix.map((p, i) => `${esc((d.levels || [])[i] ?? "L" + i)}: ${fmt(100 * p, 1)}%`).join(" · ");
  $("#directives").innerHTML = `${parts} <span class="tag">quality floor ${fmt(d.quality_floor, 3)}</span>`;
  $("#directives").classList.remove("muted");
}

function decisionRow(d) {
  const r = d.receipt || {};
  const when = new Date(d.t * 1000).toLocaleTimeString();
  return `<tr data-seq="${d.seq}"><td>${when}</td><td>${esc(d.request_id)}</td><td>${esc(d.policy)}</td><td>${esc(d.node)}</td><td>${fmt(d.latency_ms, 0)}</td><td>${d.tokens ?? 0}</td>` +
    `<td>${fmt(r.energy_j, 2)} <span class="tag">${esc(r.energy_source)}</span></td><td>${fmt(r.intensity_gco2_kwh, 0)}</td><td>${grams(r.total_g)}</td><td>${grams(d.predicted_g)}</td></tr>`;
}

function addDecisions(list) {
  const body = $("#decisions tbody");
  for (const d of list) {
    if (seen.has(d.seq)) continue;
    seen.add(d.seq);
    body.insertAdjacentHTML("afterbegin", decisionRow(d));
  }
  while (body.rows.length > 100) body.deleteRow(body.rows.length - 1);
}

// x range: the data's, but never empty. With every point in one bucket
// (a fresh router) uPlot would invent a meaningless span; show the last
// minute up to the point instead.
function xRange(u, min, max) {
  if (min == null || max == null) {
    const now = Date.now() / 1000;
    return [now - 60, now];
  }
  return max > min ? [min, max] : [max - 60, max + 5];
}

function chartOpts(title, series, width) {
  return {
    width, height: 220, title: "",
    scales: { x: { time: true, range: xRange } },
    series: [{}, ...series.map((s, i) => ({ label: s, stroke: palette[i % palette.length], width: 2, spanGaps: true }))],
    axes: [{ stroke: "currentColor", grid: { stroke: "rgba(128,128,128,.2)" } },
           { stroke: "currentColor", grid: { stroke: "rgba(128,128,128,.2)" }, size: 60,
             values: (u, vals) => vals.map((v) => (v == null ? "" : small(v))) }],
  };
}

function upsertChart(id, labels, data) {
  const el = document.getElementById(id);
  const width = Math.max(280, el.clientWidth || 340);
  const key = id + ":" + labels.join(",");
  if (!charts[id] || charts[id].key !== key) {
    if (charts[id]) charts[id].plot.destroy();
    el.innerHTML = "";
    charts[id] = { key, plot: new uPlot(chartOpts(id, labels, width), data, el) };
  } else {
    charts[id].plot.setData(data);
  }
  el.dataset.points = String(data[0].length);
  const sx = charts[id].plot.scales.x;
  el.dataset.xspan = String(sx.max != null && sx.min != null ? sx.max - sx.min : 0);
}

function renderCharts(s) {
  const ser = s.series || {};
  const t = ser.t || [];
  upsertChart("chart-load", ["req/s", "p50 ms", "p95 ms"], [t, ser.rps || [], ser.p50_ms || [], ser.p95_ms || []]);
  const pols = Object.keys(ser.g_per_req || {}).sort();
  upsertChart("chart-carbon", pols.length ? pols : ["none"], [t, ...(pols.length ? pols.map((p) => ser.g_per_req[p]) : [t.map(() => null)])]);
  upsertChart("chart-saved", ["saved g (all levers)"], [t, ser.saved_g || []]);
}

function render(s) {
  renderTotals(s);
  renderZones(s);
  renderNodes(s);
  renderDirectives(s);
  renderCharts(s);
  addDecisions((s.decisions || []).slice().reverse());
}

async function load() {
  const r = await fetch(api("state"));
  if (!r.ok) throw new Error(`state: HTTP ${r.status}`);
  render(await r.json());
}

function follow() {
  const es = new EventSource(api("events"));
  es.addEventListener("state", (e) => { render(JSON.parse(e.data)); $("#status").textContent = "live"; });
  es.addEventListener("decision", (e) => addDecisions([JSON.parse(e.data)]));
  es.onerror = () => { $("#status").textContent = "reconnecting…"; };
}

load().then(() => { $("#status").textContent = "live"; }).catch((e) => { $("#status").textContent = String(e); });
follow();
window.addEventListener("resize", () => { charts = Object.fromEntries(Object.entries(charts).map(([k, v]) => { v.plot.setSize({ width: Math.max(280, document.getElementById(k).clientWidth), height: 220 }); return [k, v]; })); });
