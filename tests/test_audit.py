"""The audit log: one row per export or pull, secrets never written, joined to the caller's transaction."""

from __future__ import annotations

import pandas as pd
import pytest

from gridgis import audit
from gridgis.errors import InvalidInputError


def test_record_and_read_back_newest_first(store):
    audit.record(store, "city-gis", "export.cells", {"res": 9, "category": ["SAFE", "FAC"]}, 120, at=1_790_000_000)
    audit.record(store, None, "open311.requests", {"status": "open"}, 7, at=1_790_000_060)
    df = audit.records(store, tz="Asia/Shanghai")
    assert list(df["what"]) == ["open311.requests", "export.cells"]
    assert list(df["who"]) == ["anonymous", "city-gis"]
    assert list(df["rows"]) == [7, 120]
    assert df["filters"].iloc[1] == {"category": ["SAFE", "FAC"], "res": 9}
    assert df["created_at"].iloc[0] == pd.Timestamp("2026-09-21 22:14:20", tz="Asia/Shanghai")
    assert list(audit.records(store, who="city-gis")["rows"]) == [120]
    since = pd.Timestamp(1_790_000_030, unit="s", tz="UTC")
    assert list(audit.records(store, since=since)["what"]) == ["open311.requests"]


def test_secrets_never_reach_the_log(store):
    audit.record(store, "app", "open311.requests",
                 {"api_key": "ggt_secret", "Token": "t", "password": "p", "status": "open"}, 1)
    row = store.audit_frame().iloc[0]
    assert "ggt_secret" not in row["filters"] and '"t"' not in row["filters"] and "status" in row["filters"]


def test_an_audit_row_written_in_a_rolled_back_transaction_is_gone(store):
    class Boom(Exception):
        pass

    with pytest.raises(Boom), store.write() as conn:
        audit.record(store, "x", "export.requests", {}, 5, conn=conn)
        raise Boom()
    assert store.audit_frame().empty


def test_what_is_required(store):
    with pytest.raises(InvalidInputError) as err:
        audit.record(store, "x", " ", {}, 0)
    assert err.value.field == "what"
