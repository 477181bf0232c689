"""Remembered token checks (api/token_cache): a request whose check is remembered asks the
database nothing about its token, and a change that could alter a check, committed by any
worker, is seen by every other worker's next request. Two apps on one database and one Redis
stand for two gunicorn workers: each remembers on its own."""

from __future__ import annotations

import contextlib
import uuid
from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa
from redis import Redis

from tenantry.platform import redis_scripts
from tenantry.platform.crypto import fields, keyring
from tenantry.platform.db import db
from tenantry.platform.tenancy import Tenant, tenant_context
from tenantry.tenants.api import clients, token_cache
from tenantry.tenants.crm.models import Contact
from tests.identity.support import NO_LIMIT, in_app, new_tenant
from tests.tenants.api.conftest import Bearer, error_of, new_client, token_for

pytestmark = pytest.mark.redis


def _worker(make_app, redis_url, **overrides):
    return make_app(WTF_CSRF_ENABLED=False, REDIS_URL=redis_url, TENANTRY_RATELIMIT_LOGIN=NO_LIMIT,
                    TENANTRY_API_RATE_LIMIT=NO_LIMIT, TENANTRY_API_TOKEN_RATE_LIMIT=NO_LIMIT, **overrides)


@pytest.fixture
def first(make_app, redis_url):
    return _worker(make_app, redis_url)


@pytest.fixture
def second(make_app, redis_url):
    return _worker(make_app, redis_url)


@pytest.fixture
def acme(first):
    return new_tenant(first, "acme", country="CZ")


@pytest.fixture
def creds(first, acme):
    return new_client(first, acme, "crm:read crm:write")


@pytest.fixture
def token(first, creds):
    return token_for(first.test_client(), creds)


@contextlib.contextmanager
def reads_of(app, table: str):
    """Counts the statements that read `table` in `app`'s database."""
    seen = []

    def count(_conn, _cursor, statement, *_args):
        if f"FROM {table}" in statement:
            seen.append(statement)

    with app.app_context():
        engine = db.engine
    sa.event.listen(engine, "before_cursor_execute", count)
    try:
        yield seen
    finally:
        sa.event.remove(engine, "before_cursor_execute", count)


def token_lookups(app):
    """Counts the statements that look a token up in `app`'s database."""
    return reads_of(app, "api_tokens")


def warm(api: Bearer) -> None:
    """The first request learns the generation, the second remembers its check."""
    for _ in range(2):
        assert api.get("/api/v1/contacts").status_code == 200


def test_a_remembered_check_asks_the_database_nothing_about_the_token(second, token):
    api = Bearer(second.test_client(), token)
    warm(api)
    created = api.post("/api/v1/contacts", json={"first_name": "Jana", "last_name": "Nováková",
                                                 "phone": "602 123 456"})
    with token_lookups(second) as lookups:
        assert created.status_code == 201, created.get_data(as_text=True)
        got = api.get(f"/api/v1/contacts/{created.get_json()['id']}")
        listed = api.get("/api/v1/contacts?q=novakova")
    assert lookups == []
    # The remembered tenant is the tenant: its country still makes the phone E.164.
    assert got.status_code == 200 and got.get_json()["phone"] == "+420602123456"
    assert [c["id"] for c in listed.get_json()["items"]] == [created.get_json()["id"]]


@pytest.mark.obligation("DPA-B.access-control", "TT-account-review")
def test_a_client_revoked_by_one_worker_is_refused_by_the_next_request_to_another(first, second, acme, creds, token):
    api = Bearer(second.test_client(), token)
    warm(api)
    with in_app(first), tenant_context(db.session.get(Tenant, acme.id)):
        assert clients.revoke(clients.get(creds.pk)) is True
    dead = api.get("/api/v1/contacts")
    assert dead.status_code == 401 and error_of(dead)["code"] == "invalid_token"


def test_a_tenant_deleted_by_one_worker_is_seen_by_another(first, second, acme, token):
    api = Bearer(second.test_client(), token)
    warm(api)
    with in_app(first):
        db.session.get(Tenant, acme.id).status = "deleted"
    assert api.get("/api/v1/contacts").status_code == 401


def test_a_key_rotated_by_another_process_is_used_by_the_next_write(first, second, acme, token):
    api = Bearer(second.test_client(), token)
    warm(api)
    with in_app(first):
        new = keyring.rotate(acme.id).version
    with token_lookups(second) as lookups:
        created = api.post("/api/v1/contacts", json={"first_name": "Petr", "last_name": "Svoboda"})
    assert created.status_code == 201 and len(lookups) == 1
    table = Contact.__table__
    with in_app(second, commit=False), tenant_context(db.session.get(Tenant, acme.id)):
        stored = db.session.execute(sa.select(sa.type_coerce(table.c.last_name, sa.LargeBinary))
                                    .where(table.c.id == uuid.UUID(created.get_json()["id"]))).scalar_one()
    assert fields.key_version(stored) == new


def test_writing_last_used_at_publishes_no_new_generation(first, second, token, redis_url, time_machine):
    api = Bearer(second.test_client(), token)
    warm(api)
    redis = Redis.from_url(redis_url)
    before = redis.get(token_cache.GENERATION)
    # Past the minute after which last_used_at is written again.
    time_machine.move_to(datetime.now(UTC) + timedelta(minutes=2))
    with token_lookups(second) as lookups:
        assert api.get("/api/v1/contacts").status_code == 200
        assert api.get("/api/v1/contacts").status_code == 200
    assert redis.get(token_cache.GENERATION) == before and lookups == []
    redis.close()


def test_a_check_lapses_after_its_time_even_if_no_change_was_published(second, token, monkeypatch):
    monkeypatch.setattr(token_cache, "SECONDS", 0.0)
    api = Bearer(second.test_client(), token)
    warm(api)
    with token_lookups(second) as lookups:
        assert api.get("/api/v1/contacts").status_code == 200
    assert len(lookups) == 1


def test_without_redis_answering_checks_come_from_the_database_and_nothing_is_refused(second, token, monkeypatch):
    api = Bearer(second.test_client(), token)
    warm(api)
    # Made as kept_client makes its clients (from a URL: no retries with backoff, unlike Redis()).
    monkeypatch.setattr(redis_scripts, "kept_client",
                        lambda _purpose: Redis.from_url("redis://127.0.0.1:1/0", single_connection_client=True))
    with token_lookups(second) as lookups:
        assert [api.get("/api/v1/contacts").status_code for _ in range(2)] == [200, 200]
    assert len(lookups) == 2


def test_a_custom_field_made_by_one_worker_binds_the_next_write_to_another(first, second, acme, token):
    from tenantry.tenants.crm import custom_fields

    api = Bearer(second.test_client(), token)
    warm(api)
    assert api.post("/api/v1/contacts", json={"first_name": "Jana"}).status_code == 201
    # Remembered: a create reads the workspace's custom fields no more.
    with reads_of(second, "crm_custom_fields") as lookups:
        assert api.post("/api/v1/contacts", json={"first_name": "Eva"}).status_code == 201
    assert lookups == []
    with in_app(first), tenant_context(db.session.get(Tenant, acme.id)):
        custom_fields.create(custom_fields.DefinitionData(label="Segment", key="segment", type="choice",
                                                          options=["SMB"], required=True, special_category=False))
    refused = api.post("/api/v1/contacts", json={"first_name": "Petr"})
    assert refused.status_code == 422
    assert error_of(refused)["fields"] == {"custom_fields.segment": "Segment is required."}
    assert api.post("/api/v1/contacts", json={"first_name": "Petr", "custom_fields": {"segment": "smb"}}).status_code == 201
    # And a change of it, as a new generation too.
    with in_app(first), tenant_context(db.session.get(Tenant, acme.id)):
        (segment,) = custom_fields.definitions()
        custom_fields.update(segment, custom_fields.DefinitionData(label="Segment", key="segment", type="choice",
                                                                   options=["SMB"], required=False,
                                                                   special_category=False))
    assert api.post("/api/v1/contacts", json={"first_name": "Olga"}).status_code == 201


@pytest.mark.obligation("DPA-A.special")
def test_a_special_category_agreement_revoked_by_one_worker_stops_the_next_write_to_another(first, second, acme, token):
    from tests.tenants.api.test_custom_fields import _agree, _define, _revoke

    agreement = _agree(first, acme)
    _define(first, acme, "allergies", "text", special=True)
    api = Bearer(second.test_client(), token)
    warm(api)
    sent = {"first_name": "Jana", "custom_fields": {"allergies": "Peanuts"}}
    assert api.post("/api/v1/contacts", json=sent).status_code == 201
    _revoke(first, acme, agreement)
    refused = api.post("/api/v1/contacts", json=sent)
    assert refused.status_code == 422 and set(error_of(refused)["fields"]) == {"custom_fields.allergies"}
