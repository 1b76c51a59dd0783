// The venue page's charts: each [data-chart] element names its kind and the API address it
// draws from (data-src); the words on it (series names, "no data yet") come translated in its
// data-* attributes. Drawn with the vendored Apache ECharts; x axes read the venue-local times
// the API returns, so a chart shows the venue's clock, not the browser's.
// Sets data-chart-ready="1" once the element is settled, and data-chart-state to
// drawn | empty | error.
"use strict";
(function () {
  // Rollups move every few minutes: a live refresh of the page a second later reuses the
  // answer instead of asking the API again (the page keeps the addresses stable per hour).
  const REUSE_MS = 60 * 1000;
  const cache = new Map();  // src -> { at, rows }
  const charts = new Set();  // live ECharts instances, disposed once their element is gone

  const hhmm = (local) => String(local || "").slice(11, 16);
  const dayHour = (local) => String(local || "").slice(5, 16).replace("T", " ");
  const monthDay = (date) => String(date || "").slice(5);
  const grid = { left: 48, right: 16, top: 40, bottom: 32, containLabel: true };
  const tooltip = { trigger: "axis" };
  const legend = { top: 0, type: "scroll" };

  function occupancy(rows, el) {
    return {
      grid, tooltip,
      xAxis: { type: "category", data: rows.map((r) => hhmm(r.local)) },
      yAxis: { type: "value", minInterval: 1 },
      series: [{ name: el.dataset.labelCount, type: "line", step: "end", areaStyle: {},
                 data: rows.map((r) => r.count) }],
    };
  }

  function traffic(rows, el) {
    const bar = (name, key) => ({ name, type: "bar", data: rows.map((r) => r[key]) });
    return {
      grid, tooltip, legend,
      xAxis: { type: "category", data: rows.map((r) => hhmm(r.local)) },
      yAxis: { type: "value", minInterval: 1 },
      series: [
        bar(el.dataset.labelIn, "people_in"),
        bar(el.dataset.labelOut, "people_out"),
        { name: el.dataset.labelVisits, type: "line", data: rows.map((r) => r.visits) },
      ],
    };
  }

  function energy(rows, el) {
    return {
      grid, tooltip,
      xAxis: { type: "category", data: rows.map((r) => monthDay(r.date)) },
      yAxis: { type: "value", name: "kWh" },
      series: [{ name: el.dataset.labelKwh, type: "bar",
                 data: rows.map((r) => Math.round(r.kwh * 100) / 100) }],
    };
  }

  function sensorName(el, names, row) {
    const key = `${row.device_id}/${row.sensor}`;
    const known = names[key];
    const fallback = row.sensor ? key : row.device_id;
    if (!known) return fallback;
    const role = known.role === "fridge" ? el.dataset.labelFridge
      : known.role === "ambient" ? el.dataset.labelAmbient : known.role;
    return `${role} · ${known.label || fallback}`;
  }

  function temperature(rows, el) {
    let names = {};
    try { names = JSON.parse(el.dataset.sensors || "{}"); } catch (err) { names = {}; }
    // Hours ordered by their UTC start, labelled by the venue's clock.
    const hours = [...new Map(rows.map((r) => [r.start, r.local])).entries()]
      .sort((a, b) => (a[0] < b[0] ? -1 : 1));
    const index = new Map(hours.map(([start], i) => [start, i]));
    const bySensor = new Map();
    for (const row of rows) {
      const name = sensorName(el, names, row);
      if (!bySensor.has(name)) bySensor.set(name, new Array(hours.length).fill(null));
      bySensor.get(name)[index.get(row.start)] = Math.round(row.avg_c * 10) / 10;
    }
    return {
      grid, tooltip, legend,
      xAxis: { type: "category", data: hours.map(([, local]) => dayHour(local)) },
      yAxis: { type: "value", name: "°C", scale: true },
      series: [...bySensor.entries()].map(([name, data]) =>
        ({ name, type: "line", connectNulls: true, showSymbol: false, data })),
    };
  }

  const BUILD = { occupancy, traffic, energy, temperature };

  function settle(el, state, text) {
    if (text !== undefined) {
      const old = window.echarts && window.echarts.getInstanceByDom(el);
      if (old) { charts.delete(old); old.dispose(); }
      el.textContent = text;
      el.classList.add("muted");
    }
    el.dataset.chartState = state;
    el.dataset.chartReady = "1";
  }

  async function rowsOf(src) {
    const hit = cache.get(src);
    if (hit && Date.now() - hit.at < REUSE_MS) return hit.rows;
    const res = await fetch(src, { credentials: "same-origin", headers: { Accept: "application/json" } });
    if (!res.ok) throw new Error(`HTTP ${res.status}`);
    const body = await res.json();
    const rows = Array.isArray(body.data) ? body.data : [];
    cache.set(src, { at: Date.now(), rows });
    return rows;
  }

  async function draw(el) {
    const build = BUILD[el.dataset.chart];
    if (!build || !el.dataset.src) return;
    if (!window.echarts) { settle(el, "error", el.dataset.error || el.dataset.empty || ""); return; }
    let rows;
    try {
      rows = await rowsOf(el.dataset.src);
    } catch (err) {
      console.warn("chart data failed", el.dataset.src, err);
      if (el.isConnected) settle(el, "error", el.dataset.error || el.dataset.empty || "");
      return;
    }
    if (!el.isConnected) return;  // <main> was swapped while the answer was on its way
    if (!rows.length) { settle(el, "empty", el.dataset.empty || ""); return; }
    try {
      const old = window.echarts.getInstanceByDom(el);
      if (old) { charts.delete(old); old.dispose(); }
      el.classList.remove("muted");
      const chart = window.echarts.init(el);
      charts.add(chart);
      // No animation: a live page redraws often, and a chart growing each time is noise.
      chart.setOption({ animation: false, ...build(rows, el) });
      settle(el, "drawn");
    } catch (err) {
      console.error("chart failed", el.dataset.chart, err);
      settle(el, "error", el.dataset.error || el.dataset.empty || "");
    }
  }

  function forgetDetached() {
    for (const chart of charts) {
      if (!chart.getDom().isConnected) { charts.delete(chart); chart.dispose(); }
    }
  }

  function drawAll(root) {
    forgetDetached();
    for (const el of (root || document).querySelectorAll("[data-chart]")) draw(el);
  }

  window.addEventListener("resize", () => { for (const chart of charts) chart.resize(); });

  // Both scripts are deferred and run in document order before DOMContentLoaded, this one
  // first: app.js creates window.yz and runs its afterRender hooks on DOMContentLoaded, so
  // the hook is added then (or at once if app.js came first). Without app.js: draw once.
  function register() {
    if (window.yz && Array.isArray(window.yz.afterRender)) window.yz.afterRender.push(drawAll);
    else drawAll(document);
  }
  if (window.yz) register();
  else if (document.readyState === "complete") drawAll(document);
  else document.addEventListener("DOMContentLoaded", register);
})();
