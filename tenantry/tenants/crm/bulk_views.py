"""The lists' changes to the records ticked (crm/bulk.py): contacts tagged, untagged or
deleted; deals moved to a stage, given an owner or deleted. Routes of the CRM's blueprint.

A refused change shows its list again with the boxes still ticked and the error next to the
choice it is about (422), and writes nothing; a done one returns to the list as it was, its
query carried through the form as list_<name>."""

from __future__ import annotations

from flask import flash, redirect, request, url_for
from flask_login import current_user
from werkzeug.datastructures import MultiDict

from tenantry.platform.db import db
from tenantry.platform.web import require_role

from . import bulk, deals
from .models import Deal
from .views import _contact_list, _deal_list, bp

_CONTACT_LIST_ARGS = ("q", "company", "tag", "sort", "page")
_DEAL_LIST_ARGS = ("q", "stage", "owner", "sort", "page")


def _listed(names: tuple[str, ...]) -> MultiDict:
    """The list's own query, as the bulk form carried it."""
    return MultiDict({name: request.form[f"list_{name}"] for name in names if request.form.get(f"list_{name}")})


def _done(message: str, list_endpoint: str, listed: MultiDict):
    db.session.commit()
    flash(message, "success")
    return redirect(url_for(list_endpoint, **listed.to_dict()))


@bp.post("/crm/contacts/bulk")
@require_role("member")
def contact_bulk():
    listed = _listed(_CONTACT_LIST_ARGS)
    ids = request.form.getlist("ids")
    action = request.form.get("action", "")
    try:
        if action not in bulk.CONTACT_ACTIONS:
            raise bulk.Refused("action", "Choose what to do with the contacts chosen.")
        chosen = bulk.chosen(ids)
        if action == "delete":
            done = f"{bulk.counted(bulk.delete(chosen, actor=current_user))} deleted."
        else:
            value = bulk.a_tag(request.form.get("bulk_tag", ""))
            changed = (bulk.tag if action == "tag" else bulk.untag)(chosen, value, actor=current_user)
            done = (f"Tag “{value}” {'added to' if action == 'tag' else 'removed from'} {bulk.counted(changed)} "
                    f"(of {len(chosen)} chosen).")
    except bulk.Refused as exc:
        db.session.rollback()
        return _contact_list(listed, bulk_errors={exc.field: str(exc)}, chosen=frozenset(ids),
                             bulk_tag=request.form.get("bulk_tag", ""))
    return _done(done, "crm.contact_list", listed)


@bp.post("/crm/deals/bulk")
@require_role("member")
def deal_bulk():
    listed = _listed(_DEAL_LIST_ARGS)
    ids = request.form.getlist("ids")
    action = request.form.get("action", "")
    sent = {name: request.form.get(f"bulk_{name}", "") for name in ("stage", "owner")}
    try:
        if action not in bulk.DEAL_ACTIONS:
            raise bulk.Refused("action", "Choose what to do with the deals chosen.")
        # The choice first: "choose a stage" is the error to see, not one about the boxes.
        stage = bulk.a_stage(sent["stage"]) if action == "stage" else None
        owner_id = bulk.an_owner(sent["owner"]) if action == "owner" else None
        chosen = bulk.chosen(ids, Deal)
        if action == "delete":
            done = f"{bulk.counted(bulk.delete(chosen, actor=current_user), 'deal')} deleted."
        elif stage is not None:
            moved = bulk.move(chosen, stage, actor=current_user)
            done = f"{bulk.counted(moved, 'deal')} moved to {stage.name} (of {len(chosen)} chosen)."
        else:
            changed = bulk.reassign(chosen, owner_id, actor=current_user)
            whom = dict(deals.members()).get(str(owner_id), "") if owner_id else ""
            done = (f"{bulk.counted(changed, 'deal')} {f'given to {whom}' if whom else 'left without an owner'} "
                    f"(of {len(chosen)} chosen).")
    except bulk.Refused as exc:
        db.session.rollback()
        return _deal_list(listed, bulk_errors={exc.field: str(exc)}, chosen=frozenset(ids), bulk_sent=sent)
    return _done(done, "crm.deal_list", listed)
