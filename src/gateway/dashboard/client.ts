/**
 * The page's script and style, served as files (the CSP allows no inline script or style). The
 * script is plain browser JavaScript: it fetches `/admin/dashboard.json` (same origin, the
 * session cookie) and draws it with uPlot. Everything from the ledger goes in as text
 * (`textContent`, uPlot's labels are text too): key and model names are user-controlled.
 */

export const CLIENT_JS = `(() => {
  "use strict";
  const PALETTE = ["#2563eb", "#dc2626", "#16a34a", "#9333ea", "#ea580c", "#0891b2", "#ca8a04", "#64748b"];
  const WINDOWS = ["24h", "7d", "30d", "90d"];
  const charts = [];
  const $ = (id) => document.getElementById(id);

  const usd = (v) => "$" + v.toFixed(v !== 0 && Math.abs(v) < 1 ? 4 : 2);
  const count = (v) => Math.round(v).toLocaleString("en-US");
  const compact = (v) =>
    Math.abs(v) >= 1e9 ? (v / 1e9).toFixed(1) + "G" :
    Math.abs(v) >= 1e6 ? (v / 1e6).toFixed(1) + "M" :
    Math.abs(v) >= 1e3 ? (v / 1e3).toFixed(1) + "k" : String(Math.round(v * 100) / 100);
  const pct = (v) => (v === null || v === undefined ? "–" : (v * 100).toFixed(1) + "%");
  const ms = (v) => (v === null || v === undefined ? "–" : Math.round(v) + " ms");

  function el(tag, text, cls) {
    const e = document.createElement(tag);
    if (text !== undefined && text !== null) e.textContent = String(text);
    if (cls) e.className = cls;
    return e;
  }

  function row(cells) {
    const tr = document.createElement("tr");
    for (const c of cells) {
      if (c instanceof Node) {
        const td = document.createElement("td");
        td.appendChild(c);
        tr.appendChild(td);
      } else tr.appendChild(el("td", c));
    }
    return tr;
  }

  function fill(tableId, rows, empty) {
    const body = $(tableId).tBodies[0];
    body.replaceChildren();
    for (const r of rows) body.appendChild(row(r));
    if (rows.length === 0) {
      const tr = row([empty]);
      tr.firstChild.colSpan = $(tableId).tHead.rows[0].cells.length;
      tr.className = "empty";
      body.appendChild(tr);
    }
  }

  function bar(fraction) {
    const outer = el("div", null, "bar");
    const inner = el("div", null, fraction >= 1 ? "fill over" : fraction >= 0.8 ? "fill warn" : "fill");
    inner.style.width = Math.min(100, Math.max(0, fraction * 100)).toFixed(1) + "%";
    outer.appendChild(inner);
    return outer;
  }

  /** Points only where a value has no neighbour (a line cannot show it). */
  function isolated(values) {
    const out = [];
    for (let i = 0; i < values.length; i++) {
      const v = values[i];
      if (v === null || v === undefined) continue;
      const prev = i > 0 ? values[i - 1] : null;
      const next = i < values.length - 1 ? values[i + 1] : null;
      if ((prev === null || prev === undefined) && (next === null || next === undefined)) out.push(i);
    }
    return out;
  }

  /**
   * A chart: "stack" draws stacked bars (the biggest series on top, first in the legend; each bar
   * is drawn from zero to its cumulative value, the smaller ones over it), "line" draws lines.
   */
  function draw(id, xs, series, format, kind) {
    const target = $(id);
    target.replaceChildren();
    const width = Math.max(280, target.clientWidth || 480);
    let values = series.map((s) => s.values);
    if (kind === "stack") {
      const cumulative = [];
      let below = xs.map(() => 0);
      for (let k = series.length - 1; k >= 0; k--) {
        below = below.map((b, i) => b + (series[k].values[i] || 0));
        cumulative[k] = below;
      }
      values = cumulative;
    }
    const opts = {
      width,
      height: 220,
      scales: { x: { time: true } },
      series: [{}].concat(
        series.map((s, i) => {
          const color = s.color || PALETTE[i % PALETTE.length];
          const shown = (v) => (v === null || v === undefined ? "–" : format(v));
          return kind === "stack"
            ? {
                label: s.name,
                stroke: color,
                fill: color + "cc",
                width: 0,
                paths: uPlot.paths.bars({ size: [0.9, 40], align: 1 }),
                points: { show: false },
                value: (u, v, si, idx) => (idx === null || idx === undefined ? "–" : shown(s.values[idx])),
              }
            : {
                label: s.name,
                stroke: color,
                width: 2,
                spanGaps: false,
                points: { show: true, size: 6, fill: color, filter: isolated(s.values) },
                value: (u, v) => shown(v),
              };
        }),
      ),
      axes: [{}, { size: 64, values: (u, ticks) => ticks.map(format) }],
      legend: { live: true },
    };
    const chart = new uPlot(opts, [xs].concat(values), target);
    charts.push(chart);
    if (series.length === 0) target.appendChild(el("p", "No requests in this window.", "nodata"));
  }

  function render(d) {
    for (const c of charts.splice(0)) c.destroy();
    const xs = d.buckets.map((t) => t / 1000);
    const t = d.totals;
    $("total-spend").textContent = usd(t.costUsd);
    $("unpriced").textContent = t.unpricedRequests > 0 ? count(t.unpricedRequests) + " requests unpriced" : "";
    $("total-requests").textContent = count(t.requests);
    $("total-tokens").textContent = count(t.tokens);
    $("tokens-split").textContent =
      "in " + compact(t.inputTokens) + " · out " + compact(t.outputTokens) +
      " · cache w " + compact(t.cacheWriteTokens) + " · r " + compact(t.cacheReadTokens);
    $("error-rate").textContent = pct(t.errorRate);
    $("error-count").textContent = count(t.errors) + " errors · " + count(t.retries) + " retries · " + count(t.failovers) + " failovers";
    $("throttle-rate").textContent = pct(d.rates.throttleRateOverall);
    $("ttfb").textContent = ms(d.latency.p50Overall) + " / " + ms(d.latency.p95Overall);

    for (const dim of ["model", "key", "region"]) {
      draw("chart-spend-" + dim, xs, d.spend[dim], usd, "stack");
      draw("chart-tokens-" + dim, xs, d.tokens[dim], compact, "stack");
    }
    draw("chart-rates", xs, [
      { name: "error rate", values: d.rates.errorRate, color: PALETTE[1] },
      { name: "throttle rate", values: d.rates.throttleRate, color: PALETTE[4] },
    ], pct, "line");
    draw("chart-ttfb", xs, [
      { name: "p50", values: d.latency.p50, color: PALETTE[0] },
      { name: "p95", values: d.latency.p95, color: PALETTE[3] },
    ], ms, "line");

    fill("top-keys", d.topKeys.map((k) => [
      k.name, usd(k.costUsd) + (k.unpricedRequests > 0 ? " +unpriced" : ""), k.share === null ? "–" : pct(k.share),
      count(k.requests), compact(k.tokens), pct(k.requests > 0 ? k.errors / k.requests : null),
    ]), "No requests in this window.");
    fill("budgets", d.budgets.map((b) => [
      b.label, b.mode, usd(b.spentUsd), usd(b.reservedUsd), usd(b.limitUsd), bar(b.burn), pct(b.burn),
    ]), "No budgets are being tracked.");
    fill("breakers", d.breakers.map((b) => [b.target, el("span", b.state, "state state-" + b.state)]),
      "No targets have been called yet.");

    $("footnote").textContent =
      d.since.slice(0, 16).replace("T", " ") + " – " + d.until.slice(0, 16).replace("T", " ") + " UTC, per " + d.bucket +
      ". Time to first byte and throttle rate from " + count(d.latency.sampled) + " requests (" +
      (d.latency.method === "per-hour" ? "up to " + count(d.latency.perHour) + " an hour" : "the last 24 hours") +
      ")." + (d.ledger ? "" : " The ledger is off: there is no usage to show.");
  }

  let timer;
  async function load() {
    const since = WINDOWS.includes(location.hash.slice(1)) ? location.hash.slice(1) : "7d";
    for (const b of document.querySelectorAll("#windows button")) b.setAttribute("aria-pressed", String(b.dataset.since === since));
    $("status").textContent = "Loading…";
    clearTimeout(timer);
    try {
      const res = await fetch("/admin/dashboard.json?since=" + encodeURIComponent(since), {
        credentials: "same-origin",
        headers: { accept: "application/json" },
      });
      if (res.status === 401 || res.status === 403) {
        location.reload();
        return;
      }
      const body = await res.json();
      if (!res.ok) throw new Error((body && body.error && body.error.message) || "HTTP " + res.status);
      render(body);
      document.body.dataset.loaded = "true";
      $("status").textContent = "Updated " + new Date(body.generatedAt).toLocaleTimeString();
    } catch (error) {
      $("status").textContent = "Could not load: " + error.message;
    }
    timer = setTimeout(load, 60_000);
  }

  for (const b of document.querySelectorAll("#windows button")) {
    b.addEventListener("click", () => {
      location.hash = b.dataset.since;
    });
  }
  window.addEventListener("hashchange", load);
  let resizing;
  window.addEventListener("resize", () => {
    clearTimeout(resizing);
    resizing = setTimeout(() => {
      for (const c of charts) c.setSize({ width: Math.max(280, c.root.parentElement.clientWidth), height: 220 });
    }, 150);
  });
  load();
})();
`;

export const CLIENT_CSS = `
:root { color-scheme: light; --fg: #0f172a; --muted: #64748b; --line: #e2e8f0; --bg: #f8fafc; --card: #fff; }
* { box-sizing: border-box; }
body { margin: 0; font: 14px/1.4 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; color: var(--fg); background: var(--bg); }
header { display: flex; gap: 16px; align-items: center; padding: 12px 24px; background: var(--card); border-bottom: 1px solid var(--line); }
header h1 { font-size: 18px; margin: 0; flex: 1; }
header form { margin: 0; }
button { font: inherit; padding: 4px 10px; border: 1px solid var(--line); border-radius: 6px; background: var(--card); cursor: pointer; }
button[aria-pressed="true"] { background: var(--fg); color: #fff; }
#status { color: var(--muted); }
main { padding: 16px 24px; display: grid; gap: 16px; }
.tiles { display: grid; grid-template-columns: repeat(auto-fit, minmax(170px, 1fr)); gap: 12px; }
.tile, figure, .tables > div { background: var(--card); border: 1px solid var(--line); border-radius: 8px; padding: 12px 16px; margin: 0; }
.tile h2, figcaption, .tables h2 { font-size: 12px; font-weight: 600; text-transform: uppercase; letter-spacing: .04em; color: var(--muted); margin: 0 0 6px; }
.tile p { font-size: 24px; font-weight: 600; margin: 0; }
.tile small { color: var(--muted); }
.charts { display: grid; grid-template-columns: repeat(auto-fit, minmax(420px, 1fr)); gap: 12px; }
.chart { min-height: 260px; }
.nodata { color: var(--muted); margin: 4px 0 0; }
.tables { display: grid; grid-template-columns: repeat(auto-fit, minmax(480px, 1fr)); gap: 12px; }
table { width: 100%; border-collapse: collapse; }
th, td { text-align: left; padding: 4px 6px; border-bottom: 1px solid var(--line); white-space: nowrap; }
td:first-child { white-space: normal; overflow-wrap: anywhere; }
th { font-weight: 600; color: var(--muted); }
tr.empty td { color: var(--muted); }
.bar { width: 100px; height: 8px; background: var(--line); border-radius: 4px; overflow: hidden; }
.bar .fill { height: 100%; background: #16a34a; }
.bar .fill.warn { background: #ca8a04; }
.bar .fill.over { background: #dc2626; }
.state { padding: 1px 8px; border-radius: 10px; background: var(--line); }
.state-closed { background: #dcfce7; }
.state-open { background: #fee2e2; }
.state-half-open, .state-half_open { background: #fef9c3; }
footer { padding: 0 24px 24px; color: var(--muted); }
.login { max-width: 360px; margin: 12vh auto; background: var(--card); border: 1px solid var(--line); border-radius: 8px; padding: 24px; }
.login h1 { font-size: 18px; margin: 0 0 12px; }
.login input { width: 100%; font: inherit; padding: 6px 8px; margin: 6px 0 12px; border: 1px solid var(--line); border-radius: 6px; }
.login .error { color: #dc2626; }
`;
