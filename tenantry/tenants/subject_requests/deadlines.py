"""The answer's deadline [DSR-deadline]: one calendar month after receipt, extendable once by
two further months, and only while the first month runs (art. 12(3)).

A calendar month ends on the same day of the next month; when that month has no such day
(31 January + 1 month), on its last day (28 or 29 February), as Regulation 1182/71 counts it.
"""

from __future__ import annotations

from datetime import datetime

from tenantry.platform.business_days import add_months

FIRST_MONTHS = 1
EXTENSION_MONTHS = 2
__all__ = ["EXTENSION_MONTHS", "FIRST_MONTHS", "add_months", "extended_due", "first_due"]


def first_due(received_at: datetime) -> datetime:
    return add_months(received_at, FIRST_MONTHS)


def extended_due(received_at: datetime) -> datetime:
    return add_months(first_due(received_at), EXTENSION_MONTHS)
