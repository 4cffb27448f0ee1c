"""Store methods for machine-client API tokens and the audit log of exports and pulls."""

from __future__ import annotations

from collections.abc import Sequence

import pandas as pd
from sqlalchemy import func, insert, select, update
from sqlalchemy.engine import Connection

from gridgis.errors import InvalidInputError, NotFoundError
from gridgis.storage.frames import result_frame
from gridgis.storage.schema import api_tokens, audit_log


class TokenStoreMixin:
    """Mixed into :class:`gridgis.storage.store.Store` (uses its ``read``/``write`` transactions)."""

    # -- API tokens and the audit log (machine clients; see gridgis.tokens and gridgis.audit) ------------

    def insert_token(self, record: dict) -> None:
        """Store a new ``api_tokens`` row; a name already in use (even revoked) is an InvalidInputError."""
        with self.write() as conn:
            taken = conn.execute(select(api_tokens.c.id).where(api_tokens.c.name == record["name"])).first()
            if taken is not None:
                raise InvalidInputError(
                    f"令牌名 {record['name']!r} 已被使用（吊销后也保留，以便审计），请换一个名字 / token name "
                    f"{record['name']!r} is taken (names stay reserved after revocation so the audit log stays "
                    "unambiguous): choose another",
                    field="name",
                )
            conn.execute(insert(api_tokens).values(**record))

    def token_by_sha256(self, token_sha256: str) -> dict | None:
        """The token row with this hash (revoked and expired ones included), or None."""
        with self.read() as conn:
            row = conn.execute(select(api_tokens).where(api_tokens.c.token_sha256 == token_sha256)).mappings().first()
        return None if row is None else dict(row)

    def tokens_frame(self) -> pd.DataFrame:
        """Every token row except its hash, oldest first."""
        cols = [c for c in api_tokens.columns if c.name != "token_sha256"]
        with self.read() as conn:
            return result_frame(conn.execute(select(*cols).order_by(api_tokens.c.id)), [c.name for c in cols])

    def revoke_token(self, name: str, at: int) -> dict:
        """Mark a token revoked at ``at`` (epoch seconds); revoking twice keeps the first time."""
        with self.write() as conn:
            row = conn.execute(select(api_tokens).where(api_tokens.c.name == name)).mappings().first()
            if row is None:
                raise NotFoundError(f"找不到令牌 / no token named {name!r}", field="name")
            if row["revoked_at"] is None:
                conn.execute(update(api_tokens).where(api_tokens.c.id == row["id"]).values(revoked_at=int(at)))
            return dict(conn.execute(select(api_tokens).where(api_tokens.c.id == row["id"])).mappings().one())

    def insert_audit(self, records: Sequence[dict], conn: Connection | None = None) -> None:
        """Append ``audit_log`` rows (created_at, who, what, filters JSON, row_count)."""
        if records:
            with self._using(conn, write=True) as c:
                c.execute(insert(audit_log), list(records))

    def audit_frame(
        self,
        *,
        who: str | None = None,
        what: str | None = None,
        since: int | None = None,
        until: int | None = None,
        limit: int | None = None,
    ) -> pd.DataFrame:
        """Audit rows, newest first; ``since``/``until`` are epoch seconds (inclusive/exclusive)."""
        q = select(audit_log).order_by(audit_log.c.created_at.desc(), audit_log.c.id.desc())
        if who is not None:
            q = q.where(audit_log.c.who == who)
        if what is not None:
            q = q.where(audit_log.c.what == what)
        if since is not None:
            q = q.where(audit_log.c.created_at >= int(since))
        if until is not None:
            q = q.where(audit_log.c.created_at < int(until))
        if limit is not None:
            q = q.limit(int(limit))
        with self.read() as conn:
            return result_frame(conn.execute(q), [c.name for c in audit_log.columns])

    def audit_last_seen(self) -> dict[str, int]:
        """who → epoch seconds of that client's latest audit row."""
        q = select(audit_log.c.who, func.max(audit_log.c.created_at)).group_by(audit_log.c.who)
        with self.read() as conn:
            return {w: int(t) for w, t in conn.execute(q).all()}
