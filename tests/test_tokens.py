"""API tokens on a real migrated store: hashed at rest, shown once, scopes, expiry, revocation, listing."""

from __future__ import annotations

import hashlib
import time

import pytest
from sqlalchemy import select

from gridgis import audit
from gridgis.errors import InvalidInputError, NotFoundError, PermissionDeniedError
from gridgis.storage.schema import api_tokens
from gridgis.tokens import (
    ScopeMissing,
    TokenRejected,
    authenticate,
    check_scopes,
    create_token,
    hash_token,
    list_tokens,
    revoke_token,
)

T0 = 1_795_000_000  # 2026-11-18, a fixed "now" for expiry arithmetic


def test_token_is_stored_only_as_its_sha256(store, settings):
    secret, token = create_token(store, "city-gis", ["aggregates"], now=T0)
    assert secret.startswith("ggt_") and len(secret) >= 40 and token.prefix == secret[:10]
    with store.read() as conn:
        rows = conn.execute(select(api_tokens)).mappings().all()
    assert len(rows) == 1
    assert rows[0]["token_sha256"] == hashlib.sha256(secret.encode()).hexdigest() == hash_token(secret)
    assert all(secret not in str(v) for v in rows[0].values())
    store.close()  # checkpoint, then look at the raw database bytes too
    raw = b"".join(p.read_bytes() for p in settings.sqlite_path.parent.glob(settings.sqlite_path.name + "*"))
    assert secret.encode() not in raw and secret[10:].encode() not in raw


def test_two_tokens_never_share_a_secret(store):
    a, _ = create_token(store, "a", ["aggregates"])
    b, _ = create_token(store, "b", ["aggregates"])
    assert a != b


def test_authenticate_checks_the_scope_and_its_implications(store):
    secret, _ = create_token(store, "app", ["requests_masked"])
    assert authenticate(store, secret, "requests_masked").name == "app"
    assert authenticate(store, secret, "aggregates").name == "app"  # masked rows imply aggregates
    with pytest.raises(ScopeMissing, match="open311_submit") as err:
        authenticate(store, secret, "open311_submit")
    assert isinstance(err.value, PermissionDeniedError) and err.value.field == "api_key"
    admin, _ = create_token(store, "ops", ["admin"])
    for scope in ("aggregates", "requests_masked", "open311_submit", "admin"):
        assert authenticate(store, admin, scope).name == "ops"


def test_unknown_missing_revoked_and_expired_tokens_are_rejected(store):
    secret, _ = create_token(store, "hotline", ["open311_submit"], expires_days=30, now=T0)
    assert authenticate(store, secret, "open311_submit", now=T0 + 29 * 86_400).name == "hotline"
    with pytest.raises(TokenRejected, match="expired"):
        authenticate(store, secret, "open311_submit", now=T0 + 30 * 86_400)
    with pytest.raises(TokenRejected, match="not valid"):
        authenticate(store, secret + "x", "open311_submit", now=T0)
    with pytest.raises(TokenRejected, match="no API token"):
        authenticate(store, None, "open311_submit")
    revoked = revoke_token(store, "hotline", now=T0 + 86_400)
    assert revoked.revoked_at == T0 + 86_400
    with pytest.raises(TokenRejected, match="revoked"):
        authenticate(store, secret, "open311_submit", now=T0 + 2 * 86_400)
    # revoking twice keeps the first time; an unknown name is named in the error
    assert revoke_token(store, "hotline", now=T0 + 5 * 86_400).revoked_at == T0 + 86_400
    with pytest.raises(NotFoundError, match="nobody"):
        revoke_token(store, "nobody")


def test_names_and_scopes_are_checked(store):
    with pytest.raises(InvalidInputError, match="unknown scope 'everything'") as err:
        create_token(store, "x", ["everything"])
    assert err.value.field == "scope"
    with pytest.raises(InvalidInputError, match="at least one scope"):
        check_scopes([])
    with pytest.raises(InvalidInputError) as err:
        create_token(store, "has space", ["aggregates"])
    assert err.value.field == "name"
    with pytest.raises(InvalidInputError, match="positive"):
        create_token(store, "y", ["aggregates"], expires_days=0)
    create_token(store, "12345热线", ["open311_submit"])  # Han characters are fine
    revoke_token(store, "12345热线")
    with pytest.raises(InvalidInputError, match="taken") as err:  # even after revocation
        create_token(store, "12345热线", ["open311_submit"])
    assert err.value.field == "name"
    assert check_scopes(["aggregates", "aggregates", "admin"]) == ("aggregates", "admin")


def test_list_shows_states_and_last_use_but_no_secret(store):
    now = int(time.time())
    keep, _ = create_token(store, "keep", ["aggregates"], now=now)
    old, _ = create_token(store, "old", ["aggregates"], expires_days=1, now=now - 3 * 86_400)
    create_token(store, "gone", ["open311_submit"], now=now)
    revoke_token(store, "gone")
    audit.record(store, "keep", "open311.requests", {"status": "open"}, 3, at=now - 60)
    df = list_tokens(store)
    got = df.set_index("name")
    assert got.loc["keep", "state"] == "active" and got.loc["old", "state"] == "expired"
    assert got.loc["gone", "state"] == "revoked"
    assert got.loc["keep", "last_used_at"] == now - 60 and got["last_used_at"].isna().sum() == 2
    assert got.loc["keep", "prefix"] == keep[:10]
    text = df.to_string()
    assert keep not in text and old not in text
