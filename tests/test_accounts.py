"""Accounts on a real store: Argon2id hashes, the password policy, grids, throttled logins, disable/reset
ending sessions (epoch), and the `gridgis users` commands through click's runner."""

from __future__ import annotations

import json
import os

import pandas as pd
import pytest
from argon2 import PasswordHasher
from click.testing import CliRunner

from gridgis import accounts
from gridgis.accounts import WRONG, LoginThrottled, authenticate, create_user
from gridgis.cli import main
from gridgis.config import load_settings
from gridgis.errors import InvalidInputError, NotFoundError, PermissionDeniedError
from gridgis.storage import open_store

PW = "river-stone-42"
T0 = 1_790_000_000


def _grids(store, *codes):
    store.replace_grids(pd.DataFrame([{
        "grid_code": c, "name": c, "community": None, "subdistrict": None, "grid_worker": None, "households": 1,
        "min_lng": 0.0, "min_lat": 0.0, "max_lng": 1.0, "max_lat": 1.0, "geometry": "{}", "attributes": None,
        "imported_at": 0} for c in codes]))


def test_passwords_are_stored_as_argon2id_hashes_only(store):
    row, generated = create_user(store, "wang", "secretary", password=PW, display_name="王芳")
    assert generated is None and "password_hash" not in row
    stored = store.user_by_name("wang")
    assert stored["password_hash"].startswith("$argon2id$") and PW not in stored["password_hash"]
    assert stored["session_epoch"] == 1 and stored["role"] == "secretary" and stored["grids"] is None
    user = authenticate(store, "wang", PW, "10.0.0.1", now=T0)
    assert user["username"] == "wang" and user["last_login_at"] == T0 and "password_hash" not in user


def test_an_old_hash_is_upgraded_at_the_next_login(store):
    create_user(store, "li", "viewer", password=PW)
    weak = PasswordHasher(time_cost=1, memory_cost=8, parallelism=1).hash(PW)
    store.update_user("li", {"password_hash": weak})
    authenticate(store, "li", PW, now=T0)
    new = store.user_by_name("li")["password_hash"]
    assert new != weak and not accounts.hasher().check_needs_rehash(new)
    authenticate(store, "li", PW, now=T0 + 1)  # still the same password


@pytest.mark.parametrize(("password", "why"), [
    ("short-1", "10"), ("12345678901234", "digits"), ("ZhangSan99", "user name"), ("x" * 1025, "1024"),
])
def test_password_policy_names_the_field_and_the_rule(store, password, why):
    with pytest.raises(InvalidInputError) as err:
        create_user(store, "zhangsan99", "viewer", password=password)
    assert err.value.field == "password" and why in str(err.value) and " / " in str(err.value)
    assert store.user_by_name("zhangsan99") is None  # nothing stored


def test_names_roles_and_grids_are_checked(store):
    with pytest.raises(InvalidInputError, match="user name") as e:
        create_user(store, "bad name!", "viewer", password=PW)
    assert e.value.field == "username"
    with pytest.raises(InvalidInputError, match="unknown role") as e:
        create_user(store, "a", "mayor", password=PW)
    assert e.value.field == "role"
    with pytest.raises(InvalidInputError, match="at least one grid"):
        create_user(store, "gw", "grid_worker", password=PW)
    with pytest.raises(InvalidInputError, match="only grid workers"):
        create_user(store, "v", "viewer", password=PW, grids=["51010700100101"])
    with pytest.raises(InvalidInputError, match="14 or 15 digits"):
        create_user(store, "gw", "grid_worker", password=PW, grids=["A1"])
    # any well-formed code while no grids are stored; only stored ones afterwards
    create_user(store, "gw0", "grid_worker", password=PW, grids=["51010700100109"])
    _grids(store, "51010700100101", "51010700100102")
    with pytest.raises(InvalidInputError, match="51010700100109"):
        create_user(store, "gw", "grid_worker", password=PW, grids=["51010700100109"])
    row, _ = create_user(store, "gw", "grid_worker", password=PW, grids=["51010700100102", "51010700100101"])
    assert row["grids"] == "51010700100102 51010700100101"
    assert accounts.principal_of(row).grids == frozenset({"51010700100101", "51010700100102"})
    with pytest.raises(InvalidInputError, match="taken"):
        create_user(store, "gw", "viewer", password=PW)


def test_unknown_user_wrong_password_and_disabled_get_one_message(store):
    create_user(store, "zhao", "viewer", password=PW)
    create_user(store, "qian", "viewer", password=PW)
    accounts.disable_user(store, "qian", now=T0)
    messages = set()
    for name, pw in (("nobody", PW), ("zhao", PW + "x"), ("qian", PW), ("", "")):
        with pytest.raises(PermissionDeniedError) as err:
            authenticate(store, name, pw, "10.0.0.2", now=T0)
        assert not isinstance(err.value, LoginThrottled)
        messages.add(err.value.public_message)
    assert messages == {WRONG}


def test_failures_for_a_user_name_are_throttled_then_forgiven(store):
    create_user(store, "sun", "viewer", password=PW)
    for i in range(accounts.MAX_USER_FAILURES):
        with pytest.raises(PermissionDeniedError):
            authenticate(store, "sun", "wrong-password", f"10.1.0.{i}", now=T0 + i)
    with pytest.raises(LoginThrottled) as err:  # even the right password is not checked now
        authenticate(store, "sun", PW, "10.9.9.9", now=T0 + 10)
    assert err.value.retry_after == accounts.WINDOW_S - 10 and "retry" not in err.value.public_message
    assert "秒后再试" in err.value.public_message and str(err.value.retry_after) in err.value.public_message
    # once the oldest failure leaves the 15-minute window, one more try is allowed
    assert authenticate(store, "sun", PW, "10.9.9.9", now=T0 + accounts.WINDOW_S)["username"] == "sun"


def test_a_success_clears_the_user_names_count_but_not_the_addresses(store):
    create_user(store, "zhou", "viewer", password=PW)
    for i in range(accounts.MAX_USER_FAILURES - 1):
        with pytest.raises(PermissionDeniedError):
            authenticate(store, "zhou", "nope-nope-nope", "10.2.0.1", now=T0 + i)
    authenticate(store, "zhou", PW, "10.2.0.1", now=T0 + 5)
    for i in range(accounts.MAX_USER_FAILURES - 1):  # a fresh allowance after the success
        with pytest.raises(PermissionDeniedError) as err:
            authenticate(store, "zhou", "nope-nope-nope", "10.2.0.1", now=T0 + 6 + i)
        assert not isinstance(err.value, LoginThrottled)


def test_one_address_trying_many_names_is_throttled(store, monkeypatch):
    monkeypatch.setattr(accounts, "MAX_ADDR_FAILURES", 4)  # the rule, with fewer slow hashes
    for i in range(4):
        with pytest.raises(PermissionDeniedError):
            authenticate(store, f"guess{i}", "whatever-pass", "203.0.113.7", now=T0 + i)
    with pytest.raises(LoginThrottled):
        authenticate(store, "guess9", "whatever-pass", "203.0.113.7", now=T0 + 5)
    with pytest.raises(PermissionDeniedError) as err:  # another address is not affected
        authenticate(store, "guess9", "whatever-pass", "203.0.113.8", now=T0 + 5)
    assert not isinstance(err.value, LoginThrottled)


def test_disable_and_reset_end_sessions_by_bumping_the_epoch(store):
    create_user(store, "wu", "secretary", password=PW)
    assert accounts.disable_user(store, "wu", now=T0)["session_epoch"] == 2
    assert accounts.disable_user(store, "wu", now=T0 + 9)["disabled_at"] == T0  # first time kept
    with pytest.raises(PermissionDeniedError):
        authenticate(store, "wu", PW, now=T0 + 10)
    assert accounts.enable_user(store, "wu")["disabled_at"] is None
    authenticate(store, "wu", PW, now=T0 + 11)
    row, new = accounts.reset_password(store, "wu")
    assert row["session_epoch"] == 4 and new and len(new) >= accounts.MIN_PASSWORD
    with pytest.raises(PermissionDeniedError):
        authenticate(store, "wu", PW, now=T0 + 12)
    authenticate(store, "wu", new, now=T0 + 13)
    with pytest.raises(NotFoundError):
        accounts.reset_password(store, "nobody")


# -- the CLI -------------------------------------------------------------------------------------------------

@pytest.fixture
def cli(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    for k in list(os.environ):
        if k.startswith("GRIDGIS_"):
            monkeypatch.delenv(k)
    cfg = tmp_path / "gridgis.toml"
    cfg.write_text('database_url = "sqlite:///db.sqlite3"\n', encoding="utf-8")
    runner = CliRunner()
    args = ["--config", str(cfg)]
    assert runner.invoke(main, [*args, "db", "init"]).exit_code == 0
    store = open_store(load_settings(cfg, env={}))
    yield runner, args, store
    store.close()


def test_users_commands_add_list_disable_enable_reset(cli):
    runner, args, store = cli
    r = runner.invoke(main, [*args, "users", "add", "wangfang", "--role", "secretary", "--display-name", "王芳"])
    assert r.exit_code == 0, r.output
    generated = r.stdout.strip().splitlines()[-1]  # stdout: the password alone; messages go to stderr
    assert authenticate(store, "wangfang", generated)["role"] == "secretary"
    r = runner.invoke(main, [*args, "users", "add", "li", "--role", "grid_worker", "--grid", "51010700100101",
                             "--password-stdin"], input=PW + "\n")
    assert r.exit_code == 0 and PW not in r.output and r.stdout == ""
    r = runner.invoke(main, [*args, "users", "list", "--json"])
    users = {u["username"]: u for u in json.loads(r.stdout)}
    assert users["li"]["grids"] == "51010700100101" and users["wangfang"]["display_name"] == "王芳"
    assert all("password_hash" not in u for u in users.values()) and generated not in r.output
    assert runner.invoke(main, [*args, "users", "disable", "li"]).exit_code == 0
    table = runner.invoke(main, [*args, "users", "list"]).stdout
    assert "li\tdisabled\tgrid_worker" in table
    assert runner.invoke(main, [*args, "users", "enable", "li"]).exit_code == 0
    r = runner.invoke(main, [*args, "users", "reset-password", "li", "--password-stdin"], input="new-secret-77\n")
    assert r.exit_code == 0
    assert authenticate(store, "li", "new-secret-77")["username"] == "li"
    assert store.user_by_name("li")["session_epoch"] == 3  # disable + reset


def test_users_command_errors_exit_2_with_one_message(cli):
    runner, args, _ = cli
    r = runner.invoke(main, [*args, "users", "add", "x", "--role", "viewer", "--password-stdin"], input="123\n")
    assert r.exit_code == 2 and "password" in r.output and "Traceback" not in r.output
    r = runner.invoke(main, [*args, "users", "add", "gw", "--role", "grid_worker"])
    assert r.exit_code == 2 and "--grid" in r.output
    r = runner.invoke(main, [*args, "users", "disable", "nobody"])
    assert r.exit_code == 2 and "nobody" in r.output
    r = runner.invoke(main, [*args, "users", "add", "x", "--role", "mayor"])
    assert r.exit_code == 2  # click's own choice check
