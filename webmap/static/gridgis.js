/* gridgis map page: fetch every layer for the current view from /api and draw it (plain ES2017).
 *
 * The page (built by webmap/mapshell.py) carries no data: it creates empty Leaflet groups and calls
 * GridGIS.configure(config) then GridGIS.start(). Hexagons arrive as compact [{h3, n}] rows and are
 * drawn here with h3-js. On an AMap (GCJ-02) base map every vertex is shifted WGS84 → GCJ-02 for
 * display and drawn zones are shifted back before saving. Data values reach the DOM only through
 * textContent / DOM nodes, never innerHTML.
 */
(function () {
  "use strict";

  const GG = { firstDrawMs: null, registry: {}, readyHooks: [] };
  let cfg = null;
  let T = {};
  let map = null;
  const layers = {};
  let state = null;
  let categories = [];
  const catByCode = {};
  let gridsLoaded = false;
  let zonesById = {};
  const inflight = {};
  let drawBusy = false;
  let refreshTimer = null;
  let lastBreaks = null;

  const SEQ = ["#ffffb2", "#fecc5c", "#fd8d3c", "#f03b20", "#bd0026"];
  const GI = { 3: "#d62f27", 2: "#ed7551", 1: "#fab984", 0: "#eeeeee", "-1": "#c0ccbe", "-2": "#849eba", "-3": "#4575b5" };
  const GI_KEYS = { 3: "hot99", 2: "hot95", 1: "hot90", 0: "not_sig", "-1": "cold90", "-2": "cold95", "-3": "cold99" };
  const TREND = {
    new_hot: "#f7b7a3", consecutive_hot: "#ee8866", intensifying_hot: "#b2182b", persistent_hot: "#d6604d",
    diminishing_hot: "#f4a582", sporadic_hot: "#fddbc7", oscillating_hot: "#e9a3c9", historical_hot: "#c2a5cf",
    new_cold: "#c6dbef", consecutive_cold: "#9ecae1", intensifying_cold: "#08519c", persistent_cold: "#3182bd",
    diminishing_cold: "#6baed6", sporadic_cold: "#deebf7", oscillating_cold: "#a1d99b", historical_cold: "#bcbddc",
    no_pattern: "#eeeeee",
  };

  // ------------------------------------------------------------------ small helpers

  function $(id) { return document.getElementById(id); }

  /** A DOM element; string children become text nodes (never HTML). */
  function el(tag, attrs, children) {
    const node = document.createElement(tag);
    if (attrs) {
      for (const k of Object.keys(attrs)) {
        const v = attrs[k];
        if (v === null || v === undefined || v === false) continue;
        if (k === "class") node.className = v;
        else if (k === "text") node.textContent = v;
        else if (k === "style") node.setAttribute("style", v);
        else if (k.startsWith("on")) node.addEventListener(k.slice(2), v);
        else node.setAttribute(k, v === true ? "" : v);
      }
    }
    for (const c of [].concat(children || [])) {
      if (c === null || c === undefined) continue;
      node.appendChild(typeof c === "string" || typeof c === "number" ? document.createTextNode(String(c)) : c);
    }
    return node;
  }

  function fmt(n, digits) {
    if (n === null || n === undefined || Number.isNaN(n)) return "–";
    return Number(n).toLocaleString(cfg.lang === "zh" ? "zh-CN" : "en", { maximumFractionDigits: digits || 0 });
  }

  function status(text, isError) {
    const s = $("gg-status");
    s.textContent = text || "";
    s.classList.toggle("gg-error", !!isError);
  }

  function busy(delta) {
    const s = $("gg-status");
    const n = Math.max(0, Number(s.dataset.loading || 0) + delta);
    s.dataset.loading = String(n);
    if (n > 0 && !s.textContent) s.textContent = T.loading;
    if (n === 0 && s.textContent === T.loading) s.textContent = "";
  }

  /** The session's CSRF token (the page's meta tag), sent with every state-changing request. */
  function csrfToken() {
    const m = document.querySelector('meta[name="csrf-token"]');
    return m ? m.getAttribute("content") : "";
  }

  /** GET/POST JSON; one in-flight request per key (a newer one aborts the older). */
  async function api(path, opts) {
    opts = opts || {};
    const key = opts.key;
    let signal;
    if (key) {
      if (inflight[key]) inflight[key].abort();
      inflight[key] = new AbortController();
      signal = inflight[key].signal;
    }
    const init = { method: opts.method || "GET", headers: { Accept: "application/json" }, signal: signal };
    if (init.method !== "GET" && csrfToken()) init.headers["X-CSRFToken"] = csrfToken();
    if (opts.body !== undefined) {
      init.headers["Content-Type"] = "application/json";
      init.body = JSON.stringify(opts.body);
    }
    busy(1);
    try {
      const res = await fetch(cfg.api + path, init);
      const body = await res.json().catch(function () { return {}; });
      if (res.status === 401 && cfg.user && cfg.user.kind === "user") toLogin();  // the session expired
      if (!res.ok) {
        const err = new Error(body.error || (T.load_failed + " (" + res.status + ")"));
        err.status = res.status;
        err.field = body.field;
        throw err;
      }
      return body;
    } finally {
      busy(-1);
      if (key && inflight[key] && inflight[key].signal === signal) delete inflight[key];
    }
  }

  function isAbort(err) { return err && err.name === "AbortError"; }

  // ------------------------------------------------------------------ who is logged in

  /** Whether the user holds a permission (hides what they cannot use; the server enforces it anyway). */
  function can(perm) {
    if (!cfg.user || !cfg.user.permissions) return true;
    return cfg.user.permissions.indexOf(perm) >= 0;
  }

  /** Back to the login form, returning to this very view (filters and place are in the URL) afterwards. */
  function toLogin() {
    const here = location.pathname + location.search + location.hash;
    location.href = cfg.user.login_url + "?expired=1&next=" + encodeURIComponent(here);
  }

  /** The user's name and role in the bar, the logout button, and no drawing tools for read-only users. */
  function setupUser() {
    const u = cfg.user;
    if (!can("zones:write")) document.body.classList.add("gg-no-draw");
    if (!can("requests:read") && map.hasLayer(layers.points)) map.removeLayer(layers.points);
    if (!u || u.kind !== "user") return;
    const who = $("gg-user");
    who.textContent = (u.display_name || u.name) + (u.role ? " · " + (T["role_" + u.role] || u.role) : "");
    who.title = u.name;
    who.hidden = false;
    const out = $("gg-logout");
    out.hidden = false;
    out.addEventListener("click", async function () {
      out.disabled = true;
      try {
        await fetch(u.logout_url, { method: "POST", headers: { Accept: "application/json", "X-CSRFToken": csrfToken() } });
      } finally {
        location.href = u.login_url;
      }
    });
  }

  // ------------------------------------------------------------------ coordinates (GCJ-02 display shift)

  function toDisplay(lat, lng) {
    if (cfg.crs === "gcj02") {
      const g = window.GridGISCRS.wgs84ToGcj02(lng, lat);
      return L.latLng(g[1], g[0]);
    }
    return L.latLng(lat, lng);
  }

  /** Display latlng → WGS84 [lng, lat]. */
  function fromDisplay(latlng) {
    if (cfg.crs === "gcj02") return window.GridGISCRS.gcj02ToWgs84(latlng.lng, latlng.lat);
    return [latlng.lng, latlng.lat];
  }

  function geojsonToDisplay(geometry) {
    const polys = geometry.type === "Polygon" ? [geometry.coordinates] : geometry.coordinates;
    return polys.map(function (rings) {
      return rings.map(function (ring) { return ring.map(function (p) { return toDisplay(p[1], p[0]); }); });
    });
  }

  function r7(v) { return Math.round(v * 1e7) / 1e7; }

  /** A drawn/edited Leaflet polygon → WGS84 GeoJSON geometry. */
  function layerToWgs84(layer) {
    const geom = layer.toGeoJSON().geometry;
    const conv = function (ring) { return ring.map(function (p) { const w = fromDisplay(L.latLng(p[1], p[0])); return [r7(w[0]), r7(w[1])]; }); };
    if (geom.type === "Polygon") return { type: "Polygon", coordinates: geom.coordinates.map(conv) };
    if (geom.type === "MultiPolygon") return { type: "MultiPolygon", coordinates: geom.coordinates.map(function (p) { return p.map(conv); }) };
    return geom;
  }

  // ------------------------------------------------------------------ state in the URL hash

  function defaultState() {
    return { m: "n", c: null, s: "", u: "", t: "", st: "", g: "", v: null, l: null, cell: "", zone: "" };
  }

  function readHash() {
    const st = defaultState();
    const p = new URLSearchParams(location.hash.replace(/^#/, ""));
    if (["n", "rate", "gi", "trend"].includes(p.get("m"))) st.m = p.get("m");
    if (p.has("c")) st.c = p.get("c") ? p.get("c").split(",") : [];
    for (const k of ["s", "u", "t", "st", "g", "cell", "zone"]) if (p.get(k)) st[k] = p.get(k);
    const v = (p.get("v") || "").split("/").map(Number);
    if (v.length === 3 && v.every(Number.isFinite)) st.v = v;
    if (p.has("l")) st.l = p.get("l") ? p.get("l").split(",") : [];
    return st;
  }

  function writeHash() {
    const p = new URLSearchParams();
    if (state.m !== "n") p.set("m", state.m);
    if (state.c !== null) p.set("c", state.c.join(","));
    for (const k of ["s", "u", "t", "st", "g"]) if (state[k]) p.set(k, state[k]);
    const c = map.getCenter();
    p.set("v", [map.getZoom(), c.lat.toFixed(5), c.lng.toFixed(5)].join("/"));
    p.set("l", Object.keys(layers).filter(function (k) { return map.hasLayer(layers[k]); }).join(","));
    if (state.cell) p.set("cell", state.cell);
    if (state.zone) p.set("zone", state.zone);
    const hash = "#" + p.toString();
    if (location.hash !== hash) history.replaceState(null, "", location.pathname + location.search + hash);
    const other = cfg.lang === "zh" ? "en" : "zh";
    $("gg-lang").setAttribute("href", "?lang=" + other + hash);
  }

  // ------------------------------------------------------------------ filters

  function isoDay(d) {
    const z = function (n) { return String(n).padStart(2, "0"); };
    return d.getFullYear() + "-" + z(d.getMonth() + 1) + "-" + z(d.getDate());
  }

  function addDays(day, n) {
    const d = new Date(day + "T00:00:00");
    d.setDate(d.getDate() + n);
    return isoDay(d);
  }

  function applyPreset(name) {
    const today = isoDay(new Date());
    if (name === "all") { state.s = ""; state.u = ""; }
    else {
      const d = new Date(today + "T00:00:00");
      if (name === "7d") d.setDate(d.getDate() - 6);
      else if (name === "30d") d.setDate(d.getDate() - 29);
      else if (name === "quarter") { d.setMonth(d.getMonth() - 3); d.setDate(d.getDate() + 1); }
      else if (name === "year") { d.setFullYear(d.getFullYear() - 1); d.setDate(d.getDate() + 1); }
      state.s = isoDay(d);
      state.u = today;
    }
    syncForm();
    changed();
  }

  /** Query string of the current filters (the `until` day is inclusive in the UI, exclusive in the API). */
  function filterParams(extra) {
    const p = new URLSearchParams();
    if (state.c !== null && state.c.length && state.c.length < categories.length) p.set("category", state.c.join(","));
    if (state.s) p.set("since", state.s);
    if (state.u) p.set("until", addDays(state.u, 1));
    if (state.t) p.set("type", state.t);
    if (state.st) p.set("status", state.st);
    if (state.g) p.set("grid", state.g);
    for (const k of Object.keys(extra || {})) if (extra[k] !== null && extra[k] !== undefined) p.set(k, extra[k]);
    return p;
  }

  function noCategory() { return state.c !== null && state.c.length === 0; }

  function currentRes() {
    const z = map.getZoom();
    for (const pair of cfg.resByZoom) if (z <= pair[0]) return pair[1];
    return cfg.resByZoom[cfg.resByZoom.length - 1][1];
  }

  function viewBbox() {
    const b = map.getBounds().pad(0.1);
    const sw = fromDisplay(b.getSouthWest());
    const ne = fromDisplay(b.getNorthEast());
    const clamp = function (v, lo, hi) { return Math.min(hi, Math.max(lo, v)); };
    return [clamp(sw[0], -180, 180).toFixed(4), clamp(sw[1], -85, 85).toFixed(4),
      clamp(ne[0], -180, 180).toFixed(4), clamp(ne[1], -85, 85).toFixed(4)].join(",");
  }

  function syncForm() {
    $("gg-metric").value = state.m;
    $("gg-since").value = state.s;
    $("gg-until").value = state.u;
    $("gg-type").value = state.t;
    $("gg-status-select").value = state.st;
    $("gg-grid").value = state.g;
    document.querySelectorAll("#gg-cats input").forEach(function (box) {
      box.checked = state.c === null || state.c.includes(box.value);
    });
  }

  function changed() {
    writeHash();
    refresh();
  }

  // ------------------------------------------------------------------ UI wiring

  function fillSelect(select, items) {
    for (const it of items) select.appendChild(el("option", { value: it.value, text: it.label }));
  }

  function buildUi() {
    const toggle = $("gg-filter-toggle");
    const form = $("gg-filters");
    const wide = window.matchMedia("(min-width: 601px)").matches;
    if (wide) { form.classList.add("gg-open"); toggle.setAttribute("aria-expanded", "true"); }
    toggle.addEventListener("click", function () {
      const open = form.classList.toggle("gg-open");
      toggle.setAttribute("aria-expanded", String(open));
    });
    L.DomEvent.disableClickPropagation(form);
    L.DomEvent.disableScrollPropagation(form);
    for (const id of ["gg-bar", "gg-legend", "gg-panel"]) {
      L.DomEvent.disableClickPropagation($(id));
      L.DomEvent.disableScrollPropagation($(id));
    }
    fillSelect($("gg-type"), cfg.types);
    const statusSelect = $("gg-status-select");
    fillSelect(statusSelect, cfg.statuses);
    $("gg-metric").addEventListener("change", function (e) { state.m = e.target.value; changed(); });
    $("gg-since").addEventListener("change", function (e) { state.s = e.target.value; changed(); });
    $("gg-until").addEventListener("change", function (e) { state.u = e.target.value; changed(); });
    $("gg-type").addEventListener("change", function (e) { state.t = e.target.value; changed(); });
    statusSelect.addEventListener("change", function (e) { state.st = e.target.value; changed(); });
    $("gg-grid").addEventListener("change", function (e) { state.g = e.target.value; changed(); });
    document.querySelectorAll("[data-preset]").forEach(function (b) {
      b.addEventListener("click", function () { applyPreset(b.dataset.preset); });
    });
    $("gg-cats-all").addEventListener("click", function () { state.c = null; syncForm(); changed(); });
    $("gg-cats-none").addEventListener("click", function () { state.c = []; syncForm(); changed(); });
    $("gg-reset").addEventListener("click", function () {
      const v = state.v;
      state = defaultState();
      state.v = v;
      syncForm();
      changed();
    });
    $("gg-panel-close").addEventListener("click", closePanel);
  }

  function buildCategoryBoxes() {
    const box = $("gg-cats");
    box.textContent = "";
    for (const c of categories) {
      const input = el("input", { type: "checkbox", value: c.code, name: "category" });
      input.addEventListener("change", function () {
        const on = Array.from(box.querySelectorAll("input")).filter(function (i) { return i.checked; }).map(function (i) { return i.value; });
        state.c = on.length === categories.length ? null : on;
        changed();
      });
      box.appendChild(el("label", null, [input, el("span", { class: "gg-sw", style: "background:" + c.color }), catName(c.code)]));
    }
  }

  function catName(code) {
    const c = catByCode[code];
    if (!c) return code || "–";
    return cfg.lang === "zh" ? c.name_zh : c.name_en;
  }

  function typeName(label) {
    const t = cfg.types.find(function (x) { return x.value === label; });
    return t ? t.label : label || "";
  }

  function statusName(code) {
    const s = cfg.statuses.find(function (x) { return x.value === code; });
    return s ? s.label : code || "";
  }

  // ------------------------------------------------------------------ legend

  function legendRow(color, label) {
    return el("div", null, [el("span", { class: "gg-sw", style: "background:" + color }), label]);
  }

  function drawLegend(kind, info) {
    const box = $("gg-legend");
    box.textContent = "";
    const title = { n: T.metric_n, rate: T.metric_rate, gi: T.metric_gi, trend: T.metric_trend }[kind];
    box.appendChild(el("h4", null, title + " · " + T.resolution + " " + currentRes()));
    if (kind === "n" || kind === "rate") {
      const breaks = info || [];
      if (!breaks.length) { box.appendChild(el("div", null, T.no_data)); return; }
      let lo = kind === "n" ? 1 : 0;
      breaks.forEach(function (hi, i) {
        const label = kind === "n" ? (lo === hi ? fmt(lo) : fmt(lo) + "–" + fmt(hi)) : fmt(lo, 2) + "–" + fmt(hi, 2);
        box.appendChild(legendRow(SEQ[i + SEQ.length - breaks.length], label));
        lo = kind === "n" ? Math.floor(hi) + 1 : hi;
      });
    } else if (kind === "gi") {
      for (const b of [3, 2, 1, 0, -1, -2, -3]) box.appendChild(legendRow(GI[b], T[GI_KEYS[b]]));
      if (info) box.appendChild(el("div", { class: "gg-error" }, info));
    } else if (kind === "trend") {
      for (const code of info.present) box.appendChild(legendRow(TREND[code] || "#eee", info.labels[code] || code));
      if (info.reason) box.appendChild(el("div", { class: "gg-error" }, info.reason));
    }
  }

  function classColor(value, breaks) {
    if (value === null || value === undefined || !breaks.length) return "#cccccc";
    const offset = SEQ.length - breaks.length;
    for (let i = 0; i < breaks.length; i++) if (value <= breaks[i]) return SEQ[i + offset];
    return SEQ[SEQ.length - 1];
  }

  // ------------------------------------------------------------------ demand (hexagon) layer

  function hexagon(h3id, style) {
    const ring = h3.cellToBoundary(h3id);
    const latlngs = ring.map(function (p) { return toDisplay(p[0], p[1]); });
    const poly = L.polygon(latlngs, Object.assign({ weight: 0.6, color: "#666", fillOpacity: 0.65 }, style));
    poly.ggCell = h3id;
    return poly;
  }

  function drawHexes(rows, colorOf) {
    const group = layers.demand;
    group.clearLayers();
    for (const row of rows) group.addLayer(hexagon(row.h3, { fillColor: colorOf(row), pane: "gg-demand" }));
    const s = $("gg-status");
    s.dataset.hexes = String(rows.length);
    s.dataset.ready = "1";
    if (GG.firstDrawMs === null && rows.length) GG.firstDrawMs = performance.now();
    if (!rows.length && !s.textContent) status(T.no_data);
    else if (s.textContent === T.no_data) status("");
  }

  async function loadDemand() {
    if (!map.hasLayer(layers.demand)) return;
    const res = currentRes();
    if (noCategory()) { drawHexes([], null); drawLegend("n", []); return; }
    try {
      if (state.m === "n" || state.m === "rate") {
        const body = await api("/cells?" + filterParams({ res: res, bbox: viewBbox() }), { key: "demand" });
        const metric = state.m;
        const breaks = metric === "n" ? body.breaks : body.rate_breaks;
        lastBreaks = breaks;
        const rows = metric === "rate" ? body.cells.filter(function (c) { return c.rate !== null && c.rate !== undefined; }) : body.cells;
        drawHexes(rows, function (c) { return classColor(metric === "n" ? c.n : c.rate, breaks || []); });
        drawLegend(metric, breaks || []);
      } else {
        const method = state.m === "gi" ? "gi" : "trend";
        const body = await api("/hotspots?" + filterParams({ res: res, bbox: viewBbox(), method: method, lang: cfg.lang }), { key: "demand" });
        if (method === "gi") {
          drawHexes(body.cells, function (c) { return GI[c.bin] || GI[0]; });
          drawLegend("gi", body.significant ? null : body.reason);
        } else {
          const labels = {};
          const present = [];
          for (const c of body.cells) {
            if (!labels[c.trend]) { labels[c.trend] = c.label; present.push(c.trend); }
          }
          present.sort(function (a, b) { return Object.keys(TREND).indexOf(a) - Object.keys(TREND).indexOf(b); });
          drawHexes(body.cells, function (c) { return TREND[c.trend] || "#eee"; });
          drawLegend("trend", { present: present, labels: labels, reason: body.significant ? null : body.reason });
        }
      }
      if ($("gg-status").classList.contains("gg-error")) status("");
    } catch (err) {
      if (!isAbort(err)) status(err.message, true);
    }
  }

  async function loadHotspots() {
    const group = layers.hotspots;
    if (!map.hasLayer(group)) return;
    try {
      const body = await api("/hotspots?" + filterParams({ res: currentRes(), bbox: viewBbox(), method: "gi" }), { key: "hotspots" });
      group.clearLayers();
      for (const c of body.cells) {
        if (!c.bin) continue;
        group.addLayer(hexagon(c.h3, { fill: false, weight: 1 + Math.abs(c.bin), color: c.bin > 0 ? "#b2182b" : "#2166ac", interactive: false, pane: "gg-hot" }));
      }
    } catch (err) {
      if (!isAbort(err)) status(err.message, true);
    }
  }

  // ------------------------------------------------------------------ grids, zones, points

  async function loadGrids() {
    if (gridsLoaded) return;
    gridsLoaded = true;
    try {
      const fc = await api("/grids");
      const select = $("gg-grid");
      const opts = [];
      for (const f of fc.features) {
        const p = f.properties;
        opts.push({ value: p.grid_code, label: (p.name || p.grid_code) + (p.community ? " · " + p.community : "") });
        const poly = L.polygon(geojsonToDisplay(f.geometry), { fill: false, color: "#333", weight: 1.2, dashArray: "4 3", pane: "gg-grids", interactive: false });
        poly.bindTooltip(el("span", { text: p.name || p.grid_code }), { permanent: true, direction: "center", className: "gg-grid-label", opacity: 0.9 });
        layers.grids.addLayer(poly);
      }
      fillSelect(select, opts);
      select.value = state.g;
      toggleGridLabels();
    } catch (err) {
      gridsLoaded = false;
      if (!isAbort(err)) status(err.message, true);
    }
  }

  function toggleGridLabels() {
    const show = map.getZoom() >= 14;
    layers.grids.eachLayer(function (l) {
      const tip = l.getTooltip();
      if (!tip) return;
      if (show && !l.isTooltipOpen()) l.openTooltip();
      if (!show && l.isTooltipOpen()) l.closeTooltip();
    });
  }

  async function loadZones() {
    try {
      const fc = await api("/zones", { key: "zones" });
      const group = layers.zones;
      group.eachLayer(function (l) { if (l.zoneId) group.removeLayer(l); });
      zonesById = {};
      for (const f of fc.features) {
        const p = f.properties;
        zonesById[p.id] = f;
        geojsonToDisplay(f.geometry).forEach(function (poly, part) {
          const layer = L.polygon(poly, { color: "#6b46c1", weight: 3, dashArray: "8 4", fill: false, pane: "gg-zones" });
          layer.zoneId = p.id;
          layer.zonePart = part;  // index of this polygon in a MultiPolygon zone
          layer.zoneVersion = p.version;
          layer.bindTooltip(el("span", { text: p.name + " · " + T.priority + " " + p.priority }), { sticky: true });
          layer.on("click", function (e) {
            if (drawBusy) return;
            L.DomEvent.stopPropagation(e);
            openZone(p.id);
          });
          group.addLayer(layer);
        });
      }
      $("gg-status").dataset.zones = String(fc.features.length);
    } catch (err) {
      if (!isAbort(err)) status(err.message, true);
    }
  }

  async function loadPoints() {
    const group = layers.points;
    if (!map.hasLayer(group)) return;
    if (map.getZoom() < cfg.pointsMinZoom || noCategory() || !can("requests:read")) { group.clearLayers(); return; }
    try {
      const body = await api("/points?" + filterParams({ bbox: viewBbox(), limit: 2000 }), { key: "points" });
      group.clearLayers();
      const markers = body.points.map(function (p) {
        const c = catByCode[p.c];
        const m = L.circleMarker(toDisplay(p.lat, p.lng), { radius: 6, weight: 1, color: "#222", fillColor: c ? c.color : "#888", fillOpacity: 0.9 });
        m.bindPopup(function () { return requestPopup(p.id); }, { maxWidth: 280 });
        return m;
      });
      group.addLayers(markers);
    } catch (err) {
      if (!isAbort(err)) status(err.message, true);
    }
  }

  function requestPopup(id) {
    const box = el("div", { class: "gg-req" }, T.loading);
    api("/requests/" + encodeURIComponent(id)).then(function (body) {
      box.textContent = "";
      box.appendChild(requestItem(body.request));
    }).catch(function (err) { box.textContent = err.message; });
    return box;
  }

  // ------------------------------------------------------------------ side panel

  function openPanel(children) {
    const body = $("gg-panel-body");
    body.textContent = "";
    for (const c of [].concat(children)) body.appendChild(c);
    $("gg-panel").hidden = false;
    body.scrollTop = 0;
  }

  function closePanel() {
    $("gg-panel").hidden = true;
    highlight(null);
    state.cell = "";
    state.zone = "";
    writeHash();
    cancelNewZone();
  }

  function categoryTable(rows) {
    const total = rows.reduce(function (a, r) { return a + r.n; }, 0);
    const table = el("table");
    for (const r of rows) {
      const c = catByCode[r.code];
      table.appendChild(el("tr", null, [
        el("td", null, [el("span", { class: "gg-sw", style: "background:" + (c ? c.color : "#888") }), " ", catName(r.code)]),
        el("td", { class: "gg-num" }, fmt(r.n)),
      ]));
    }
    table.appendChild(el("tr", null, [el("td", null, el("strong", null, T.total)), el("td", { class: "gg-num" }, el("strong", null, fmt(total)))]));
    return table;
  }

  /** A monthly sparkline as inline SVG (built as DOM nodes). */
  function sparkline(series) {
    const NS = "http://www.w3.org/2000/svg";
    const w = 300, h = 48, pad = 4;
    const svg = document.createElementNS(NS, "svg");
    svg.setAttribute("viewBox", "0 0 " + w + " " + h);
    svg.setAttribute("class", "gg-spark");
    svg.setAttribute("role", "img");
    if (!series.length) return svg;
    const max = Math.max.apply(null, series.map(function (s) { return s.n; }).concat([1]));
    const step = series.length > 1 ? (w - 2 * pad) / (series.length - 1) : 0;
    const pts = series.map(function (s, i) { return [pad + i * step, h - pad - (h - 2 * pad) * s.n / max]; });
    const line = document.createElementNS(NS, "polyline");
    line.setAttribute("points", pts.map(function (p) { return p[0].toFixed(1) + "," + p[1].toFixed(1); }).join(" "));
    line.setAttribute("fill", "none");
    line.setAttribute("stroke", "#c53030");
    line.setAttribute("stroke-width", "2");
    svg.appendChild(line);
    pts.forEach(function (p, i) {
      const dot = document.createElementNS(NS, "circle");
      dot.setAttribute("cx", p[0].toFixed(1));
      dot.setAttribute("cy", p[1].toFixed(1));
      dot.setAttribute("r", "2.2");
      dot.setAttribute("fill", "#c53030");
      const title = document.createElementNS(NS, "title");
      title.textContent = series[i].month + ": " + series[i].n;
      dot.appendChild(title);
      svg.appendChild(dot);
    });
    const label = document.createElementNS(NS, "title");
    label.textContent = T.monthly + ", max " + max;
    svg.insertBefore(label, svg.firstChild);
    return svg;
  }

  function monthlyBlock(series) {
    if (!series.length) return el("div");
    return el("div", null, [
      el("h4", null, T.monthly + " (" + series[0].month + " – " + series[series.length - 1].month + ")"),
      sparkline(series),
    ]);
  }

  function fmtTime(iso) { return String(iso || "").slice(0, 16).replace("T", " "); }

  /** Past its deadline: the server's flag, or due_at against this clock (a revalidated list may be older). */
  function isOverdue(r) { return !!r.due_at && (r.overdue === true || Date.parse(r.due_at) < Date.now()); }

  /** One request in a list or popup: overdue mark, texts, and the workflow block (history, status change). */
  function requestItem(r, message) {
    const meta = [fmtTime(r.created_at), catName(r.category), statusName(r.status), typeName(r.request_type)]
      .filter(Boolean).join(" · ");
    const late = isOverdue(r);
    const item = el("div", { class: "gg-req" + (late ? " gg-overdue" : ""), "data-id": r.id, "data-status": r.status }, [
      el("div", { class: "gg-meta" }, [
        late ? el("span", { class: "gg-late", title: T.due_at + " " + fmtTime(r.due_at) }, T.overdue) : null,
        late ? " " : null, meta]),
      el("div", { class: "gg-text" }, r.text || ""),
      r.address ? el("div", { class: "gg-meta" }, T.address + "：" + r.address) : null,
      r.reporter_name || r.reporter_phone ? el("div", { class: "gg-meta" }, T.reporter + "：" + [r.reporter_name, r.reporter_phone].filter(Boolean).join(" ")) : null,
      r.due_at ? el("div", { class: "gg-meta gg-due" }, T.due_at + "：" + fmtTime(r.due_at)) : null,
    ]);
    if (can("requests:read")) item.appendChild(workflowBlock(r, item, message));
    return item;
  }

  /** "办理" toggle: the request's history and, for those who may, a status select with the allowed next steps. */
  function workflowBlock(r, item, message) {
    const box = el("div", { class: "gg-wf" });
    box.hidden = true;
    const toggle = el("button", { type: "button", class: "gg-mini gg-wf-toggle", "aria-expanded": "false" }, T.workflow);
    function show(msg) {
      toggle.setAttribute("aria-expanded", "true");
      box.hidden = false;
      loadWorkflow(r, item, box, msg);
    }
    toggle.addEventListener("click", function () {
      if (toggle.getAttribute("aria-expanded") === "true") {
        toggle.setAttribute("aria-expanded", "false");
        box.hidden = true;
      } else show();
    });
    if (message) show(message);
    return el("div", null, [toggle, box]);
  }

  async function loadWorkflow(r, item, box, message) {
    box.textContent = T.loading;
    try {
      const h = await api("/requests/" + encodeURIComponent(r.id) + "/history");
      renderWorkflow(r, item, box, h, message);
    } catch (err) {
      box.textContent = "";
      box.appendChild(el("div", { class: "gg-error" }, err.message));
    }
  }

  function renderWorkflow(r, item, box, h, message) {
    box.textContent = "";
    if (message) box.appendChild(el("div", { class: "gg-ok", role: "status" }, message));
    box.appendChild(el("div", { class: "gg-meta" }, T.history));
    const list = el("ol", { class: "gg-history" });
    for (const e of h.events) {
      list.appendChild(el("li", null, [
        el("span", { class: "gg-meta" }, fmtTime(e.at) + " · " + e.actor + " · "),
        statusName(e.from_status) + " → " + statusName(e.to_status),
        e.note ? el("div", { class: "gg-note" }, e.note) : null,
      ]));
    }
    box.appendChild(h.events.length ? list : el("div", { class: "gg-meta" }, T.no_history));
    if (!h.can_update || !h.allowed.length) return;
    const select = el("select", { name: "status" }, h.allowed.map(function (a) {
      return el("option", { value: a.value, "data-note": a.note_required ? "1" : null }, cfg.lang === "zh" ? a.zh : a.en);
    }));
    const note = el("textarea", { name: "note", maxlength: "500" });
    const save = el("button", { type: "submit", class: "gg-btn" }, T.save);
    const msg = el("div", { role: "status" });
    function syncNote() {
      const opt = select.options[select.selectedIndex];
      note.required = !!(opt && opt.dataset.note);
      note.placeholder = note.required ? T.note_required : T.note_hint;
    }
    select.addEventListener("change", syncNote);
    syncNote();
    const form = el("form", { class: "gg-form gg-wf-form" }, [
      el("label", null, [T.change_to, select]),
      el("label", null, [T.note, note]),
      el("div", { class: "gg-actions" }, [save]),
      msg,
    ]);
    form.addEventListener("submit", async function (e) {
      e.preventDefault();
      save.disabled = true;
      msg.className = "";
      msg.textContent = "";
      try {
        const body = await api("/requests/" + encodeURIComponent(r.id) + "/status",
          { method: "POST", body: { status: select.value, note: note.value, expected_status: h.status } });
        item.replaceWith(requestItem(body.request, T.status_saved));  // the row updates in place
      } catch (err) {
        msg.className = "gg-error";
        msg.textContent = err.message;
        save.disabled = false;
      }
    });
    box.appendChild(form);
  }

  function requestList(extra) {
    const box = el("div", { class: "gg-reqs" });
    const more = el("button", { type: "button", class: "gg-mini" }, T.more);
    let offset = 0;
    async function page() {
      more.disabled = true;
      try {
        const body = await api("/requests?" + filterParams(Object.assign({ limit: 20, offset: offset }, extra)));
        for (const r of body.requests) box.appendChild(requestItem(r));
        offset += body.returned;
        more.hidden = !body.more;
      } catch (err) {
        box.appendChild(el("div", { class: "gg-error" }, err.message));
      } finally {
        more.disabled = false;
      }
    }
    more.addEventListener("click", page);
    page();
    return el("div", null, [el("h4", null, T.request_list), box, more]);
  }

  let selected = null;

  /** Outline the cell whose panel is open. */
  function highlight(h3id) {
    if (selected) { map.removeLayer(selected); selected = null; }
    if (h3id) {
      selected = hexagon(h3id, { fill: false, color: "#1a365d", weight: 3, interactive: false, pane: "gg-hot" });
      selected.addTo(map);
    }
  }

  async function openCell(h3id) {
    highlight(h3id);
    state.cell = h3id;
    state.zone = "";
    writeHash();
    openPanel([el("h3", null, T.cell + " " + h3id), el("div", null, T.loading)]);
    try {
      const body = await api("/cells/" + encodeURIComponent(h3id) + "?" + filterParams(), { key: "panel" });
      const parts = [
        el("h3", null, T.cell + " " + h3id),
        el("div", { class: "gg-meta" }, T.resolution + " " + body.res + " · " + T.requests + " " + fmt(body.n)
          + (body.rate !== null && body.rate !== undefined ? " · " + fmt(body.rate, 2) + " " + T.per_100 : "")),
        el("h4", null, T.by_category),
        categoryTable(body.by_category),
        monthlyBlock(body.monthly),
        can("requests:read") ? requestList({ cell: h3id }) : null,
      ];
      openPanel(parts);
    } catch (err) {
      if (!isAbort(err)) openPanel([el("h3", null, T.cell + " " + h3id), el("div", { class: "gg-error" }, err.message)]);
    }
  }

  // ------------------------------------------------------------------ zones: draw, form, panel

  let newZoneLayer = null;

  function cancelNewZone() {
    if (newZoneLayer) {
      layers.zones.removeLayer(newZoneLayer);
      newZoneLayer = null;
    }
  }

  function zoneForm(zone, onSaved) {
    const p = zone ? zone.properties : {};
    const name = el("input", { name: "name", required: true, maxlength: "80", value: p.name || "" });
    const cat = el("select", { name: "category" }, [el("option", { value: "" }, T.any)]);
    for (const c of categories) cat.appendChild(el("option", { value: c.code }, catName(c.code)));
    cat.value = p.category || "";
    const prio = el("select", { name: "priority" });
    for (const v of [1, 2, 3, 4, 5]) prio.appendChild(el("option", { value: String(v) }, String(v)));
    prio.value = String(p.priority || 3);
    const notes = el("textarea", { name: "notes", maxlength: "2000" });
    notes.value = p.notes || "";
    const msg = el("div", { class: "gg-error", role: "alert" });
    const save = el("button", { type: "submit", class: "gg-btn" }, T.save);
    const cancel = el("button", { type: "button", class: "gg-btn" }, T.cancel);
    const form = el("form", { class: "gg-form", id: "gg-zone-form" }, [
      el("label", null, [T.name, name]), el("label", null, [T.category, cat]), el("label", null, [T.priority, prio]),
      el("label", null, [T.notes, notes]), msg, el("div", { class: "gg-actions" }, [save, cancel]),
    ]);
    cancel.addEventListener("click", function () { if (zone) openZone(p.id); else closePanel(); });
    form.addEventListener("submit", async function (e) {
      e.preventDefault();
      msg.textContent = "";
      save.disabled = true;
      try {
        await onSaved({ name: name.value, category: cat.value || null, priority: Number(prio.value), notes: notes.value });
      } catch (err) {
        msg.textContent = err.message;
      } finally {
        save.disabled = false;
      }
    });
    return form;
  }

  function onDrawCreated(e) {
    cancelNewZone();
    newZoneLayer = e.layer;
    layers.zones.addLayer(newZoneLayer);
    const geometry = layerToWgs84(newZoneLayer);
    openPanel([
      el("h3", null, T.new_zone),
      zoneForm(null, async function (attrs) {
        const body = await api("/zones", { method: "POST", body: Object.assign({ geometry: geometry }, attrs) });
        cancelNewZone();
        await loadZones();
        openZone(body.properties.id);
      }),
    ]);
    setTimeout(function () { const n = document.querySelector("#gg-zone-form input[name=name]"); if (n) n.focus(); }, 0);
  }

  async function onDrawEdited(e) {
    // One PATCH per zone; the parts of a MultiPolygon zone are separate layers, put back together here.
    const edited = {};
    e.layers.eachLayer(function (layer) {
      if (!layer.zoneId) return;
      const z = edited[layer.zoneId] || (edited[layer.zoneId] = { version: layer.zoneVersion, parts: {} });
      z.parts[layer.zonePart] = layerToWgs84(layer).coordinates;
    });
    const jobs = Object.keys(edited).map(function (id) {
      const orig = zonesById[id].geometry;
      const z = edited[id];
      let geometry;
      if (orig.type === "MultiPolygon") {
        geometry = { type: "MultiPolygon", coordinates: orig.coordinates.map(function (c, i) { return z.parts[i] || c; }) };
      } else {
        geometry = { type: "Polygon", coordinates: z.parts[0] };
      }
      return api("/zones/" + id, { method: "PATCH", body: { geometry: geometry, version: z.version } });
    });
    const results = await Promise.allSettled(jobs);
    const failed = results.filter(function (r) { return r.status === "rejected"; });
    status(failed.length ? failed[0].reason.message : T.saved, failed.length > 0);
    await loadZones();
  }

  async function onDrawDeleted(e) {
    const jobs = [];
    const ids = new Set();  // a MultiPolygon zone is deleted once, whichever part was clicked
    e.layers.eachLayer(function (layer) {
      if (layer === newZoneLayer) { newZoneLayer = null; closePanel(); return; }
      if (layer.zoneId) ids.add(layer.zoneId);
    });
    ids.forEach(function (id) { jobs.push(api("/zones/" + id, { method: "DELETE" })); });
    const results = await Promise.allSettled(jobs);
    const failed = results.filter(function (r) { return r.status === "rejected"; });
    if (failed.length) status(failed[0].reason.message, true);
    await loadZones();
  }

  async function openZone(id) {
    highlight(null);
    state.zone = String(id);
    state.cell = "";
    writeHash();
    cancelNewZone();
    const f = zonesById[id];
    const title = el("h3", null, T.zone + " · " + (f ? f.properties.name : id));
    openPanel([title, el("div", null, T.loading)]);
    try {
      const zone = f || (await api("/zones/" + id));
      const p = zone.properties;
      const stats = await api("/zones/" + id + "/stats?" + filterParams(), { key: "panel" });
      const edit = el("button", { type: "button", class: "gg-btn" }, T.edit_zone);
      const del = el("button", { type: "button", class: "gg-btn" }, T.delete);
      edit.addEventListener("click", function () {
        openPanel([el("h3", null, T.edit_zone), zoneForm(zone, async function (attrs) {
          await api("/zones/" + id, { method: "PATCH", body: Object.assign({ version: p.version }, attrs) });
          await loadZones();
          openZone(id);
        })]);
      });
      del.addEventListener("click", async function () {
        if (!window.confirm(T.confirm_delete)) return;
        try {
          await api("/zones/" + id, { method: "DELETE" });
          closePanel();
          await loadZones();
        } catch (err) { status(err.message, true); }
      });
      const change = stats.change || {};
      const info = [
        T.category + "：" + (p.category ? catName(p.category) : T.any),
        T.priority + "：" + p.priority,
        T.area_km2 + "：" + fmt(p.area_km2, 3),
        T.households + "：" + fmt(stats.households),
        T.requests + "：" + fmt(stats.n) + (stats.per_100 !== null && stats.per_100 !== undefined ? "（" + fmt(stats.per_100, 2) + " " + T.per_100 + "）" : ""),
        change.pct !== null && change.pct !== undefined ? T.change + "：" + (change.pct > 0 ? "+" : "") + fmt(change.pct, 1) + "%" : null,
      ].filter(Boolean);
      openPanel([
        el("h3", null, T.zone + " · " + p.name),
        el("div", null, info.map(function (line) { return el("div", { class: "gg-meta" }, line); })),
        p.notes ? el("div", { class: "gg-text" }, p.notes) : null,
        el("div", { class: "gg-actions" }, [edit, del]),
        el("h4", null, T.by_category),
        categoryTable(stats.by_category),
        monthlyBlock(stats.monthly),
        can("requests:read") ? requestList({ zone: id }) : null,
      ].filter(Boolean));
    } catch (err) {
      if (!isAbort(err)) openPanel([title, el("div", { class: "gg-error" }, err.message)]);
    }
  }

  // ------------------------------------------------------------------ refresh cycle

  function refresh() {
    if (refreshTimer) clearTimeout(refreshTimer);
    refreshTimer = setTimeout(function () {
      refreshTimer = null;
      loadDemand();
      loadHotspots();
      loadPoints();
      for (const key of Object.keys(GG.registry)) {
        if (layers[key] && map.hasLayer(layers[key])) GG.registry[key](context(key));
      }
    }, 120);
  }

  function context(key) {
    return {
      map: map, group: layers[key], res: currentRes(), bbox: viewBbox(), params: filterParams, api: api,
      toDisplay: toDisplay, fromDisplay: fromDisplay, el: el, strings: T, lang: cfg.lang, fmt: fmt,
      noCategory: noCategory(), can: can,
    };
  }

  function localizeDraw(d) {
    if (!window.L || !L.drawLocal) return;
    const dl = L.drawLocal;
    dl.draw.toolbar.buttons.polygon = d.polygon;
    dl.draw.toolbar.buttons.rectangle = d.rectangle;
    dl.draw.toolbar.actions = { title: d.cancel, text: d.cancel };
    dl.draw.toolbar.finish = { title: d.finish, text: d.finish };
    dl.draw.toolbar.undo = { title: d.undo, text: d.undo };
    dl.draw.handlers.polygon.tooltip = { start: d.poly_start, cont: d.poly_cont, end: d.poly_end };
    dl.draw.handlers.rectangle.tooltip = { start: d.rect_start };
    dl.draw.handlers.simpleshape.tooltip = { end: d.release };
    dl.edit.toolbar.actions.save = { title: d.save, text: d.save };
    dl.edit.toolbar.actions.cancel = { title: d.cancel, text: d.cancel };
    dl.edit.toolbar.actions.clearAll = { title: d.clear_all, text: d.clear_all };
    dl.edit.toolbar.buttons.edit = d.edit;
    dl.edit.toolbar.buttons.editDisabled = d.edit;
    dl.edit.toolbar.buttons.remove = d.remove;
    dl.edit.toolbar.buttons.removeDisabled = d.remove;
    dl.edit.handlers.edit.tooltip = { text: d.edit_tip, subtext: d.cancel };
    dl.edit.handlers.remove.tooltip = { text: d.remove_tip };
  }

  // ------------------------------------------------------------------ public API

  GG.configure = function (config) {
    cfg = config;
    T = config.strings;
    document.documentElement.lang = cfg.lang === "zh" ? "zh-CN" : "en";
    document.title = T.title + " · gridgis";
    localizeDraw(config.draw);
  };

  /** Plug a loader into a layer group (e.g. "projects"): called with a context on every refresh. */
  GG.registerLayer = function (key, loader) {
    GG.registry[key] = loader;
    if (map) refresh();
  };

  /** Run fn(map) once the map, its panes and the categories are ready (now, if they already are). */
  GG.onReady = function (fn) {
    if (GG.readyHooks === null) fn(map);
    else GG.readyHooks.push(fn);
  };

  GG.counts = function () {
    const n = function (g) { return g ? g.getLayers().length : 0; };
    return { hexes: n(layers.demand), hotspots: n(layers.hotspots), grids: n(layers.grids), zones: Object.keys(zonesById).length, points: n(layers.points) };
  };

  /** Show DOM nodes in the side panel (a plug-in layer's list or details); the cell/zone selection is cleared. */
  GG.showPanel = function (children) {
    highlight(null);
    state.cell = "";
    state.zone = "";
    writeHash();
    cancelNewZone();
    openPanel(children);
  };

  GG.context = function (key) { return context(key); };
  GG.panelBody = function () { return $("gg-panel").hidden ? null : $("gg-panel-body"); };
  GG.reloadZones = function () { return loadZones(); };
  GG.openZone = function (id) { return openZone(id); };
  GG.category = function (code) { return catByCode[code] || null; };
  GG.status = function (text, isError) { status(text, isError); };

  GG.state = function () { return Object.assign({}, state); };
  GG.map = function () { return map; };
  GG.layer = function (key) { return layers[key]; };
  GG.openCell = function (h3id) { return openCell(h3id); };

  GG.start = async function () {
    map = window[cfg.map];
    for (const key of Object.keys(cfg.layers)) layers[key] = window[cfg.layers[key]];
    // Hexagons below Leaflet's overlay pane, so request points and drawn shapes stay clickable on top.
    map.createPane("gg-demand").style.zIndex = 350;
    map.createPane("gg-zones").style.zIndex = 450;
    map.createPane("gg-grids").style.zIndex = 420;
    map.createPane("gg-hot").style.zIndex = 430;
    map.createPane("gg-projects").style.zIndex = 440;
    map.getPane("gg-grids").style.pointerEvents = "none";
    state = readHash();
    buildUi();
    setupUser();
    if (state.l !== null) {
      for (const key of Object.keys(layers)) {
        const on = state.l.includes(key);
        if (on && !map.hasLayer(layers[key])) map.addLayer(layers[key]);
        if (!on && map.hasLayer(layers[key])) map.removeLayer(layers[key]);
      }
    }
    if (state.v) map.setView([state.v[1], state.v[2]], state.v[0], { animate: false });
    else if (cfg.bounds) map.fitBounds(L.latLngBounds(cfg.bounds.map(function (b) { return toDisplay(b[0], b[1]); })), { animate: false });
    layers.demand.on("click", function (e) {
      if (drawBusy || !e.layer || !e.layer.ggCell) return;
      openCell(e.layer.ggCell);
    });
    map.on("moveend", function () { writeHash(); refresh(); });
    map.on("zoomend", toggleGridLabels);
    map.on("overlayadd overlayremove", function () { writeHash(); refresh(); });
    map.on("draw:drawstart draw:editstart draw:deletestart", function () { drawBusy = true; });
    map.on("draw:drawstop draw:editstop draw:deletestop", function () { setTimeout(function () { drawBusy = false; }, 0); });
    map.on(L.Draw.Event.CREATED, onDrawCreated);
    map.on(L.Draw.Event.EDITED, onDrawEdited);
    map.on(L.Draw.Event.DELETED, onDrawDeleted);
    try {
      const body = await api("/categories");
      categories = body.categories;
      for (const c of categories) catByCode[c.code] = c;
      buildCategoryBoxes();
    } catch (err) {
      status(err.message, true);
    }
    syncForm();
    writeHash();
    const hooks = GG.readyHooks;
    GG.readyHooks = null;
    for (const fn of hooks) fn(map);
    loadGrids();
    await loadZones();
    refresh();
    if (state.cell) openCell(state.cell);
    else if (state.zone) openZone(state.zone);
  };

  window.GridGIS = GG;
})();
