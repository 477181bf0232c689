"""Human reference numbers (AUD-0001, COOP-0001) are count + 1 per tenant: two requests opened
at once can both count the same. The unique (tenant_id, ref) constraint refuses the second;
here the loser takes the next number under a savepoint, so its transaction carries on."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import TypeVar

from sqlalchemy.exc import IntegrityError

from tenantry.platform.db import db

T = TypeVar("T")
ATTEMPTS = 5
_REF_CONFLICT = re.compile(r"(_ref\b|\.ref\b)")
_NUMBERED = re.compile(r"^(?P<prefix>.*-)(?P<n>\d+)$")


def _number(ref: str) -> tuple[str, int, int]:
    match = _NUMBERED.match(ref)
    if match is None:
        raise ValueError(f"not a numbered reference: {ref!r}")
    return match["prefix"], int(match["n"]), len(match["n"])


def _after(ref: str) -> str:
    prefix, n, width = _number(ref)
    return f"{prefix}{n + 1:0{width}d}"


def insert_numbered(build: Callable[[str], T], next_ref: Callable[[], str]) -> T:
    """Add and flush `build(ref)`; on a duplicate reference count again and retry."""
    taken: str | None = None
    for _ in range(ATTEMPTS):
        ref = next_ref()
        if taken is not None and _number(ref)[1] <= _number(taken)[1]:
            # The winner's row may not be visible to this transaction yet: step past it.
            ref = _after(taken)
        row = build(ref)
        try:
            with db.session.begin_nested():
                db.session.add(row)
        except IntegrityError as exc:
            if not _REF_CONFLICT.search(str(exc.orig)):
                raise
            taken = ref
            continue
        return row
    raise RuntimeError(f"no free reference after {ATTEMPTS} attempts (last taken {taken})")
