"""Bearer tokens already checked, remembered between requests, and the per-client rate window
that tells whether they may still be trusted.

Looking a token up (its client, its tenant, the tenant's active keys) was a quarter of an API
read's work (bench/crm.py, issue 3). With Redis, each request already asks it for the client's
rate window; the same script returns the *generation* of everything a token's check reads.
Any committed change that could alter a check gives the generation a new random value:
a client revoked or edited, a tenant's status or settings, a token changed or deleted, a key
rotated, retired or destroyed, and a custom field or a special-category agreement made or
changed, which decide what a contact's write must hold (custom_fields.py; see `_note_changes`). A remembered check is used only while
the generation it was made under is still current, so every worker sees a revocation by its
next request; the worker that committed it forgets at once. A remembered check also lapses
after SECONDS, in case a new generation could not be published (Redis down at that commit).

Without Redis (the embedded default) nothing is remembered, and the rate limit is Flask-
Limiter's own storage, as before.

Remembered checks are copies detached from any session. A request that uses one adds fresh
copies of the client and the tenant to its own session (no query), so that what it changes on
them is written as on loaded rows; the token and the key rows are only read and stay detached.
"""

from __future__ import annotations

import functools
import logging
import threading
import time
import uuid
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from typing import NamedTuple

import sqlalchemy as sa
from flask import current_app, g
from redis.exceptions import RedisError
from sqlalchemy import event
from sqlalchemy.orm import Session, make_transient_to_detached
from sqlalchemy.orm.attributes import set_committed_value

from tenantry.dpa.special_categories import SpecialCategoryAgreement
from tenantry.platform import redis_scripts
from tenantry.platform.crypto.keyring import TenantKey
from tenantry.platform.tenancy import Tenant
from tenantry.tenants.crm.custom_fields import CustomField

from .models import ApiClient, ApiToken

log = logging.getLogger(__name__)

SECONDS = 30.0
ENTRIES = 2000
GENERATION = "tenantry:api:grant-generation"
EXTENSION = "tenantry.api_token_cache"
WATCHED = (ApiClient, ApiToken, Tenant, TenantKey, CustomField, SpecialCategoryAgreement)
# Of these, what changes checks already made by being new: a key row is a rotation.
WATCHED_NEW = (TenantKey, CustomField, SpecialCategoryAgreement)
_WATCHED_TABLES = frozenset(model.__tablename__ for model in WATCHED)
# Written by the check itself (once a minute); nothing a check decides on.
UNWATCHED_COLUMNS = {ApiClient: frozenset({"last_used_at"})}

# The client's fixed window (counted from its first request, as Flask-Limiter's fixed-window
# strategy does) and the generation, made up on first use: a Redis that lost its data (a
# restart) never hands back a generation a remembered check was made under.
_WINDOW = """
local n = redis.call('INCR', KEYS[1])
if n == 1 then redis.call('PEXPIRE', KEYS[1], ARGV[1]) end
local generation = redis.call('GET', KEYS[2])
if not generation then
  generation = ARGV[2]
  redis.call('SET', KEYS[2], generation)
end
return {n, redis.call('PTTL', KEYS[1]), generation}
"""


class Window(NamedTuple):
    client_id: uuid.UUID
    count: int
    ttl_ms: int
    generation: bytes


def enabled() -> bool:
    return bool(current_app.extensions["tenantry.settings"].redis_url)


def count_request(client_id: uuid.UUID, seconds: int) -> Window | None:
    """One more request in the client's window; None when Redis could not answer."""
    key = f"tenantry:api:rate:{client_id}:{seconds}"
    redis = None
    try:
        redis = redis_scripts.kept_client("api")  # connects when new: Redis may be down right here
        n, ttl, generation = redis_scripts.run(redis, _WINDOW, [key, GENERATION], [seconds * 1000, uuid.uuid4().hex])
    except (RedisError, OSError):
        _disconnect(redis)
        log.warning("Redis did not answer the API rate window; this request is not counted", exc_info=True)
        return None
    cache = _cache()
    cache.generation = generation
    return Window(client_id, int(n), int(ttl), generation)


def _disconnect(redis) -> None:
    # An answer may still be on its way: never read it as the next command's.
    if redis is not None:
        redis.connection.disconnect()


@dataclass(frozen=True)
class _Entry:
    rows: tuple  # detached copies: token, client, tenant, then the active keys
    generation: bytes
    until: float


class _Cache:
    def __init__(self) -> None:
        self.entries: OrderedDict[str, _Entry] = OrderedDict()
        self.lock = threading.Lock()
        self.generation: bytes | None = None  # the latest this worker has seen

    def get(self, token_hash: str) -> _Entry | None:
        entry = self.entries.get(token_hash)
        if entry is not None and entry.until <= time.monotonic():
            self.drop(token_hash)
            return None
        return entry

    def put(self, token_hash: str, entry: _Entry) -> None:
        with self.lock:
            self.entries[token_hash] = entry
            self.entries.move_to_end(token_hash)
            while len(self.entries) > ENTRIES:
                self.entries.popitem(last=False)

    def drop(self, token_hash: str) -> None:
        with self.lock:
            self.entries.pop(token_hash, None)

    def clear(self) -> None:
        with self.lock:
            self.entries.clear()


def _cache() -> _Cache:
    cache = current_app.extensions.get(EXTENSION)
    if cache is None:
        cache = current_app.extensions.setdefault(EXTENSION, _Cache())
    return cache


def recall(token_hash: str, session: Session, count: Callable[[uuid.UUID], Window | None]) -> tuple | None:
    """The remembered check of a token (token, client, tenant, keys...), with its client and
    tenant in `session`, if the generation it was made under is still current. `count` counts
    the request in its client's window (rate_limit.count_request); its answer is kept in g for
    the rate limit, whatever is decided."""
    if not enabled():
        return None
    cache = _cache()
    entry = cache.get(token_hash)
    if entry is None:
        return None
    window = count(entry.rows[1].id)
    g.api_rate_window = window
    if window is None or window.generation != entry.generation:
        cache.drop(token_hash)
        return None
    token, client, tenant, *keys = entry.rows
    # Only what the request may change is attached to its session; the token and the key rows
    # are only read (keyring takes remembered key rows as they are).
    return (token, _attached(session, client), _attached(session, tenant), *keys)


def generation_before_lookup() -> bytes | None:
    """What a check about to be read from the database will be remembered under: the latest
    generation seen before the read, so that a change committed during it is not missed."""
    return _cache().generation if enabled() else None


def remember(token_hash: str, rows: tuple, generation: bytes | None) -> None:
    if generation is None:
        return
    copies = tuple(detached_copy(row) for row in rows)
    if None in copies:
        return
    _cache().put(token_hash, _Entry(copies, generation, time.monotonic() + SECONDS))


def detached_copy(obj):
    """A copy of a loaded row, detached from any session; None if the row is not as loaded."""
    state = sa.inspect(obj)
    if state.modified or state.expired_attributes or not state.has_identity:
        return None
    loaded = state.dict
    if any(key not in loaded for key in _column_keys(state.mapper)):
        return None
    return _copy(state, loaded)


def _copy(state, loaded: dict):
    # As the ORM's loader fills an instance: the values straight into its dict, then marked
    # committed and given the row's identity (make_transient_to_detached). set_committed_value
    # per column did the same one attribute at a time: 126 more Python calls per API read.
    copy = state.manager.new_instance()
    sa.inspect(copy).dict.update({key: loaded[key] for key in _column_keys(state.mapper)})
    make_transient_to_detached(copy)
    return copy


@functools.cache
def _column_keys(mapper) -> tuple[str, ...]:
    return tuple(attr.key for attr in mapper.column_attrs)


def _attached(session: Session, remembered):
    """A copy of a remembered row in `session`, as if just loaded: a plain copy added (cheaper
    than merge), unless the session has that row already."""
    state = sa.inspect(remembered)
    present = session.identity_map.get(state.key)
    if present is not None:
        return present
    copy = _copy(state, state.dict)
    session.add(copy)
    return copy


def seen_last_used(client_id: uuid.UUID, token_hash: str, at) -> None:
    """The request wrote the client's last_used_at: its remembered copy says so too, or every
    later request would write it again."""
    entry = _cache().get(token_hash) if enabled() else None
    if entry is not None and entry.rows[1].id == client_id:
        set_committed_value(entry.rows[1], "last_used_at", at)


# --- a new generation when a check could change ------------------------------------------

_CHANGED = "tenantry.api_grants_changed"


def _changes_a_check(obj) -> bool:
    unwatched = UNWATCHED_COLUMNS.get(type(obj), frozenset())
    state = sa.inspect(obj)
    return any(attr.key not in unwatched and attr.history.has_changes() for attr in state.attrs)


@event.listens_for(Session, "after_flush")
def _note_changes(session, _flush_context) -> None:
    # A new client or token changes no check made so far; a new key row is a rotation.
    if session.info.get(_CHANGED):
        return
    if any(isinstance(obj, WATCHED_NEW) for obj in session.new) or any(
            isinstance(obj, WATCHED) and (obj in session.deleted or _changes_a_check(obj))
            for obj in (*session.dirty, *session.deleted)):
        session.info[_CHANGED] = True


@event.listens_for(Session, "do_orm_execute")
def _note_bulk_changes(state) -> None:
    if not (state.is_update or state.is_delete or state.is_insert):
        return
    table = getattr(state.statement, "table", None)
    if getattr(table, "name", None) in _WATCHED_TABLES:
        state.session.info[_CHANGED] = True


@event.listens_for(Session, "after_commit")
def _publish_generation(session) -> None:
    if not session.info.pop(_CHANGED, False):
        return
    try:
        app = current_app._get_current_object()
    except RuntimeError:  # no application context: nothing of this process remembers checks
        return
    cache = app.extensions.get(EXTENSION)
    if cache is not None:
        cache.clear()
    if not app.extensions["tenantry.settings"].redis_url:
        return
    redis = None
    try:
        redis = redis_scripts.kept_client("api")
        redis.set(GENERATION, uuid.uuid4().hex)
    except (RedisError, OSError):
        _disconnect(redis)
        log.error("a change to API clients, tokens, tenants or keys could not be published; other workers "
                  "trust their remembered token checks for up to %d s more", SECONDS, exc_info=True)

