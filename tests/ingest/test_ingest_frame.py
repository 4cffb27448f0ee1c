"""ingest_frame: rows held in memory go through the same pipeline as a file, in one transaction."""

from __future__ import annotations

import pandas as pd
import pytest

from gridgis.errors import InvalidInputError
from gridgis.ingest.pipeline import IngestOptions, ingest_frame

ROWS = pd.DataFrame({
    "工单号": ["A1", "A2", "A3", "A4"],
    "受理时间": ["2026-05-01 10:00", "2026-05-01 12:00", "2026-05-02 09:00", "2026-05-02 09:30"],
    "诉求内容": ["锦华路口路灯不亮", "锦华路口的路灯不亮了", "", "楼道飞线充电"],
    "经度": [104.0600, 104.0601, 104.05, 104.07],
    "纬度": [30.6350, 30.6351, 30.63, 30.64],
    "来源渠道": ["app", "app", "app", None],
})


def test_a_frame_is_imported_like_a_file(store, settings):
    report, rows = ingest_frame(ROWS, settings, store, IngestOptions(source="app"), name="app batch")
    assert (report.read, report.stored, report.rejected_count, report.duplicates) == (4, 3, 1, 1)
    assert report.rejected[0].line == 3 and report.rejected[0].field == "text"
    assert list(rows["id"]) == ["app:A1", "app:A2", "app:A4"]
    assert list(rows["category"]) == ["FAC", "FAC", "SAFE"]
    assert rows.set_index("id").loc["app:A2", "duplicate_of"] == "app:A1"
    assert store.get_request("app:A2")["duplicate_of"] == "app:A1"
    assert store.get_request("app:A1")["extra"] == '{"来源渠道":"app"}'
    batch = store.batches().iloc[-1]
    assert batch["file_name"] == "app batch" and batch["status"] == "committed" and batch["rows_stored"] == 3
    assert len(store.rejects_frame(report.batch_id)) == 1
    again, _ = ingest_frame(ROWS, settings, store, IngestOptions(source="app"))
    assert (again.stored, again.unchanged) == (0, 3) and store.count_requests() == 3


def test_strict_raises_for_the_first_problem_before_storing_anything(store, settings):
    with pytest.raises(InvalidInputError) as err:
        ingest_frame(ROWS, settings, store, IngestOptions(source="app"), strict=True)
    assert err.value.field == "text" and err.value.line == 3 and err.value.public_message.startswith("text: ")
    assert store.count_requests() == 0 and store.batches().empty and store.rejects_frame().empty


def test_dry_run_reports_and_stores_nothing(store, settings):
    report, rows = ingest_frame(ROWS, settings, store, IngestOptions(source="app", dry_run=True))
    assert (report.stored, report.duplicates, report.dry_run) == (3, 1, True)
    assert rows.set_index("id").loc["app:A2", "duplicate_of"] == "app:A1"
    assert store.count_requests() == 0 and store.batches().empty


def test_source_names_are_checked(store, settings):
    with pytest.raises(InvalidInputError) as err:
        ingest_frame(ROWS, settings, store, IngestOptions(source="a:b"))
    assert err.value.field == "source"
