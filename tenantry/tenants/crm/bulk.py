"""Changes to several contacts at once, chosen on the contact list: a tag added or removed, or
the contacts deleted. All or nothing: every contact chosen must still be this workspace's and
usable, or nothing is written. Each contact's change goes through contacts.update or
contacts.delete, so it is encrypted, indexed and audited exactly as one changed on its page."""

from __future__ import annotations

import uuid

import sqlalchemy as sa

from tenantry.platform.db import db

from . import contacts
from .models import Contact

MAX_CHOSEN = 100  # the contact list shows at most 100 a page
ACTIONS = ("tag", "untag", "delete")


class Refused(ValueError):
    """What the request asks cannot be done; `field` names the form field it belongs to."""

    def __init__(self, field: str, message: str):
        super().__init__(message)
        self.field = field


def chosen(ids: list[str]) -> list[Contact]:
    """The contacts of these ids, in the order given; refused unless every one is a contact of
    this workspace that may be changed (a restricted one may not [DSR-restrict])."""
    wanted: dict[uuid.UUID, None] = {}
    for value in ids:
        try:
            wanted[uuid.UUID(value)] = None
        except ValueError as exc:
            raise Refused("ids", "Choose contacts from the list.") from exc
    if not wanted:
        raise Refused("ids", "Choose at least one contact: tick the box next to its name.")
    if len(wanted) > MAX_CHOSEN:
        raise Refused("ids", f"Choose at most {MAX_CHOSEN} contacts at a time.")
    # The ORM scopes this to the current tenant: another tenant's id is simply not found.
    found = {c.id: c for c in db.session.execute(sa.select(Contact).where(Contact.id.in_(list(wanted)))).scalars()}
    gone = len(wanted) - len(found)
    if gone:
        raise Refused("ids", f"{counted(gone)} chosen {'is' if gone == 1 else 'are'} no longer in this workspace. "
                             "Reload the list and choose again.")
    restricted = sum(1 for c in found.values() if c.restricted_at is not None)
    if restricted:
        raise Refused("ids", f"{counted(restricted)} chosen {'is' if restricted == 1 else 'are'} restricted and "
                             "cannot be changed.")
    return [found[i] for i in wanted]


def a_tag(value: str) -> str:
    """The tag typed for the contacts chosen, checked as the contact form checks tags."""
    tag = " ".join((value or "").split())
    if not tag:
        raise Refused("tag", "Type the tag to add or remove.")
    if "," in tag:
        raise Refused("tag", "One tag at a time: a comma separates tags.")
    if len(tag) > contacts.MAX_TAG:
        raise Refused("tag", f"A tag is at most {contacts.MAX_TAG} characters.")
    if contacts.normal_tag(tag) is None:
        raise Refused("tag", "A tag needs at least one letter or digit.")
    return tag


def tag(chosen_contacts: list[Contact], value: str, *, actor=None) -> int:
    """Adds the tag to each contact that does not carry it yet (as the tag filter matches:
    ignoring case and accents); how many changed."""
    return _retag(chosen_contacts, value, add=True, actor=actor)


def untag(chosen_contacts: list[Contact], value: str, *, actor=None) -> int:
    """Removes the tag, however it was written, from each contact carrying it; how many changed."""
    return _retag(chosen_contacts, value, add=False, actor=actor)


def _retag(chosen_contacts: list[Contact], value: str, *, add: bool, actor) -> int:
    wanted = contacts.normal_tag(value)
    changed = 0
    for contact, plain in zip(chosen_contacts, Contact.plain_all(chosen_contacts), strict=True):
        tags = list(plain["tags"] or [])
        carrying = [t for t in tags if contacts.normal_tag(t) == wanted]
        if add == bool(carrying):
            continue
        tags = [*tags, value] if add else [t for t in tags if t not in carrying]
        contacts.update(contact, contacts.ContactData(**{**plain, "tags": tags}, company_id=contact.company_id),
                        actor=actor)
        changed += 1
    return changed


def delete(chosen_contacts: list[Contact], *, actor=None) -> int:
    for contact in chosen_contacts:
        contacts.delete(contact, actor=actor)
    return len(chosen_contacts)


def counted(n: int) -> str:
    return f"{n} contact{'s' if n != 1 else ''}"
