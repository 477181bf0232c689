"""Possible duplicates and merging, of contacts (crm/duplicates.py), companies
(crm/company_merge.py) and deals (crm/deal_merge.py): the lists of likely duplicates (contacts
and companies), choosing any other record to merge with, the side-by-side preview, and the
merge itself. Routes of the CRM's blueprint."""

from __future__ import annotations

from flask import abort, flash, redirect, render_template, request, url_for
from flask_login import current_user

from tenantry.platform.db import db
from tenantry.platform.web import require_role

from . import (
    companies,
    company_merge,
    contacts,
    deal_merge,
    deals,
    duplicates,
    forms,
    overview,
    pickers,
    stages,
    versions,
)
from .models import Company
from .views import _read, _read_names, _usable, bp


@bp.get("/crm/contacts/duplicates")
@require_role("member")
def contact_duplicates():
    found, total = duplicates.groups()
    plain = duplicates.opened(found)
    _read("contact", list(plain), listed=True, duplicates=True)
    return render_template("crm/duplicates.html", groups=found, total=total, plain=plain, nouns="contacts",
                           shared="an e-mail address or a phone number", name_of=contacts.display_name,
                           details_of=lambda p: p["emails"] + p["phones"], show="crm.contact_show",
                           id_arg="contact_id", merge="crm.contact_merge_preview", back="crm.contact_list")


@bp.get("/crm/companies/duplicates")
@require_role("member")
def company_duplicates():
    found, total = company_merge.groups()
    plain = duplicates.opened(found, Company)
    _read("company", list(plain), listed=True, duplicates=True)
    return render_template("crm/duplicates.html", groups=found, total=total, plain=plain, nouns="companies",
                           shared="a company ID or a VAT ID", name_of=lambda p: p["name"],
                           details_of=lambda p: [v for v in (p["company_number"], p["vat_id"]) if v],
                           show="crm.company_show", id_arg="company_id", merge="crm.company_merge_preview",
                           back="crm.company_list")


def _ended(sentence: str) -> str:
    """With its full stop, unless a name at its end brought one ("… s.r.o.")."""
    return sentence if sentence.endswith(".") else sentence + "."


FROM_DUPLICATES = "duplicates"


def _way_back(keep, other, name_of, duplicates_page: str | None, page_of) -> dict:
    """Where the merge page's Cancel leads: back to the possible duplicates when it was opened
    from their list, else to the page of the record it was opened from (`from` names it; the
    kept one when it names neither). With the `from` to pass on to a swap or a resend."""
    came = request.values.get("from", "")
    if came == FROM_DUPLICATES and duplicates_page is not None:
        return {"back_url": url_for(duplicates_page), "back_label": "Back to possible duplicates", "came": came}
    row = other if came == str(other.id) else keep
    return {"back_url": page_of(row), "back_label": f"Back to {name_of(row)}", "came": str(row.id)}


def _contact_name(contact) -> str:
    return contacts.display_name(contact.plain())


def _contact_page(contact) -> str:
    return url_for("crm.contact_show", contact_id=contact.id)


def _company_name(company) -> str:
    return company.reveal("name")


def _company_page(company) -> str:
    return url_for("crm.company_show", company_id=company.id)


def _deal_name(deal) -> str:
    return deal.reveal("title")


def _deal_page(deal) -> str:
    return url_for("crm.deal_show", deal_id=deal.id)


def _pair(keep_id, other_id, load) -> tuple:
    """The two records of a merge by the ids sent, each through `load` (which refuses one that
    is not there or not usable); 404 for a missing or malformed id."""
    ids = [forms.uuid_or_none(i) for i in (keep_id, other_id)]
    if None in ids:
        abort(404)
    return load(ids[0]), load(ids[1])


def _merge_pair(keep_id, other_id):
    """The two contacts of a merge; a restricted one is refused before anything of it is shown."""
    return _pair(keep_id, other_id, _usable)


def _merge_page(keep, other, *, error: str = "", changed: bool = False, status: int = 200):
    try:
        duplicates.mergeable(keep, other)
    except duplicates.Refused as exc:
        error, status = error or str(exc), max(status, 409)
    a, b = keep.plain(), other.plain()
    merged = duplicates.merged_data(keep, a, other, b)
    company_ids = {c for c in (keep.company_id, other.company_id, merged.company_id) if c}
    company_names = {c.id: c.reveal("name") for c in map(companies.get, company_ids) if c}
    _read("contact", [keep.id, other.id], listed=False, merge=True)
    _read("company", list(company_names), listed=True, merge=True)
    return render_template("crm/merge.html", keep=keep, other=other, a=a, b=b, merged=merged,
                           company_names=company_names, display_name=contacts.display_name, error=error,
                           changed=changed, moving=duplicates.moving(other),
                           **_way_back(keep, other, _contact_name, "crm.contact_duplicates", _contact_page)), status


@bp.get("/crm/contacts/<uuid:contact_id>/merge-with")
@require_role("member")
def contact_merge_with(contact_id):
    contact = _usable(contact_id)
    return _merge_with(contact, "contacts", _contact_name(contact), "crm.contact_merge_preview", _contact_page(contact))


def _merge_with(row, kind: str, name: str, preview: str, back: str):
    """Choose the other record of a merge from all of them, not only the possible duplicates:
    the choice opens the merge's preview, where nothing is changed yet."""
    spec = pickers.KINDS[kind]
    sent = "other" in request.args or "other" + pickers.SEARCH_SUFFIX in request.args
    form = forms.MergeWith(formdata=request.args if sent else None, meta={"csrf": False})
    form.other.label.text = spec.entity.capitalize()
    pickers.offer(form.other, kind, none_label=f"— choose a {spec.entity} —")
    if form.other.picker is None:  # the select: every record but this one
        form.other.choices = [(value, label) for value, label in form.other.choices if value != str(row.id)]
    itself = [f"Choose another {spec.entity} than {name}."]
    if sent and (form.other.data or "").strip() == str(row.id):  # not among the select's choices
        form.other.errors = itself
    elif sent and form.other.validate(form):
        other_id = forms.optional_uuid(form.other.data)
        if other_id == row.id:  # what was typed in the search box finds this one
            form.other.errors = itself
        elif other_id is None:
            form.other.errors = [f"Choose the {spec.entity} to merge with {name}."]
        else:
            return redirect(url_for(preview, keep=row.id, other=other_id, **{"from": row.id}))
    _read(spec.entity, pickers.shown_ids(form.other), listed=True, form=True)
    return render_template("crm/merge_with.html", form=form, noun=spec.entity, name=name, back=back), \
        422 if form.other.errors else 200


@bp.get("/crm/contacts/merge")
@require_role("member")
def contact_merge_preview():
    return _merge_page(*_merge_pair(request.args.get("keep"), request.args.get("other")))


@bp.post("/crm/contacts/merge")
@require_role("member")
def contact_merge():
    return _merge_sent(_merge_pair, _merge_page, duplicates.merge, _contact_name, _contact_page)


def _merge_sent(pair_of, page, merge, name_of, shown_at):
    """A merge form sent: merged, or its page again with why not (nothing written)."""
    pair = request.form.get("keep"), request.form.get("other")
    keep, other = pair_of(*pair)
    names = name_of(other), name_of(keep)
    try:
        merge(keep, other, actor=current_user, keep_version=versions.parsed(request.form.get("keep_version")),
              other_version=versions.parsed(request.form.get("other_version")))
    except duplicates.Refused as exc:
        db.session.rollback()
        return page(*pair_of(*pair), error=str(exc), status=422)
    except versions.EditConflict:
        db.session.rollback()
        return page(*pair_of(*pair), changed=True, status=409)
    db.session.commit()
    flash(_ended(f"{names[0]} merged into {names[1]}"), "success")
    return redirect(shown_at(keep))


def _company_pair(keep_id, other_id):
    return _pair(keep_id, other_id, lambda company_id: companies.get(company_id) or abort(404))


def _company_merge_page(keep, other, *, error: str = "", changed: bool = False, status: int = 200):
    try:
        company_merge.mergeable(keep, other)
    except duplicates.Refused as exc:
        error, status = error or str(exc), max(status, 409)
    a, b = keep.plain(), other.plain()
    _read("company", [keep.id, other.id], listed=False, merge=True)
    return render_template("crm/company_merge.html", keep=keep, other=other, a=a, b=b,
                           merged=company_merge.merged_data(keep, a, other, b), error=error, changed=changed,
                           moving=company_merge.moving(other),
                           **_way_back(keep, other, _company_name, "crm.company_duplicates", _company_page)), status


@bp.get("/crm/companies/<uuid:company_id>/merge-with")
@require_role("member")
def company_merge_with(company_id):
    company = companies.get(company_id) or abort(404)
    return _merge_with(company, "companies", _company_name(company), "crm.company_merge_preview",
                       _company_page(company))


@bp.get("/crm/companies/merge")
@require_role("member")
def company_merge_preview():
    return _company_merge_page(*_company_pair(request.args.get("keep"), request.args.get("other")))


@bp.post("/crm/companies/merge")
@require_role("member")
def company_merge_post():
    return _merge_sent(_company_pair, _company_merge_page, company_merge.merge, _company_name, _company_page)


def _deal_pair(keep_id, other_id):
    return _pair(keep_id, other_id, lambda deal_id: deals.get(deal_id) or abort(404))


def _deal_merge_page(keep, other, *, error: str = "", changed: bool = False, status: int = 200):
    try:
        deal_merge.mergeable(keep, other)
    except duplicates.Refused as exc:
        error, status = error or str(exc), max(status, 409)
    titles = {keep.id: keep.reveal("title"), other.id: other.reveal("title")}
    merged = deal_merge.merged_data(keep, titles[keep.id], other)
    # The contacts' and companies' names, as the deal pages show them (a restricted contact's not).
    labels = overview.subject_labels([(subject, getattr(d, f"{subject}_id")) for d in (keep, other, merged)
                                      for subject in ("contact", "company") if getattr(d, f"{subject}_id")])
    _read("deal", [keep.id, other.id], listed=False, merge=True)
    _read_names(labels, merge=True)
    return render_template("crm/deal_merge.html", keep=keep, other=other, titles=titles, merged=merged,
                           labels=labels, restricted_label=overview.RESTRICTED_LABEL,
                           stage_names={s.id: s.name for s in stages.ordered()}, owners=dict(deals.members()),
                           error=error, changed=changed, moving=deal_merge.moving(other),
                           **_way_back(keep, other, _deal_name, None, _deal_page)), status


@bp.get("/crm/deals/<uuid:deal_id>/merge-with")
@require_role("member")
def deal_merge_with(deal_id):
    deal = deals.get(deal_id) or abort(404)
    return _merge_with(deal, "deals", _deal_name(deal), "crm.deal_merge_preview", _deal_page(deal))


@bp.get("/crm/deals/merge")
@require_role("member")
def deal_merge_preview():
    return _deal_merge_page(*_deal_pair(request.args.get("keep"), request.args.get("other")))


@bp.post("/crm/deals/merge")
@require_role("member")
def deal_merge_post():
    return _merge_sent(_deal_pair, _deal_merge_page, deal_merge.merge, _deal_name, _deal_page)
