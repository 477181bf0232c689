"""A workspace's own clock: its time zone (chosen by its admins, else its country's) and so its
date and the times its pages show.

The CRM's "today" (what is due, overdue, or past its close date) is the workspace's local date:
an activity a Prague team set for Monday is due from midnight on Monday in Prague, not from
01:00, when the UTC date turns. The audit trail shows its times in the same zone.
"""

from __future__ import annotations

import functools
import zoneinfo
from datetime import UTC, date, datetime, time
from pathlib import Path

from markupsafe import Markup

from tenantry.platform import clock
from tenantry.platform.tenancy import current_tenant

UTC_ZONE = zoneinfo.ZoneInfo("UTC")


@functools.cache
def _country_zones() -> dict[str, tuple[str, ...]]:
    """Each country's zones, its main one first, as the tz database's zone.tab lists them."""
    zones: dict[str, list[str]] = {}
    for base in zoneinfo.TZPATH:
        path = Path(base) / "zone.tab"
        if path.is_file():
            for line in path.read_text().splitlines():
                parts = line.split("\t")
                if len(parts) >= 3 and not line.startswith("#"):
                    zones.setdefault(parts[0].upper(), []).append(parts[2])
            break
    return {country: tuple(names) for country, names in zones.items()}


def zones_of_country(country: str | None) -> tuple[str, ...]:
    return _country_zones().get((country or "").upper(), ())


def country_zone(country: str | None) -> str:
    """The zone a workspace in `country` has unless its admins chose another: the first listed."""
    return next(iter(zones_of_country(country)), "UTC")


@functools.cache
def all_zones() -> tuple[str, ...]:
    return tuple(sorted(zoneinfo.available_timezones()))


def zone_of(tenant=None) -> zoneinfo.ZoneInfo:
    """The workspace's time zone (the current one's by default): the one its admins chose, else
    the first zone listed for its country, else UTC."""
    tenant = current_tenant if tenant is None else tenant
    name = getattr(tenant, "time_zone", None) or country_zone(tenant.country)
    try:
        return zoneinfo.ZoneInfo(name)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        return UTC_ZONE


def now(tenant=None, at: datetime | None = None) -> datetime:
    """`at` (the clock's now by default) on the workspace's clock."""
    return (at or clock.now()).astimezone(zone_of(tenant))


def today(tenant=None, at: datetime | None = None) -> date:
    """The workspace's date at `at` (now by default)."""
    return now(tenant, at).date()


def shown(moment: datetime | None, tenant=None) -> Markup:
    """A stored (UTC) time as the workspace reads it, with its zone, and UTC on hover: the
    template filter `local`."""
    if moment is None:
        return Markup("—")
    moment = clock.aware(moment)
    local = now(tenant, moment)
    return Markup('<time datetime="{}" title="{} UTC">{} {}</time>').format(
        moment.astimezone(UTC).isoformat(timespec="seconds"), moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M"),
        local.strftime("%Y-%m-%d %H:%M"), local.tzname())


def days_ago(moment: datetime, tenant=None) -> int:
    """Whole local days from `moment` to today (0: today): the template filter `days_ago`."""
    return (today(tenant) - now(tenant, clock.aware(moment)).date()).days


def start_of_month(tenant=None, at: datetime | None = None) -> datetime:
    """The first moment of the workspace's current month, as an aware datetime."""
    local = now(tenant, at)
    return datetime.combine(local.date().replace(day=1), time(0), local.tzinfo)
