// Meridian's status page. Every few seconds it reads GET /api/v1/status and,
// for the service picked in the dropdown, GET /api/v1/map, then redraws the
// header, the overview, the world map and the tables. The country shapes
// (countries.json, see README.md) are loaded once. Stable ids and data-*
// attributes mark the parts that tests and operators' scripts look at.
//
// When the API answers 401 (http.token is set), the page shows a form for
// the token, keeps what is typed in sessionStorage (this tab only) and sends
// it as "Authorization: Bearer" with every request it makes.
"use strict";

const REFRESH_MS = 3000;
const TOKEN_KEY = "meridian.token";
const SVG_NS = "http://www.w3.org/2000/svg";

// Fills for the regions' countries: distinct from each other and from the
// green, amber and red that mean health.
const REGION_COLOURS = [
  "#4c78c8", "#8e63c7", "#1f9e96", "#d0609e", "#8c6a4a",
  "#5fa8d3", "#b59ad9", "#3f6f5d", "#c98a6b", "#6b7fa8",
];

const HEALTH_LABELS = {
  up: "Up",
  degraded: "Degraded",
  drained: "Drained",
  down: "Down",
  none: "No endpoints",
};

const page = {
  status: null, // the last /api/v1/status document
  map: null, // the last /api/v1/map document
  mapError: "", // why the last /api/v1/map request failed
  fetchedAt: null, // when status was last read successfully
  shapes: null, // alpha-2 -> SVG path element, once countries.json is in
  shapesError: "", // why countries.json could not be loaded
  timer: 0,
};

const countryNames = typeof Intl.DisplayNames === "function"
  ? new Intl.DisplayNames(["en"], { type: "region" }) : null;

// el builds an HTML element; attributes with null or undefined values are
// left out, children may be strings or nodes.
function el(tag, attrs, ...children) {
  const e = document.createElement(tag);
  setAttrs(e, attrs);
  e.append(...children.filter((c) => c !== null && c !== undefined));
  return e;
}

function svg(tag, attrs, ...children) {
  const e = document.createElementNS(SVG_NS, tag);
  setAttrs(e, attrs);
  e.append(...children);
  return e;
}

function setAttrs(e, attrs) {
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v !== null && v !== undefined) e.setAttribute(k, String(v));
  }
}

// project places a point on the map's 1000 x 500 equirectangular canvas,
// the projection countries.json was drawn in.
function project(lat, lon) {
  return [((lon + 180) / 360) * 1000, ((90 - lat) / 180) * 500];
}

function countryName(cc) {
  try {
    return (countryNames && countryNames.of(cc)) || cc;
  } catch {
    return cc;
  }
}

function clock(t) {
  return t.toLocaleTimeString("en-GB", { hour12: false });
}

// ago says how long before now t was, in the largest sensible unit.
function ago(t) {
  const s = Math.max(0, Math.round((Date.now() - t.getTime()) / 1000));
  if (s < 90) return `${s}s ago`;
  if (s < 5400) return `${Math.round(s / 60)}m ago`;
  if (s < 172800) return `${Math.round(s / 3600)}h ago`;
  return `${Math.round(s / 86400)}d ago`;
}

function timeCell(iso) {
  if (!iso) return el("td", { class: "muted" }, "–");
  const t = new Date(iso);
  return el("td", {},
    el("time", { datetime: iso, title: t.toISOString(), "data-ago": iso }, ago(t)));
}

function storedToken() {
  try {
    return sessionStorage.getItem(TOKEN_KEY) || "";
  } catch {
    return "";
  }
}

async function fetchJSON(url) {
  const headers = { Accept: "application/json" };
  const token = storedToken();
  if (token) headers.Authorization = "Bearer " + token;
  const res = await fetch(url, { cache: "no-store", headers });
  let body = null;
  try {
    body = await res.json();
  } catch {
    // A body that is not JSON is reported by its status below.
  }
  if (!res.ok) {
    const err = new Error(`${url}: HTTP ${res.status}${body && body.error ? ": " + body.error : ""}`);
    err.unauthorized = res.status === 401;
    throw err;
  }
  if (body === null) throw new Error(`${url}: the answer is not JSON`);
  return body;
}

// services lists every service of every zone with its zone.
function services(st) {
  const out = [];
  for (const z of st.zones || []) {
    for (const s of z.services || []) out.push({ zone: z, service: s });
  }
  return out;
}

function selected() {
  const all = services(page.status);
  const want = document.getElementById("service").value;
  return all.find((x) => x.service.name === want) || all[0] || null;
}

// regionColour is the fill of a region's countries: by its place in its
// zone, so it stays the same from one refresh to the next.
function regionColour(zone, name) {
  const i = zone.regions.findIndex((r) => r.name === name);
  return i < 0 ? "#8a96a3" : REGION_COLOURS[i % REGION_COLOURS.length];
}

// regionHealth is a region's health as one service sees it: up, degraded
// (some endpoints down or drained), drained, down, or none when the service
// has no endpoints there.
function regionHealth(zone, svc, name) {
  const info = zone.regions.find((r) => r.name === name) || {};
  if (info.admin === "down") return "down";
  if (info.admin === "drain") return "drained";
  const rh = (svc.regions || []).find((r) => r.name === name);
  if (!rh || rh.total === 0) return "none";
  if (!rh.up) return "down";
  const eps = svc.endpoints.filter((e) => e.region === name);
  if (eps.length > 0 && eps.every((e) => e.state === "drained")) return "drained";
  if (rh.healthy < rh.total || eps.some((e) => e.state !== "up")) return "degraded";
  return "up";
}

function healthPill(health, text) {
  return el("span", { class: `pill ${health}`, "data-health": health }, text || HEALTH_LABELS[health]);
}

// ---- header, banner and overview ------------------------------------------

function renderHeader(st) {
  document.getElementById("version").textContent = st.version || "–";
  document.getElementById("server-id").textContent = st.server_id || "–";
  const zones = st.zones || [];
  const zonesEl = document.getElementById("zones");
  zonesEl.textContent = zones.map((z) => z.name).join(", ") || "none";
  zonesEl.title = zones.map((z) => `${z.name} serial ${z.serial}, ${z.records} records (${z.file})`).join("\n");

  const ready = document.getElementById("ready");
  ready.dataset.ready = String(Boolean(st.ready));
  ready.className = "badge " + (st.ready ? "ok" : "warn");
  ready.textContent = st.ready ? "Ready"
    : "Not ready: waiting for " + ((st.waiting_for || []).join(", ") || "startup");

  const updated = document.getElementById("updated");
  const t = new Date(st.time);
  updated.setAttribute("datetime", st.time);
  updated.dataset.age = "";
  updated.textContent = clock(t);
  updated.title = "server time " + t.toISOString();
}

// renderAge keeps the header's "updated" line honest between refreshes.
function renderAge() {
  if (!page.fetchedAt) return;
  const updated = document.getElementById("updated");
  const age = Math.round((Date.now() - page.fetchedAt.getTime()) / 1000);
  updated.dataset.age = String(age);
  updated.textContent = `${clock(page.fetchedAt)} (${ago(page.fetchedAt)})`;
}

function showError(message) {
  const banner = document.getElementById("error-banner");
  const since = page.fetchedAt ? ` The data below is from ${clock(page.fetchedAt)} (${ago(page.fetchedAt)}) and may be out of date.` : "";
  banner.textContent = `Cannot reach Meridian's admin API: ${message}.${since} Retrying every ${REFRESH_MS / 1000}s.`;
  banner.hidden = false;
  document.body.classList.add("stale");
  if (!page.status) {
    const ready = document.getElementById("ready");
    ready.dataset.ready = "unknown";
    ready.className = "badge bad";
    ready.textContent = "No data";
  }
}

function clearError() {
  document.getElementById("error-banner").hidden = true;
  document.body.classList.remove("stale");
}

// showLogin asks for the token; the refresh loop waits for it.
function showLogin() {
  const rejected = storedToken() !== "";
  try {
    sessionStorage.removeItem(TOKEN_KEY);
  } catch {
    // Without storage the token cannot be kept; the form asks again.
  }
  clearError();
  document.body.classList.add("locked");
  const ready = document.getElementById("ready");
  ready.dataset.ready = "unknown";
  ready.className = "badge";
  ready.textContent = "Token needed";
  document.getElementById("login-message").textContent = rejected
    ? "That token was not accepted. Enter the admin token (http.token)."
    : "This server needs its admin token (http.token) to show its status.";
  const form = document.getElementById("login");
  form.hidden = false;
  document.getElementById("token").focus();
}

function login(event) {
  event.preventDefault();
  const input = document.getElementById("token");
  const token = input.value.trim();
  if (!token) return;
  try {
    sessionStorage.setItem(TOKEN_KEY, token);
  } catch {
    document.getElementById("login-message").textContent = "This browser keeps no session storage, so the page cannot hold the token.";
    return;
  }
  input.value = "";
  document.getElementById("login").hidden = true;
  document.body.classList.remove("locked");
  refresh();
}

function renderOverview(st) {
  const eps = services(st).flatMap((x) => x.service.endpoints);
  const count = (f) => eps.filter(f).length;
  let regionsDown = 0;
  for (const { zone, service } of services(st)) {
    for (const r of service.regions) if (regionHealth(zone, service, r.name) === "down") regionsDown++;
  }
  const tile = (key, value, label, level) => el("div", { class: "tile " + level, id: "stat-" + key, "data-value": value },
    el("span", { class: "value" }, String(value)), el("span", { class: "label" }, label));
  const up = count((e) => e.state === "up");
  const down = count((e) => e.state === "down");
  const drained = count((e) => e.state === "drained");
  const failing = count((e) => e.probe === "down");
  document.getElementById("overview").replaceChildren(
    tile("up", up, `of ${eps.length} endpoints up`, up < eps.length ? "warn" : "good"),
    tile("down", down, "endpoints down", down > 0 ? "bad" : ""),
    tile("drained", drained, "endpoints drained", drained > 0 ? "warn" : ""),
    tile("probes", failing, "failing health checks", failing > 0 ? "bad" : ""),
    tile("regions", regionsDown, "service regions down", regionsDown > 0 ? "bad" : ""),
  );
}

// problems lists what an operator should look at first, worst first.
function problems(st) {
  const out = [];
  const add = (level, kind, textContent) => out.push({ level, kind, text: textContent });
  if (!st.ready) add("bad", "not-ready", `Not answering yet: waiting for ${(st.waiting_for || []).join(", ") || "startup"}`);
  if (st.cluster && !st.cluster.fresh) add("warn", "cluster-alone", st.cluster.detail);
  for (const z of st.zones || []) {
    for (const r of z.regions) {
      if (r.admin === "down") add("bad", "region-admin", `Region ${r.name} is forced down by an operator`);
      else if (r.admin === "drain") add("warn", "region-admin", `Region ${r.name} is drained by an operator`);
      else if (r.admin === "up") add("warn", "region-admin", `Region ${r.name} is forced up by an operator, whatever its checks say`);
    }
    for (const s of z.services || []) {
      for (const rh of s.regions) {
        const info = z.regions.find((r) => r.name === rh.name) || {};
        if (info.admin) continue;
        const h = regionHealth(z, s, rh.name);
        if (h === "down") add("bad", "region-down", `${s.name}: region ${rh.name} is down (${rh.healthy}/${rh.total} healthy)`);
        else if (h === "degraded") add("warn", "region-degraded", `${s.name}: region ${rh.name} is degraded (${rh.healthy}/${rh.total} healthy)`);
      }
      for (const e of s.endpoints) {
        if (e.probe === "down") {
          add("bad", "probe-down", `${e.address} (${s.name}, ${e.region}): check failing${e.last_error ? " — " + e.last_error : ""}${e.since ? ", since " + ago(new Date(e.since)) : ""}`);
        }
        const f = e.fleet;
        if (f && f.own !== "unknown" && f.own !== f.verdict) {
          add("warn", "fleet-disagrees", `${e.address} (${s.name}): this instance's probes say ${f.own}, the fleet says ${f.verdict} — ${observersText(f)}`);
        }
        if (e.admin === "down" || e.admin === "drain") {
          add("warn", "endpoint-admin", `${e.address} (${s.name}) is ${e.admin === "drain" ? "drained" : "forced down"} by an operator`);
        }
      }
    }
  }
  return out.sort((a, b) => (a.level === b.level ? 0 : a.level === "bad" ? -1 : 1));
}

function renderProblems(st) {
  const list = document.getElementById("problems");
  const all = problems(st);
  const shown = all.slice(0, 8);
  list.dataset.count = String(all.length);
  if (all.length === 0) {
    list.replaceChildren(el("li", { class: "ok", "data-kind": "none" }, "Everything is up and routed as configured."));
    return;
  }
  const items = shown.map((p) => el("li", { class: p.level, "data-kind": p.kind }, p.text));
  if (all.length > shown.length) items.push(el("li", { class: "more" }, `and ${all.length - shown.length} more`));
  list.replaceChildren(...items);
}

// ---- service picker ----------------------------------------------------------

function renderPicker(st) {
  const select = document.getElementById("service");
  const current = select.value;
  const zones = (st.zones || []).filter((z) => (z.services || []).length > 0);
  const key = zones.map((z) => z.name + ":" + z.services.map((s) => s.name).join(",")).join(";");
  if (select.dataset.key !== key) {
    select.replaceChildren(...zones.map((z) => {
      const options = z.services.map((s) => el("option", { value: s.name }, s.name));
      return zones.length > 1 ? el("optgroup", { label: z.name }, ...options) : options;
    }).flat());
    select.dataset.key = key;
    select.disabled = zones.length === 0;
  }
  if (current && [...select.options].some((o) => o.value === current)) select.value = current;
}

// ---- map -------------------------------------------------------------------------

function drawGraticule() {
  const g = document.getElementById("graticule");
  for (let lon = -150; lon <= 150; lon += 30) {
    const [x] = project(0, lon);
    g.append(svg("line", { x1: x, y1: 0, x2: x, y2: 500, class: lon === 0 ? "meridian" : null }));
  }
  for (let lat = -60; lat <= 60; lat += 30) {
    const [, y] = project(lat, 0);
    g.append(svg("line", { x1: 0, y1: y, x2: 1000, y2: y, class: lat === 0 ? "equator" : null }));
  }
}

async function loadShapes() {
  const shapes = await fetchJSON("/static/countries.json");
  const g = document.getElementById("countries");
  page.shapes = {};
  for (const [cc, d] of Object.entries(shapes)) {
    const p = svg("path", { d, "data-country": cc, class: "country" }, svg("title", {}, countryName(cc)));
    page.shapes[cc] = p;
    g.append(p);
  }
}

function renderMap(sel) {
  const map = document.getElementById("map");
  const message = document.getElementById("map-message");
  const legend = document.getElementById("legend");
  const markers = document.getElementById("markers");
  if (!sel) {
    map.dataset.service = "";
    message.textContent = "No services are configured, so there is nothing to route.";
    message.hidden = false;
    markers.replaceChildren();
    legend.replaceChildren();
    return;
  }
  const { zone, service } = sel;
  const routes = page.map && page.map.service === service.name ? page.map.countries || {} : null;
  map.dataset.service = service.name;
  map.setAttribute("aria-label", `World map of ${service.name}: countries shaded by the region that serves them`);
  message.hidden = routes !== null && page.shapes !== null;
  if (page.shapesError) message.textContent = "Cannot load the country shapes: " + page.shapesError;
  else if (page.shapes === null) message.textContent = "Loading country shapes…";
  else if (page.mapError) message.textContent = "Cannot load the routing map: " + page.mapError;
  else if (routes === null) message.textContent = "Loading the routing map…";

  const served = {};
  if (page.shapes && routes) {
    for (const [cc, path] of Object.entries(page.shapes)) {
      const region = routes[cc];
      const title = path.firstChild;
      if (region) {
        path.dataset.region = region;
        path.setAttribute("fill", regionColour(zone, region));
        title.textContent = `${countryName(cc)} (${cc}) → ${region}`;
        served[region] = (served[region] || 0) + 1;
      } else {
        delete path.dataset.region;
        path.removeAttribute("fill");
        title.textContent = `${countryName(cc)} (${cc}): no answer`;
      }
    }
  }

  // Down regions are drawn last so that their markers stay on top.
  const order = { down: 4, degraded: 3, drained: 2, up: 1, none: 0 };
  const regions = zone.regions.map((r) => ({ r, health: regionHealth(zone, service, r.name) }))
    .sort((a, b) => order[a.health] - order[b.health]);
  markers.replaceChildren(...regions.map(({ r, health }) => {
    const [x, y] = project(r.latitude, r.longitude);
    const rh = service.regions.find((h) => h.name === r.name);
    const counts = rh ? `${rh.healthy}/${rh.total} healthy` : "no endpoints";
    const left = x > 860;
    const label = health === "up" ? r.name : `${r.name} · ${HEALTH_LABELS[health].toLowerCase()}`;
    return svg("g", { class: `marker ${health}`, "data-region": r.name, "data-health": health, transform: `translate(${x.toFixed(1)} ${y.toFixed(1)})` },
      svg("title", {}, `${r.name}: ${HEALTH_LABELS[health]}, ${counts}${r.admin ? ", admin " + r.admin : ""}`),
      svg("circle", { class: "halo", r: 13 }),
      svg("circle", { class: "dot", r: 7 }),
      svg("text", { x: left ? -12 : 12, y: 4, "text-anchor": left ? "end" : "start" }, label));
  }));

  const unserved = page.shapes ? Object.keys(page.shapes).length - Object.values(served).reduce((a, b) => a + b, 0) : 0;
  legend.replaceChildren(
    ...zone.regions.map((r) => {
      const health = regionHealth(zone, service, r.name);
      return el("li", { "data-region": r.name, "data-health": health, "data-countries": served[r.name] || 0 },
        el("span", { class: "swatch", style: `background:${regionColour(zone, r.name)}` }),
        el("span", { class: "name" }, r.name),
        healthPill(health),
        el("span", { class: "muted" }, `${served[r.name] || 0} countries`));
    }),
    el("li", { "data-region": "", "data-countries": unserved },
      el("span", { class: "swatch none" }), el("span", { class: "name" }, "no answer"),
      el("span", { class: "muted" }, `${unserved} countries`)),
  );
}

// ---- tables --------------------------------------------------------------------

function renderRegions(sel) {
  const body = document.querySelector("#regions tbody");
  if (!sel) {
    body.replaceChildren();
    return;
  }
  const { zone, service } = sel;
  document.getElementById("regions-title").textContent = `Regions for ${service.name}`;
  body.replaceChildren(...zone.regions.map((r) => {
    const health = regionHealth(zone, service, r.name);
    const rh = service.regions.find((h) => h.name === r.name);
    const maps = [...(r.countries || []), ...(r.continents || []).map((c) => "continent " + c)];
    return el("tr", { "data-region": r.name, "data-health": health, class: "row-" + health },
      el("th", { scope: "row" },
        el("span", { class: "swatch", style: `background:${regionColour(zone, r.name)}` }), r.name,
        el("span", { class: "sub" },
          `${r.latitude.toFixed(2)}, ${r.longitude.toFixed(2)} · ${maps.join(", ") || "by distance only"}`)),
      el("td", { class: "health" }, healthPill(health)),
      el("td", { class: "num" }, rh ? `${rh.healthy}/${rh.total}` : "–"),
      el("td", { class: "admin", "data-admin": r.admin || "" }, r.admin ? healthPill(adminHealth(r.admin), r.admin) : "–"));
  }));
}

function adminHealth(admin) {
  return { up: "up", down: "down", drain: "drained" }[admin] || "none";
}

function renderServices(st) {
  const body = document.querySelector("#services tbody");
  body.replaceChildren(...services(st).map(({ zone, service }) => {
    const worst = service.regions.map((r) => regionHealth(zone, service, r.name));
    const health = worst.includes("down") ? "down" : worst.some((h) => h === "degraded" || h === "drained") ? "degraded" : "up";
    return el("tr", { "data-service": service.name, "data-health": health, class: "row-" + health },
      el("th", { scope: "row" }, service.name),
      el("td", {}, service.routing),
      el("td", {}, service.select),
      el("td", { class: "num" }, `${service.ttl}s`),
      el("td", {}, service.check || el("span", { class: "muted" }, "none")),
      el("td", {}, service.all_down),
      el("td", { class: "regions" }, ...service.regions.map((r) => {
        const h = regionHealth(zone, service, r.name);
        return el("span", { class: `chip ${h}`, "data-region": r.name, "data-health": h, title: HEALTH_LABELS[h] },
          `${r.name} ${r.healthy}/${r.total}`);
      })));
  }));
}

// observersText lists each observer's view of an endpoint's check.
function observersText(fleet) {
  return fleet.observers.map((o) => `${o.instance} ${o.state}`).join(", ") || "no fresh observations";
}

function renderEndpoints(st) {
  const body = document.querySelector("#endpoints tbody");
  const rows = [];
  for (const { zone, service } of services(st)) {
    for (const e of service.endpoints) {
      const region = zone.regions.find((r) => r.name === e.region) || {};
      // An endpoint without an override of its own follows its region's.
      const admin = e.admin || region.admin || "";
      const adminText = e.admin ? e.admin : region.admin ? `${region.admin} (region)` : "–";
      rows.push(el("tr", { "data-service": service.name, "data-region": e.region, "data-endpoint": e.address, "data-state": e.state, class: "row-" + e.state },
        el("td", { class: "muted" }, service.name),
        el("td", {}, e.region),
        el("th", { scope: "row", class: "mono" }, e.address),
        el("td", { class: "num" }, String(e.weight)),
        el("td", { class: "state", "data-state": e.state }, healthPill(e.state === "drained" ? "drained" : e.state, e.state)),
        el("td", { class: "admin", "data-admin": admin }, adminText),
        el("td", { class: "probe " + e.probe, "data-probe": e.probe }, e.probe,
          e.fleet ? el("span", { class: "fleet", "data-fleet": e.fleet.verdict }, `fleet ${e.fleet.verdict}: ${observersText(e.fleet)}`) : null),
        el("td", { class: "num" }, e.latency_ms ? `${e.latency_ms.toFixed(1)} ms` : "–"),
        el("td", { class: "num" }, typeof e.load === "number" ? `${Math.round(e.load * 100)}%` : "–"),
        el("td", { class: "error" }, e.last_error || ""),
        timeCell(e.last_probe),
        timeCell(e.since)));
    }
  }
  body.replaceChildren(...rows);
}

// ---- refresh loop -------------------------------------------------------------

function render() {
  const st = page.status;
  renderHeader(st);
  renderAge();
  renderPicker(st);
  renderOverview(st);
  renderProblems(st);
  const sel = selected();
  renderMap(sel);
  renderRegions(sel);
  renderServices(st);
  renderEndpoints(st);
}

async function loadMap() {
  const sel = selected();
  if (!sel) {
    page.map = null;
    return;
  }
  page.map = await fetchJSON("/api/v1/map?service=" + encodeURIComponent(sel.service.name));
}

async function refresh() {
  clearTimeout(page.timer);
  try {
    page.status = await fetchJSON("/api/v1/status");
    page.fetchedAt = new Date();
    renderPicker(page.status);
    clearError();
    // A map that cannot be had is reported on the map, not as an outage.
    try {
      await loadMap();
      page.mapError = "";
    } catch (err) {
      page.map = null;
      page.mapError = err.message || String(err);
    }
    render();
  } catch (err) {
    if (err.unauthorized) {
      showLogin();
      document.body.dataset.loaded = "true";
      return;
    }
    showError(err.message || String(err));
    if (page.status) render();
  }
  document.body.dataset.loaded = "true";
  page.timer = setTimeout(refresh, REFRESH_MS);
}

function tick() {
  renderAge();
  for (const t of document.querySelectorAll("time[data-ago]")) {
    t.textContent = ago(new Date(t.dataset.ago));
  }
}

document.getElementById("service").addEventListener("change", refresh);
document.getElementById("login").addEventListener("submit", login);
drawGraticule();
loadShapes()
  .catch((err) => {
    page.shapesError = err.message || String(err);
  })
  .finally(() => {
    if (page.status) render();
  });
refresh();
setInterval(tick, 1000);
