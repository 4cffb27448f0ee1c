"""Attack: the whole payload corpus against every parameter of every route, then schemathesis at length.

The long form of tests/webmap/test_payload_corpora.py and tests/webmap/test_schemathesis.py, over the
web tests' fixture database (~600 requests, one user per role) in a fresh SQLite file, or a fresh
PostgreSQL database with ``--pg-url``:

1. every payload of tests/webmap/corpora/attack_payloads.json (XSS, SQL injection, path traversal,
   oversized values, odd JSON values, raw bytes) in every parameter of every route — path parameters,
   the query parameters each route reads, the Authorization header, JSON and form fields — as an admin
   session (with the CSRF header), an admin-scope API token and an anonymous caller;
2. every malformed body to every route with a body, and a body over MAX_CONTENT_LENGTH (413);
3. schemathesis on /api/openapi.json, ``--examples`` valid and invalid requests per operation.

Prints requests sent, 5xx answers, leaked fields (SQL error text, stack traces, secrets, reporter data
to anonymous callers, payloads echoed raw in HTML, off-site redirects), changed-state count (a refused
request that changed the database), error-shape problems, and each finding. Exits 1 when any of them
is not 0 (an invariant, as in bench/faults.py), never on timing.

    .venv/bin/python bench/attack.py [--per-family 0] [--callers admin,admin_token,anonymous]
                                     [--examples 100] [--pg-url postgresql+psycopg://…/postgres]
"""

from __future__ import annotations

import argparse
import logging
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from gridgis.storage.store import Store  # noqa: E402
from tests.webmap.conftest import GRID_A, AuthClient, log_in, make_settings, seed_web_db  # noqa: E402
from tests.webmap.corpora import harness as H  # noqa: E402
from tests.webmap.corpora import schema_fuzz  # noqa: E402
from webmap import create_app  # noqa: E402


def corpus_attack(attack: H.Attack, targets: list[H.Target], corpus: H.Corpus, callers: list[str],
                  per_family: int) -> None:
    t0 = time.perf_counter()
    for caller in callers:
        for i, t in enumerate(targets):
            for param in t.params_for(caller):
                key = f"{caller}|{t.key}|{param.where}:{param.name}"
                payloads = corpus.all() if per_family == 0 else corpus.sample(key, per_family)
                attack.run(caller, t, param, payloads)
            if (i + 1) % 10 == 0:
                print(f"  {caller}: {i + 1}/{len(targets)} targets, {sum(attack.sent.values())} requests, "
                      f"{len(attack.findings)} findings, {time.perf_counter() - t0:.0f} s", flush=True)


def body_attack(attack: H.Attack, targets: list[H.Target], corpus: H.Corpus, callers: list[str],
                limit: int) -> None:
    huge = [(b'{"name": "' + b"A" * limit + b'"}', "application/json"),
            (b"name=" + b"A" * (limit + 1), "application/x-www-form-urlencoded")]
    for caller in callers:
        for t in targets:
            if t.body is None:
                continue
            before = H.state_digest(attack.store)
            for body in corpus.bodies:
                resp = attack.send_raw(caller, t, body.data, body.content_type)
                attack.check(caller, t, H.Param("body", "body"), body, resp, (0, ""))
                after = H.state_digest(attack.store)
                if resp.status_code >= 400 and after != before:
                    attack.record("state_change", caller, t, "body", body.label, resp, "a refused body changed it")
                before = after
            for data, media in huge:
                resp = attack.send_raw(caller, t, data, media)
                if resp.status_code != 413 or H.error_shape_problem(resp, H.request_kwargs(t)["path"]):
                    attack.record("error_shape", caller, t, "body", f"{len(data)} bytes {media}", resp,
                                  f"not a 413 in the error shape: {resp.get_data()[:120]!r}")


def schemathesis_attack(app, store, examples: int) -> tuple[int, list[str]]:
    from gridgis import tokens

    secret, _ = tokens.create_token(store, "bench-schemathesis", ["admin"])
    headers = {"Authorization": f"Bearer {secret}"}
    df = store.requests_frame(["id", "grid_code", "cell_9"])
    row = df[df["grid_code"] == GRID_A[0]].iloc[0]
    zone = app.test_client().post("/api/zones", headers=headers, json=H.zone_body("bench-schemathesis"))
    real = {"request_id": row["id"], "h3": format(int(row["cell_9"]), "x"), "zone_id": zone.get_json()["id"],
            "name": "cells.csv"}
    schema = schema_fuzz.load(app)
    sent, failures = 0, []
    for method, path in schema_fuzz.operations():
        t0 = time.perf_counter()
        try:
            sent += schema_fuzz.fuzz(schema, method, path, headers, examples, real)
        except Exception as exc:  # a failed check is a finding to print, not a crash
            failures.append(f"{method} {path}: {str(exc)[:2000]}")
        print(f"  schemathesis {method} {path}: {time.perf_counter() - t0:.1f} s", flush=True)
    return sent, failures


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--per-family", type=int, default=0, help="payloads of each family per parameter (0: all)")
    ap.add_argument("--callers", default=",".join(H.CALLERS))
    ap.add_argument("--examples", type=int, default=100, help="schemathesis examples per operation and mode")
    ap.add_argument("--pg-url", help="a PostgreSQL maintenance URL: run on a fresh database there, not SQLite")
    args = ap.parse_args()
    logging.basicConfig(level=logging.CRITICAL)  # the app logs every refused and failed request

    pg = url = None
    with tempfile.TemporaryDirectory(prefix="gridgis-attack-") as tmp:
        if args.pg_url:
            from tests.pg import PostgresServer

            pg = PostgresServer(args.pg_url)
            url = pg.create()
            settings = make_settings(None, database_url=url)
        else:
            settings = make_settings(Path(tmp) / "gridgis.sqlite3")
        try:
            seed_web_db(settings)
            store = Store.from_url(settings.database_url)
            app = create_app(settings, store)
            world = H.make_world(app, store, GRID_A[0])
            clients = H.make_clients(app, AuthClient, log_in)
            attack = H.Attack(app, store, world, clients, secrets=(app.config["SECRET_KEY"], world.admin_token))
            targets = H.build_targets(app, world)
            corpus = H.load_corpus()
            callers = [c for c in args.callers.split(",") if c]
            params = sum(len(t.params) for t in targets)
            print(f"attack: {len(targets)} targets ({len(H.uncovered(app, targets))} routes uncovered), "
                  f"{params} parameters, {len(corpus.all())} payloads + {len(corpus.bodies)} bodies, "
                  f"callers {callers}, backend {'postgresql' if pg else 'sqlite'}")
            t0 = time.perf_counter()
            corpus_attack(attack, targets, corpus, callers, args.per_family)
            t_corpus = time.perf_counter() - t0
            body_attack(attack, targets, corpus, callers, app.config["MAX_CONTENT_LENGTH"])
            t_bodies = time.perf_counter() - t0 - t_corpus
            st_sent, st_failures = schemathesis_attack(app, store, args.examples) if args.examples else (0, [])
            t_st = time.perf_counter() - t0 - t_corpus - t_bodies
            store.close()
        finally:
            if pg is not None:
                pg.drop(url)

    s = attack.summary()
    print(f"\ncorpus + bodies: {s['requests']} requests sent ({s['by_caller']}) in {t_corpus + t_bodies:.0f} s "
          f"({(t_corpus + t_bodies) / max(s['requests'], 1) * 1000:.1f} ms each); statuses {s['statuses']}")
    print(f"schemathesis: {st_sent} generated requests in {t_st:.0f} s, {len(st_failures)} operations failing")
    print(f"5xx: {s['server_errors']}  leaked fields: {s['leaks']}  changed state: {s['state_changes']}  "
          f"error-shape problems: {s['shape']}  schemathesis failures: {len(st_failures)}")
    by_kind = Counter()
    for f in attack.findings:
        by_kind[(f.kind, f.target, f.param)] += 1
        if by_kind[(f.kind, f.target, f.param)] <= 2:
            print(f"  {f}")
    for failure in st_failures:
        print(f"  [schemathesis] {failure}")
    return 1 if attack.findings or st_failures else 0


if __name__ == "__main__":
    sys.exit(main())
