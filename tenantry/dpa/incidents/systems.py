"""The inventory of the platform's systems, so an incident in one of them reaches exactly the
tenants that use it (DPA-3.3: every affected tenant is told; "all" would over-notify).

Core systems serve every tenant. A feature that only some tenants use (the API, exports,
backups) registers its system with a function that names those tenants; the feature's own
area registers it, since imports flow one way and this module cannot know the features.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass


@dataclass(frozen=True)
class System:
    key: str
    label: str
    # None: every tenant uses it. Otherwise the ids of the tenants whose data it holds or moves.
    tenant_ids: Callable[[], set[uuid.UUID]] | None = None


_SYSTEMS: dict[str, System] = {}


def register(key: str, label: str, *, tenant_ids: Callable[[], set[uuid.UUID]] | None = None) -> None:
    _SYSTEMS[key] = System(key, label, tenant_ids)


def get(key: str) -> System | None:
    return _SYSTEMS.get(key)


def label(key: str) -> str:
    # Incidents logged before the inventory named their system in free text: show it as written.
    system = _SYSTEMS.get(key)
    return system.label if system else key


def choices() -> list[tuple[str, str]]:
    return [(s.key, s.label) for s in sorted(_SYSTEMS.values(), key=lambda s: s.label)]


register("web", "Web application and API servers")
register("database", "Primary database and its replicas")
register("storage", "Object storage (exports, backups, imports)")
register("mail", "Outgoing e-mail delivery")
register("jobs", "Job queue and workers (Redis)")
