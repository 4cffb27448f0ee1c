"""Store methods for priority zones: CRUD with soft delete and a history row per change."""

from __future__ import annotations

import json
import time

import pandas as pd
from sqlalchemy import insert, select, update
from sqlalchemy.engine import Connection

from gridgis.errors import InvalidInputError, NotFoundError
from gridgis.storage.frames import result_frame
from gridgis.storage.schema import zone_history, zones


class ZoneStoreMixin:
    """Mixed into :class:`gridgis.storage.store.Store` (uses its ``read``/``write`` transactions)."""

    # -- zones: priority areas drawn on the map (soft delete; every change leaves a history row) ----------

    def _zone_row(self, conn: Connection, zone_id: int, include_deleted: bool = False) -> dict:
        q = select(zones).where(zones.c.id == int(zone_id))
        if not include_deleted:
            q = q.where(zones.c.deleted_at.is_(None))
        row = conn.execute(q).mappings().first()
        if row is None:
            raise NotFoundError(f"找不到区域 / zone not found: {zone_id}", field="id")
        return dict(row)

    @staticmethod
    def _zone_history(conn: Connection, row: dict, action: str, changed_by: str | None, ts: int) -> None:
        conn.execute(
            insert(zone_history).values(
                zone_id=row["id"],
                version=row["version"],
                action=action,
                snapshot=json.dumps(row, ensure_ascii=False, default=str),
                changed_by=changed_by,
                changed_at=ts,
            )
        )

    def zones_frame(self, include_deleted: bool = False) -> pd.DataFrame:
        """Stored zones (geometry as GeoJSON text), oldest first; deleted ones only when asked."""
        q = select(zones).order_by(zones.c.id)
        if not include_deleted:
            q = q.where(zones.c.deleted_at.is_(None))
        with self.read() as conn:
            return result_frame(conn.execute(q), [c.name for c in zones.columns])

    def get_zone(self, zone_id: int, include_deleted: bool = False) -> dict:
        with self.read() as conn:
            return self._zone_row(conn, zone_id, include_deleted)

    def insert_zone(self, values: dict, changed_by: str | None = None) -> dict:
        """Store a new zone (validated columns, see :func:`gridgis.zones.validate_zone`); returns its row."""
        ts = int(time.time())
        record = {
            **values,
            "created_by": changed_by,
            "created_at": ts,
            "updated_at": ts,
            "deleted_at": None,
            "version": 1,
        }
        with self.write() as conn:
            zone_id = conn.execute(insert(zones).values(**record)).inserted_primary_key[0]
            row = self._zone_row(conn, zone_id)
            self._zone_history(conn, row, "create", changed_by, ts)
        return row

    def update_zone(
        self, zone_id: int, values: dict, changed_by: str | None = None, expected_version: int | None = None
    ) -> dict:
        """Change some columns of a live zone; ``expected_version`` guards against overwriting an edit."""
        ts = int(time.time())
        with self.write() as conn:
            row = self._zone_row(conn, zone_id)
            if expected_version is not None and int(expected_version) != row["version"]:
                raise InvalidInputError(
                    f"区域已被他人修改（当前版本 {row['version']}），请刷新后再改 / the zone was changed meanwhile "
                    f"(now version {row['version']}, you edited {expected_version}): reload it and edit again",
                    field="version",
                )
            conn.execute(
                update(zones).where(zones.c.id == row["id"]).values(**values, updated_at=ts, version=row["version"] + 1)
            )
            row = self._zone_row(conn, zone_id)
            self._zone_history(conn, row, "update", changed_by, ts)
        return row

    def delete_zone(self, zone_id: int, changed_by: str | None = None) -> dict:
        """Soft delete: the row stays (``deleted_at`` set) and the history keeps every version."""
        ts = int(time.time())
        with self.write() as conn:
            row = self._zone_row(conn, zone_id)
            conn.execute(
                update(zones)
                .where(zones.c.id == row["id"])
                .values(deleted_at=ts, updated_at=ts, version=row["version"] + 1)
            )
            row = self._zone_row(conn, zone_id, include_deleted=True)
            self._zone_history(conn, row, "delete", changed_by, ts)
        return row

    def zone_history_frame(self, zone_id: int) -> pd.DataFrame:
        q = select(zone_history).where(zone_history.c.zone_id == int(zone_id)).order_by(zone_history.c.id)
        with self.read() as conn:
            return result_frame(conn.execute(q), [c.name for c in zone_history.columns])
