"""What bench/scale.py's sections share: memory figures of a process, a throwaway database per backend,
a run in a fresh process."""

from __future__ import annotations

import concurrent.futures as cf
import contextlib
import multiprocessing as mp
import resource
import shutil
import tempfile
from pathlib import Path


def peak_rss_mib() -> float:
    """This process's peak resident set so far (Linux reports KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


class HeapPeak:
    """The peak of this process's anonymous resident memory (``RssAnon`` in /proc/self/status, sampled every
    ``every`` seconds by a thread): what the process itself holds. ``ru_maxrss`` also counts the pages of
    the database file SQLite maps (``mmap_size``, up to 1 GiB), which grow with the archive but are the
    kernel's page cache, dropped under memory pressure, not memory an import needs."""

    def __init__(self, every: float = 0.01) -> None:
        import threading

        self.every, self.peak, self._stop = every, 0.0, threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    @staticmethod
    def now_mib() -> float:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("RssAnon:"):
                    return int(line.split()[1]) / 1024
        return 0.0

    def _run(self) -> None:
        while not self._stop.wait(self.every):
            self.peak = max(self.peak, self.now_mib())

    def take(self) -> float:
        """The peak since the last take (then starts again from the present level)."""
        out, self.peak = max(self.peak, self.now_mib()), self.now_mib()
        return out

    def close(self) -> None:
        self._stop.set()
        self._thread.join()


@contextlib.contextmanager
def store_database(args, backend: str, tag: str):
    """URL of a new, migrated database of ``backend`` (dropped or deleted afterwards); None when no
    PostgreSQL server is given (``--postgres-url`` or $GRIDGIS_TEST_POSTGRES_URL)."""
    import os

    from sqlalchemy import create_engine, text
    from sqlalchemy.engine import make_url

    from gridgis.storage.engine import make_engine
    from gridgis.storage.migrate import upgrade

    if backend == "sqlite":
        folder = Path(tempfile.mkdtemp(prefix="gridgis-scale-db-"))
        url, cleanup = f"sqlite:///{folder / f'{tag}.sqlite3'}", lambda: shutil.rmtree(folder, ignore_errors=True)
    else:
        server = args.postgres_url or os.environ.get("GRIDGIS_TEST_POSTGRES_URL")
        if not server:
            yield None
            return
        admin = create_engine(make_url(server).set(drivername="postgresql+psycopg"), isolation_level="AUTOCOMMIT")
        name = f"gridgis_scale_{os.getpid()}_{tag}"
        with admin.connect() as conn:
            conn.execute(text(f"CREATE DATABASE {name}"))
        url = admin.url.set(database=name).render_as_string(hide_password=False)

        def cleanup():
            with admin.connect() as conn:
                conn.execute(text(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
            admin.dispose()
    try:
        engine = make_engine(url)
        upgrade(engine)
        engine.dispose()
        yield url
    finally:
        cleanup()


def in_fresh_process_fn(fn, *args) -> dict:
    with cf.ProcessPoolExecutor(1, mp_context=mp.get_context("spawn")) as ex:
        return ex.submit(fn, *args).result()
