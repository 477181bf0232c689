"""Telling a member that someone gave them activities or deals: one e-mail per member per
change (a list's bulk change of fifty activities is one e-mail), queued in the transaction
that makes the change, so it goes only if the change is committed.

Like the morning reminder (reminders.py) the e-mail names none of the workspace's contacts,
companies, deals or notes: who assigned how many, and links to the member's own lists. A
member who turned those e-mails off on the dashboard gets none; nobody is told of what they
gave themselves, and changes made by the system (an import of the workspace's archive) tell
no one.
"""

from __future__ import annotations

import uuid
from collections import Counter

from sqlalchemy import event
from sqlalchemy.orm import Session

from tenantry.dpa import recipients
from tenantry.platform import notify
from tenantry.platform.db import db
from tenantry.platform.identity.models import User
from tenantry.platform.tenancy import Tenant

from .models import Activity, ActivityReminder

KIND = "crm.assigned"
_PENDING = "tenantry.crm.assigned"


def note(record, before: uuid.UUID | None, *, actor) -> None:
    """`record` (an activity or a deal) now belongs to its owner_id, which was `before`."""
    owner_id = record.owner_id
    if owner_id is None or owner_id == before or actor is None or getattr(actor, "id", None) == owner_id:
        return
    pending = db.session.info.setdefault(_PENDING, {})
    key = (record.tenant_id, owner_id)
    entry = pending.setdefault(key, {"actor": _who(actor), "counts": Counter()})
    entry["counts"]["activity" if isinstance(record, Activity) else "deal"] += 1


def withdraw(record) -> None:
    """Take back what note() counted for `record` in this transaction: its owner already had it
    (a merged deal whose owner came from the other deal)."""
    pending = db.session.info.get(_PENDING, {})
    key = (record.tenant_id, record.owner_id)
    entry = pending.get(key)
    if entry is None:
        return
    counts = entry["counts"]
    counts["activity" if isinstance(record, Activity) else "deal"] -= 1
    if not +counts:
        del pending[key]


def _who(actor) -> str:
    """The member by name, or an API client as the integration it is."""
    if hasattr(actor, "display_name"):
        return actor.display_name
    return f"The integration \"{actor.name}\""


@event.listens_for(Session, "before_commit")
def _tell(session: Session) -> None:
    pending = session.info.pop(_PENDING, None)
    for (tenant_id, owner_id), entry in (pending or {}).items():
        wanted = session.get(ActivityReminder, (tenant_id, owner_id))
        if wanted is not None and not wanted.enabled:
            continue
        user, tenant = session.get(User, owner_id), session.get(Tenant, tenant_id)
        if user is None or tenant is None:
            continue
        _send(tenant, user, entry["actor"], entry["counts"])


@event.listens_for(Session, "after_rollback")
def _forget(session: Session) -> None:
    session.info.pop(_PENDING, None)


def _send(tenant: Tenant, user: User, actor: str, counts: Counter) -> None:
    from . import bulk  # bulk imports the services, which import this module
    from .models import Deal

    what = " and ".join(bulk.counted(counts[kind], model) for kind, model in (("activity", Activity), ("deal", Deal))
                        if counts[kind])
    base = f"{recipients.base_url()}/t/{tenant.slug}"
    links = []
    if counts["activity"]:
        links.append(f"Your open activities:\n{base}/crm/activities?owner={user.id}&state=open")
    if counts["deal"]:
        links.append(f"Your deals:\n{base}/crm/deals?owner={user.id}")
    body = (f"{actor} assigned you {what} in {tenant.name}.\n\n" + "\n\n".join(links) + "\n\n"
            f"This e-mail names none of the workspace's contacts: what it is about stays in the workspace.\n"
            f"To stop e-mails about what is assigned to you, use \"Stop these e-mails\" on your dashboard:\n"
            f"{base}/\n")
    notify.create(KIND, recipient=user, tenant_id=tenant.id, subject=f"{tenant.name}: {actor} assigned you {what}",
                  body=body)
