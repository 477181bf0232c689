"""Per-client rate limits of the API (TENANTRY_API_RATE_LIMIT, a Flask-Limiter string).

With Redis the window is counted by token_cache's script, which answers the token cache's
question in the same round trip; without it, by Flask-Limiter's own storage; while Redis does
not answer, in each process's memory."""

from __future__ import annotations

import functools
import math
import time
import uuid

from flask import current_app, g
from limits import RateLimitItem
from limits import parse as parse_limit
from limits.storage import MemoryStorage
from limits.strategies import FixedWindowRateLimiter

from tenantry.platform.extensions import limiter

from . import token_cache
from .errors import ApiError


@functools.lru_cache(maxsize=16)
def _parsed(text: str) -> RateLimitItem:
    return parse_limit(text)


def _limit() -> RateLimitItem:
    return _parsed(current_app.config["TENANTRY_API_RATE_LIMIT"])


def count_request(client_id: uuid.UUID) -> token_cache.Window | None:
    return token_cache.count_request(client_id, _limit().get_expiry())


def check(client) -> None:
    """Count the request (unless the token check already did) and refuse it past the limit."""
    item = _limit()
    if token_cache.enabled():
        window = g.pop("api_rate_window", _NOT_COUNTED)
        if window is _NOT_COUNTED or (window is not None and window.client_id != client.id):
            window = count_request(client.id)
        if window is None:
            # Redis did not answer (logged): this process counts in its own memory meanwhile, as
            # sign-in and the token endpoint do (platform/web.py), so an outage lifts no limit.
            retry = _refused(_in_memory(), item, client)
        elif window.count <= item.amount:
            return
        else:
            retry = max(1, math.ceil(window.ttl_ms / 1000))
    else:
        retry = _refused(limiter.limiter, item, client)
    if retry is None:
        return
    raise ApiError(429, "rate_limited", f"Too many requests for this client; try again in {retry} s.",
                   headers={"Retry-After": str(retry)})


def _refused(strategy, item: RateLimitItem, client) -> int | None:
    """Seconds until the client may try again, counted by a limits strategy; None: go on."""
    if strategy is None or strategy.hit(item, "tenantry-api", str(client.id)):
        return None
    reset_at, _remaining = strategy.get_window_stats(item, "tenantry-api", str(client.id))
    return max(1, int(reset_at - time.time()) + 1)


def _in_memory():
    strategy = current_app.extensions.get(_MEMORY)
    if strategy is None:
        strategy = current_app.extensions[_MEMORY] = FixedWindowRateLimiter(MemoryStorage())
    return strategy


_MEMORY = "tenantry.api_rate_in_memory"


_NOT_COUNTED = object()
