"""Reader fuzzing at length: the hypothesis properties of tests/ingest/test_reader_fuzz.py with N random examples
per test (CI runs a small derandomized budget), then the examples tried per reader and their outcome.

Outcomes: "stored" / "no rows stored" (a report, rejects per row) or the InvalidInputError subclass raised;
any other exception fails the run (exit 1) with hypothesis' shrunk example.

    .venv/bin/python bench/fuzz.py [--examples 1000] [-k csv]
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from collections import defaultdict
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--examples", type=int, default=1000, help="random examples per fuzz test (default 1000)")
    ap.add_argument("-k", dest="select", default="", help="pytest -k expression, e.g. csv or 'xlsx or geojson'")
    args = ap.parse_args()
    os.environ["GRIDGIS_FUZZ_EXAMPLES"] = str(args.examples)
    os.chdir(REPO)
    sys.path.insert(0, str(REPO))
    import pytest

    t0 = time.perf_counter()
    argv = ["tests/ingest/test_reader_fuzz.py", "-q", "-p", "no:cacheprovider"]
    code = pytest.main(argv + (["-k", args.select] if args.select else []))
    seconds = time.perf_counter() - t0
    module = sys.modules.get("tests.ingest.test_reader_fuzz")
    stats = module.STATS if module is not None else {}
    per_reader: dict[str, dict[str, int]] = defaultdict(dict)
    for (reader, outcome), n in sorted(stats.items()):
        per_reader[reader][outcome] = n
    total = sum(stats.values())
    print(f"reader fuzzing: {total:,} files tried in {seconds:.0f} s ({args.examples} random examples per test)")
    for reader, outcomes in per_reader.items():
        detail = ", ".join(f"{k} {v:,}" for k, v in sorted(outcomes.items(), key=lambda kv: -kv[1]))
        print(f"  {reader:<14} {sum(outcomes.values()):>6,}  {detail}")
    print("crashes (exceptions other than InvalidInputError):", "0" if code == 0 else "see the failures above")
    return 0 if code == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
