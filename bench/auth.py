"""Costs of authentication: Argon2id logins, and what the access check adds to every API request.

Prints figures (no assertions):
- Argon2id hash and verify (argon2-cffi defaults, RFC 9106 low-memory: t=3, m=64 MiB, p=4): the time
  of one login;
- a failed login for a known user vs an unknown one (verified against a dummy hash): the two should
  take about the same time, so timing does not tell which user names exist;
- GET /api/categories (the cheapest data route) through Flask's test client: anonymous on a
  ``public_aggregates`` app (the rule check alone) as the baseline, then a session user (+ the user row,
  epoch and expiry check) and a Bearer token (+ the token row) — medians and ratios in the same run.

    .venv/bin/python bench/auth.py [--requests 400]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from gridgis import accounts, tokens  # noqa: E402
from gridgis.config import load_settings  # noqa: E402
from gridgis.demo import sync_categories  # noqa: E402
from gridgis.errors import PermissionDeniedError  # noqa: E402
from gridgis.storage import init_db  # noqa: E402
from webmap import create_app  # noqa: E402

PASSWORD = "bench-password-1"


def median_ms(fn, n: int) -> float:
    times = []
    for _ in range(n):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times) * 1e3


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--requests", type=int, default=400, help="requests per variant")
    a = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        settings = load_settings(env={}, database_url=f"sqlite:///{tmp}/auth.sqlite3", base_map="blank")
        store = init_db(settings)
        sync_categories(store, settings)
        ph = accounts.hasher()
        h = ph.hash(PASSWORD)
        print(f"argon2id hash / verify      : {median_ms(lambda: ph.hash(PASSWORD), 7):.0f} ms / "
              f"{median_ms(lambda: ph.verify(h, PASSWORD), 7):.0f} ms (median of 7; {ph.memory_cost // 1024} MiB, "
              f"t={ph.time_cost}, p={ph.parallelism})")
        accounts.create_user(store, "sec", "secretary", password=PASSWORD)
        secret, _ = tokens.create_token(store, "bench", ["aggregates"])

        def fail(name: str):
            def run():
                try:
                    accounts.authenticate(store, name, "wrong-password", f"10.0.{time.perf_counter_ns() % 250}.1",
                                          now=int(time.time()) - 10_000)  # outside any throttling window
                except PermissionDeniedError:
                    pass
            return run

        fail("nobody")()  # build the dummy hash once
        known, unknown = median_ms(fail("sec"), 7), median_ms(fail("nobody"), 7)
        print(f"failed login known / unknown: {known:.0f} ms / {unknown:.0f} ms (ratio {unknown / known:.2f})")

        public = create_app(settings.with_overrides(public_aggregates=True), store).test_client()
        app = create_app(settings, store)
        session = app.test_client()
        user = store.user_by_name("sec")
        with session.session_transaction() as s:
            s["uid"], s["ep"], s["iat"] = user["id"], user["session_epoch"], int(time.time())
        bearer = app.test_client()
        auth = {"Authorization": f"Bearer {secret}"}
        variants = {
            "anonymous (public_aggregates)": lambda: public.get("/api/categories"),
            "session user": lambda: session.get("/api/categories"),
            "Bearer token": lambda: bearer.get("/api/categories", headers=auth),
        }
        for fn in variants.values():  # warm up, and check each variant is served
            assert fn().status_code == 200
        base = None
        for name, fn in variants.items():
            ms = median_ms(fn, a.requests)
            base = base or ms
            print(f"GET /api/categories {name:<30}: {ms:.2f} ms median ({ms / base:.2f}x)")
        store.close()


if __name__ == "__main__":
    main()
