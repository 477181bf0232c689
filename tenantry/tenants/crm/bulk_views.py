"""The lists' changes to the records ticked (crm/bulk.py): contacts tagged, untagged, put in
a company or deleted; deals moved to a stage, given an owner or deleted; activities marked
done, reopened, assigned or deleted. Routes of the CRM's blueprint.

A refused change shows its list again with the boxes still ticked and the error next to the
choice it is about (422), and writes nothing; a done one returns to the list as it was, its
query carried through the form as list_<name>."""

from __future__ import annotations

from flask import flash, redirect, request, url_for
from flask_login import current_user
from werkzeug.datastructures import MultiDict

from tenantry.platform.db import db
from tenantry.platform.web import require_role

from . import bulk, companies, deals, forms
from .models import Activity, Contact, Deal
from .views import ACTIVITY_LIST_ARGS, _activity_list, _contact_list, _deal_list, bp, bulk_company_form

_CONTACT_LIST_ARGS = ("q", "company", "tag", "field", "value", "unset", "sort", "page")
_DEAL_LIST_ARGS = ("q", "stage", "owner", "close", "next", "reason", "sort", "page")


def _bulk(model, list_args: tuple[str, ...], actions: tuple[str, ...], list_endpoint: str, shown_again, run):
    """A list's bulk form sent: `run(action, chosen records)` does the change and says what it
    did, and the list comes back as it was; or, refused, `shown_again(query, errors, ids)` is
    the list with the error, and nothing is written. The checks of `run` before its first
    write come first: the error to see about a missing choice is that, not one about the boxes."""
    listed = MultiDict({name: request.form[f"list_{name}"] for name in list_args if request.form.get(f"list_{name}")})
    ids = request.form.getlist("ids")
    action = request.form.get("action", "")
    try:
        if action not in actions:
            raise bulk.Refused("action", f"Choose what to do with the {bulk.plural(model)} chosen.")
        done = run(action, lambda: bulk.chosen(ids, model))
    except bulk.Refused as exc:
        db.session.rollback()
        return shown_again(listed, {exc.field: str(exc)}, frozenset(ids))
    db.session.commit()
    flash(done, "success")
    return redirect(url_for(list_endpoint, **listed.to_dict()))


def _deleted(chosen, model) -> str:
    return f"{bulk.counted(bulk.delete(chosen, actor=current_user), model)} deleted."


@bp.post("/crm/contacts/bulk")
@require_role("member")
def contact_bulk():
    typed = request.form.get("bulk_tag", "")

    def run(action, chosen):
        if action == "delete":
            return _deleted(chosen(), Contact)
        if action == "company":
            company_id, name = _company_chosen()
            picked = chosen()
            return f"{bulk.counted(bulk.join(picked, company_id, actor=current_user))} put in {name} " \
                   f"(of {len(picked)} chosen)."
        value = bulk.a_tag(typed)
        picked = chosen()
        changed = (bulk.tag if action == "tag" else bulk.untag)(picked, value, actor=current_user)
        return (f"Tag “{value}” {'added to' if action == 'tag' else 'removed from'} {bulk.counted(changed)} "
                f"(of {len(picked)} chosen).")

    return _bulk(Contact, _CONTACT_LIST_ARGS, bulk.CONTACT_ACTIONS, "crm.contact_list",
                 lambda listed, errors, ids: _contact_list(listed, bulk_errors=errors, chosen=ids, bulk_tag=typed,
                                                           bulk_sent=request.form), run)


def _company_chosen() -> tuple:
    """The company the contacts ticked go to, as the bulk form's picker settles it, and its
    name; refused when none is chosen or what was typed finds no single company."""
    mover = bulk_company_form(request.form)
    field = mover.bulk_company
    if not field.validate(mover):
        raise bulk.Refused("company", " ".join(field.errors))
    company = companies.get(forms.optional_uuid(field.data)) if (field.data or "").strip() else None
    if company is None:
        raise bulk.Refused("company", "Choose the company to put the contacts in.")
    return company.id, company.reveal("name")


@bp.post("/crm/deals/bulk")
@require_role("member")
def deal_bulk():
    sent = {name: request.form.get(f"bulk_{name}", "") for name in ("stage", "owner")}

    def run(action, chosen):
        if action == "delete":
            return _deleted(chosen(), Deal)
        if action == "stage":
            stage = bulk.a_stage(sent["stage"])
            picked = chosen()
            return f"{bulk.counted(bulk.move(picked, stage, actor=current_user), Deal)} moved to {stage.name} " \
                   f"(of {len(picked)} chosen)."
        return _reassigned(Deal, sent["owner"], chosen)

    return _bulk(Deal, _DEAL_LIST_ARGS, bulk.DEAL_ACTIONS, "crm.deal_list",
                 lambda listed, errors, ids: _deal_list(listed, bulk_errors=errors, chosen=ids, bulk_sent=sent), run)


@bp.post("/crm/activities/bulk")
@require_role("member")
def activity_bulk():
    sent = {"owner": request.form.get("bulk_owner", ""), "due": request.form.get("bulk_due", "")[:20]}

    def run(action, chosen):
        if action == "delete":
            return _deleted(chosen(), Activity)
        if action == "owner":
            return _reassigned(Activity, sent["owner"], chosen)
        if action == "due":
            due_on = bulk.a_due_date(sent["due"])  # the choice before the boxes, as for an owner
            picked = chosen()
            return (f"{bulk.counted(bulk.reschedule(picked, due_on, actor=current_user), Activity)} now due on "
                    f"{due_on.isoformat()} (of {len(picked)} chosen).")
        picked = chosen()
        changed = bulk.complete(picked, done=action == "done", actor=current_user)
        return (f"{bulk.counted(changed, Activity)} {'marked as done' if action == 'done' else 'reopened'} "
                f"(of {len(picked)} chosen).")

    return _bulk(Activity, ACTIVITY_LIST_ARGS, bulk.ACTIVITY_ACTIONS, "crm.activity_list",
                 lambda listed, errors, ids: _activity_list(listed, bulk_errors=errors, chosen=ids, bulk_sent=sent),
                 run)


def _reassigned(model, sent_owner: str, chosen) -> str:
    """The deals or activities ticked given to the member chosen (or nobody); what was done."""
    owner_id = bulk.an_owner(sent_owner)  # the choice before the boxes, as for a stage
    picked = chosen()
    changed = bulk.reassign(picked, owner_id, actor=current_user)
    whom = dict(deals.members()).get(str(owner_id), "") if owner_id else ""
    return f"{bulk.counted(changed, model)} {f'given to {whom}' if whom else 'left without an owner'} " \
           f"(of {len(picked)} chosen)."
