// The venue page's charts: each [data-chart] element names its kind and the API address it
// draws from (data-src); the words on it (series names, "no data yet") come translated in its
// data-* attributes. Drawn with the vendored Apache ECharts; x axes read the venue-local times
// the API returns, so a chart shows the venue's clock, not the browser's.
// A chart is drawn once; when the live feed names one of its data-live-topics (app.js's
// "yz:live"), its data is fetched again (at most once per REUSE_MS) and given to the same
// instance with setOption: no re-init, so a tooltip someone is reading stays up.
// Sets data-chart-ready="1" once the element is settled, data-chart-state to
// drawn | empty | error, and counts in-place updates in data-chart-updates.
"use strict";
(function () {
  // Rollups move every minute: asking the API more often than this costs bytes, not news.
  const REUSE_MS = 60 * 1000;
  const SPARSE = 48;  // points per series at or below which each point is marked
  const cache = new Map();  // src -> { at, rows }
  const charts = new Set();  // live ECharts instances, disposed once their element is gone

  const hhmm = (local) => String(local || "").slice(11, 16);
  const dayHour = (local) => String(local || "").slice(5, 16).replace("T", " ");
  const monthDay = (date) => String(date || "").slice(5);
  // containLabel keeps axis labels inside: the chart fits a 360-px phone.
  const grid = { left: 4, right: 12, top: 36, bottom: 8, containLabel: true };
  const tooltip = { trigger: "axis", confine: true, className: "yz-tooltip" };

  function legendFor(el, count) {
    // A plain legend wraps onto more rows instead of paging through its names.
    const perRow = Math.max(1, Math.floor((el.clientWidth || 320) / 120));
    const rows = Math.ceil(count / perRow);
    return { legend: { type: "plain", top: 0, left: 0, right: 0, itemGap: 8 },
             grid: { ...grid, top: 12 + 24 * Math.max(1, rows) } };
  }

  function sameDay(rows) {
    const days = new Set(rows.map((r) => String(r.local || "").slice(0, 10)));
    return days.size <= 1;
  }

  function hourLabel(rows) {
    return sameDay(rows) ? (r) => hhmm(r.local) : (r) => dayHour(r.local);
  }

  function occupancy(rows, el) {
    const label = hourLabel(rows);
    return {
      grid, tooltip,
      xAxis: { type: "category", data: rows.map(label) },
      yAxis: { type: "value", minInterval: 1 },
      series: [{ name: el.dataset.labelCount, type: "line", step: "end", areaStyle: {},
                 showSymbol: rows.length <= SPARSE, data: rows.map((r) => r.count) }],
    };
  }

  function traffic(rows, el) {
    const daily = rows.length && rows[0].date !== undefined;
    const label = daily ? (r) => monthDay(r.date) : hourLabel(rows);
    const bar = (name, key) => ({ name, type: "bar", data: rows.map((r) => r[key]) });
    return {
      ...legendFor(el, 3), tooltip,
      xAxis: { type: "category", data: rows.map(label) },
      yAxis: { type: "value", minInterval: 1 },
      series: [
        bar(el.dataset.labelIn, "people_in"),
        bar(el.dataset.labelOut, "people_out"),
        { name: el.dataset.labelVisits, type: "line", showSymbol: rows.length <= SPARSE,
          data: rows.map((r) => r.visits) },
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

  // A probe's name: its label, else its role's word (冰箱, 环境…), else "探头 …7a57":
  // nobody reads "hub-01/28-6174025e7a57" as the fridge.
  function sensorName(el, names, row) {
    const known = names[`${row.device_id}/${row.sensor}`];
    if (known && known.label) return known.label;
    const roleWord = known && el.dataset[`label${known.role.charAt(0).toUpperCase()}${known.role.slice(1)}`];
    if (roleWord) return roleWord;
    const tail = String(row.sensor || row.device_id).slice(-4);
    return `${el.dataset.labelProbe || "probe"} …${tail}`;
  }

  function temperature(rows, el) {
    let names = {};
    try { names = JSON.parse(el.dataset.sensors || "{}"); } catch (err) { names = {}; }
    const limit = el.dataset.fridgeLimit === undefined || el.dataset.fridgeLimit === ""
      ? null : Number(el.dataset.fridgeLimit);
    // Hours ordered by their UTC start, labelled by the venue's clock.
    const hours = [...new Map(rows.map((r) => [r.start, r.local])).entries()]
      .sort((a, b) => (a[0] < b[0] ? -1 : 1));
    const index = new Map(hours.map(([start], i) => [start, i]));
    const bySensor = new Map();  // name -> {data, fridge}
    const taken = new Map();  // a name given to another probe already: number them
    const nameOf = new Map();
    for (const row of rows) {
      const key = `${row.device_id}/${row.sensor}`;
      if (!nameOf.has(key)) {
        const base = sensorName(el, names, row);
        const n = (taken.get(base) || 0) + 1;
        taken.set(base, n);
        nameOf.set(key, n === 1 ? base : `${base} ${n}`);
      }
      const name = nameOf.get(key);
      if (!bySensor.has(name)) {
        const known = names[key];
        bySensor.set(name, { data: new Array(hours.length).fill(null),
                             fridge: Boolean(known && known.role === "fridge") });
      }
      bySensor.get(name).data[index.get(row.start)] = Math.round(row.avg_c * 10) / 10;
    }
    let limitDrawn = false;
    const series = [...bySensor.entries()].map(([name, { data, fridge }]) => {
      const points = data.filter((v) => v !== null).length;
      const line = { name, type: "line", connectNulls: true, data,
                     // One reading an hour: single points must show, not vanish.
                     showSymbol: points <= SPARSE, symbolSize: 6 };
      if (fridge && limit !== null && !limitDrawn) {
        limitDrawn = true;
        line.markLine = {
          silent: true, symbol: "none",
          lineStyle: { type: "dashed", color: "#c62828", width: 2 },
          label: { formatter: `${el.dataset.labelLimit || "limit"} ${limit} °C`, position: "insideEndTop" },
          data: [{ yAxis: limit }],
        };
      }
      return line;
    });
    const yAxis = { type: "value", name: "°C", scale: true };
    if (limitDrawn) {
      yAxis.max = (extent) => Math.ceil(Math.max(extent.max, limit + 1));
      yAxis.min = (extent) => Math.floor(Math.min(extent.min, limit - 1));
    }
    return {
      ...legendFor(el, series.length), tooltip,
      xAxis: { type: "category", data: hours.map(([, local]) => dayHour(local)) },
      yAxis, series,
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

  function reuseMs(el) {
    const own = Number(el.dataset.reuseMs);
    return Number.isFinite(own) && el.dataset.reuseMs !== undefined ? own : REUSE_MS;
  }

  async function rowsOf(src, reuse) {
    const hit = cache.get(src);
    if (hit && Date.now() - hit.at < reuse) return hit.rows;
    const res = await fetch(src, { credentials: "same-origin", headers: { Accept: "application/json" } });
    if (!res.ok) throw new Error(`HTTP ${res.status}`);
    const body = await res.json();
    const rows = Array.isArray(body.data) ? body.data : [];
    cache.set(src, { at: Date.now(), rows });
    return rows;
  }

  async function draw(el, live) {
    const build = BUILD[el.dataset.chart];
    if (!build || !el.dataset.src) return;
    if (!window.echarts) { settle(el, "error", el.dataset.error || el.dataset.empty || ""); return; }
    const hit = cache.get(el.dataset.src);
    // News within REUSE_MS of the last answer waits: the next one will carry it.
    if (live && hit && Date.now() - hit.at < reuseMs(el)) return;
    let rows;
    try {
      rows = await rowsOf(el.dataset.src, reuseMs(el));
    } catch (err) {
      console.warn("chart data failed", el.dataset.src, err);
      if (el.isConnected && !window.echarts.getInstanceByDom(el)) {
        settle(el, "error", el.dataset.error || el.dataset.empty || "");
      }
      return;
    }
    if (!el.isConnected) return;  // <main> was swapped while the answer was on its way
    if (!rows.length) { settle(el, "empty", el.dataset.empty || ""); return; }
    try {
      let chart = window.echarts.getInstanceByDom(el);
      if (chart) {
        // The same instance, new data: ECharts keeps a shown tooltip across the update.
        chart.setOption(build(rows, el));
        el.dataset.chartUpdates = String(Number(el.dataset.chartUpdates || "0") + 1);
      } else {
        el.textContent = "";
        el.classList.remove("muted");
        chart = window.echarts.init(el);
        charts.add(chart);
        // No animation: a live page updates often, and a chart growing each time is noise.
        chart.setOption({ animation: false, ...build(rows, el) });
      }
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
    for (const el of (root || document).querySelectorAll("[data-chart]")) draw(el, false);
  }

  function listens(el, topics) {
    const tokens = (el.dataset.liveTopics || "").split(/\s+/).filter(Boolean);
    return topics.some((topic) => tokens.includes(topic));
  }

  document.addEventListener("yz:live", (event) => {
    const topics = (event.detail && event.detail.topics) || [];
    for (const el of document.querySelectorAll("[data-chart][data-live-topics]")) {
      if (listens(el, topics)) draw(el, true);
    }
  });

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
