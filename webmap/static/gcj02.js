/* GCJ-02 display shift for AMap base maps: forward WGS84 → GCJ-02 and its iterative inverse.
 *
 * The same public formula as gridgis/crs.py (Krasovsky ellipsoid a = 6378245.0,
 * ee = 0.00669342162296594323, polynomial + sine terms in (lng − 105, lat − 35)). GCJ-02 has no
 * closed-form inverse: a one-step inverse errs by up to ~5 m, so we iterate w ← w + (g − f(w)) to
 * < 1e-10° (≈ 0.01 mm). Used in the browser (window.GridGISCRS) and, in tests, from node.
 * Argument and result order is (lng, lat), as in GeoJSON.
 */
(function (root) {
  "use strict";
  const A = 6378245.0;
  const EE = 0.00669342162296594323;
  const PI = Math.PI;

  function outOfChina(lng, lat) {
    return lng < 72.004 || lng > 137.8347 || lat < 0.8293 || lat > 55.8271;
  }

  function delta(lng, lat) {
    const x = lng - 105.0;
    const y = lat - 35.0;
    const sq = Math.sqrt(Math.abs(x));
    const s6x = 20.0 * Math.sin(6.0 * x * PI) + 20.0 * Math.sin(2.0 * x * PI);
    let dlat = -100.0 + 2.0 * x + 3.0 * y + 0.2 * y * y + 0.1 * x * y + 0.2 * sq;
    dlat += s6x * 2.0 / 3.0;
    dlat += (20.0 * Math.sin(y * PI) + 40.0 * Math.sin(y / 3.0 * PI)) * 2.0 / 3.0;
    dlat += (160.0 * Math.sin(y / 12.0 * PI) + 320 * Math.sin(y * PI / 30.0)) * 2.0 / 3.0;
    let dlng = 300.0 + x + 2.0 * y + 0.1 * x * x + 0.1 * x * y + 0.1 * sq;
    dlng += s6x * 2.0 / 3.0;
    dlng += (20.0 * Math.sin(x * PI) + 40.0 * Math.sin(x / 3.0 * PI)) * 2.0 / 3.0;
    dlng += (150.0 * Math.sin(x / 12.0 * PI) + 300.0 * Math.sin(x / 30.0 * PI)) * 2.0 / 3.0;
    const radlat = lat / 180.0 * PI;
    const magic = 1 - EE * Math.sin(radlat) * Math.sin(radlat);
    const sqrtmagic = Math.sqrt(magic);
    dlat = (dlat * 180.0) / ((A * (1 - EE)) / (magic * sqrtmagic) * PI);
    dlng = (dlng * 180.0) / (A / sqrtmagic * Math.cos(radlat) * PI);
    return [dlng, dlat];
  }

  function wgs84ToGcj02(lng, lat) {
    if (outOfChina(lng, lat)) return [lng, lat];
    const d = delta(lng, lat);
    return [lng + d[0], lat + d[1]];
  }

  function gcj02ToWgs84(lng, lat, tol, maxIter) {
    tol = tol || 1e-10;
    maxIter = maxIter || 30;
    let wLng = lng;
    let wLat = lat;
    for (let i = 0; i < maxIter; i++) {
      const f = wgs84ToGcj02(wLng, wLat);
      const eLng = lng - f[0];
      const eLat = lat - f[1];
      wLng += eLng;
      wLat += eLat;
      if (!(Math.max(Math.abs(eLng), Math.abs(eLat)) > tol)) break;
    }
    return [wLng, wLat];
  }

  const api = { wgs84ToGcj02: wgs84ToGcj02, gcj02ToWgs84: gcj02ToWgs84, outOfChina: outOfChina };
  if (typeof module !== "undefined" && module.exports) {
    module.exports = api;
  } else {
    root.GridGISCRS = api;
  }
})(typeof self !== "undefined" ? self : this);
