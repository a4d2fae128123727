"use strict";
// All wire text is put into the page with textContent (never innerHTML).
const q = new URLSearchParams(location.search);
const token = q.get("token") || "";
const WINDOWS = ["12h", "1d", "3d", "7d", "30d", "90d", "180d", "1y"];
const VENUES = ["binance", "bybit", "okx", "hyperliquid"];
const $ = (id) => document.getElementById(id);
const state = { symbol: (q.get("symbol") || "BTC").toUpperCase(), window: q.get("window") || "1d",
  venues: q.get("venues") || "", leverage: q.get("leverage") || "",
  mapVenues: q.get("map_venues") || "", mapLeverage: q.get("map_leverage") || "" };
window.perpscope = { tapeCount: 0, rendered: {}, latencies: [] };

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
// A column: [header, value(row) → text or [text, cssClass]]. Every value is put in with textContent.
function fillTable(id, rows, cols) {
  const t = $(id), head = t.tHead, body = t.tBodies[0];
  head.replaceChildren(); body.replaceChildren();
  const hr = document.createElement("tr");
  cols.forEach(([name]) => { const th = document.createElement("th"); th.textContent = name; hr.appendChild(th); });
  head.appendChild(hr);
  rows.forEach((r) => {
    const tr = document.createElement("tr");
    cols.forEach(([, fmt]) => {
      const v = fmt(r);
      if (Array.isArray(v)) cell(tr, v[0], v[1]); else cell(tr, v);
    });
    body.appendChild(tr);
  });
}
const num = (x) => (x === null || x === undefined || Number.isNaN(x) ? null : x);
function pct(x, digits) { return num(x) === null ? "–" : (x * 100).toFixed(digits === undefined ? 2 : digits) + "%"; }
function signed(text, x) { return [text, x > 0 ? "short" : x < 0 ? "long" : ""]; }  // green up, red down
function qty(x) { return num(x) === null ? "–" : Math.abs(x) >= 100 ? x.toFixed(0) : (+x.toPrecision(4)).toString(); }
function px(x) { return num(x) === null ? "–" : x.toLocaleString("en-US", { maximumFractionDigits: x >= 100 ? 1 : 5 }); }
function until(ns) {
  if (!ns) return "–";
  const s = Math.round(ns / 1e6 - Date.now()) / 1000;
  if (s <= 0) return "now";
  return s >= 3600 ? Math.floor(s / 3600) + "h" + String(Math.floor((s % 3600) / 60)).padStart(2, "0") : Math.ceil(s / 60) + "m";
}
const FUNDING_COLS = [
  ["venue", (r) => r.venue],
  ["rate", (r) => pct(r.rate, 4)],
  ["every", (r) => (r.interval_hours ? r.interval_hours + "h" : "–")],
  ["8h equiv.", (r) => pct(r.rate_8h, 4)],
  ["APR", (r) => pct(r.apr, 1)],
  ["last settled", (r) => pct(r.settled_rate, 4)],
  ["30d pctile", (r) => (num(r.pct_30d) === null ? "–" : "p" + r.pct_30d.toFixed(0))],
  ["90d pctile", (r) => (num(r.pct_90d) === null ? "–" : "p" + r.pct_90d.toFixed(0))],
  ["next", (r) => until(r.next_funding_ts)],
  ["OI", (r) => usd(r.oi_usd)],
];
const QUADRANT_COLS = [
  ["venue", (r) => r.venue],
  ["CVD (base)", (r) => signed(qty(r.cvd_base), r.cvd_base)],
  ["CVD", (r) => signed(usd(r.cvd_usd), r.cvd_usd)],
  ["CVD / volume", (r) => (r.volume_base > 0 ? pct(r.cvd_base / r.volume_base, 1) : "–")],
  ["OBI", (r) => (num(r.obi) === null ? "–" : signed((r.obi > 0 ? "+" : "") + r.obi.toFixed(3), r.obi))],
  ["quadrant", (r) => r.quadrant],
];
function depthCols(venues) {
  return [
    ["price", (r) => px(r.price_low) + " – " + px(r.price_high)],
    ["bids", (r) => (r.bid_usd > 0 ? [usd(r.bid_usd), "short"] : "")],
    ["asks", (r) => (r.ask_usd > 0 ? [usd(r.ask_usd), "long"] : "")],
  ].concat(venues.map((v) => [v + " (base)", (r) => qty(r[v + "_base"])]));
}
const LEVEL_COLS = [
  ["side", (r) => [r.side, r.side]],
  ["band", (r) => px(r.price_low) + " – " + px(r.price_high)],
  ["peak", (r) => px(r.price_peak)],
  ["distance", (r) => (num(r.distance_pct) === null ? "–" : r.distance_pct.toFixed(2) + "%")],
  ["est. USD", (r) => usd(r.usd)],
  ["funding 8h", (r) => pct(r.funding_8h, 4) + (num(r.funding_pct_90d) === null ? "" : " (p" + r.funding_pct_90d.toFixed(0) + ")")],
  ["CVD", (r) => r.cvd_direction],
  ["tape", (r) => (r.tape_count ? r.tape_count + " / " + usd(r.tape_usd) : "–")],
  ["verdict", (r) => r.verdict],
  ["reading", (r) => [r.reading, "reading"]],
];
function pushUrl() {
  const p = new URLSearchParams();
  p.set("symbol", state.symbol); p.set("window", state.window);
  if (state.venues) p.set("venues", state.venues);
  if (state.leverage) p.set("leverage", state.leverage);
  if (state.mapVenues) p.set("map_venues", state.mapVenues);
  if (state.mapLeverage) p.set("map_leverage", state.mapLeverage);
  if (token) p.set("token", token);
  history.replaceState(null, "", "?" + p.toString());
}
function setStatus(text, err) { const s = $("status"); s.textContent = text; s.className = err ? "err" : ""; }

function f32(b64, rows, cols) {
  // row-major float32 (little-endian) from base64 → array of rows
  const bytes = Uint8Array.from(atob(b64), (c) => c.charCodeAt(0));
  const flat = new Float32Array(bytes.buffer);
  const out = new Array(rows);
  for (let i = 0; i < rows; i++) out[i] = flat.subarray(i * cols, (i + 1) * cols);
  return out;
}
function splitText(parts, suffix) {
  return Object.keys(parts).map((n) => n + suffix + " " + usd(parts[n].long_usd + parts[n].short_usd)).join(", ");
}
let hoverTimer = null, lastHeatmap = null;
function showSplit(i, j) {
  if (!lastHeatmap) return;
  const p = { symbol: state.symbol, window: state.window, i: String(i), j: String(j) };
  if (state.venues) p.venues = state.venues;
  if (state.leverage) p.leverage = state.leverage;
  api("/api/heatmap/split", p).then((d) => {
    $("heatmap-split").textContent = "Estimated at " + new Date(d.time_ms).toISOString().slice(0, 16) + "Z, " +
      d.price.toFixed(1) + ": " + usd(d.total.long_usd + d.total.short_usd) + " (longs " + usd(d.total.long_usd) +
      ", shorts " + usd(d.total.short_usd) + ") · by venue: " + splitText(d.by_venue, "") +
      " · by leverage: " + splitText(d.by_leverage, "x") + (d.note ? " (" + d.note + ")" : "");
    window.perpscope.rendered.split = Date.now();
  }).catch((e) => { $("heatmap-split").textContent = e.message; });
}
function drawHeatmap(d) {
  const [T, P] = d.shape;
  const lo = f32(d.long_usd, T, P), sh = f32(d.short_usd, T, P);
  // price × time for plotly
  const zt = new Array(P);
  for (let j = 0; j < P; j++) {
    const row = new Array(T);
    for (let i = 0; i < T; i++) row[i] = lo[i][j] + sh[i][j];
    zt[j] = row;
  }
  const x = d.time_ms.map((t) => new Date(t));
  Plotly.react("heatmap", [
    { type: "heatmap", x, y: d.price, z: zt, colorscale: "Viridis",
      hovertemplate: "%{x}<br>%{y:.1f}<br>Estimated %{z:$,.0f} (split below)<extra></extra>", colorbar: { title: "USD" } },
    { type: "scatter", mode: "lines", x, y: d.close, line: { color: "#fff", width: 1 }, name: "price",
      hoverinfo: "skip" },
  ], { margin: { l: 60, r: 10, t: 10, b: 30 }, paper_bgcolor: "#181818", plot_bgcolor: "#181818",
       font: { color: "#ddd" }, showlegend: false }, { displaylogo: false, responsive: true });
  lastHeatmap = d;
  const el = $("heatmap");
  if (!el.dataset.hover) {
    el.dataset.hover = "1";
    el.on("plotly_hover", (ev) => {
      const pt = ev.points && ev.points.find((q) => q.curveNumber === 0);
      if (!pt) return;
      const [j, i] = pt.pointIndex;
      clearTimeout(hoverTimer);
      hoverTimer = setTimeout(() => showSplit(i, j), 120);
    });
  }
  fillTiers($("leverage"), d.leverage_tiers, state.leverage);
  window.perpscope.rendered.heatmap = Date.now();
}
function fillTiers(sel, tiers, value) {
  if (sel.options.length === 1) {
    tiers.forEach((t) => { const o = document.createElement("option"); o.value = String(t);
      o.textContent = t + "x"; sel.appendChild(o); });
  }
  sel.value = value;
}
function drawLiqmap(d) {
  const vn = Object.keys(d.by_venue), ln = Object.keys(d.by_leverage);
  const hover = (key) => d.price.map((_, j) => {
    const v = vn.map((n) => n + " " + usd(d.by_venue[n][key][j])).join(", ");
    const l = ln.map((n) => n + "x " + usd(d.by_leverage[n][key][j])).join(", ");
    return "by venue: " + v + "<br>by leverage: " + l;
  });
  const tmpl = "%{y:.1f}<br>Estimated %{x:$,.0f}<br>%{customdata}<extra>%{fullData.name}</extra>";
  Plotly.react("liqmap", [
    { type: "bar", orientation: "h", y: d.price, x: d.cum_long_usd, name: "longs (below)", marker: { color: "#ff5a5a" },
      customdata: hover("cum_long_usd"), hovertemplate: tmpl },
    { type: "bar", orientation: "h", y: d.price, x: d.cum_short_usd, name: "shorts (above)", marker: { color: "#3ddc84" },
      customdata: hover("cum_short_usd"), hovertemplate: tmpl },
  ], { margin: { l: 60, r: 10, t: 10, b: 30 }, paper_bgcolor: "#181818", plot_bgcolor: "#181818",
       font: { color: "#ddd" }, barmode: "overlay",
       shapes: [{ type: "line", xref: "paper", x0: 0, x1: 1, y0: d.current_price, y1: d.current_price,
                  line: { color: "#fff", dash: "dot" } }] }, { displaylogo: false, responsive: true });
  fillTiers($("map-leverage"), d.leverage_tiers, state.mapLeverage);
  $("liqmap-note").textContent = d.note || "";
  window.perpscope.rendered.liqmap = Date.now();
}
function loadLiqmap() {
  const p = { symbol: state.symbol, window: state.window };
  if (state.mapVenues) p.venues = state.mapVenues;
  if (state.mapLeverage) p.leverage = state.mapLeverage;
  return api("/api/liqmap", p).then(drawLiqmap);
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
    loadLiqmap(),
    api("/api/funding", { symbol: state.symbol }).then((d) => {
      fillTable("funding", d.rows, FUNDING_COLS);
      window.perpscope.rendered.funding = Date.now();
    }),
    api("/api/quadrant", { symbol: state.symbol }).then((d) => {
      fillTable("quadrant", d.rows, QUADRANT_COLS);
      $("quadrant-note").textContent = d.note || (d.window ? "CVD over the last " + d.window + "; OBI of the current books" : "");
    }),
    api("/api/depth", { symbol: state.symbol }).then((d) => {
      fillTable("depth", d.rows, depthCols(d.venues || []));
      $("depth-note").textContent = d.note || (d.center ? "resting size around " + px(d.center) + ", all venues" : "");
    }),
    api("/api/levels", base).then((d) => {
      fillTable("levels", d.levels, LEVEL_COLS);
      $("levels-note").textContent = (d.missing || []).length
        ? "not stored at the newest bar: " + d.missing.join(", ") + " (those columns are unknown)" : "";
    }),
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
      if (e.recv_ms) {  // collector received (and stored) → shown here
        window.perpscope.lastLatencyMs = recv - e.recv_ms;
        window.perpscope.latencies.push(recv - e.recv_ms);
        if (window.perpscope.latencies.length > 1000) window.perpscope.latencies.shift();
      }
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
  VENUES.forEach((v) => { const o = document.createElement("option"); o.value = v; o.textContent = v; $("map-venues").appendChild(o); });
  $("map-venues").value = state.mapVenues;
  $("symbol").addEventListener("change", (e) => { state.symbol = e.target.value.toUpperCase(); load(); });
  $("window").addEventListener("change", (e) => { state.window = e.target.value; load(); });
  $("venues").addEventListener("change", (e) => { state.venues = e.target.value; load(); });
  $("leverage").addEventListener("change", (e) => { state.leverage = e.target.value; load(); });
  $("map-venues").addEventListener("change", (e) => { state.mapVenues = e.target.value; pushUrl(); loadLiqmap().catch((x) => setStatus(x.message, true)); });
  $("map-leverage").addEventListener("change", (e) => { state.mapLeverage = e.target.value; pushUrl(); loadLiqmap().catch((x) => setStatus(x.message, true)); });
  load();
  connectTape();
}
init();
