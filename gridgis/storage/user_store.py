"""Store methods for user accounts and login attempts (see gridgis.accounts), and write-once meta values."""

from __future__ import annotations

import pandas as pd
from sqlalchemy import delete, func, insert, select, update
from sqlalchemy.exc import IntegrityError

from gridgis.errors import InvalidInputError, NotFoundError, StorageError
from gridgis.storage.frames import result_frame
from gridgis.storage.schema import login_attempts, meta, users

ATTEMPTS_KEPT_S = 86_400  # login attempts older than a day are dropped (throttling looks back 15 minutes)


def _taken(username: str) -> InvalidInputError:
    return InvalidInputError(f"用户名 {username!r} 已被使用 / user name {username!r} is taken", field="username")


class UserStoreMixin:
    """Mixed into :class:`gridgis.storage.store.Store` (uses its ``read``/``write`` transactions)."""

    # -- users -------------------------------------------------------------------------------------------

    def insert_user(self, record: dict) -> dict:
        """Store a new ``users`` row and return it; a name in use (even disabled) is an InvalidInputError."""
        try:
            with self.write() as conn:
                if conn.execute(select(users.c.id).where(users.c.username == record["username"])).first():
                    raise _taken(record["username"])
                conn.execute(insert(users).values(**record))
                return dict(conn.execute(select(users).where(users.c.username == record["username"]))
                            .mappings().one())
        except StorageError as exc:  # a concurrent insert of the same name won the race
            if isinstance(exc.__cause__, IntegrityError):
                raise _taken(record["username"]) from exc
            raise

    def user_by_name(self, username: str) -> dict | None:
        with self.read() as conn:
            row = conn.execute(select(users).where(users.c.username == username)).mappings().first()
        return None if row is None else dict(row)

    def user_by_id(self, user_id: int) -> dict | None:
        with self.read() as conn:
            row = conn.execute(select(users).where(users.c.id == int(user_id))).mappings().first()
        return None if row is None else dict(row)

    def users_frame(self) -> pd.DataFrame:
        """Every user row except the password hash, by name."""
        cols = [c for c in users.columns if c.name != "password_hash"]
        with self.read() as conn:
            return result_frame(conn.execute(select(*cols).order_by(users.c.username)), [c.name for c in cols])

    def update_user(self, username: str, values: dict, *, bump_epoch: bool = False) -> dict:
        """Change a user's columns (``bump_epoch`` ends every session issued before) and return the row."""
        with self.write() as conn:
            row = conn.execute(select(users.c.id).where(users.c.username == username)).first()
            if row is None:
                raise NotFoundError(f"找不到用户 / no user named {username!r}", field="username")
            vals = dict(values)
            if bump_epoch:
                vals["session_epoch"] = users.c.session_epoch + 1
            if vals:
                conn.execute(update(users).where(users.c.id == row[0]).values(**vals))
            return dict(conn.execute(select(users).where(users.c.id == row[0])).mappings().one())

    # -- login attempts (throttling) -------------------------------------------------------------------------

    def record_login_attempt(self, username: str, remote_addr: str, at: int, ok: bool) -> None:
        with self.write() as conn:
            conn.execute(delete(login_attempts).where(login_attempts.c.at < int(at) - ATTEMPTS_KEPT_S))
            conn.execute(insert(login_attempts).values(username=username[:64], remote_addr=remote_addr[:64],
                                                       at=int(at), ok=1 if ok else 0))

    def login_failures(self, username: str, remote_addr: str, since: int) -> tuple[list[int], list[int]]:
        """Times (ascending) of failed logins since ``since``: for the user name after its last success,
        and from the address."""
        la = login_attempts.c
        with self.read() as conn:
            last_ok = conn.execute(select(func.max(la.at)).where(la.username == username, la.ok == 1,
                                                                 la.at >= int(since))).scalar()
            start = int(since) if last_ok is None else max(int(since), int(last_ok) + 1)
            by_user = conn.execute(select(la.at).where(la.username == username, la.ok == 0, la.at >= start)
                                   .order_by(la.at)).scalars().all()
            by_addr = conn.execute(select(la.at).where(la.remote_addr == remote_addr, la.ok == 0,
                                                       la.at >= int(since)).order_by(la.at)).scalars().all()
        return [int(t) for t in by_user], [int(t) for t in by_addr]

    # -- meta values set once and shared by every process (the session secret) ------------------------------

    def meta_setdefault(self, key: str, value: str) -> str:
        """The stored value of ``key``; ``value`` is stored first when there is none (first writer wins)."""
        try:
            with self.write() as conn:
                found = conn.execute(select(meta.c.value).where(meta.c.key == key)).scalar()
                if found is not None:
                    return found
                conn.execute(insert(meta).values(key=key, value=value))
                return value
        except StorageError as exc:  # another process stored it between our read and insert
            if not isinstance(exc.__cause__, IntegrityError):
                raise
        with self.read() as conn:
            return conn.execute(select(meta.c.value).where(meta.c.key == key)).scalar_one()
