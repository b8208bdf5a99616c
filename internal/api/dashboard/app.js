// The live dashboard of ltvctl serve: polls the read API's JSON endpoints
// and draws them. Plain JavaScript, no libraries, no build step. Values
// from the API are only ever put into the page as text, never as HTML.
"use strict";

const REFRESH_MS = 4000;
const CHANGES_SHOWN = 25;
const TIER_COLOURS = { "": "#64748b", bronze: "#cd8a4b", silver: "#b8c2d1", gold: "#f2c94c", platinum: "#7dd3fc" };
const SEGMENTS = ["new", "active", "at_risk", "lapsed", "churned"];
const SEGMENT_COLOURS = { "": "#64748b", new: "#60a5fa", active: "#34d399", at_risk: "#fbbf24", lapsed: "#f97316", churned: "#ef4444" };
const PALETTE = ["#a78bfa", "#f472b6", "#2dd4bf", "#facc15", "#fb923c", "#94a3b8"];
const SVG = "http://www.w3.org/2000/svg";

const count = new Intl.NumberFormat("en-US");
const $ = (id) => document.getElementById(id);

// el makes an element with a class and text content.
function el(tag, cls, text) {
  const e = document.createElement(tag);
  if (cls) e.className = cls;
  if (text !== undefined && text !== null) e.textContent = String(text);
  return e;
}

function svg(tag, attrs, text) {
  const e = document.createElementNS(SVG, tag);
  for (const [k, v] of Object.entries(attrs || {})) e.setAttribute(k, String(v));
  if (text !== undefined) e.textContent = String(text);
  return e;
}

// money formats an exact decimal string ("12345.60") with thousands
// separators, without going through floating point.
function money(s) {
  if (s === null || s === undefined || s === "") return "—";
  let str = String(s), sign = "";
  if (str.startsWith("-")) { sign = "-"; str = str.slice(1); }
  const [int, frac] = str.split(".");
  const grouped = int.replace(/\B(?=(\d{3})+(?!\d))/g, ",");
  return sign + grouped + (frac !== undefined ? "." + frac : "");
}

// cents turns a decimal string with at most 2 places into a BigInt of
// cents, for exact sums.
function cents(s) {
  if (typeof s !== "string" || !/^-?\d+(\.\d{1,2})?$/.test(s)) return null;
  const neg = s.startsWith("-");
  const [int, frac = ""] = (neg ? s.slice(1) : s).split(".");
  const v = BigInt(int) * 100n + BigInt((frac + "00").slice(0, 2));
  return neg ? -v : v;
}

function fromCents(v) {
  const neg = v < 0n;
  if (neg) v = -v;
  const s = (v / 100n).toString() + "." + (v % 100n).toString().padStart(2, "0");
  return (neg ? "-" : "") + s;
}

// short renders a band edge compactly: 1000 → 1k, 2500000 → 2.5M.
function short(s) {
  const n = Number(s);
  if (!isFinite(n)) return s;
  if (Math.abs(n) >= 1e6) return +(n / 1e6).toFixed(1) + "M";
  if (Math.abs(n) >= 1e3) return +(n / 1e3).toFixed(1) + "k";
  return String(+n.toFixed(0));
}

function pct(x, digits = 1) {
  if (x === null || x === undefined || !isFinite(x)) return "—";
  return (100 * x).toFixed(digits) + "%";
}

function ratio(x) {
  if (x === null || x === undefined || !isFinite(x)) return "—";
  return x.toFixed(2);
}

function ago(iso) {
  const t = Date.parse(iso);
  if (isNaN(t)) return "";
  const s = Math.max(0, Math.round((Date.now() - t) / 1000));
  if (s < 60) return s + " s ago";
  if (s < 3600) return Math.floor(s / 60) + " min ago";
  if (s < 86400) return Math.floor(s / 3600) + " h ago";
  return new Date(t).toISOString().slice(0, 10);
}

const FETCH_TIMEOUT_MS = 8000;

// fetchJSON gets url's JSON; every failure is an Error naming url and
// saying what went wrong (the browser's own words for a timeout, "signal
// is aborted without reason", or for an unreachable server, "Failed to
// fetch", name neither).
async function fetchJSON(url) {
  const ctl = new AbortController();
  const timer = setTimeout(() => ctl.abort(), FETCH_TIMEOUT_MS);
  try {
    let res;
    try {
      res = await fetch(url, { signal: ctl.signal, headers: { Accept: "application/json" } });
    } catch (e) {
      throw new Error(url + ": " + (ctl.signal.aborted ? "no answer within " + FETCH_TIMEOUT_MS / 1000 + " s" : "the API cannot be reached (" + e.message + ")"));
    }
    let body = null;
    try { body = await res.json(); } catch (_) { /* not JSON */ }
    if (!res.ok) throw new Error(url + ": " + ((body && body.error) || res.status + " " + res.statusText));
    return body;
  } finally {
    clearTimeout(timer);
  }
}

function colourOf(map, name, i) {
  return map[name] || PALETTE[i % PALETTE.length];
}

// noneName shows an empty channel or tier name as "(none)": customers
// without a channel, or below a tier ladder that starts above 0. A name
// literally "(none)", or starting with a quote, shows quoted, as in
// ltvctl's tables, so the two never read as one.
function noneName(name) {
  if (name === "") return "(none)";
  if (name === "(none)" || name.startsWith('"')) return JSON.stringify(name);
  return name;
}

// bars draws one row per [name, value] with a bar scaled to the total;
// label turns a name into its label (default: underscores as spaces).
function bars(container, entries, colours, label = (name) => name.replaceAll("_", " ")) {
  const total = entries.reduce((a, [, v]) => a + v, 0);
  const rows = entries.map(([name, v], i) => {
    const row = el("div", "bar-row");
    row.dataset.name = name;
    const nameEl = el("span", "name");
    const sw = el("span", "swatch");
    sw.style.backgroundColor = colourOf(colours, name, i);
    nameEl.append(sw, document.createTextNode(label(name)));
    const track = el("div", "track");
    const fill = el("div", v > 0 ? "fill some" : "fill");
    fill.style.backgroundColor = colourOf(colours, name, i);
    fill.style.width = total > 0 ? (100 * v / total).toFixed(2) + "%" : "0";
    track.append(fill);
    const fig = el("span", "figure");
    fig.append(el("span", "count", count.format(v)), el("span", "share", total > 0 ? pct(v / total) : ""));
    row.append(nameEl, track, fig);
    return row;
  });
  container.replaceChildren(...rows);
}

// renderTiers draws the tiers in the ladder's order, which /v1/stats
// gives in tier_order (its tiers object has its keys in name order); a
// name missing from it follows by name. The customers without a tier
// (key "", below a ladder that starts above 0) come first, as "(none)".
function renderTiers(tiers, order) {
  const ladder = Array.isArray(order) ? order : [];
  const rank = (n) => (ladder.includes(n) ? ladder.indexOf(n) : ladder.length);
  const entries = Object.entries(tiers || {}).sort(([a], [b]) => rank(a) - rank(b) || a.localeCompare(b));
  bars($("tiers"), entries, TIER_COLOURS, (name) => noneName(name).replaceAll("_", " "));
}

function renderSegments(segments) {
  const seg = segments || {};
  // Customers without a segment (no orders, not churned: key "") come
  // first, as "(none)", so the bars add up to the customer count.
  const first = "" in seg ? [""] : [];
  const names = first.concat(SEGMENTS.filter((n) => n in seg), Object.keys(seg).filter((n) => n !== "" && !SEGMENTS.includes(n)));
  const entries = names.map((n) => [n, seg[n]]);
  bars($("segments"), entries, SEGMENT_COLOURS, (name) => noneName(name).replaceAll("_", " "));
  const total = entries.reduce((a, [, v]) => a + v, 0);
  $("segment-strip").replaceChildren(...entries.map(([n, v], i) => {
    const d = el("div");
    d.style.width = total > 0 ? (100 * v / total).toFixed(2) + "%" : "0";
    d.style.backgroundColor = colourOf(SEGMENT_COLOURS, n, i);
    d.title = noneName(n) + ": " + count.format(v);
    return d;
  }));
  const active = (seg.new || 0) + (seg.active || 0);
  $("kpi-active").textContent = total > 0 ? pct(active / total) : "—";
}

// countStep is the spacing of the count axis's grid lines: a whole number
// of customers of the form 1, 2, 2.5 or 5 × 10^k that cuts the axis from 0 to
// max into at most 4 steps. Grid lines at plain quarters of max would sit
// at fractions of a customer and be labelled with rounded, repeated
// numbers (0, 0, 1, 1, 1 for a largest band of 1).
function countStep(max) {
  const raw = Math.max(1, max) / 4;
  for (let p = 1; ; p *= 10) {
    const step = [1, 2, 2.5, 5].map((m) => m * p).find((s) => Number.isInteger(s) && s >= raw);
    if (step !== undefined) return step;
  }
}

function renderHistogram(buckets) {
  const box = $("histogram");
  const list = buckets || [];
  const W = Math.max(320, box.clientWidth || 600), H = 260;
  const padL = 46, padR = 8, padT = 18, padB = 34;
  const largest = Math.max(1, ...list.map((b) => b.customers));
  const tick = countStep(largest);
  const max = tick * Math.ceil(largest / tick); // the axis's top: a grid line
  const root = svg("svg", { viewBox: `0 0 ${W} ${H}`, role: "img", "aria-label": "customers per LTV band" });
  const plotW = W - padL - padR, plotH = H - padT - padB;
  // Grid lines at whole multiples of tick, each labelled with its count.
  for (let v = 0; v <= max; v += tick) {
    const y = padT + plotH - (plotH * v) / max;
    root.append(svg("line", { x1: padL, x2: W - padR, y1: y, y2: y, class: "axis" }));
    root.append(svg("text", { x: padL - 6, y: y + 4, "text-anchor": "end", class: "tick" }, short(v)));
  }
  const n = Math.max(1, list.length), step = plotW / n, gap = Math.min(6, step * 0.15);
  const labelEvery = Math.ceil(n / Math.max(1, Math.floor(plotW / 58)));
  list.forEach((b, i) => {
    const h = (plotH * b.customers) / max;
    const x = padL + i * step + gap / 2, y = padT + plotH - h;
    const range = b.to === null ? "≥ " + money(b.from) : money(b.from) + " – " + money(b.to);
    const r = svg("rect", { x, y, width: Math.max(1, step - gap), height: Math.max(0, h), rx: 3, class: "bin" });
    r.append(svg("title", {}, range + ": " + count.format(b.customers) + " customers"));
    root.append(r);
    if (step > 26 && b.customers > 0) {
      root.append(svg("text", { x: x + (step - gap) / 2, y: y - 4, "text-anchor": "middle", class: "count" }, short(b.customers)));
    }
    if (i % labelEvery === 0) {
      const label = b.to === null ? "≥" + short(b.from) : short(b.from);
      root.append(svg("text", { x: padL + i * step, y: H - padB + 16, "text-anchor": "start" }, label));
    }
  });
  box.replaceChildren(root);
}

// heat colours a column's cells by where each value lies between the
// column's smallest and largest.
function heat(cells, hue) {
  const vals = cells.map((c) => c.value).filter((v) => v !== null && isFinite(v));
  if (vals.length < 2) return;
  const lo = Math.min(...vals), hi = Math.max(...vals);
  for (const c of cells) {
    if (c.value === null || !isFinite(c.value) || hi === lo) continue;
    const a = 0.06 + 0.5 * ((c.value - lo) / (hi - lo));
    c.td.style.backgroundColor = `hsla(${hue}, 85%, 55%, ${a.toFixed(3)})`;
  }
}

function cell(text, numeric, value) {
  const td = el("td", numeric ? "num" : "", text);
  if (text === "—") td.classList.add("null");
  return { td, value: value === undefined ? null : value };
}

// channelCell shows a channel's name, "(none)" for customers without one
// (a channel literally named "(none)", or starting with a quote, shows
// quoted, as in ltvctl's tables, so the two never read as one).
// A long name (a UTM string, say) is cut with an ellipsis, the whole of it
// in the cell's tooltip: at its full width it pushed the figures of every
// row out of view to the right.
function channelCell(channel) {
  const name = noneName(channel);
  const td = el("td", "label", name);
  td.title = name;
  return td;
}

// MAX_ROWS bounds each table. A channel field that carries a campaign id
// per customer makes thousands of cohorts and channels; drawn in full
// every refresh they took seconds each (20,000: over 15 s) and froze the
// page. /v1/stats and ltvctl report keep every row.
const MAX_ROWS = 300;

// noteRow says how many rows a table leaves out, and where they are.
function noteRow(span, left, what) {
  const tr = emptyRow(span, count.format(left) + " " + what + " not shown (every one is in /v1/stats and ltvctl report)");
  tr.classList.add("note");
  return tr;
}

function renderCohorts(cohorts) {
  // The most recent cohorts: they come sorted by month, oldest first.
  const all = cohorts || [];
  const rows = all.slice(-MAX_ROWS);
  const cols = [
    ["customers", (c) => [count.format(c.customers), c.customers], 199],
    ["share_new", (c) => [pct(c.share_new), c.share_new], 210],
    ["share_active", (c) => [pct(c.share_active), c.share_active], 155],
    ["revenue", (c) => [money(c.revenue), Number(c.revenue)], 199],
    ["gross_profit", (c) => [money(c.gross_profit), Number(c.gross_profit)], 199],
    ["mean_ltv", (c) => [money(c.mean_ltv), Number(c.mean_ltv)], 199],
    ["mean_predicted_clv", (c) => [money(c.mean_predicted_clv), c.mean_predicted_clv === null ? null : Number(c.mean_predicted_clv)], 265],
    ["repeat_rate", (c) => [pct(c.repeat_rate), c.repeat_rate], 155],
    // arpu_month is null for a cohort without customer-months; Number(null)
    // would be 0 and shade the "—" cell as the column's lowest value.
    ["arpu_month", (c) => [money(c.arpu_month), c.arpu_month === null ? null : Number(c.arpu_month)], 199],
    ["monthly_churn_rate", (c) => [pct(c.monthly_churn_rate, 2), c.monthly_churn_rate], 0],
    ["subscription_ltv", (c) => [money(c.subscription_ltv), c.subscription_ltv === null ? null : Number(c.subscription_ltv)], 265],
  ];
  const byCol = cols.map(() => []);
  const trs = rows.map((c) => {
    const tr = el("tr");
    tr.dataset.cohort = c.cohort;
    tr.dataset.channel = c.channel;
    tr.append(el("td", "", c.cohort), channelCell(c.channel));
    cols.forEach(([, f], i) => {
      const [text, value] = f(c);
      const x = cell(text, true, value);
      x.td.dataset.col = cols[i][0];
      byCol[i].push(x);
      tr.append(x.td);
    });
    return tr;
  });
  cols.forEach(([, , hue], i) => heat(byCol[i], hue));
  if (all.length > rows.length) trs.unshift(noteRow(13, all.length - rows.length, "older cohorts"));
  $("cohorts").tBodies[0].replaceChildren(...(trs.length ? trs : [emptyRow(13, "no cohorts yet")]));
}

function emptyRow(span, text) {
  const tr = el("tr");
  const td = el("td", "null", text);
  td.colSpan = span;
  tr.append(td);
  return tr;
}

function renderChannels(channels) {
  // The channels with the most customers, shown in name order as they come.
  const all = channels || [];
  let shown = all;
  if (all.length > MAX_ROWS) {
    const kept = new Set([...all].sort((a, b) => b.customers - a.customers).slice(0, MAX_ROWS));
    shown = all.filter((c) => kept.has(c));
  }
  const trs = shown.map((c) => {
    const tr = el("tr");
    tr.dataset.channel = c.channel;
    if (c.ltv_cac !== null && c.ltv_cac !== undefined) tr.classList.add(c.ltv_cac >= 3 ? "good" : "poor");
    tr.append(
      channelCell(c.channel),
      cell(count.format(c.customers), true).td,
      cell(money(c.mean_ltv), true).td,
      cell(money(c.cac), true).td,
      cell(ratio(c.ltv_cac), true).td,
    );
    tr.lastChild.classList.add("ratio");
    return tr;
  });
  if (all.length > shown.length) trs.push(noteRow(5, all.length - shown.length, "smaller channels"));
  $("channels").tBodies[0].replaceChildren(...(trs.length ? trs : [emptyRow(5, "no channels yet")]));
}

function renderKPIs(s) {
  $("kpi-population").textContent = count.format(s.population);
  // Keys under ltv:{…} that are not readable customers are not counted;
  // the caption says how many were left out, the tooltip why the first was.
  const sk = s.skipped || {};
  const left = (sk.not_hash || 0) + (sk.no_public_fields || 0) + (sk.unreadable || 0);
  let caption = s.sampled ? (s.sample_error || "from a sample of " + count.format(s.sample_size)) : "every customer read";
  if (left > 0) caption += " · " + count.format(left) + " keys left out (not readable customers" + (s.sampled ? ", in the sample" : "") + ")";
  $("kpi-sample").textContent = caption;
  $("kpi-sample").title = left > 0 ? "first left out: " + sk.first : "";
  // Mean LTV over every customer of the cohorts, exact to the cent from
  // the server (a mean of the channels' rounded means can be a cent off).
  $("kpi-mean-ltv").textContent = s.mean_ltv != null ? money(s.mean_ltv) : "—";
  let revenue = 0n, profit = 0n, exact = true;
  for (const c of s.cohorts || []) {
    const r = cents(c.revenue), p = cents(c.gross_profit);
    if (r === null || p === null) { exact = false; break; }
    revenue += r;
    profit += p;
  }
  $("kpi-revenue").textContent = exact && (s.cohorts || []).length ? money(fromCents(revenue)) : "—";
  $("kpi-gross-profit").textContent = exact && (s.cohorts || []).length ? "gross profit " + money(fromCents(profit)) : "";
}

// renderCurrency names the base currency of every amount where the page
// shows money: the stored fields carry none, and a figure without its
// currency is ambiguous to anyone who runs more than one shop.
function renderCurrency(code) {
  for (const e of document.querySelectorAll(".currency")) e.textContent = code || "";
  for (const e of document.querySelectorAll(".currency-wrap")) e.hidden = !code;
}

function renderStats(s) {
  renderCurrency(s.currency);
  renderKPIs(s);
  renderTiers(s.tiers, s.tier_order);
  renderSegments(s.segments);
  renderHistogram(s.ltv_histogram);
  renderCohorts(s.cohorts);
  renderChannels(s.channels);
  $("generated").textContent = "statistics computed " + (s.generated_at || "—") + (s.sampled ? " from a sample" : "");
}

function describeChange(c) {
  if (c.schema === "ltv.segment.v1") {
    return { icon: "◆", cls: "seg", what: (c.previous_segment || "(none)") + " → " + (c.segment || "(none)"), extra: "segment" };
  }
  // A demotion below a ladder that starts above 0 has tier "": "(none)",
  // as in the tier chart.
  const up = c.direction === "up";
  return { icon: up ? "▲" : "▼", cls: up ? "up" : "down", what: (c.previous_tier || "(new)") + " → " + noneName(c.tier || ""), extra: "ltv " + money(c.ltv) };
}

function renderChanges(body) {
  const list = (body && body.changes) || [];
  const items = list.slice(0, CHANGES_SHOWN).map((c) => {
    const d = describeChange(c);
    const li = el("li");
    li.dataset.eventId = c.event_id;
    li.dataset.customer = c.customer_id;
    li.dataset.kind = c.schema === "ltv.segment.v1" ? "segment" : "tier";
    const text = el("div");
    text.append(el("span", "who", c.customer_id), document.createTextNode("  "), el("span", "what", d.what), document.createTextNode(" "), el("span", "pill", d.extra));
    const when = el("span", "when", ago(c.emitted_at));
    when.title = "emitted " + c.emitted_at + ", caused by an event of " + c.occurred_at;
    li.append(el("span", "icon " + d.cls, d.icon), text, when);
    return li;
  });
  $("changes").replaceChildren(...(items.length ? items : [el("li", "empty", "no changes published yet")]));
}

function setStatus(ok, text) {
  $("status-dot").className = "dot " + (ok ? "ok" : "err");
  $("status-text").textContent = text;
}

// statsShownAt and changesShown remember what the page holds from earlier
// refreshes: the last figures stay on screen when a refresh fails, and the
// status must say how old they are, not claim they were just updated.
let statsShownAt = null, changesShown = false;

async function refresh() {
  // Each answer is drawn as soon as it arrives: the figures come from
  // Redis and must not wait for a slow or hung broker (the recent changes
  // can take the API up to its 5 s Kafka deadline to fail).
  const shown = (p, render) => p.then((v) => { render(v); return v; });
  const [stats, changes] = await Promise.allSettled([
    shown(fetchJSON("/v1/stats"), (v) => { renderStats(v); statsShownAt = new Date().toLocaleTimeString("en-GB"); }),
    shown(fetchJSON("/v1/changes?limit=" + CHANGES_SHOWN), (v) => { renderChanges(v); changesShown = true; }),
  ]);
  const errors = [];
  const now = new Date().toLocaleTimeString("en-GB");
  // refresh_error: the API's refresh of the figures failed, and it serves
  // the last good ones (as old as generated_at says) for a while.
  const refreshFailed = stats.status === "fulfilled" && stats.value && stats.value.refresh_error;
  if (stats.status !== "fulfilled") {
    errors.push(stats.reason.message);
  } else if (refreshFailed) {
    errors.push("/v1/stats: figures computed " + ago(stats.value.generated_at) + ", not refreshed since: " + stats.value.refresh_error);
  }
  if (changes.status !== "fulfilled") {
    errors.push(changes.reason.message);
    if (!changesShown) $("changes").replaceChildren(el("li", "empty", "recent changes unavailable (see the banner)"));
  }
  const banner = $("banner");
  if (errors.length) {
    banner.textContent = errors.join(" · ");
    banner.hidden = false;
  } else {
    banner.hidden = true;
  }
  let status;
  if (errors.length === 0) status = "live, updated " + now;
  else if (refreshFailed) status = "stale, figures computed " + ago(stats.value.generated_at) + ", refresh failing";
  else if (stats.status === "fulfilled") status = "partly stale, figures updated " + now;
  else if (statsShownAt) status = "stale, figures from " + statsShownAt + ", retrying";
  else status = "no figures yet, retrying";
  setStatus(errors.length === 0, status);
  document.body.dataset.refreshed = String(Number(document.body.dataset.refreshed || 0) + 1);
  setTimeout(refresh, REFRESH_MS);
}

refresh();
