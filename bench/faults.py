"""Faults: `gridgis ingest` killed with SIGKILL at random points, and concurrent writers plus readers on SQLite.

(a) Kill: a file database with some data; then ``--kills`` times a subprocess ``gridgis ingest kN.csv``
    (``--rows`` rows) is killed with SIGKILL: every other time after a random delay, otherwise a random
    moment after a write transaction opened. Before each kill a probe tries to take the write lock, so the
    figures say how many kills hit an open write transaction. After each kill:
    ``PRAGMA integrity_check``, no batch left "running", and the killed file's rows are all there or none.
    Finally ONE normal ``gridgis ingest k0.csv k1.csv …`` resumes every killed file; each file's ids must
    then be stored exactly once.
(b) Concurrency: ``--writers`` processes (imports of distinct small files, zone create/edit/delete through
    gridgis.zones + the Store, request status changes through gridgis.workflow.change_status) and
    ``--readers`` processes (aggregates, request pages, summaries) for ``--seconds``. Every acknowledged
    write is counted and must be present at the end; any error reaching a caller is counted ("database is
    locked" separately); integrity_check must pass. Figures: writes/s, p50/p95 write latency, lock waits
    (transactions whose BEGIN IMMEDIATE waited > 1 ms, i.e. SQLite's busy handler retried), errors.

Prints figures; exits 1 when an invariant fails (lost or duplicated rows, integrity, errors), never on timing.

    .venv/bin/python bench/faults.py [--kills 20] [--rows 3000] [--writers 16] [--readers 8] [--seconds 60]

tests/storage/test_faults.py runs a reduced form of both in CI.
"""

from __future__ import annotations

import argparse
import json
import logging
import multiprocessing as mp
import os
import random
import shutil
import signal
import sqlite3
import subprocess
import sys
import tempfile
import time
import traceback
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
CONFIG = REPO / "sample_data" / "gridgis.toml"
_SCRIPT = Path(sys.executable).with_name("gridgis")  # the console script of this environment
GRIDGIS = [str(_SCRIPT)] if _SCRIPT.exists() else [sys.executable, "-c", "from gridgis.cli import main; main()"]
# Inside the sample community (sample_data/gridgis.toml service area) and in the past.
LNG0, LAT0 = 104.0505, 30.6300
TEXTS = ["锦城花园{b}栋电梯又坏了，老人上下楼不方便", "桂苑小区门口路灯不亮已经一周了",
         "芳华街夜市烧烤油烟太大，晚上噪音扰民", "锦城花园{b}栋楼道里有人飞线充电，很危险",
         "小区垃圾桶满了没人清运，有异味", "小区门口车辆乱停放，堵住消防通道"]


def write_requests(path: Path, ids: list[str], seed: int) -> None:
    """A CSV of valid requests with the given source ids (every row is stored by a normal import)."""
    rng = random.Random(seed)
    lines = ["工单编号,受理时间,诉求内容,经度,纬度,办理状态"]
    for i, rid in enumerate(ids):
        day, minute = 1 + rng.randrange(28), rng.randrange(24 * 60)
        text = TEXTS[i % len(TEXTS)].format(b=1 + i % 12) + f"（{rid}）"
        lines.append(f"{rid},2026-02-{day:02d} {minute // 60:02d}:{minute % 60:02d},{text},"
                     f"{LNG0 + rng.random() * 0.018:.6f},{LAT0 + rng.random() * 0.014:.6f},受理")
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")


def _env() -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith("GRIDGIS_")}
    env["PYTHONPATH"] = str(REPO) + os.pathsep + env.get("PYTHONPATH", "")
    return env


def _cli(url: str, *args: str, check: bool = True) -> subprocess.CompletedProcess:
    return subprocess.run([*GRIDGIS, "--config", str(CONFIG), "--database-url", url, *args], env=_env(),
                          capture_output=True, text=True, check=check)


def _integrity(db: Path) -> str:
    conn = sqlite3.connect(db, timeout=60)
    try:
        return "; ".join(r[0] for r in conn.execute("PRAGMA integrity_check"))
    finally:
        conn.close()


def _writer_busy(db: Path) -> bool:
    """True when another connection holds the write lock right now (the probe gives it back at once)."""
    conn = sqlite3.connect(db, timeout=0, isolation_level=None)
    try:
        conn.execute("BEGIN IMMEDIATE")
        conn.execute("ROLLBACK")
        return False
    except sqlite3.OperationalError:
        return True
    finally:
        conn.close()


def _longest_write_lock(db: Path, proc: subprocess.Popen) -> float:
    """Seconds of the longest stretch in which ``proc`` held the write lock (polled every 5 ms)."""
    longest, since = 0.0, None
    while proc.poll() is None:
        now = time.perf_counter()
        if _writer_busy(db):
            since = now if since is None else since
            longest = max(longest, now - since)
        else:
            since = None
        time.sleep(0.005)
    return longest


# -- (a) kill -9 ------------------------------------------------------------------------------------------

def kill_imports(workdir: Path, *, kills: int = 20, rows: int = 3000, seed: int = 7) -> dict:
    """Kill imports at random points, check after each, resume all at once; returns the figures."""
    rng = random.Random(seed)
    db = workdir / "kill.sqlite3"
    url = f"sqlite:///{db}"
    t0 = time.perf_counter()
    _cli(url, "db", "init")
    startup = time.perf_counter() - t0
    calib = workdir / "calib.csv"
    write_requests(calib, [f"C{i:05d}" for i in range(rows)], seed)
    t0 = time.perf_counter()
    proc = subprocess.Popen([*GRIDGIS, "--config", str(CONFIG), "--database-url", url, "ingest", str(calib)],
                            env=_env(), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    txn = _longest_write_lock(db, proc)  # how long the import holds the write lock: where to aim kills
    if proc.wait() != 0:
        raise RuntimeError("the calibration import failed")
    full = time.perf_counter() - t0
    out = {"kills": 0, "killed_in_write_txn": 0, "finished_before_kill": 0, "integrity_ok": 0,
           "partial_files": 0, "running_batches": 0, "startup_s": round(startup, 2), "import_s": round(full, 2),
           "write_txn_s": round(txn, 2),
           "rows_per_file": rows, "delays_s": []}
    files: dict[str, list[str]] = {}
    for k in range(kills):
        ids = [f"K{k:02d}-{i:05d}" for i in range(rows)]
        path = workdir / f"k{k}.csv"
        write_requests(path, ids, seed + k)
        files[f"k{k}"] = ids
        proc = subprocess.Popen([*GRIDGIS, "--config", str(CONFIG), "--database-url", url, "ingest", str(path)],
                                env=_env(), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        t_spawn = time.perf_counter()
        if k % 2 == 0:  # any moment: start-up, reading, writing, committing, exiting
            time.sleep(rng.uniform(0.3 * startup, full * 1.1))
        else:  # aimed: a random moment into the import's write transaction (held > 50 ms: not a short one)
            since = None
            while proc.poll() is None and time.perf_counter() - t_spawn < 10 * full:
                now = time.perf_counter()
                if _writer_busy(db):
                    since = now if since is None else since
                    if now - since >= min(0.05, 0.25 * txn):  # held a while: the import's write, not a probe
                        break
                else:
                    since = None
                time.sleep(0.005)
            time.sleep(rng.uniform(0, max(0.0, 0.8 * txn - 0.05)))
            while not _writer_busy(db) and proc.poll() is None:  # overshot (a faster run): next time it writes
                time.sleep(0.002)
        delay = time.perf_counter() - t_spawn
        busy = _writer_busy(db)
        proc.send_signal(signal.SIGKILL)
        code = proc.wait()
        out["kills"] += 1
        out["delays_s"].append(round(delay, 2))
        out["finished_before_kill"] += code == 0
        out["killed_in_write_txn"] += busy and code != 0
        ok = _integrity(db) == "ok"
        out["integrity_ok"] += ok
        conn = sqlite3.connect(db, timeout=60)
        try:
            stored = conn.execute("SELECT count(*) FROM requests WHERE source = ?", (f"k{k}",)).fetchone()[0]
            running = conn.execute("SELECT count(*) FROM ingest_batches WHERE status = 'running'").fetchone()[0]
        finally:
            conn.close()
        out["partial_files"] += stored not in (0, rows)
        out["running_batches"] = max(out["running_batches"], running)
    t0 = time.perf_counter()
    resumed = _cli(url, "ingest", *(str(workdir / f"{name}.csv") for name in files), check=False)
    out["resume_s"] = round(time.perf_counter() - t0, 2)
    out["resume_exit"] = resumed.returncode
    out["integrity_final"] = _integrity(db)
    conn = sqlite3.connect(db, timeout=60)
    try:
        lost = dup = 0
        for source, ids in files.items():
            got = [r[0] for r in conn.execute("SELECT source_id FROM requests WHERE source = ?", (source,))]
            lost += len(set(ids) - set(got))
            dup += len(got) - len(set(got)) + len(set(got) - set(ids))
        out["lost_rows"], out["duplicated_rows"] = lost, dup
        out["rows_expected"] = rows * (len(files) + 1)
        out["rows_stored"] = conn.execute("SELECT count(*) FROM requests").fetchone()[0]
        out["running_batches"] = max(out["running_batches"], conn.execute(
            "SELECT count(*) FROM ingest_batches WHERE status = 'running'").fetchone()[0])
    finally:
        conn.close()
    out["ok"] = (out["integrity_ok"] == out["kills"] and out["integrity_final"] == "ok" and not out["partial_files"]
                 and not out["running_batches"] and not lost and not dup and out["resume_exit"] == 0
                 and out["rows_stored"] == out["rows_expected"])
    return out


# -- (b) concurrent writers and readers ------------------------------------------------------------------

def _lock_wait_probe(store) -> tuple[list[float], list[float]]:
    """Seconds each BEGIN IMMEDIATE took (the wait for the write lock: SQLite's busy handler retrying), and
    seconds each write transaction then held the lock."""
    from sqlalchemy import event

    def before(conn, _cursor, statement, *_args) -> None:
        if statement.startswith("BEGIN IMMEDIATE"):
            conn.info["t_begin"] = time.perf_counter()

    def after(conn, _cursor, statement, *_args) -> None:
        if statement.startswith("BEGIN IMMEDIATE"):
            conn.info["t_locked"] = now = time.perf_counter()
            waits.append(now - conn.info.pop("t_begin"))

    def end(conn) -> None:
        if "t_locked" in conn.info:
            holds.append(time.perf_counter() - conn.info.pop("t_locked"))

    waits: list[float] = []
    holds: list[float] = []
    event.listen(store.engine, "before_cursor_execute", before)
    event.listen(store.engine, "after_cursor_execute", after)
    event.listen(store.engine, "commit", end)
    event.listen(store.engine, "rollback", end)
    return waits, holds


def _square(i: int, k: int) -> dict:
    x, y = LNG0 + 0.001 + (i % 8) * 0.002, LAT0 + 0.001 + (k % 6) * 0.002
    ring = [[x, y], [x + 0.001, y], [x + 0.001, y + 0.001], [x, y + 0.001], [x, y]]
    return {"type": "Polygon", "coordinates": [ring]}


class _RetryCount(logging.Handler):
    """Counts the engine's "write lock still held … retry" warnings: BEGIN IMMEDIATE attempts after a full
    busy timeout (the engine retries them; no caller sees an error)."""

    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.n = 0

    def emit(self, record: logging.LogRecord) -> None:
        self.n += "retry" in record.getMessage()


def _worker(role: str, index: int, url: str, workdir: str, seconds: float, status_ids: list[str],
            ready, start, results) -> None:
    """One process: ``role`` is import | zones | status | read. Puts its acknowledged writes on ``results``."""
    try:
        from gridgis.config import load_settings
        from gridgis.ingest.pipeline import IngestContext
        from gridgis.storage import open_store

        settings = load_settings(CONFIG, env={}, database_url=url)
        store = open_store(settings)
        waits, holds = _lock_wait_probe(store)
        retries = _RetryCount()
        logging.getLogger("gridgis.storage.engine").addHandler(retries)
        ctx = IngestContext.build(settings, store) if role == "import" else None
        import gridgis.heatmap.aggregate  # noqa: F401 - imports before the clock starts
        import gridgis.workflow  # noqa: F401
        import gridgis.zones  # noqa: F401
        lat: list[float] = []
        errors: list[str] = []
        ops = 0
        rng = random.Random(index)
        state: dict = {}
        if role == "read":  # warm caches like a running server's
            _one_op(role, index, 0, rng, store, settings, ctx, Path(workdir), status_ids, state)
        acks: list = []
        waits.clear()
        holds.clear()
        ready.put(index)
        start.wait()
        t_start = time.perf_counter()
        t_end = t_start + seconds
        k = 0
        while time.perf_counter() < t_end:
            t0 = time.perf_counter()
            try:
                ack = _one_op(role, index, k, rng, store, settings, ctx, Path(workdir), status_ids, state)
                if ack is not None:
                    acks.append(ack)
                    lat.append(time.perf_counter() - t0)
                ops += 1
            except Exception as exc:  # noqa: BLE001 - every error reaching a caller is counted
                errors.append(f"{type(exc).__name__}: {exc}"[:300])
            k += 1
        elapsed = time.perf_counter() - t_start
        store.close()
        results.put({"role": role, "index": index, "acks": acks, "latency": lat, "errors": errors, "ops": ops,
                     "waits": list(waits), "holds": list(holds), "elapsed": elapsed, "retries": retries.n})
    except Exception:  # noqa: BLE001
        results.put({"role": role, "index": index, "acks": [], "latency": [], "ops": 0, "waits": [], "holds": [],
                     "elapsed": 0, "retries": 0,
                     "errors": ["worker crashed: " + traceback.format_exc()[-600:]]})


def _one_op(role, index, k, rng, store, settings, ctx, workdir, status_ids, state):
    """One write (returns its acknowledgement) or one read (returns None)."""
    if role == "import":
        from gridgis.ingest.pipeline import IngestOptions, ingest_file

        source = f"c{index}x{k}"
        ids = [f"{source}-{i}" for i in range(20)]
        path = workdir / f"{source}.csv"
        write_requests(path, ids, index * 100_000 + k)
        report = ingest_file(path, settings, store, IngestOptions(source=source), ctx=ctx)
        path.unlink()
        return ["import", source, report.stored]
    if role == "zones":
        from gridgis.zones import validate_zone

        mine = state.setdefault("zones", {})  # id -> version
        codes = state.get("codes") or set(store.categories_frame()["code"])
        state["codes"] = codes
        live = [z for z, v in mine.items() if v > 0]
        if not live or rng.random() < 0.3:
            draft = validate_zone({"name": f"w{index}-{k}", "category": "ENV", "priority": 1 + k % 5,
                                   "geometry": _square(index, k)}, codes)
            row = store.insert_zone(draft.to_record(), changed_by=f"w{index}")
            mine[row["id"]] = row["version"]
            return ["zone", row["id"], row["version"], False]
        zid = rng.choice(live)
        if rng.random() < 0.1:
            row = store.delete_zone(zid, changed_by=f"w{index}")
            mine[zid] = -row["version"]
            return ["zone", zid, row["version"], True]
        draft = validate_zone({"priority": 1 + k % 5, "notes": f"edit {k}"}, codes, partial=True)
        row = store.update_zone(zid, draft.to_record(), changed_by=f"w{index}", expected_version=mine[zid])
        mine[zid] = row["version"]
        return ["zone", zid, row["version"], False]
    if role == "status":
        from gridgis import workflow

        current = state.setdefault("status", {})
        rid = rng.choice(status_ids)
        now = current.get(rid, "new")
        nxt = [s for s in workflow.allowed_next(now) if s not in ("invalid", "duplicate")]
        if not nxt:
            return None
        event = workflow.change_status(store, rid, rng.choice(nxt), actor=f"w{index}", note=f"步骤 {k}")
        current[rid] = event.to_status
        return ["status", rid, event.id, event.to_status]
    # readers
    from gridgis.heatmap.aggregate import cell_totals

    which = k % 3
    if which == 0:
        cell_totals(store, 9, tz=settings.timezone)
    elif which == 1:
        store.requests_frame(columns=["id", "status", "created_at"], limit=200, offset=(k * 37) % 1000)
    else:
        store.summary()
    return None


def concurrent_writes(workdir: Path, *, writers: int = 16, readers: int = 8, seconds: float = 60,
                      base_rows: int = 2000) -> dict:
    """Writers and readers in separate processes on one SQLite file; returns the figures and the checks."""
    from gridgis.config import load_settings
    from gridgis.demo import sync_categories
    from gridgis.ingest.pipeline import IngestOptions, ingest_file
    from gridgis.storage import init_db

    db = workdir / "concurrent.sqlite3"
    settings = load_settings(CONFIG, env={}, database_url=f"sqlite:///{db}")
    url = settings.database_url
    store = init_db(settings)
    sync_categories(store, settings)
    base = workdir / "base.csv"
    base_ids = [f"B{i:05d}" for i in range(base_rows)]
    write_requests(base, base_ids, 1)
    ingest_file(base, settings, store, IngestOptions(source="base"))
    store.close()  # nothing of the parent's engine crosses into the workers
    roles = [("import", "zones", "status")[i % 3] for i in range(writers)] + ["read"] * readers
    n_status = max(1, roles.count("status"))
    status_of = {i: [f"base:{r}" for r in base_ids[j::n_status]] for j, i in
                 enumerate(i for i, r in enumerate(roles) if r == "status")}
    mpx = mp.get_context("spawn")  # fresh interpreters: no engine, thread or lock crosses a fork
    ready, results, start = mpx.Queue(), mpx.Queue(), mpx.Event()
    procs = [mpx.Process(target=_worker, args=(role, i, url, str(workdir), seconds, status_of.get(i, []),
                                               ready, start, results)) for i, role in enumerate(roles)]
    for p in procs:
        p.start()
    for _ in procs:
        ready.get(timeout=300)
    start.set()
    outs = [results.get(timeout=seconds + 300) for _ in procs]
    for p in procs:
        p.join(60)
    wall = max(o["elapsed"] for o in outs) or seconds  # the last operation started before the deadline ends after it
    return _check_concurrent(db, outs, wall, writers, readers)


def _ms(sorted_values: list[float], q: float) -> float | None:
    if not sorted_values:
        return None
    return round(sorted_values[min(len(sorted_values) - 1, int(q * len(sorted_values)))] * 1000, 1)


def _check_concurrent(db: Path, outs: list[dict], wall: float, writers: int, readers: int) -> dict:
    acks = [a for o in outs for a in o["acks"]]
    errors = [e for o in outs for e in o["errors"]]
    lat = sorted(x for o in outs if o["role"] != "read" for x in o["latency"])
    waits = [w for o in outs if o["role"] != "read" for w in o["waits"]]
    conn = sqlite3.connect(db, timeout=60)
    missing = 0
    try:
        imports = [a for a in acks if a[0] == "import"]
        for _kind, source, n in imports:
            missing += n - conn.execute("SELECT count(*) FROM requests WHERE source = ?", (source,)).fetchone()[0]
        last_zone: dict[int, tuple[int, bool]] = {}
        for _kind, zid, version, deleted in (a for a in acks if a[0] == "zone"):
            last_zone[zid] = (version, deleted)
        for zid, (version, deleted) in last_zone.items():
            row = conn.execute("SELECT version, deleted_at IS NOT NULL FROM zones WHERE id = ?", (zid,)).fetchone()
            missing += row is None or tuple(row) != (version, int(deleted))
            hist = conn.execute("SELECT count(*) FROM zone_history WHERE zone_id = ?", (zid,)).fetchone()[0]
            missing += hist != version  # one history row per acknowledged create/edit/delete
        statuses = [a for a in acks if a[0] == "status"]
        final: dict[str, str] = {}
        for _kind, rid, event_id, to in statuses:
            got = conn.execute("SELECT to_status FROM request_events WHERE id = ? AND request_id = ?",
                               (event_id, rid)).fetchone()
            missing += got is None or got[0] != to
            final[rid] = to
        for rid, to in final.items():
            missing += conn.execute("SELECT status FROM requests WHERE id = ?", (rid,)).fetchone()[0] != to
        integrity = "; ".join(r[0] for r in conn.execute("PRAGMA integrity_check"))
    finally:
        conn.close()
    n_writes = len(acks)
    out = {
        "writers": writers, "readers": readers, "seconds": round(wall, 1),
        "writes": n_writes, "writes_per_s": round(n_writes / wall, 1),
        "imports": len(imports), "zone_writes": len(acks) - len(imports) - len(statuses),
        "status_changes": len(statuses),
        "reads": sum(o["ops"] for o in outs if o["role"] == "read"),
        "write_latency_p50_ms": _ms(lat, 0.50), "write_latency_p95_ms": _ms(lat, 0.95),
        "lock_waits": sum(w > 0.001 for w in waits), "lock_wait_max_ms": round(max(waits, default=0) * 1000, 1),
        "begin_retries": sum(o["retries"] for o in outs),  # BEGIN IMMEDIATE re-tried after a whole busy timeout
        "caller_retries": 0,  # no caller retries anything: the engine waits (busy handler, then BEGIN retries)
        "errors": len(errors), "locked_errors": sum("locked" in e for e in errors), "error_samples": errors[:3],
        "missing_acknowledged": missing, "integrity": integrity,
    }
    by_role = {}
    for role in ("import", "zones", "status"):
        r_lat = sorted(x for o in outs if o["role"] == role for x in o["latency"])
        r_hold = sorted(x for o in outs if o["role"] == role for x in o["holds"])
        if r_lat:
            by_role[role] = (len(r_lat), _ms(r_lat, 0.5), _ms(r_lat, 0.95), _ms(r_hold, 0.5), _ms(r_hold, 1.0))
    out["by_role"] = by_role  # role: (writes, latency p50, p95 ms, lock held p50, max ms)
    out["ok"] = not errors and not missing and integrity == "ok" and n_writes > 0
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--kills", type=int, default=20)
    ap.add_argument("--rows", type=int, default=3000)
    ap.add_argument("--writers", type=int, default=16)
    ap.add_argument("--readers", type=int, default=8)
    ap.add_argument("--seconds", type=float, default=60)
    ap.add_argument("--only", choices=["kill", "concurrent"])
    args = ap.parse_args()
    work = Path(tempfile.mkdtemp(prefix="gridgis-faults-"))
    ok = True
    try:
        if args.only != "concurrent":
            k = kill_imports(work, kills=args.kills, rows=args.rows)
            ok &= k["ok"]
            print(f"kill -9: {k['kills']} kills of `gridgis ingest` ({k['rows_per_file']} rows; startup "
                  f"{k['startup_s']} s, whole import {k['import_s']} s, write transaction {k['write_txn_s']} s) — "
                  f"{k['killed_in_write_txn']} inside the "
                  f"write transaction, {k['finished_before_kill']} finished before the kill")
            print(f"  integrity_check ok after {k['integrity_ok']}/{k['kills']} kills; partially stored files "
                  f"{k['partial_files']}; batches left 'running' {k['running_batches']}")
            print(f"  resume (one `gridgis ingest` of all killed files, {k['resume_s']} s): lost rows "
                  f"{k['lost_rows']}, duplicated rows {k['duplicated_rows']}, stored {k['rows_stored']}/"
                  f"{k['rows_expected']}, final integrity {k['integrity_final']}")
        if args.only != "kill":
            c = concurrent_writes(work, writers=args.writers, readers=args.readers, seconds=args.seconds)
            ok &= c["ok"]
            print(f"concurrency: {c['writers']} writers + {c['readers']} readers for {c['seconds']} s — "
                  f"{c['writes']} acknowledged writes ({c['imports']} imports, {c['zone_writes']} zone writes, "
                  f"{c['status_changes']} status changes), {c['reads']} reads")
            print(f"  writes/s {c['writes_per_s']}; write latency p50 {c['write_latency_p50_ms']} ms, p95 "
                  f"{c['write_latency_p95_ms']} ms; lock waits {c['lock_waits']} (max {c['lock_wait_max_ms']} ms); "
                  f"BEGIN retries after a full busy timeout {c['begin_retries']}; caller retries {c['caller_retries']}")
            print("  by writer kind (writes, latency p50/p95 ms, write lock held p50/max ms): "
                  + "; ".join(f"{k} {v}" for k, v in c["by_role"].items()))
            print(f"  errors reaching callers {c['errors']} (database is locked: {c['locked_errors']}); "
                  f"acknowledged writes missing {c['missing_acknowledged']}; integrity {c['integrity']}")
            for e in c["error_samples"]:
                print(f"  error: {e}")
        print("faults:", "OK" if ok else "FAILED", json.dumps({"workdir": str(work)}))
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
