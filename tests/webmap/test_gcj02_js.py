"""static/gcj02.js (the browser's display shift) agrees with gridgis/crs.py, run under node."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest

from gridgis.crs import gcj02_to_wgs84, wgs84_to_gcj02

pytestmark = pytest.mark.sqlite_only  # the web layer itself: once, on SQLite

JS = Path(__file__).resolve().parents[2] / "webmap" / "static" / "gcj02.js"
NODE = shutil.which("node")


@pytest.mark.skipif(NODE is None, reason="node is not installed (the browser test checks the same in Chromium)")
def test_gcj02_js_matches_python_forward_and_inverse():
    rng = np.random.default_rng(3)
    pts = np.c_[rng.uniform(73, 135, 200), rng.uniform(18, 53, 200)]
    pts = np.r_[pts, [[104.0657, 30.6573], [120.1551, 30.2741], [2.35, 48.85]]]
    script = (
        f"const c = require({json.dumps(str(JS))});"
        f"const pts = {json.dumps(pts.tolist())};"
        "console.log(JSON.stringify(pts.map(p => [c.wgs84ToGcj02(p[0], p[1]), c.gcj02ToWgs84(p[0], p[1])])));"
    )
    out = json.loads(subprocess.run([NODE, "-e", script], capture_output=True, text=True, check=True,
                                    timeout=30).stdout)
    fwd = np.array([o[0] for o in out])
    inv = np.array([o[1] for o in out])
    g_lng, g_lat = wgs84_to_gcj02(pts[:, 0], pts[:, 1])
    w_lng, w_lat = gcj02_to_wgs84(pts[:, 0], pts[:, 1])
    np.testing.assert_allclose(fwd, np.c_[g_lng, g_lat], atol=1e-9)
    np.testing.assert_allclose(inv, np.c_[w_lng, w_lat], atol=1e-9)
    np.testing.assert_allclose(fwd[-3], [104.06820730, 30.65487818], atol=5e-8)  # DOMAIN.md golden vectors
    np.testing.assert_allclose(fwd[-2], [120.15979448, 30.27177122], atol=5e-8)
    np.testing.assert_allclose(fwd[-1], [2.35, 48.85])  # outside China: no shift
