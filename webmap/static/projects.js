/* gridgis map page: the project-candidates layer, its ranked list, details and "make priority zone" (ES2017).
 *
 * Plugs into gridgis.js through GridGIS.registerLayer("projects", loader). Candidates cover the whole
 * study area, so /api/projects is fetched once per filter set (not per view) and drawn as polygons
 * outlined in the category colour with their rank. The side panel lists them ranked with their score
 * parts; a candidate's panel shows its details and a button that saves its polygon as a priority zone
 * (POST /api/zones with the name, category, priority and notes the API proposes). Data values reach the
 * DOM only through textContent (gridgis.js's el()), never innerHTML.
 */
(function () {
  "use strict";

  const GG = window.GridGIS;
  const PARTS = ["volume", "significance", "growth", "severity"];
  const PART_COLORS = { volume: "#2b6cb0", significance: "#c53030", growth: "#dd6b20", severity: "#6b46c1" };
  const MARK = "data-gg-projects";  // on the panel nodes we own, to know the panel still shows ours

  let ctx = null;        // helpers from gridgis.js (el, api, strings, toDisplay, …)
  let data = null;       // the last FeatureCollection drawn
  let query = null;      // its query string
  let loading = null;    // the running fetch and its query string
  let loadingQuery = null;
  let byId = {};         // candidate id → { feature, polygon }
  let selectedId = null;

  function T(key) { return ctx.strings[key] || key; }
  function el(tag, attrs, children) { return ctx.el(tag, attrs, children); }
  function fmt(n, digits) { return ctx.fmt(n, digits); }
  function isAbort(err) { return err && err.name === "AbortError"; }

  function catLabel(p) { return ctx.lang === "zh" ? p.category_zh : p.category_en; }

  function catColor(code) {
    const c = GG.category(code);
    return c && c.color ? c.color : "#555555";
  }

  function ours() {
    const body = GG.panelBody();
    return !!(body && body.querySelector("[" + MARK + "]"));
  }

  function toLatLngs(geometry) {
    const polys = geometry.type === "Polygon" ? [geometry.coordinates] : geometry.coordinates;
    return polys.map(function (rings) {
      return rings.map(function (ring) { return ring.map(function (p) { return ctx.toDisplay(p[1], p[0]); }); });
    });
  }

  // ------------------------------------------------------------------ layer

  function draw() {
    const group = ctx.group;
    group.clearLayers();
    byId = {};
    const feats = data ? data.features : [];
    const places = labelPlaces(feats);
    // Drawn from the last rank to the first, so the best candidate lies on top where they overlap.
    for (const f of feats.slice().reverse()) {
      const p = f.properties;
      const color = catColor(p.category);
      const poly = L.polygon(toLatLngs(f.geometry), {
        pane: "gg-projects", color: color, weight: 3, opacity: 0.95, fillColor: color, fillOpacity: 0.08,
      });
      poly.ggProject = p.id;
      poly.bindTooltip(el("span", { text: "#" + p.rank + " " + catLabel(p) + " · " + T("score") + " " + fmt(p.score, 1) }), { sticky: true });
      poly.on("click", function (e) { L.DomEvent.stopPropagation(e); openDetail(p.id, false); });
      group.addLayer(poly);
      const badge = el("span", { class: "gg-rank-badge", style: "border-color:" + color }, String(p.rank));
      const place = places[p.id];
      const icon = L.divIcon({ className: "gg-rank", html: badge, iconSize: [24, 24], iconAnchor: [12 - 26 * place.shift, 12] });
      const marker = L.marker(ctx.toDisplay(place.at[1], place.at[0]), { icon: icon, keyboard: false, title: "#" + p.rank + " " + catLabel(p) });
      marker.on("click", function () { openDetail(p.id, false); });
      group.addLayer(marker);
      byId[p.id] = { feature: f, polygon: poly };
    }
    document.getElementById("gg-status").dataset.projects = String(feats.length);
    if (selectedId && byId[selectedId]) select(selectedId);
  }

  /** Where each rank label goes: candidates of one hot spot (one per category) have label points a few
   *  metres apart, so labels within ~150 m of a better-ranked one join its row instead of piling up. */
  function labelPlaces(feats) {
    const rows = [];
    const rowOf = {};
    for (const f of feats) {
      const at = f.properties.label;
      const k = Math.cos(at[1] * Math.PI / 180);
      let row = rows.find(function (r) { return Math.abs(r.at[0] - at[0]) * k < 0.0015 && Math.abs(r.at[1] - at[1]) < 0.0015; });
      if (!row) { row = { at: at, ids: [] }; rows.push(row); }
      row.ids.push(f.properties.id);
      rowOf[f.properties.id] = row;
    }
    const out = {};
    for (const id of Object.keys(rowOf)) {
      const row = rowOf[id];
      out[id] = { at: row.at, shift: row.ids.indexOf(id) - (row.ids.length - 1) / 2 };
    }
    return out;
  }

  function select(id) {
    selectedId = id;
    for (const key of Object.keys(byId)) {
      const sel = key === id;
      byId[key].polygon.setStyle({ weight: sel ? 5 : 3, fillOpacity: sel ? 0.2 : 0.08 });
      if (sel) byId[key].polygon.bringToFront();
    }
  }

  /** The registered loader: fetch when the filters changed (panning never changes the candidates). */
  function load(c) {
    ctx = c;
    if (c.noCategory) {
      data = { type: "FeatureCollection", features: [], summary: null };
      query = null;
      draw();
      if (ours()) renderList();
      return Promise.resolve(data);
    }
    const q = c.params({ lang: c.lang }).toString();
    if (q === query && data) return Promise.resolve(data);
    if (loading && loadingQuery === q) return loading;
    loadingQuery = q;
    const run = c.api("/projects?" + q, { key: "projects" }).then(function (fc) {
      data = fc;
      query = q;
      draw();
      if (ours()) renderList();
      return fc;
    }).catch(function (err) {
      if (!isAbort(err)) GG.status(err.message, true);
    }).finally(function () {
      if (loading === run) { loading = null; loadingQuery = null; }
    });
    loading = run;
    return run;
  }

  // ------------------------------------------------------------------ side panel: list

  function headline(s) {
    if (!s) return "";
    if (ctx.lang === "zh") return fmt(s.requests) + " 条诉求 → " + s.categories + " 类 → " + s.candidates + " 个项目候选";
    return fmt(s.requests) + " requests → " + s.categories + " categories → " + s.candidates + " project candidates";
  }

  function partsBar(p) {
    return el("span", { class: "gg-parts", "aria-hidden": "true" }, PARTS.map(function (k) {
      return el("span", { style: "width:" + Math.max(0, Math.min(100, Number(p["pts_" + k]) || 0)) + "%;background:" + PART_COLORS[k] });
    }));
  }

  function partsText(p) {
    return PARTS.map(function (k) { return T("pts_" + k) + " " + fmt(p["pts_" + k], 1); }).join(" · ");
  }

  function listItem(p) {
    const btn = el("button", { type: "button", class: "gg-proj-item", "data-id": p.id }, [
      el("span", { class: "gg-rank-n" }, String(p.rank)),
      el("span", { class: "gg-proj-main" }, [
        el("span", { class: "gg-proj-title" }, [
          el("span", { class: "gg-sw", style: "background:" + catColor(p.category) }), " ", catLabel(p),
          " · " + T("score") + " " + fmt(p.score, 1),
        ]),
        partsBar(p),
        el("span", { class: "gg-meta" }, partsText(p)),
        el("span", { class: "gg-meta" }, T("requests") + " " + fmt(p.requests) + (p.keywords.length ? " · " + p.keywords.join("、") : "")),
      ]),
    ]);
    btn.addEventListener("click", function () { openDetail(p.id, true); });
    return el("li", null, btn);
  }

  function partsLegend() {
    return el("div", { class: "gg-legend-inline" }, PARTS.map(function (k) {
      return el("span", null, [el("span", { class: "gg-sw", style: "background:" + PART_COLORS[k] }), " " + T("pts_" + k)]);
    }));
  }

  function renderList() {
    selectedId = null;
    if (data) select(null);
    const nodes = [el("h3", { [MARK]: "list" }, T("layer_projects"))];
    if (!data) {
      nodes.push(el("div", null, T("loading")));
    } else {
      if (data.summary) nodes.push(el("div", { class: "gg-meta" }, headline(data.summary)));
      if (!data.features.length) nodes.push(el("div", null, T("no_projects")));
      else {
        nodes.push(partsLegend());
        nodes.push(el("ol", { class: "gg-proj-list" }, data.features.map(function (f) { return listItem(f.properties); })));
      }
    }
    GG.showPanel(nodes);
  }

  // ------------------------------------------------------------------ side panel: one candidate

  function openDetail(id, fit) {
    const entry = byId[id];
    if (!entry) return;
    const f = entry.feature;
    const p = f.properties;
    select(id);
    const row = function (label, value) { return el("tr", null, [el("td", null, label), el("td", { class: "gg-num" }, value)]); };
    const table = el("table", null, [
      row(el("strong", null, T("score")), el("strong", null, fmt(p.score, 2))),
    ].concat(PARTS.map(function (k) { return row("· " + T("pts_" + k), fmt(p["pts_" + k], 2)); })).concat([
      row(T("requests"), fmt(p.requests)),
      row(T("issues"), fmt(p.issues)),
      row(T("households"), p.households === null || p.households === undefined ? "–" : fmt(p.households)),
      row(T("cells_n"), fmt(p.cells)),
      row(T("area_ha"), fmt(p.area_ha, 2)),
      row(T("trend"), ctx.lang === "zh" ? p.trend_zh : p.trend_en),
    ]));
    const msg = el("div", { role: "status" });
    const make = el("button", { type: "button", class: "gg-btn", id: "gg-make-zone" }, T("make_zone"));
    make.addEventListener("click", function () { promote(f, make, msg); });
    make.hidden = !!ctx.can && !ctx.can("zones:write");  // only who may save zones gets the button
    const back = el("button", { type: "button", class: "gg-btn" }, T("back_to_list"));
    back.addEventListener("click", renderList);
    const nodes = [
      el("h3", { [MARK]: id }, "#" + p.rank + " " + catLabel(p)),
      el("div", { class: "gg-meta" }, T("project") + " " + p.id),
      partsBar(p),
      table,
      el("div", { class: "gg-meta" }, T("grid") + "：" + (p.grid_names.join("、") || "–")),
      el("div", { class: "gg-meta" }, T("keywords") + "：" + (p.keywords.join("、") || "–")),
    ];
    if (p.texts.length) {
      nodes.push(el("h4", null, T("texts")));
      for (const t of p.texts) nodes.push(el("div", { class: "gg-req gg-text" }, t));
    }
    nodes.push(el("div", { class: "gg-actions" }, [make, back]), msg);
    GG.showPanel(nodes);
    if (fit) {
      // Keep the candidate clear of the side panel (right on wide screens, a bottom sheet on phones).
      const wide = window.matchMedia("(min-width: 601px)").matches;
      ctx.map.fitBounds(entry.polygon.getBounds(), { maxZoom: 16, paddingTopLeft: [20, 60], paddingBottomRight: wide ? [380, 20] : [20, 280] });
    }
  }

  /** Save the candidate's polygon as a priority zone, show it in the zones layer and open its panel. */
  async function promote(f, button, msg) {
    button.disabled = true;
    msg.className = "";
    msg.textContent = "";
    try {
      const body = await ctx.api("/zones", { method: "POST", body: Object.assign({ geometry: f.geometry }, f.properties.zone) });
      const zones = GG.layer("zones");
      if (!ctx.map.hasLayer(zones)) ctx.map.addLayer(zones);
      await GG.reloadZones();
      GG.status(T("zone_made"));
      GG.openZone(body.properties.id);
    } catch (err) {
      msg.className = "gg-error";
      msg.textContent = err.message;
      button.disabled = false;
    }
  }

  // ------------------------------------------------------------------ wiring

  GG.registerLayer("projects", load);

  GG.onReady(function (map) {
    const group = GG.layer("projects");
    ctx = GG.context("projects");
    map.on("overlayadd", function (e) { if (e.layer === group) renderList(); });
    map.on("overlayremove", function (e) {
      if (e.layer === group && ours()) document.getElementById("gg-panel-close").click();
    });
    const btn = document.getElementById("gg-projects-btn");
    if (btn) {
      btn.addEventListener("click", function () {
        if (map.hasLayer(group)) renderList();
        else map.addLayer(group);  // fires overlayadd → the list, and a refresh → the fetch
      });
    }
  });

  /** For tests and the console: the FeatureCollection drawn last (null before the first fetch). */
  GG.projects = function () { return data; };
})();
