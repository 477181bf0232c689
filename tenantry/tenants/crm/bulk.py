"""Changes to several records at once, chosen on their list: contacts tagged, untagged, put
in a company or deleted; deals moved to a stage, given an owner or deleted; activities marked
done, reopened, assigned, given a due date or deleted. All or nothing: every record chosen
must still be this workspace's and usable, or nothing is written. Each record's change goes
through its own service (contacts.update, board.move, deals.set_column, activities.complete
and set_column, the deletes), so it is encrypted, indexed and audited exactly as one changed
on its page."""

from __future__ import annotations

import uuid

import sqlalchemy as sa
from wtforms.validators import ValidationError

from tenantry.platform.db import db

from . import activities, board, contacts, deals, forms, stages
from .models import Activity, Contact, Deal

MAX_CHOSEN = 100  # the contact list shows at most 100 a page
CONTACT_ACTIONS = ("tag", "untag", "company", "delete")
DEAL_ACTIONS = ("stage", "owner", "delete")
ACTIVITY_ACTIONS = ("done", "reopen", "owner", "due", "delete")
NOBODY = "nobody"  # the owner chosen to take a deal's (or an activity's) owner away


class Refused(ValueError):
    """What the request asks cannot be done; `field` names the form field it belongs to."""

    def __init__(self, field: str, message: str):
        super().__init__(message)
        self.field = field


def chosen(ids: list[str], model=Contact) -> list:
    """The records of `model` of these ids, in the order given; refused unless every one is of
    this workspace and may be changed (not a restricted contact, nor an activity of one
    [DSR-restrict])."""
    one, many = _NOUNS[model]
    wanted: dict[uuid.UUID, None] = {}
    for value in ids:
        try:
            wanted[uuid.UUID(value)] = None
        except ValueError as exc:
            raise Refused("ids", f"Choose {many} from the list.") from exc
    if not wanted:
        raise Refused("ids", f"Choose at least one {one}: tick the box next to it.")
    if len(wanted) > MAX_CHOSEN:
        raise Refused("ids", f"Choose at most {MAX_CHOSEN} {many} at a time.")
    # The ORM scopes this to the current tenant: another tenant's id is simply not found.
    found = {r.id: r for r in db.session.execute(sa.select(model).where(model.id.in_(list(wanted)))).scalars()}
    gone = len(wanted) - len(found)
    if gone:
        raise Refused("ids", f"{counted(gone, model)} chosen {'is' if gone == 1 else 'are'} no longer in this "
                             "workspace. Reload the list and choose again.")
    usable = _USABLE.get(model)
    if usable is not None:
        held = len(found) - len(db.session.execute(
            sa.select(model.id).where(model.id.in_(list(found)), usable())).all())
        if held:
            whose = "restricted" if model is Contact else \
                "of a restricted contact" if held == 1 else "of restricted contacts"
            raise Refused("ids", f"{counted(held, model)} chosen {'is' if held == 1 else 'are'} {whose} and "
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


def join(chosen_contacts: list[Contact], company_id: uuid.UUID, *, actor=None) -> int:
    """Each contact not in the company yet is put in it (one of this workspace's: checked by
    the caller); how many changed."""
    changed = 0
    for contact, plain in zip(chosen_contacts, Contact.plain_all(chosen_contacts), strict=True):
        if contact.company_id != company_id:
            contacts.update(contact, contacts.ContactData(**plain, company_id=company_id), actor=actor)
            changed += 1
    return changed


def delete(chosen_records: list, *, actor=None) -> int:
    """Each record deleted as from its page (a contact's or deal's activities go with it)."""
    for record in chosen_records:
        _DELETE[type(record)](record, actor=actor)
    return len(chosen_records)


_DELETE = {Contact: contacts.delete, Deal: deals.delete, Activity: activities.delete}


def complete(chosen_activities: list[Activity], *, done: bool, actor=None) -> int:
    """Each activity not in that state yet marked done (or open again), as from its row; how
    many changed."""
    changed = [a for a in chosen_activities if a.done != done]
    for activity in changed:
        activities.complete(activity, done=done, actor=actor)
    return len(changed)


def a_stage(value: str):
    """The stage chosen for the deals ticked: one of this workspace's."""
    stage_id = forms.uuid_or_none(value)
    stage = stages.get(stage_id) if stage_id is not None else None
    if stage is None:
        raise Refused("stage", "Choose the stage to move the deals to." if not value else
                      "That stage is no longer in this workspace's pipeline. Reload the list.")
    return stage


def an_owner(value: str) -> uuid.UUID | None:
    """The owner chosen for the deals or activities ticked: a member of this workspace, or
    nobody (None)."""
    if value == NOBODY:
        return None
    owner_id = forms.uuid_or_none(value)
    if owner_id is None or not deals.is_member(owner_id):
        raise Refused("owner", "Choose the new owner, a member of this workspace, or nobody." if not value else
                      "The owner must be an active member of this workspace.")
    return owner_id


def a_due_date(value: str):
    """The due date chosen for the activities ticked."""
    if not value.strip():
        raise Refused("due", "Choose the new due date.")
    try:
        return forms.iso_date(value)
    except ValidationError as exc:
        raise Refused("due", str(exc)) from exc


def reschedule(chosen_activities: list[Activity], due_on, *, actor=None) -> int:
    """Each activity not due on `due_on` yet gets it; how many changed."""
    return sum(activities.set_column(a, "due_on", due_on, actor=actor) for a in chosen_activities)


def move(chosen_deals: list[Deal], stage, *, actor=None) -> int:
    """Each deal not in `stage` yet goes there, as on the board; how many moved."""
    return sum(board.move(deal, stage.id, actor=actor, via="bulk") for deal in chosen_deals)


def reassign(chosen_records: list, owner_id: uuid.UUID | None, *, actor=None) -> int:
    """Each deal gets `owner_id` as its owner, or each activity as the member assigned to it
    (None: nobody); how many changed."""
    return sum(deals.set_column(r, "owner_id", owner_id, actor=actor, via="bulk") if isinstance(r, Deal)
               else activities.set_column(r, "owner_id", owner_id, actor=actor) for r in chosen_records)


def plural(model) -> str:
    return _NOUNS[model][1]


def counted(n: int, model=Contact) -> str:
    one, many = _NOUNS[model]
    return f"{n} {one if n == 1 else many}"


_NOUNS = {Contact: ("contact", "contacts"), Deal: ("deal", "deals"), Activity: ("activity", "activities")}
# The condition a record chosen must meet to be changed, where there is one [DSR-restrict].
_USABLE = {Contact: contacts.visible, Activity: activities.usable}

