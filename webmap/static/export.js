/* gridgis map page: "导出当前视图 / Export this view" — downloads what the map shows, as GeoJSON or CSV (ES2017).
 *
 * Reads the current filters, resolution and view box from gridgis.js (GridGIS.context / GridGIS.state),
 * so the file holds exactly the hexagons of the current metric's layer (cells, hot spots or trends)
 * or the requests in view, through /api/export/<kind>.<format> (privacy rules applied by the server:
 * cells below k requests left out, no names or phones, points at cell centres).
 */
(function () {
  "use strict";

  const GG = window.GridGIS;
  const KIND_OF_METRIC = { n: "cells", rate: "cells", gi: "hotspots", trend: "trends" };
  const TEXT = {
    zh: { title: "导出当前视图", layer: "当前图层", requests: "诉求点（脱敏）", go: "下载" },
    en: { title: "Export this view", layer: "Current layer", requests: "Requests (masked)", go: "Download" },
  };
  let apiBase = "/api";
  let lang = "zh";

  // Keep the API base and language the page configures gridgis.js with.
  const configure = GG.configure;
  GG.configure = function (config) {
    if (config && config.api) apiBase = config.api;
    if (config && config.lang) lang = config.lang === "en" ? "en" : "zh";
    return configure.apply(GG, arguments);
  };

  /** The download URL for the current view: what ("layer" or "requests") in format ("geojson" or "csv"). */
  function exportUrl(what, format) {
    const ctx = GG.context("demand");
    const state = GG.state();
    const kind = what === "requests" ? "requests" : KIND_OF_METRIC[state.m] || "cells";
    const p = ctx.params({ res: ctx.res, bbox: ctx.bbox });
    return apiBase + "/export/" + kind + "." + format + "?" + p.toString();
  }

  function control() {
    const t = TEXT[lang];
    const C = L.Control.extend({
      options: { position: "topright" },
      onAdd: function () {
        const box = L.DomUtil.create("div", "leaflet-bar gg-export");
        box.id = "gg-export";
        box.style.background = "#fff";
        box.style.padding = "4px 6px";
        const title = document.createElement("strong");
        title.textContent = t.title;
        const what = document.createElement("select");
        what.id = "gg-export-what";
        for (const [v, label] of [["layer", t.layer], ["requests", t.requests]]) {
          const o = document.createElement("option");
          o.value = v;
          o.textContent = label;
          what.appendChild(o);
        }
        const fmt = document.createElement("select");
        fmt.id = "gg-export-format";
        for (const v of ["geojson", "csv"]) {
          const o = document.createElement("option");
          o.value = v;
          o.textContent = v === "geojson" ? "GeoJSON" : "CSV";
          fmt.appendChild(o);
        }
        const go = document.createElement("a");
        go.id = "gg-export-go";
        go.href = "#";
        go.textContent = t.go;
        go.setAttribute("role", "button");
        go.setAttribute("download", "");
        go.addEventListener("click", function () {
          // A real link click: the browser downloads the attachment without leaving the map.
          go.href = exportUrl(what.value, fmt.value);
        });
        for (const node of [title, document.createElement("br"), what, fmt, go]) box.appendChild(node);
        L.DomEvent.disableClickPropagation(box);
        return box;
      },
    });
    return new C();
  }

  GG.exportUrl = exportUrl;
  GG.onReady(function (map) { control().addTo(map); });
})();
