// Ferry dashboard: a static page that calls the notifier's admin API with the admin token the
// user typed in (kept in sessionStorage). Every value from the API is inserted as text, never
// as HTML.
"use strict";

const API = "/api/v1";
const TOKEN_KEY = "ferry-admin-token";
const PAGE = 50;
const state = { offset: 0, total: 0, filters: {} };

const $ = (sel) => document.querySelector(sel);

function el(tag, attrs, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === undefined || v === null) continue;
    if (k === "class") node.className = v;
    else if (k.startsWith("data-")) node.setAttribute(k, v);
    else if (k === "onclick") node.addEventListener("click", v);
    else node[k] = v;
  }
  for (const child of children) {
    if (child === undefined || child === null) continue;
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return node;
}

function token() { return sessionStorage.getItem(TOKEN_KEY); }

class AuthError extends Error {}

async function api(path, options = {}) {
  const headers = { Authorization: `Bearer ${token()}` };
  if (options.body) headers["Content-Type"] = "application/json";
  const response = await fetch(API + path, { ...options, headers });
  if (response.status === 401) throw new AuthError("The token was refused.");
  if (!response.ok) {
    let message = `HTTP ${response.status}`;
    try { message = (await response.json()).message || message; } catch (_) { /* not JSON */ }
    throw new Error(message);
  }
  if (response.status === 204 || response.status === 202) return null;
  const text = await response.text();
  return text ? JSON.parse(text) : null;
}

function fmtTime(iso) {
  if (!iso) return "";
  const d = new Date(iso);
  return d.toLocaleString(undefined, { hour12: false });
}

function statusTag(status, prefix = "status") {
  return el("span", { class: `status ${prefix}-${status}` }, status);
}

// ---- integration names -----------------------------------------------------------------

// Integration id -> { name, state, origin } from /integration-directory, refreshed per view.
const names = new Map();

async function loadNames() {
  const list = await api("/integration-directory");
  names.clear();
  for (const k of list) names.set(k.integration_id, k);
}

// An integration as people read it: its name (the id on hover), or the id's start if unnamed.
function integrationLabel(id) {
  if (!id) return el("span", { class: "muted" }, "—");
  const known = names.get(id);
  return el("span", { class: known ? "integration" : "integration unnamed", title: id, "data-integration-id": id },
    known ? known.name : `${id.slice(0, 8)}…`);
}

function showError(error) {
  if (error instanceof AuthError) { logout(error.message); return; }
  const box = $("#dead-status");
  console.error(error);
  box.textContent = String(error.message || error);
}

// ---- login -----------------------------------------------------------------------------

async function login(event) {
  event.preventDefault();
  const value = $("#token").value.trim();
  if (!value) return;
  sessionStorage.setItem(TOKEN_KEY, value);
  try {
    await api("/alerts?limit=1");
  } catch (error) {
    sessionStorage.removeItem(TOKEN_KEY);
    $("#login-error").textContent = error instanceof AuthError ? "That token was refused." : String(error.message);
    return;
  }
  $("#token").value = "";
  enter();
}

function logout(message) {
  sessionStorage.removeItem(TOKEN_KEY);
  $("#login").hidden = false;
  $("#nav").hidden = true;
  $("#logout").hidden = true;
  document.querySelectorAll(".view").forEach((v) => { v.hidden = true; });
  $("#login-error").textContent = message || "";
}

function enter() {
  $("#login").hidden = true;
  $("#nav").hidden = false;
  $("#logout").hidden = false;
  $("#login-error").textContent = "";
  if (!location.hash || location.hash === "#") location.hash = "#overview";
  route();
}

// ---- routing ---------------------------------------------------------------------------

function route() {
  if (!token()) { logout(); return; }
  const hash = location.hash.replace(/^#/, "");
  const [view, query] = hash.split("?");
  const name = ["overview", "activity", "record", "dead-letters", "alerts", "setup"].includes(view) ? view : "overview";
  document.querySelectorAll(".view").forEach((v) => { v.hidden = v.id !== `view-${name}`; });
  document.querySelectorAll("#nav a").forEach((a) => a.classList.toggle("active", a.dataset.view === name));
  document.body.dataset.view = name;
  refreshAlertCount();
  const loaders = { overview: loadOverview, activity: () => loadActivity(query), record: () => loadRecord(query), "dead-letters": loadDeadLetters, alerts: loadAlerts, setup: loadSetup };
  loadNames().catch(() => { /* names are a nicety: ids stay readable on hover */ })
    .then(() => loaders[name]()).catch(showError);
}

async function refreshAlertCount() {
  try {
    const open = await api("/alerts?limit=500");
    $("#alert-count").textContent = open.length ? String(open.length) : "";
  } catch (error) { if (error instanceof AuthError) logout(error.message); }
}

// ---- overview --------------------------------------------------------------------------

const chartState = { window: "24h", urls: [] };

// The reader's time zone for the charts' time labels, in minutes east of UTC.
function tzOffset() { return -new Date().getTimezoneOffset(); }

// A chart the notifier drew: fetched with the token, shown as an image (no script in it runs).
async function svgImage(path, alt, cls) {
  const response = await fetch(API + path, { headers: { Authorization: `Bearer ${token()}` } });
  if (response.status === 401) throw new AuthError("The token was refused.");
  if (!response.ok) throw new Error(`HTTP ${response.status}`);
  const url = URL.createObjectURL(await response.blob());
  chartState.urls.push(url);
  return el("img", { src: url, alt, class: cls });
}

async function loadOverview() {
  chartState.urls.splice(0).forEach((u) => URL.revokeObjectURL(u));
  const health = await api("/integration-health");
  const body = $("#health tbody");
  body.replaceChildren();
  if (!health.length) body.append(el("tr", {}, el("td", { colSpan: 5, class: "muted" }, "No integration and no activity yet.")));
  for (const integration of health) {
    const flows = el("div", {});
    for (const flow of integration.flows) {
      const counts = Object.entries(flow.counts).map(([s, n]) => `${s} ${n}`).join(", ");
      flows.append(el("div", {}, statusTag(flow.health, "health"), ` ${flow.flow}: ${counts}`));
    }
    if (!integration.flows.length) flows.append(el("span", { class: "muted" }, "nothing synced in 24 h"));
    const id = integration.integration_id;
    const trend = el("td", { class: "trend" });
    body.append(el("tr", { "data-integration": id },
      el("td", {}, el("a", { href: `#activity?integration_id=${encodeURIComponent(id)}`, title: id, class: "integration-name" }, integration.name || `${id.slice(0, 8)}…`),
        el("div", { class: "muted small" }, integration.state ? `${integration.state}${integration.origin === "configured" ? " · configured" : ""}` : "not in the registry")),
      el("td", {}, statusTag(integration.health, "health")),
      trend,
      el("td", {}, flows),
      el("td", {}, fmtTime(integration.last_activity_at))));
    svgImage(`/charts/sparkline.svg?window=24h&integration_id=${encodeURIComponent(id)}`, `${integration.name || id}: records and failures per hour`, "sparkline")
      .then((img) => trend.append(img)).catch(showError);
  }
  await Promise.all([drawCharts(), drawFreshness(), drawProgress(health.map((i) => i.integration_id), false)]);
}

// ---- sync progress ---------------------------------------------------------------------
// Each connector's progress of each integration (GET /<system>/integrations/{id}/progress): a
// bar per resource. While a backfill runs, the integrations still running one are redrawn
// every 2 s (only while the overview is shown).

const SYNC_SYSTEMS = ["mailchimp", "mpluskassa"];
const progressState = { timer: null };

function count(n) { return Number(n).toLocaleString("en-US"); }

// Seconds for people: 42 s, 3 min 05 s, 1 h 02 min.
function timeLeft(s) {
  const pad = (n) => String(n).padStart(2, "0");
  if (s < 60) return `${s} s`;
  if (s < 3600) return `${Math.floor(s / 60)} min ${pad(s % 60)} s`;
  return `${Math.floor(s / 3600)} h ${pad(Math.floor((s % 3600) / 60))} min`;
}

function syncLine(r, polled) {
  const known = (v) => v !== null && v !== undefined;
  const counts = known(r.total) ? `${count(r.done)} / ${count(r.total)}` : `${count(r.done)} records`;
  const rate = known(r.rate_per_second) ? `${count(Math.round(r.rate_per_second))}/s` : null;
  let what;
  if (r.state === "running") {
    const kind = { incremental: "polling", reconcile: "reconciling" }[r.mode] || "backfill";
    const left = known(r.eta_seconds) ? `about ${timeLeft(r.eta_seconds)} left` : "time left not known yet";
    what = rate ? `${kind} · ${rate} · ${left}` : `${kind} starting`;
  } else if (r.state === "done") {
    what = `done${r.finished_at ? ` ${ago(r.finished_at)}` : ""}${rate && r.done > 0 ? ` · ${rate} on average` : ""}`;
  } else if (r.state === "failed") {
    what = `failed: ${r.last_error || "no reason given"} (tried again at the next poll)`;
  } else {
    what = polled ? "waiting for the first sync" : "not synced";
  }
  const bar = el("progress", { max: 100 });
  if (known(r.percent)) bar.value = r.percent; // else indeterminate: the end is not known yet
  return el("div", { class: `sync sync-${r.state}`, "data-resource": r.resource, "data-state": r.state },
    el("span", { class: "sync-resource" }, r.resource), bar,
    el("span", { class: "sync-percent" }, known(r.percent) ? `${r.percent.toFixed(1)} %` : ""),
    el("span", { class: "sync-detail" }, `${counts} · ${what}`));
}

// Both connectors' progress of one integration (null where a connector does not serve it).
function fetchProgress(id) {
  return Promise.all(SYNC_SYSTEMS.map((system) => api(`/${system}/integrations/${encodeURIComponent(id)}/progress`)
    .catch((error) => { if (error instanceof AuthError) throw error; return null; })));
}

function progressRow(id, parts) {
  const cells = parts.map((p, i) => p
    ? el("td", { "data-system": p.system, "data-system-name": systemName(p.system) }, ...p.resources.map((r) => syncLine(r, p.polled)))
    : el("td", { class: "muted", "data-system": SYNC_SYSTEMS[i] }, "not served here"));
  const settled = parts.every((p) => !p || p.settled);
  return el("tr", { "data-integration": id, "data-settled": String(settled) }, el("td", {}, integrationLabel(id)), ...cells);
}

// Draws the progress of `ids` (replacing their rows when `refresh`), then keeps redrawing the
// ones whose backfill is not over.
async function drawProgress(ids, refresh) {
  clearTimeout(progressState.timer);
  const body = $("#progress tbody");
  const fetched = await Promise.all(ids.map(async (id) => [id, await fetchProgress(id)]));
  if (!refresh) body.replaceChildren();
  for (const [id, parts] of fetched) {
    if (!parts.some(Boolean)) continue;
    const row = progressRow(id, parts);
    const old = [...body.querySelectorAll("tr[data-integration]")].find((tr) => tr.dataset.integration === id);
    if (old) old.replaceWith(row); else body.append(row);
  }
  const rows = [...body.querySelectorAll("tr[data-integration]")];
  if (!rows.length) body.replaceChildren(el("tr", {}, el("td", { colSpan: 3, class: "muted" }, "No connector serves an integration here.")));
  const running = rows.filter((tr) => tr.dataset.settled === "false").map((tr) => tr.dataset.integration);
  if (running.length && document.body.dataset.view === "overview") {
    progressState.timer = setTimeout(() => drawProgress(running, true).catch(showError), 2000);
  }
}

// "3 min ago"-style age of a time.
function ago(iso) {
  const ms = Math.max(0, Date.now() - new Date(iso).getTime());
  if (ms < 60000) return `${Math.round(ms / 1000)} s ago`;
  if (ms < 3600000) return `${Math.round(ms / 60000)} min ago`;
  if (ms < 172800000) return `${Math.round(ms / 3600000)} h ago`;
  return `${Math.round(ms / 86400000)} days ago`;
}

function times(list) {
  if (!list.length) return el("span", { class: "muted" }, "—");
  return el("div", {}, ...list.map((t) => el("div", { title: fmtTime(t.at) }, `${systemName(t.system)} ${t.flow}: ${ago(t.at)}`)));
}

async function drawFreshness() {
  const f = await api("/integration-freshness");
  const body = $("#freshness tbody");
  body.replaceChildren();
  if (!f.integrations.length) body.append(el("tr", {}, el("td", { colSpan: 5, class: "muted" }, "Nothing seen yet.")));
  for (const i of f.integrations) {
    const waiting = i.oldest_undelivered_at
      ? el("span", { class: Date.now() - new Date(i.oldest_undelivered_at).getTime() > 60000 ? "late" : "", title: fmtTime(i.oldest_undelivered_at) },
        `${ago(i.oldest_undelivered_at)} (${i.undelivered} ${i.undelivered === 1 ? "change" : "changes"} waiting)`)
      : el("span", { class: "muted" }, "none: everything seen was delivered");
    body.append(el("tr", { "data-integration": i.integration_id },
      el("td", {}, integrationLabel(i.integration_id)), el("td", {}, times(i.last_seen)), el("td", {}, times(i.last_delivered)),
      el("td", { class: "oldest" }, waiting),
      el("td", { class: "parked" }, i.parked ? el("a", { href: "#dead-letters", class: "late" }, `${i.parked >= 500 ? "500 or more" : i.parked} parked`) : "0")));
  }
  $("#queues").textContent = "Waiting in the services' queues: " + f.queues.map((q) => `${q.queue} ${q.waiting ?? "unknown"}`).join(" · ") + ".";
}

function duration(ms) { return ms < 1000 ? `${ms} ms` : ms < 120000 ? `${(ms / 1000).toFixed(1)} s` : `${Math.round(ms / 60000)} min`; }

function sum(values) { return values.reduce((a, b) => a + b, 0); }

async function drawCharts() {
  const w = chartState.window;
  document.querySelectorAll(".toggle button").forEach((b) => b.classList.toggle("on", b.dataset.window === w));
  const series = await api(`/activity/series?window=${w}`);
  const status = (name) => sum(series.records.map((f) => sum(f.statuses[name] || [])));
  const p95 = series.latency_p95_ms.filter((v) => v !== null);
  const period = w === "1h" ? "In the last hour" : "In the last 24 hours";
  const seen = status("observed");
  $("#totals").textContent = `${period}: ${seen} ${seen === 1 ? "change" : "changes"} seen in the source systems, ${status("succeeded")} delivered, `
    + `${sum(series.failures)} failed or parked, ${status("sent")} awaiting an answer`
    + (p95.length ? `; 95 % reached the target within ${duration(Math.max(...p95))} of the change.` : ".");
  const q = `window=${w}&tz_offset_minutes=${tzOffset()}`;
  const specs = [
    { chart: "failures.svg", alt: "Failures per flow", extra: "" },
    { chart: "latency.svg", alt: "Latency from source change to target, p50 and p95", extra: "" },
    ...series.records.map((f) => ({ chart: "records.svg", flow: f.flow, alt: `${f.flow}: records per status`, extra: `&flow=${encodeURIComponent(f.flow)}` })),
  ];
  const images = await Promise.all(specs.map((c) => svgImage(`/charts/${c.chart}?${q}${c.extra}`, c.alt, "chart-img")));
  $("#charts").replaceChildren(...images.map((img, i) => el("figure", { class: "chart", "data-chart": specs[i].chart, "data-flow": specs[i].flow }, img)));
}

// ---- activity --------------------------------------------------------------------------

function readFilters() {
  const form = new FormData($("#filters"));
  const filters = {};
  for (const [k, v] of form.entries()) {
    if (!v) continue;
    filters[k] = (k === "from" || k === "to") ? new Date(v).toISOString() : v;
  }
  return filters;
}

function writeFilters(filters) {
  for (const input of $("#filters").querySelectorAll("input, select")) {
    const v = filters[input.name] || "";
    input.value = (input.type === "datetime-local" && v) ? v.slice(0, 16) : v;
  }
}

// The integration filter offers every known integration by name (and keeps an unknown id).
function integrationOptions(selected) {
  const select = $("#f-integration");
  const choices = [["", "any"], ...[...names.values()].map((k) => [k.integration_id, k.name])];
  if (selected && !names.has(selected)) choices.push([selected, `${selected.slice(0, 8)}…`]);
  select.replaceChildren(...choices.map(([v, label]) => el("option", { value: v, title: v }, label)));
  select.value = selected || "";
}

async function loadActivity(query) {
  integrationOptions(query !== undefined ? new URLSearchParams(query || "").get("integration_id") : state.filters.integration_id);
  if (query !== undefined) {
    state.filters = Object.fromEntries(new URLSearchParams(query || ""));
    state.offset = 0;
    writeFilters(state.filters);
  }
  const params = new URLSearchParams({ ...state.filters, limit: PAGE, offset: state.offset });
  const page = await api(`/activity?${params}`);
  state.total = page.total;
  const body = $("#activity-table tbody");
  body.replaceChildren();
  for (const row of page.items) {
    body.append(el("tr", { class: "clickable", "data-id": row.id, onclick: () => openDetail(row.id).catch(showError) },
      el("td", {}, fmtTime(row.occurred_at)),
      el("td", {}, integrationLabel(row.integration_id)),
      el("td", {}, row.flow),
      el("td", {}, `${row.routing_key}`),
      el("td", { class: "record" }, row.record_key || ""),
      el("td", {}, statusTag(row.status)),
      el("td", {}, row.error || ""),
      el("td", {}, row.duration_ms ?? "")));
  }
  const last = Math.min(state.offset + page.items.length, page.total);
  $("#activity-summary").textContent = page.total ? `${state.offset + 1}–${last} of ${page.total}` : "No activity matches.";
  $("#prev-page").disabled = state.offset === 0;
  $("#next-page").disabled = last >= page.total;
}

function pretty(value) { return value === null || value === undefined ? "—" : JSON.stringify(value, null, 2); }

async function openDetail(id) {
  const d = await api(`/activity/${id}`);
  $("#detail").hidden = false;
  $("#detail-title").textContent = `${d.routing_key} · ${d.record_key || "no record key"}`;
  $("#detail-story").href = `#record?id=${encodeURIComponent(d.id)}`;
  const meta = $("#detail-meta");
  meta.replaceChildren();
  const fields = [["Status", statusTag(d.status)], ["Integration", integrationLabel(d.integration_id)], ["Direction", `${d.direction} (${d.system})`],
    ["Occurred", fmtTime(d.occurred_at)], ["Completed", fmtTime(d.completed_at)], ["Duration", d.duration_ms == null ? "" : `${d.duration_ms} ms`],
    ["Error", d.error ? `${d.error_code || ""} ${d.error}` : ""], ["Message id", d.message_id], ["Correlation", d.correlation_id], ["Trace", d.trace_id || ""]];
  for (const [k, v] of fields) meta.append(el("dt", {}, k), el("dd", {}, v));
  // Source vs sent: this row's data, or the matching rows of its timeline.
  let source = d.source_data, sent = d.sent_data;
  const related = await Promise.all(d.timeline.filter((t) => t.id !== d.id).slice(0, 20).map((t) => api(`/activity/${t.id}`)));
  if (!source) source = (related.find((r) => r.source_data) || {}).source_data;
  if (!sent) sent = (related.find((r) => r.sent_data && r.record_key === d.record_key) || related.find((r) => r.sent_data) || {}).sent_data;
  $("#source-data").textContent = pretty(source);
  $("#sent-data").textContent = pretty(sent);
  $("#result-data").textContent = pretty(d.result_data);
  const timeline = $("#timeline tbody");
  timeline.replaceChildren();
  for (const t of d.timeline) {
    timeline.append(el("tr", { class: "clickable", "data-id": t.id, onclick: () => openDetail(t.id).catch(showError) },
      el("td", {}, fmtTime(t.occurred_at)), el("td", {}, t.routing_key), el("td", {}, t.record_key || ""),
      el("td", {}, statusTag(t.status)), el("td", {}, t.error || "")));
  }
  $("#detail").scrollIntoView({ block: "nearest" });
}

// ---- one record's story -----------------------------------------------------------------

const SYSTEMS = { mailchimp: "MailChimp", mpluskassa: "MplusKASSA", ferry: "Ferry" };
const NOUNS = { customers: "Customer", products: "Product", categories: "Category", stock: "Stock of product", orders: "Order" };
const systemName = (s) => SYSTEMS[s] || s;

async function loadRecord(query) {
  const params = new URLSearchParams(query || "");
  const id = params.get("id");
  const q = params.get("q");
  $("#story").hidden = true;
  if (q !== null) { $("#record-q").value = q; await findRecords(q); }
  if (id) { $("#record-results").hidden = true; $("#record-hint").textContent = ""; await showStory(id); }
}

async function findRecords(q) {
  const results = $("#record-results tbody");
  results.replaceChildren();
  if (!q.trim()) { $("#record-results").hidden = true; $("#record-hint").textContent = ""; return; }
  const page = await api(`/activity?${new URLSearchParams({ key_prefix: q.trim(), limit: 200 })}`);
  // One line per record of a saga or sync run: its newest row.
  const seen = new Map();
  for (const row of page.items) {
    const k = `${row.integration_id}|${row.record_key}|${row.correlation_id}`;
    if (!seen.has(k)) seen.set(k, row);
  }
  for (const row of seen.values()) {
    results.append(el("tr", { class: "clickable", "data-id": row.id, onclick: () => { location.hash = `#record?id=${encodeURIComponent(row.id)}`; } },
      el("td", { class: "record" }, row.record_key || ""), el("td", {}, integrationLabel(row.integration_id)),
      el("td", {}, row.flow), el("td", {}, fmtTime(row.occurred_at)), el("td", {}, statusTag(row.status))));
  }
  $("#record-results").hidden = seen.size === 0;
  $("#record-hint").textContent = seen.size ? `${seen.size} record(s) starting with "${q.trim()}". Open one for its whole story.`
    : `No record starts with "${q.trim()}". (With a read-only token, e-mail addresses are found only when typed in full.)`;
}

function pane(title, data, cls) {
  return el("div", { class: `pane ${cls || ""}` }, el("h4", {}, title), el("pre", {}, pretty(data)));
}

async function showStory(id) {
  const s = await api(`/activity/${encodeURIComponent(id)}/story`);
  const noun = NOUNS[s.flow] || "Record";
  const source = s.source ? systemName(s.source.row.system) : null;
  const target = s.steps.length ? systemName(s.steps[s.steps.length - 1].command.row.system) : null;
  $("#story-title").textContent = `${noun} ${s.record_key || ""}`.trim();
  const failedStep = s.steps.find((st) => st.command.row.status === "failed" || st.command.row.status === "parked");
  const took = duration(s.total_ms);
  const summaries = {
    succeeded: `came from ${source || "the source"} and reached ${target || "the target"} ${took} later.`,
    failed: `came from ${source || "the source"} but ${target || "the target"} refused it: ${failedStep ? failedStep.command.row.error || "" : ""}`,
    parked: `is on hold (parked); see Dead letters to replay it.`,
    sent: `came from ${source || "the source"}; ${target || "the target"} has not answered yet.`,
    observed: `came from ${source || "the source"}; nothing was sent for it (yet).`,
  };
  $("#story-summary").textContent = `${noun} ${s.record_key || ""} ${summaries[s.final_status] || s.final_status}`.replace(/\s+/g, " ");
  const trace = s.trace_url ? el("a", { href: s.trace_url, target: "_blank", rel: "noopener" }, s.trace_id)
    : (s.trace_id || "none recorded");
  const meta = $("#story-meta");
  meta.replaceChildren();
  for (const [k, v] of [["Integration", integrationLabel(s.integration_id)], ["Final state", statusTag(s.final_status)],
    ["Started", fmtTime(s.started_at)], ["Finished", fmtTime(s.finished_at)], ["Change to target", took],
    ["Trace", trace], ["Correlation", s.correlation_id]]) meta.append(el("dt", {}, k), el("dd", {}, v));
  const steps = $("#story-steps");
  steps.replaceChildren();
  if (s.source) {
    steps.append(el("li", { class: "card", "data-step": "source" },
      el("h3", {}, `1. As it came from ${source} `, el("span", { class: "muted small" }, `${s.source.row.message_type} · ${fmtTime(s.source.row.occurred_at)}`)),
      el("pre", {}, pretty(s.source.data))));
  }
  if (s.mapped) {
    steps.append(el("li", { class: "card", "data-step": "mapped" },
      el("h3", {}, `${steps.children.length + 1}. As mapped for ${target || "the target"} `, el("span", { class: "muted small" }, s.mapped.row.message_type)),
      el("pre", {}, pretty(s.mapped.data))));
  }
  for (const st of s.steps) {
    const c = st.command.row;
    steps.append(el("li", { class: "card", "data-step": "command", "data-status": c.status },
      el("h3", {}, `${steps.children.length + 1}. ${c.message_type} to ${systemName(c.system)} `, statusTag(c.status),
        el("span", { class: "muted small" }, ` ${fmtTime(c.occurred_at)}${c.duration_ms == null ? "" : ` · answered in ${duration(c.duration_ms)}`}`)),
      c.error ? el("p", { class: "error" }, `${c.error_code || ""} ${c.error}`) : null,
      el("div", { class: "columns two" }, pane("Sent", st.command.data), pane(st.reply ? `Answer (${st.reply.row.message_type})` : "Answer", st.reply ? st.reply.data : "awaited"))));
  }
  for (const o of s.other) {
    steps.append(el("li", { class: "card", "data-step": "event" },
      el("h3", {}, `${steps.children.length + 1}. ${o.row.message_type} `, statusTag(o.row.status), el("span", { class: "muted small" }, ` ${fmtTime(o.row.occurred_at)}`)),
      o.row.error ? el("p", { class: "error" }, o.row.error) : null, el("pre", {}, pretty(o.data))));
  }
  steps.append(el("li", { class: "card final", "data-step": "final" },
    el("h3", {}, `${steps.children.length + 1}. Final state: `, statusTag(s.final_status)),
    s.final_reply ? el("pre", {}, pretty(s.final_reply)) : el("p", { class: "muted" }, "No answer from the target.")));
  $("#story").hidden = false;
}

// ---- dead letters ----------------------------------------------------------------------

async function loadDeadLetters() {
  const parked = await api("/dead-letters?limit=200");
  const body = $("#dead-letters tbody");
  body.replaceChildren();
  if (!parked.length) body.append(el("tr", {}, el("td", { colSpan: 7, class: "muted" }, "Nothing parked.")));
  for (const p of parked) {
    const replay = el("button", { type: "button", class: "replay", "data-queue": p.queue, "data-id": p.message_id,
      onclick: () => act("POST", `/dead-letters/${encodeURIComponent(p.queue)}/${p.message_id}/replay`, `Replayed ${p.routing_key} to ${p.queue}.`) }, "Replay");
    const discard = el("button", { type: "button", class: "discard", "data-queue": p.queue, "data-id": p.message_id,
      onclick: () => { if (confirm("Discard this message for good?")) act("DELETE", `/dead-letters/${encodeURIComponent(p.queue)}/${p.message_id}`, "Discarded."); } }, "Discard");
    body.append(el("tr", { "data-id": p.message_id },
      el("td", {}, fmtTime(p.parked_at)), el("td", {}, p.queue), el("td", {}, p.routing_key),
      el("td", {}, integrationLabel(p.integration_id)), el("td", {}, p.attempts), el("td", {}, p.reason),
      el("td", {}, replay, " ", discard)));
  }
}

async function act(method, path, done) {
  try {
    await api(path, { method });
    $("#dead-status").textContent = done;
  } catch (error) {
    $("#dead-status").textContent = `Failed: ${error.message}`;
    if (error instanceof AuthError) logout(error.message);
  }
  await loadDeadLetters().catch(showError);
}

// ---- alerts ----------------------------------------------------------------------------

async function loadAlerts() {
  const stateFilter = $("#show-resolved").checked ? "all" : "open";
  const list = await api(`/alerts?state=${stateFilter}`);
  const body = $("#alerts tbody");
  body.replaceChildren();
  if (!list.length) body.append(el("tr", {}, el("td", { colSpan: 7, class: "muted" }, "No alerts.")));
  for (const a of list) {
    const resolve = a.state === "open"
      ? el("button", { type: "button", class: "resolve", onclick: async () => {
          try { await api(`/alerts/${a.id}/resolve`, { method: "POST" }); } catch (error) { showError(error); }
          loadAlerts().catch(showError); refreshAlertCount();
        } }, "Resolve")
      : null;
    // The plain sentence for the shop first; the technical layer folded underneath.
    const technical = el("details", { class: "technical" },
      el("summary", {}, "Technical detail"),
      el("div", { class: "title" }, a.title),
      el("div", {}, a.detail),
      a.record_key ? el("div", {}, `Record: ${a.record_key}`) : null,
      el("div", {}, `What to do: ${a.action}`),
      el("div", { class: "muted" }, `Rule ${a.rule} · alert ${a.id}`));
    body.append(el("tr", { "data-id": a.id, "data-rule": a.rule, "data-state": a.state },
      el("td", {}, fmtTime(a.opened_at)),
      el("td", {}, statusTag(a.severity, "sev")),
      el("td", { class: "alert-text" }, el("p", { class: "plain" }, a.summary || a.title), technical),
      el("td", {}, integrationLabel(a.integration_id)),
      el("td", {}, `${a.occurrences}×`, el("div", { class: "muted small" }, `last ${fmtTime(a.last_seen_at)}`)),
      el("td", {}, statusTag(a.state, "state"), a.resolution ? el("div", { class: "muted" }, a.resolution) : null),
      el("td", {}, resolve)));
  }
}

// ---- integrations and the setup wizard ---------------------------------------------------
// Calls the registry (mapper), the connectors' connection tests and reference data, and the
// mapper's settings and dry run: all under /api/v1 of the same origin (the all-in-one
// `ferry run`, or an ingress routing /api/v1 to each service).

const FLOWS = ["customers", "products", "categories", "stock", "orders"];
const DIRECTIONS = { mailchimp_to_mpluskassa: "MailChimp → MplusKASSA", mpluskassa_to_mailchimp: "MplusKASSA → MailChimp" };
// ISO 3166-1 alpha-3 → alpha-2 for the VAT map keys (MplusKASSA reports alpha-3).
const ISO2 = { NLD: "NL", BEL: "BE", DEU: "DE", FRA: "FR", LUX: "LU", AUT: "AT", ESP: "ES", ITA: "IT", GBR: "GB", DNK: "DK", SWE: "SE", POL: "PL" };
const wizard = { id: null, reference: null, mcTested: false };

function setupStatus(text, error = false) {
  const box = $("#setup-status");
  box.textContent = text;
  box.classList.toggle("error", error);
}

function openStep(name) {
  const order = ["mailchimp", "mpluskassa", "orders", "settings", "dry-run", "live"];
  const at = order.indexOf(name);
  for (const step of document.querySelectorAll(".step")) step.hidden = order.indexOf(step.dataset.step) > at;
  for (const li of document.querySelectorAll("#steps li")) {
    const i = order.indexOf(li.dataset.step);
    li.className = i < at ? "done" : i === at ? "current" : "";
  }
  $(`.step[data-step="${name}"]`).scrollIntoView({ block: "nearest" });
}

function options(select, items, selected) {
  select.replaceChildren(...items.map(([value, label]) => el("option", { value: String(value), selected: String(value) === String(selected) }, label)));
}

async function loadSetup() {
  // The registry (the mapper's routes) is absent when the notifier runs on its own.
  const list = await api("/integrations").catch((error) => { if (error instanceof AuthError) throw error; return []; });
  const body = $("#integrations tbody");
  body.replaceChildren();
  // Integrations running without a registry entry (configured in the connectors' files, such
  // as the demo of `ferry run`), or registry ones this page cannot read.
  const others = [...names.values()].filter((k) => !list.some((i) => i.id === k.integration_id));
  if (!list.length && !others.length) body.append(el("tr", {}, el("td", { colSpan: 5, class: "muted" }, "No integration yet.")));
  for (const k of others) {
    body.append(el("tr", { "data-id": k.integration_id, "data-state": k.state, "data-origin": k.origin },
      el("td", { title: k.integration_id }, k.name), el("td", {}, statusTag(k.state, "state")),
      el("td", { colSpan: 3, class: "muted" }, k.origin === "configured"
        ? "Configured in the connectors' configuration files: change it there."
        : "In the registry.")));
  }
  for (const i of list) {
    const action = (label, path, confirmText) => el("button", { type: "button", class: label.toLowerCase(), onclick: async () => {
      if (confirmText && !confirm(confirmText)) return;
      try { await api(`/integrations/${i.id}${path}`, { method: path ? "POST" : "DELETE" }); setupStatus(`${label}: ${i.name}.`); }
      catch (error) { setupStatus(`${label} failed: ${error.message}`, true); }
      loadSetup().catch(showError);
    } }, label);
    const actions = [];
    if (i.state === "live") actions.push(action("Pause", "/pause"));
    if (i.state === "paused") actions.push(action("Resume", "/resume"));
    actions.push(action("Delete", "", `Delete ${i.name} with its credentials, settings and sync state?`));
    body.append(el("tr", { "data-id": i.id, "data-state": i.state },
      el("td", { title: i.id }, i.name), el("td", {}, statusTag(i.state, "state")),
      el("td", {}, `${i.mailchimp.store_id} / ${i.mailchimp.list_id} (key ${i.mailchimp.api_key_hint})`),
      el("td", {}, `${i.mpluskassa.endpoint} ${i.mpluskassa.ident} (secret ${i.mpluskassa.secret_hint})`),
      el("td", {}, ...actions.flatMap((a) => [a, " "]))));
  }
}

async function testMailchimp(event) {
  event.preventDefault();
  $("#w-mc-result").textContent = "Testing…";
  const body = { api_key: $("#w-mc-key").value.trim() };
  if ($("#w-mc-base").value.trim()) body.base_url = $("#w-mc-base").value.trim();
  try {
    const r = await api("/mailchimp/connection-test", { method: "POST", body: JSON.stringify(body) });
    if (!r.ok) { $("#w-mc-result").textContent = `Refused: ${r.error ? r.error.message : "unknown error"}`; $("#w-mc-choose").hidden = true; return; }
    $("#w-mc-result").textContent = `Connected to ${r.account_name || "the account"} (data center ${r.data_center}, ${r.latency_ms} ms).`;
    options($("#w-mc-audience"), r.audiences.map((a) => [a.id, `${a.name} (${a.id})`]));
    options($("#w-mc-store"), [...r.stores.map((s) => [s.id, `${s.name} (${s.id}, ${s.currency_code})`]), ["", "create a new store"]]);
    const pickStore = () => {
      const store = r.stores.find((s) => s.id === $("#w-mc-store").value);
      $("#w-mc-new-store").hidden = Boolean(store);
      if (store) $("#w-mc-audience").value = store.list_id;
    };
    $("#w-mc-store").onchange = pickStore;
    pickStore();
    $("#w-mc-choose").hidden = false;
  } catch (error) { $("#w-mc-result").textContent = `Test failed: ${error.message}`; }
}

async function testMplus(event) {
  event.preventDefault();
  $("#w-mk-result").textContent = "Testing…";
  try {
    const r = await api("/mpluskassa/connection-test", { method: "POST", body: JSON.stringify(mplusCredentials()) });
    $("#w-mk-next").hidden = !r.ok;
    $("#w-mk-result").textContent = r.ok
      ? `Connected (API version ${r.api_version ? `${r.api_version.major}.${r.api_version.minor}.${r.api_version.revision}` : "unknown"}); employee 999999 ${r.employee_exists ? "exists" : "does not exist"}.`
      : `Refused: ${r.error ? r.error.message : "unknown error"}`;
  } catch (error) { $("#w-mk-result").textContent = `Test failed: ${error.message}`; }
}

function mplusCredentials() {
  return { endpoint: $("#w-mk-endpoint").value.trim(), ident: $("#w-mk-ident").value.trim(), secret: $("#w-mk-secret").value };
}

async function saveDraft() {
  const storeId = $("#w-mc-store").value || $("#w-mc-store-id").value.trim();
  const mailchimp = { api_key: $("#w-mc-key").value.trim(), list_id: $("#w-mc-audience").value, store_id: storeId };
  if ($("#w-mc-base").value.trim()) mailchimp.base_url = $("#w-mc-base").value.trim();
  setupStatus("Saving the draft…");
  try {
    const created = await api("/integrations", { method: "POST", body: JSON.stringify({ name: $("#w-name").value.trim(), mailchimp, mpluskassa: mplusCredentials() }) });
    wizard.id = created.id;
    // The secrets leave the page: only the registry holds them now.
    $("#w-mc-key").value = ""; $("#w-mk-secret").value = "";
    const test = await api(`/integrations/${wizard.id}/test`, { method: "POST" });
    if (!test.ok) { setupStatus(`Saved as a draft, but the saved connections failed their test: ${JSON.stringify(test)}`, true); return; }
    setupStatus(`Draft ${created.name} saved (${wizard.id}); both saved connections work.`);
    await loadReference();
    openStep("orders");
  } catch (error) { setupStatus(`Could not save the draft: ${error.message}`, true); }
}

async function loadReference() {
  // The connector learns the new draft from the registry's event: wait for it a little.
  let lastError;
  for (let i = 0; i < 20; i++) {
    try { wizard.reference = await api(`/mpluskassa/integrations/${wizard.id}/reference-data`); break; }
    catch (error) { lastError = error; await new Promise((r) => setTimeout(r, 500)); }
  }
  if (!wizard.reference) throw lastError;
  const ref = wizard.reference;
  options($("#w-branch"), ref.branches.map((b) => [b.number, `${b.number} ${b.name}`]));
  const workplaces = () => {
    const branch = ref.branches.find((b) => String(b.number) === $("#w-branch").value);
    options($("#w-workplace"), [["", "none"], ...(branch ? branch.workplaces : []).map((w) => [w.number, `${w.number} ${w.name}`])]);
  };
  $("#w-branch").onchange = workplaces;
  workplaces();
  options($("#w-employee"), ref.employees.filter((e) => e.active).map((e) => [e.number, `${e.number} ${e.name}`]), 999999);
  const methods = ref.payment_methods.filter((m) => m.active).map((m) => [m.method, `${m.method} ${m.description}`]);
  wizard.methods = methods;
  options($("#w-payment-default"), [["", "none (park the order)"], ...methods]);
  $("#w-payments tbody").replaceChildren();
  addPaymentRow("ideal");
  const vat = $("#w-vat tbody");
  vat.replaceChildren();
  const codes = ref.vat_groups.map((g) => [g.vat_code, `${g.vat_code} (${g.percent} %)`]);
  const rows = ref.vat_groups.map((g) => ({ key: `${ISO2[g.country_iso3] || g.country_iso3}:${Number(g.percent)}`, vatCode: g.vat_code }));
  for (const row of rows) {
    const select = el("select", { class: "vat-code", "data-key": row.key });
    options(select, codes, row.vatCode);
    vat.append(el("tr", {}, el("td", {}, row.key), el("td", {}, select)));
  }
  const standard = [...ref.vat_groups].sort((a, b) => Number(b.percent) - Number(a.percent))[0];
  options($("#w-vat-default"), [["", "none (park the order)"], ...codes], standard ? standard.vat_code : "");
  revenueAccounts(ref.turnover_groups, rows, standard ? standard.vat_code : null);
}

// The revenue account table beside the VAT table: the same country:rate rows, each offering
// the accounts the installation's turnover groups book to (each account once, named by its
// groups). A row starts on the account of the lowest-numbered group whose default VAT code is
// the row's, else on none; none everywhere leaves `orders.revenue_accounts` unconfigured
// (each line keeps its article's turnover group).
function revenueAccounts(turnoverGroups, rows, defaultVatCode) {
  const groups = turnoverGroups.filter((g) => g.account_number !== null && g.account_number !== undefined)
    .sort((a, b) => a.number - b.number);
  const named = new Map();
  for (const g of groups) named.set(g.account_number, [...(named.get(g.account_number) || []), `${g.number} ${g.name}`]);
  const accounts = [...named.entries()].sort(([a], [b]) => a - b)
    .map(([account, names]) => [account, `${account} (${names.length === 1 ? "group" : "groups"} ${names.join(", ")})`]);
  const choices = [["", "none"], ...accounts];
  const accountOf = (vatCode) => {
    const group = groups.find((g) => vatCode !== null && String(g.default_vat_code) === String(vatCode));
    return group ? group.account_number : "";
  };
  const body = $("#w-revenue tbody");
  body.replaceChildren();
  for (const row of rows) {
    const select = el("select", { class: "revenue-account", "data-key": row.key });
    options(select, choices, accountOf(row.vatCode));
    body.append(el("tr", {}, el("td", {}, row.key), el("td", {}, select)));
  }
  options($("#w-revenue-default"), choices, accountOf(defaultVatCode));
  const none = accounts.length === 0;
  $("#w-revenue-none").hidden = !none;
  $("#w-revenue").hidden = none;
  $("#w-revenue-other").hidden = none;
}

function addPaymentRow(value = "") {
  const select = el("select", { class: "payment-target" });
  options(select, wizard.methods || []);
  $("#w-payments tbody").append(el("tr", {}, el("td", {}, el("input", { class: "payment-source", value })), el("td", {}, select)));
}

function valueMap(entries, fallback) {
  const map = { entries: Object.fromEntries(entries.filter(([k, v]) => k && v)) };
  if (fallback) map.default = fallback;
  return map;
}

async function saveOrders(event) {
  event.preventDefault();
  wizard.orders = {
    employee_number: Number($("#w-employee").value),
    branch_number: Number($("#w-branch").value),
    workplace_number: $("#w-workplace").value ? Number($("#w-workplace").value) : undefined,
    payment_methods: valueMap([...document.querySelectorAll("#w-payments tbody tr")].map((tr) => [tr.querySelector(".payment-source").value.trim(), tr.querySelector(".payment-target").value]), $("#w-payment-default").value),
    vat_codes: valueMap([...document.querySelectorAll("#w-vat .vat-code")].map((s) => [s.dataset.key, s.value]), $("#w-vat-default").value),
    revenue_accounts: valueMap([...document.querySelectorAll("#w-revenue .revenue-account")].map((s) => [s.dataset.key, s.value]), $("#w-revenue-default").value),
  };
  const current = await api(`/integrations/${wizard.id}/settings`);
  wizard.settings = current;
  const body = $("#w-flows tbody");
  body.replaceChildren();
  for (const flow of FLOWS) {
    const sw = current.document.flows[flow];
    const direction = el("select", { class: "flow-direction", "data-flow": flow });
    options(direction, Object.entries(DIRECTIONS), sw.direction);
    body.append(el("tr", {}, el("td", {}, flow), el("td", {}, el("input", { type: "checkbox", class: "flow-on", "data-flow": flow, checked: sw.enabled })), el("td", {}, direction)));
  }
  const d = current.document;
  $("#w-stock-calc").value = d.stock.calculation;
  $("#w-stock-buffer").value = d.stock.buffer;
  $("#w-manage-stock").checked = d.stock.manage_stock;
  $("#w-overwrite").checked = d.products.overwrite_existing;
  const audience = (d.customers && d.customers.audience) || { enabled: false, status: "transactional" };
  $("#w-audience").checked = audience.enabled;
  $("#w-audience-status").value = audience.status;
  $("#w-debtor").checked = d.orders.default_debtor.enabled;
  $("#w-lifecycle").checked = d.orders.lifecycle;
  openStep("settings");
}

async function saveSettings(event) {
  event.preventDefault();
  const d = structuredClone(wizard.settings.document);
  for (const flow of FLOWS) {
    d.flows[flow] = { enabled: document.querySelector(`.flow-on[data-flow=${flow}]`).checked, direction: document.querySelector(`.flow-direction[data-flow=${flow}]`).value };
  }
  d.stock.calculation = $("#w-stock-calc").value;
  d.stock.buffer = String($("#w-stock-buffer").value || "0");
  d.stock.manage_stock = $("#w-manage-stock").checked;
  d.products.overwrite_existing = $("#w-overwrite").checked;
  d.customers = { ...(d.customers || {}), audience: { enabled: $("#w-audience").checked, status: $("#w-audience-status").value } };
  d.orders = { ...d.orders, ...wizard.orders, lifecycle: $("#w-lifecycle").checked };
  if (d.orders.workplace_number === undefined) delete d.orders.workplace_number;
  d.orders.default_debtor = $("#w-debtor").checked ? { enabled: true, relation_id: $("#w-debtor-id").value.trim() } : { enabled: false };
  try {
    const saved = await api(`/integrations/${wizard.id}/settings`, { method: "PUT", body: JSON.stringify({ document: d, expected_version: wizard.settings.version, comment: "setup wizard" }) });
    wizard.settings = saved;
    setupStatus(`Settings saved (version ${saved.version}).`);
    openStep("dry-run");
  } catch (error) { setupStatus(`Settings refused: ${error.message}`, true); }
}

async function dryRun() {
  const flows = await api(`/integrations/${wizard.id}/dry-run`, { method: "POST" });
  const body = $("#w-dry tbody");
  body.replaceChildren();
  let problems = 0;
  for (const f of flows) {
    const s = f.sample;
    if (s && s.outcome === "failed") problems++;
    body.append(el("tr", { "data-flow": f.flow, "data-outcome": s ? s.outcome : "off" },
      el("td", {}, f.flow), el("td", {}, DIRECTIONS[f.direction] || f.direction),
      el("td", {}, s ? statusTag(s.outcome) : "off"),
      el("td", {}, s ? (s.routing_key ? `${s.routing_key}` : s.reason || "") : "flow is off")));
  }
  setupStatus(problems ? `${problems} flow(s) would fail: fix the settings above, save, and run the dry run again.` : "Every enabled flow maps its sample.", problems > 0);
  $("#w-dry-next").hidden = problems > 0;
}

async function goLive() {
  try {
    const live = await api(`/integrations/${wizard.id}/go-live`, { method: "POST" });
    setupStatus(`${live.name} is live: the first sync starts now.`);
    $("#w-go-live").disabled = true;
    loadSetup().catch(showError);
  } catch (error) { setupStatus(`Could not go live: ${error.message}`, true); }
}

function wireSetup() {
  $("#step-mailchimp").addEventListener("submit", testMailchimp);
  $("#w-mc-next").addEventListener("click", () => openStep("mpluskassa"));
  $("#step-mpluskassa").addEventListener("submit", testMplus);
  $("#w-mk-next").addEventListener("click", () => saveDraft());
  $("#w-add-payment").addEventListener("click", () => addPaymentRow());
  $("#step-orders").addEventListener("submit", (e) => saveOrders(e).catch((error) => setupStatus(error.message, true)));
  $("#step-settings").addEventListener("submit", saveSettings);
  $("#w-dry-run").addEventListener("click", () => dryRun().catch((error) => setupStatus(error.message, true)));
  $("#w-dry-next").addEventListener("click", () => { $("#w-summary").textContent = `${$("#w-name").value} is ready: ${$("#w-dry tbody").rows.length} flows checked.`; openStep("live"); });
  $("#w-go-live").addEventListener("click", goLive);
}

// ---- wiring ----------------------------------------------------------------------------

document.addEventListener("DOMContentLoaded", () => {
  $("#login-form").addEventListener("submit", login);
  $("#logout").addEventListener("click", () => logout("Logged out."));
  $("#filters").addEventListener("submit", (e) => {
    e.preventDefault();
    state.filters = readFilters();
    state.offset = 0;
    $("#detail").hidden = true;
    loadActivity().catch(showError);
  });
  $("#clear-filters").addEventListener("click", () => {
    state.filters = {}; state.offset = 0; writeFilters({}); loadActivity().catch(showError);
  });
  $("#prev-page").addEventListener("click", () => { state.offset = Math.max(0, state.offset - PAGE); loadActivity().catch(showError); });
  $("#next-page").addEventListener("click", () => { state.offset += PAGE; loadActivity().catch(showError); });
  $("#show-resolved").addEventListener("change", () => loadAlerts().catch(showError));
  $("#record-search").addEventListener("submit", (e) => {
    e.preventDefault();
    location.hash = `#record?${new URLSearchParams({ q: $("#record-q").value.trim() })}`;
  });
  document.querySelectorAll(".toggle button").forEach((b) => b.addEventListener("click", () => {
    chartState.window = b.dataset.window;
    drawCharts().catch(showError);
  }));
  wireSetup();
  window.addEventListener("hashchange", route);
  if (token()) enter(); else logout();
});
