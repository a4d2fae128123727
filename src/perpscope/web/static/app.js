"use strict";
// All wire text is put into the page with textContent (never innerHTML).
const q = new URLSearchParams(location.search);
const token = q.get("token") || "";
const WINDOWS = ["12h", "1d", "3d", "7d", "30d", "90d", "1y"];
const VENUES = ["binance", "bybit", "okx", "hyperliquid"];
const $ = (id) => document.getElementById(id);
const state = { symbol: (q.get("symbol") || "BTC").toUpperCase(), window: q.get("window") || "1d",
  venues: q.get("venues") || "", leverage: q.get("leverage") || "" };
window.perpscope = { tapeCount: 0, rendered: {} };

function api(path, params) {
  const p = new URLSearchParams(params || {});
  if (token) p.set("token", token);
  return fetch(path + "?" + p.toString()).then(async (r) => {
    const body = await r.json();
    if (!r.ok) throw new Error(body.error || r.statusText);
    return body;
  });
}
function usd(x) {
  if (x === null || x === undefined) return "–";
  const a = Math.abs(x);
  if (a >= 1e9) return "$" + (x / 1e9).toFixed(2) + "B";
  if (a >= 1e6) return "$" + (x / 1e6).toFixed(2) + "M";
  if (a >= 1e3) return "$" + (x / 1e3).toFixed(1) + "k";
  return "$" + x.toFixed(0);
}
function cell(tr, text, cls) {
  const td = document.createElement("td");
  td.textContent = text === null || text === undefined ? "–" : String(text);
  if (cls) td.className = cls;
  tr.appendChild(td);
  return td;
}
function fillTable(id, rows, cols) {
  const t = $(id), head = t.tHead, body = t.tBodies[0];
  head.replaceChildren(); body.replaceChildren();
  const hr = document.createElement("tr");
  cols.forEach((c) => { const th = document.createElement("th"); th.textContent = c; hr.appendChild(th); });
  head.appendChild(hr);
  rows.forEach((r) => {
    const tr = document.createElement("tr");
    cols.forEach((c) => {
      const v = r[c];
      cell(tr, typeof v === "number" ? (Math.abs(v) >= 1000 ? v.toFixed(0) : +v.toPrecision(4)) : v);
    });
    body.appendChild(tr);
  });
}
function pushUrl() {
  const p = new URLSearchParams();
  p.set("symbol", state.symbol); p.set("window", state.window);
  if (state.venues) p.set("venues", state.venues);
  if (state.leverage) p.set("leverage", state.leverage);
  if (token) p.set("token", token);
  history.replaceState(null, "", "?" + p.toString());
}
function setStatus(text, err) { const s = $("status"); s.textContent = text; s.className = err ? "err" : ""; }

function drawHeatmap(d) {
  const z = d.long_usd.map((row, i) => row.map((v, j) => v + d.short_usd[i][j]));
  // transpose to price × time for plotly
  const zt = d.price.map((_, j) => z.map((row) => row[j]));
  const x = d.time_ms.map((t) => new Date(t));
  const vnames = Object.keys(d.by_venue), lnames = Object.keys(d.by_leverage);
  const custom = d.price.map((_, j) => d.time_ms.map((_, i) => {
    const v = vnames.map((n) => n + " " + usd(d.by_venue[n].long_usd[i][j] + d.by_venue[n].short_usd[i][j]));
    const l = lnames.map((n) => n + "x " + usd(d.by_leverage[n].long_usd[i][j] + d.by_leverage[n].short_usd[i][j]));
    return usd(z[i][j]) + "<br>" + v.join(", ") + "<br>" + l.join(", ");
  }));
  Plotly.react("heatmap", [
    { type: "heatmap", x, y: d.price, z: zt, customdata: custom, colorscale: "Viridis",
      hovertemplate: "%{x}<br>%{y:.1f}<br>Estimated %{customdata}<extra></extra>", colorbar: { title: "USD" } },
    { type: "scatter", mode: "lines", x, y: d.close, line: { color: "#fff", width: 1 }, name: "price",
      hoverinfo: "skip" },
  ], { margin: { l: 60, r: 10, t: 10, b: 30 }, paper_bgcolor: "#181818", plot_bgcolor: "#181818",
       font: { color: "#ddd" }, showlegend: false }, { displaylogo: false, responsive: true });
  const lev = $("leverage");
  if (lev.options.length === 1) {
    d.leverage_tiers.forEach((t) => { const o = document.createElement("option"); o.value = String(t);
      o.textContent = t + "x"; lev.appendChild(o); });
    lev.value = state.leverage;
  }
  window.perpscope.rendered.heatmap = Date.now();
}
function drawLiqmap(d) {
  Plotly.react("liqmap", [
    { type: "bar", orientation: "h", y: d.price, x: d.cum_long_usd, name: "longs (below)", marker: { color: "#ff5a5a" } },
    { type: "bar", orientation: "h", y: d.price, x: d.cum_short_usd, name: "shorts (above)", marker: { color: "#3ddc84" } },
  ], { margin: { l: 60, r: 10, t: 10, b: 30 }, paper_bgcolor: "#181818", plot_bgcolor: "#181818",
       font: { color: "#ddd" }, barmode: "overlay",
       shapes: [{ type: "line", xref: "paper", x0: 0, x1: 1, y0: d.current_price, y1: d.current_price,
                  line: { color: "#fff", dash: "dot" } }] }, { displaylogo: false, responsive: true });
  window.perpscope.rendered.liqmap = Date.now();
}
function load() {
  pushUrl();
  const base = { symbol: state.symbol, window: state.window };
  const hp = Object.assign({}, base);
  if (state.venues) hp.venues = state.venues;
  if (state.leverage) hp.leverage = state.leverage;
  setStatus("loading…");
  const jobs = [
    api("/api/heatmap", hp).then(drawHeatmap),
    api("/api/liqmap", state.venues ? Object.assign({ venues: state.venues }, base) : base).then(drawLiqmap),
    api("/api/funding", { symbol: state.symbol }).then((d) => {
      fillTable("funding", d.rows, Object.keys(d.rows[0] || {}));
      window.perpscope.rendered.funding = Date.now();
    }),
    api("/api/quadrant", { symbol: state.symbol }).then((d) => {
      fillTable("quadrant", d.rows, Object.keys(d.rows[0] || {})); $("quadrant-note").textContent = d.note || "";
    }),
    api("/api/depth", { symbol: state.symbol }).then((d) => {
      fillTable("depth", d.rows, Object.keys(d.rows[0] || {})); $("depth-note").textContent = d.note || "";
    }),
    api("/api/levels", base).then((d) => fillTable("levels", d.levels, Object.keys(d.levels[0] || {}))),
  ];
  Promise.allSettled(jobs).then((res) => {
    const bad = res.filter((r) => r.status === "rejected").map((r) => r.reason.message);
    setStatus(bad.length ? bad.join("; ") : "Estimated · updated " + new Date().toLocaleTimeString(), bad.length > 0);
    window.perpscope.rendered.all = Date.now();
  });
}
function tier(usdv) { return usdv >= 1e6 ? "tier3" : usdv >= 1e5 ? "tier2" : "tier1"; }
function beep() {
  try { const c = new AudioContext(), o = c.createOscillator(); o.connect(c.destination); o.start();
        o.stop(c.currentTime + 0.05); } catch (e) { /* audio unavailable */ }
}
function connectTape() {
  const proto = location.protocol === "https:" ? "wss:" : "ws:";
  const ws = new WebSocket(proto + "//" + location.host + "/ws/tape" + (token ? "?token=" + encodeURIComponent(token) : ""));
  const body = $("tape").tBodies[0];
  ws.onmessage = (m) => {
    const recv = Date.now();
    JSON.parse(m.data).forEach((e) => {
      const tr = document.createElement("tr");
      const side = String(e.side).toLowerCase();
      tr.className = (e.type === "cascade" ? "cascade " : "") + tier(e.notional_usd);
      cell(tr, new Date(e.ts_ms).toISOString().slice(11, 19));
      cell(tr, e.venue);
      cell(tr, e.symbol);
      cell(tr, e.type === "cascade" ? "CASCADE " + side + " ×" + e.count : side, side.includes("long") ? "long" : "short");
      cell(tr, (e.sampled ? "≥ " : "") + usd(e.notional_usd));
      body.insertBefore(tr, body.firstChild);
      window.perpscope.tapeCount += 1;
      if (e.sent_ns) window.perpscope.lastLatencyMs = recv - e.sent_ns / 1e6;
      if ($("sound").checked && e.notional_usd >= 1e5) beep();
    });
    while (body.rows.length > 200) body.deleteRow(-1);
  };
  ws.onclose = () => setTimeout(connectTape, 2000);
}
function init() {
  $("symbol").value = state.symbol;
  WINDOWS.forEach((w) => { const o = document.createElement("option"); o.value = w; o.textContent = w; $("window").appendChild(o); });
  $("window").value = state.window;
  VENUES.forEach((v) => { const o = document.createElement("option"); o.value = v; o.textContent = v; $("venues").appendChild(o); });
  $("venues").value = state.venues;
  $("symbol").addEventListener("change", (e) => { state.symbol = e.target.value.toUpperCase(); load(); });
  $("window").addEventListener("change", (e) => { state.window = e.target.value; load(); });
  $("venues").addEventListener("change", (e) => { state.venues = e.target.value; load(); });
  $("leverage").addEventListener("change", (e) => { state.leverage = e.target.value; load(); });
  load();
  connectTape();
}
init();
