"""The request workflow on a real store: transitions, history, audit, optimistic conflicts, rollback, re-imports,
data version, and overdue flags on a small hand-built frame."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sqlalchemy import select, text

from gridgis import audit, grid
from gridgis.config import load_settings
from gridgis.deadlines import Deadlines, overdue_flags, read_deadline_file
from gridgis.errors import ConfigError, ConflictError, InvalidInputError, NotFoundError, StorageError
from gridgis.storage.request_store import STATUS_PROGRESS
from gridgis.storage.schema import demand_counts
from gridgis.workflow import (
    STATUSES,
    TRANSITIONS,
    TransitionError,
    allowed_next,
    change_status,
    request_history,
)
from tests.pg import BACKENDS, require_backend

T0 = 1_767_225_600  # 2026-01-01 00:00 UTC
GRID_A, GRID_B = "51010700100101", "51010700100102"


def _rows(n: int = 4, status: str = "new", hash_prefix: str = "h") -> pd.DataFrame:
    rng = np.random.default_rng(0)
    lng, lat = rng.uniform(104.04, 104.07, n), rng.uniform(30.62, 30.65, n)
    cells = grid.latlng_to_cells(lat, lng, 10)
    return pd.DataFrame({
        "id": [f"t:{i}" for i in range(n)], "source": "t", "source_id": [str(i) for i in range(n)],
        "created_at": T0 + np.arange(n) * 3600, "text": "路灯不亮", "address": None, "category": "FAC",
        "category_rule": "test", "source_category": None, "request_type": "投诉", "status": status,
        "lng": lng, "lat": lat, "source_crs": "wgs84", "orig_x": lng, "orig_y": lat, "geocode_level": "source",
        "geocode_score": None, "grid_code": [GRID_A if i % 2 == 0 else GRID_B for i in range(n)],
        "cell": cells.astype(np.int64), "cell_9": grid.cells_to_parent(cells, 9).astype(np.int64),
        "cell_8": grid.cells_to_parent(cells, 8).astype(np.int64),
        "cell_7": grid.cells_to_parent(cells, 7).astype(np.int64), "duplicate_of": None,
        "reporter_name": "张三", "reporter_phone": "13812341234", "extra": None,
        "content_hash": [f"{hash_prefix}{i}" for i in range(n)],
    })


def _import(store, rows: pd.DataFrame) -> tuple[int, int, int]:
    batch = store.insert_batch("t.csv", None, "t", {})
    out = store.upsert_requests(batch, rows)
    store.finish_batch(batch, {"read": len(rows)})
    return out


@pytest.fixture(params=BACKENDS)
def backend(request):
    """The workflow runs on every backend (PostgreSQL when GRIDGIS_TEST_POSTGRES_URL is set)."""
    return require_backend(request.param)


@pytest.fixture
def wf(store):
    _import(store, _rows())
    return store


def _status(store, rid: str) -> str:
    return store.get_request(rid)["status"]


def _table(store, sql: str) -> list[tuple]:
    with store.read() as conn:
        return [tuple(r) for r in conn.execute(text(sql)).all()]


# -- the transitions table ----------------------------------------------------------------------------------

def test_transitions_table_covers_every_status_and_the_main_path():
    assert set(TRANSITIONS) == set(STATUSES) == set(STATUS_PROGRESS)
    for src, nxt in TRANSITIONS.items():
        assert src not in nxt, f"{src} → itself"
        assert set(nxt) <= set(STATUSES)
    path = ["new", "assigned", "in_progress", "resolved", "verified"]
    for a, b in zip(path, path[1:], strict=False):
        assert b in TRANSITIONS[a] and TRANSITIONS[a][b] is False  # forward steps need no note
    for s in ("new", "assigned", "in_progress"):  # any open request can be closed as invalid/duplicate, with a note
        assert TRANSITIONS[s]["invalid"] is True and TRANSITIONS[s]["duplicate"] is True
    assert TRANSITIONS["resolved"]["in_progress"] is True  # reopen
    assert allowed_next("verified") == []
    assert allowed_next("new") == ["assigned", "invalid", "duplicate"]
    assert allowed_next("assigned") == ["in_progress", "new", "invalid", "duplicate"]  # forward step first


def test_walk_the_main_path_records_history_and_audit(wf):
    steps = ["assigned", "in_progress", "resolved", "verified"]
    for i, to in enumerate(steps):
        ev = change_status(wf, "t:0", to, actor="李四", now=T0 + 100 + i)
        assert (ev.to_status, ev.actor, ev.at) == (to, "李四", T0 + 100 + i)
    row = wf.get_request("t:0")
    assert row["status"] == "verified" and row["status_changed_at"] == T0 + 103 and row["updated_at"] == T0 + 103
    hist = request_history(wf, "t:0", tz="Asia/Shanghai")
    assert hist["from_status"].tolist() == ["new", *steps[:-1]]
    assert hist["to_status"].tolist() == steps
    assert str(hist["at"].dt.tz) == "Asia/Shanghai"
    log = audit.records(wf, what="requests.status")
    assert len(log) == 4 and set(log["who"]) == {"李四"}
    assert log.iloc[0]["filters"] == {"id": "t:0", "from": "resolved", "to": "verified"}
    assert _status(wf, "t:1") == "new"  # nothing else moved


@pytest.mark.parametrize(("to", "why"), [("in_progress", "skips assigned"), ("resolved", "skips steps"),
                                         ("new", "same status")])
def test_refused_transitions_name_the_allowed_ones_and_write_nothing(wf, to, why):
    with pytest.raises(TransitionError) as exc:
        change_status(wf, "t:0", to, actor="a", note="x")
    assert exc.value.allowed == ["assigned", "invalid", "duplicate"] and exc.value.current == "new"
    assert isinstance(exc.value, ConflictError) and exc.value.field == "status"
    assert "受理" in exc.value.public_message and "assigned" in exc.value.public_message
    assert _status(wf, "t:0") == "new" and wf.request_events_frame().empty


def test_notes_required_off_the_main_path_and_stripped(wf):
    with pytest.raises(InvalidInputError) as exc:
        change_status(wf, "t:0", "invalid", actor="a", note="   ")
    assert exc.value.field == "note"
    with pytest.raises(InvalidInputError, match="500"):
        change_status(wf, "t:0", "invalid", actor="a", note="长" * 501)
    ev = change_status(wf, "t:0", "invalid", actor="a", note="  重复来电，非本社区  ")
    assert ev.note == "重复来电，非本社区"
    ev = change_status(wf, "t:0", "new", actor="a", note="误判，恢复")  # restore
    assert ev.from_status == "invalid"
    ev = change_status(wf, "t:0", "assigned", actor="a", note="  ")  # forward: the blank note is dropped
    assert ev.note is None


def test_reopen_needs_a_note(wf):
    for to in ("assigned", "in_progress", "resolved"):
        change_status(wf, "t:0", to, actor="a")
    with pytest.raises(InvalidInputError):
        change_status(wf, "t:0", "in_progress", actor="a")
    assert change_status(wf, "t:0", "in_progress", actor="a", note="回访不满意").from_status == "resolved"


def test_bad_input_is_refused_before_anything_is_read(wf):
    with pytest.raises(InvalidInputError) as exc:
        change_status(wf, "t:0", "closed", actor="a")
    assert exc.value.field == "status"
    with pytest.raises(InvalidInputError) as exc:
        change_status(wf, "t:0", "assigned", actor="a", expected_status="bogus")
    assert exc.value.field == "expected_status"
    with pytest.raises(InvalidInputError) as exc:
        change_status(wf, "t:0", "assigned", actor="  ")
    assert exc.value.field == "actor"
    with pytest.raises(InvalidInputError):
        change_status(wf, "t:0", "invalid", actor="a", note=123)


def test_other_grids_answer_like_an_unknown_id(wf):
    with pytest.raises(NotFoundError) as unknown:
        change_status(wf, "t:999", "assigned", actor="a", allowed_grids=[GRID_A])
    with pytest.raises(NotFoundError) as other:
        change_status(wf, "t:1", "assigned", actor="a", allowed_grids=[GRID_A])  # t:1 is in GRID_B
    assert unknown.value.public_message.replace("t:999", "X") == other.value.public_message.replace("t:1", "X")
    with pytest.raises(NotFoundError):
        change_status(wf, "t:1", "assigned", actor="a", allowed_grids=lambda g: g == GRID_A)
    with pytest.raises(NotFoundError):
        request_history(wf, "t:1", allowed_grids=[GRID_A])
    assert change_status(wf, "t:0", "assigned", actor="a", allowed_grids=[GRID_A]).to_status == "assigned"
    assert _status(wf, "t:1") == "new"


def test_optimistic_check_refuses_a_stale_expected_status(wf):
    change_status(wf, "t:0", "assigned", actor="secretary", expected_status="new")
    with pytest.raises(ConflictError) as exc:  # a second user still looking at "new"
        change_status(wf, "t:0", "invalid", actor="worker", note="x", expected_status="new")
    assert exc.value.field == "expected_status" and not isinstance(exc.value, TransitionError)
    assert _status(wf, "t:0") == "assigned" and len(wf.request_events_frame("t:0")) == 1


def test_guarded_update_loses_to_a_concurrent_writer(wf):
    # The status read inside change_status is stale when another writer already moved the row: the
    # guarded UPDATE matches no row and nothing is written.
    with wf.write() as conn:
        assert wf.set_request_status(conn, "t:0", "new", "assigned", T0)
        assert not wf.set_request_status(conn, "t:0", "new", "invalid", T0)
    assert _status(wf, "t:0") == "assigned"


def test_a_failure_inside_the_transaction_leaves_nothing_half_written(wf):
    with wf.write() as conn:  # a real fault: the audit insert aborts (e.g. a full disk, a constraint)
        if wf.dialect == "sqlite":
            conn.exec_driver_sql("CREATE TRIGGER fail_audit BEFORE INSERT ON audit_log "
                                 "BEGIN SELECT RAISE(ABORT, 'audit unavailable'); END")
        else:
            conn.exec_driver_sql("CREATE FUNCTION fail_audit() RETURNS trigger AS $$ BEGIN "
                                 "RAISE EXCEPTION 'audit unavailable'; END $$ LANGUAGE plpgsql")
            conn.exec_driver_sql("CREATE TRIGGER fail_audit BEFORE INSERT ON audit_log "
                                 "FOR EACH ROW EXECUTE FUNCTION fail_audit()")
    with pytest.raises(StorageError):
        change_status(wf, "t:0", "assigned", actor="a")
    row = wf.get_request("t:0")
    assert row["status"] == "new" and row["status_changed_at"] is None
    assert wf.request_events_frame().empty and wf.audit_frame().empty


def test_status_changes_leave_demand_counts_alone_and_move_the_data_version(wf):
    with wf.read() as conn:
        before = sorted(tuple(r) for r in conn.execute(select(demand_counts)).all())
    v0 = wf.data_version()
    change_status(wf, "t:0", "assigned", actor="a", now=T0 + 5000)
    with wf.read() as conn:
        after = sorted(tuple(r) for r in conn.execute(select(demand_counts)).all())
    assert before == after and len(before) > 0
    v1 = wf.data_version()
    assert v1[0] != v0[0] and v1[1] >= T0 + 5000


# -- re-imports -----------------------------------------------------------------------------------------------

def test_reimport_keeps_app_statuses_unless_the_source_brings_news(wf):
    change_status(wf, "t:0", "assigned", actor="a")  # app: assigned; source will still say new
    for to in ("assigned", "in_progress", "resolved"):
        change_status(wf, "t:1", to, actor="a")
    change_status(wf, "t:1", "in_progress", actor="a", note="回访不满意")  # reopened; source will say resolved
    change_status(wf, "t:2", "assigned", actor="a")  # source will say resolved: news
    src = _rows(hash_prefix="v2-")  # every row changed in the source
    src["status"] = ["new", "resolved", "resolved", "assigned"]
    stored, updated, unchanged = _import(wf, src)
    assert (stored, updated, unchanged) == (0, 4, 0)
    assert _status(wf, "t:0") == "assigned"  # a stale source does not undo the assignment
    assert _status(wf, "t:1") == "in_progress"  # … nor the reopening (resolved was already seen)
    assert _status(wf, "t:2") == "resolved"  # the hotline closed it: taken, and recorded
    assert _status(wf, "t:3") == "assigned"  # never touched in the app: the source decides
    assert wf.get_request("t:3")["status_changed_at"] is None
    last = wf.request_events_frame("t:2").iloc[-1]
    assert (last["actor"], last["from_status"], last["to_status"]) == ("import", "assigned", "resolved")
    assert wf.get_request("t:2")["status_changed_at"] is not None
    assert len(wf.request_events_frame("t:0")) == 1  # no event where the app status was kept
    assert _import(wf, src) == (0, 0, 4)  # the same file again changes nothing


# -- overdue flags ------------------------------------------------------------------------------------------

def test_overdue_flags_vectorised_on_a_hand_built_frame():
    h = 3600
    frame = pd.DataFrame({
        "status": ["new", "new", "assigned", "in_progress", "resolved", "verified", "invalid", "in_progress"],
        "category": ["FAC", "SAFE", "FAC", "FAC", "FAC", "FAC", "FAC", "SAFE"],
        "created_at": [0, 0, 0, 0, 0, 0, 0, 0],
        "status_changed_at": [None, None, 20 * h, None, 10 * h, None, None, None],
    })
    dl = Deadlines(hours={"new": 24, "assigned": 24, "in_progress": 120, "resolved": 72},
                   by_category={"SAFE": {"new": 2, "in_progress": 0}}, tz="Asia/Shanghai")
    out = overdue_flags(frame, now=30 * h, deadlines=dl)
    assert out["overdue"].tolist() == [True, True, False, False, False, False, False, False]
    due_h = ((out["due_at"] - pd.Timestamp(0, tz="UTC")) / pd.Timedelta(hours=1)).tolist()
    assert due_h[:5] == [24, 2, 44, 120, 82]
    assert out["due_at"].iloc[5:].isna().all()  # closed statuses and a SAFE deadline set to 0: none
    assert str(out["due_at"].dt.tz) == "Asia/Shanghai"
    # datetimes work like epoch seconds, and exactly at the deadline is not yet overdue
    as_dt = frame.assign(created_at=pd.to_datetime(frame["created_at"], unit="s", utc=True))
    assert overdue_flags(as_dt, now=pd.Timestamp(24 * h, unit="s", tz="UTC"), deadlines=dl)["overdue"].tolist()[:2] \
        == [False, True]


def test_deadline_settings_and_file(tmp_path):
    f = tmp_path / "deadlines.toml"
    f.write_text("[SAFE]\nnew = 2\nin_progress = 48\n", encoding="utf-8")
    s = load_settings(env={"GRIDGIS_DEADLINE_HOURS_NEW": "12", "GRIDGIS_DEADLINE_FILE": str(f)})
    dl = Deadlines.from_settings(s)
    assert dl.hours["new"] == 12 and dl.by_category == {"SAFE": {"new": 2.0, "in_progress": 48.0}}
    with pytest.raises(ConfigError):
        load_settings(env={"GRIDGIS_DEADLINE_HOURS_NEW": "-1"})
    f.write_text("[SAFE]\nverified = 2\n", encoding="utf-8")
    with pytest.raises(ConfigError, match="verified"):
        read_deadline_file(f)
    f.write_text("[SAFE]\nnew = 'soon'\n", encoding="utf-8")
    with pytest.raises(ConfigError):
        read_deadline_file(f)
    rel = tmp_path / "gridgis.toml"
    rel.write_text('deadline_file = "deadlines.toml"\n', encoding="utf-8")
    assert load_settings(rel, env={}).deadline_file == str(f)
