"""The CRM's pages under /t/<slug>/crm/: lists, details, and forms for companies and contacts.

Everyone in the workspace reads; members and above write (`require_role("member")`, so a
viewer gets 403 on every form, GET included). Another tenant's id is simply not found: the
ORM scopes every query to the current tenant, and the answer is 404.
"""

from __future__ import annotations

import uuid
from datetime import timedelta

from flask import abort, flash, g, jsonify, redirect, render_template, request, url_for
from flask_login import current_user

from tenantry.platform import audit
from tenantry.platform.db import db
from tenantry.platform.tenancy import current_tenant
from tenantry.platform.web import require_role, tenant_blueprint
from tenantry.tenants import local_time

from . import (
    activities,
    board,
    bulk,
    companies,
    company_merge,
    contacts,
    currencies,
    custom_fields,
    deals,
    duplicates,
    forms,
    lost_reasons,
    overview,
    pickers,
    reminders,
    stages,
    versions,
)
from . import activity_list as listed_activities
from .models import ACTIVITY_KIND_LABELS, ACTIVITY_KINDS

bp = tenant_blueprint("crm", __name__)


def _page_arg() -> int:
    return request.args.get("page", 1, type=int) or 1


def _read(entity: str, ids: list, *, listed: bool, **details) -> None:
    """The page shows these records' personal data: one read event, ids only, written with the
    request's batch [DPA-B.monitoring]. The same action names as the API's reads."""
    if not ids:
        return
    audit.record_read(f"crm.{entity}.{'listed' if listed else 'viewed'}", target_type=entity, target_ids=ids,
                      actor=current_user, tenant_id=current_tenant.id,
                      details={"via": "web", **{k: v for k, v in details.items() if v}})


def _read_names(shown, **details) -> None:
    """The page names these records (pairs of subject and id, e.g. overview.subject_labels'
    keys): one read event per kind of record."""
    by_subject: dict[str, dict] = {subject: {} for subject in activities.SUBJECTS}
    for subject, record_id in shown:
        by_subject[subject][record_id] = None
    for subject, ids in by_subject.items():
        _read(subject, list(ids), listed=True, **details)


def _read_timeline(related: dict) -> None:
    _read("activity", [a.id for a, _ in related["timeline"]], listed=True)
    _read("deal", [d.id for d, _ in related["related_deals"]], listed=True)


def dashboard_panel() -> dict:
    """The workspace dashboard's CRM panel (platform.web.add_dashboard_panel)."""
    now, month = local_time.now(), local_time.start_of_month()
    today = now.date()
    everyone = request.args.get("due") == "all"  # else only the member's own
    due, due_total = overview.due_activities(now, None if everyone else current_user.id)
    pipeline = overview.open_pipeline()
    pipeline_total = overview.summed(pipeline)
    _read("activity", [d.activity.id for d in due], listed=True, dashboard=True)
    _read_names(((d.subject, d.subject_id) for d in due), dashboard=True)
    return {"today": today, "due": due, "due_total": due_total, "everyone": everyone,
            "others_due": overview.due_count(today) if not (everyone or due) else 0,
            "reminders": reminders.wanted(current_user.id), "pipeline": pipeline,
            "pipeline_value": pipeline_total.values, "forecast": pipeline_total.weighted,
            "late_deals": overview.late_deals(today), "idle_deals": overview.idle_deals(),
            "month": month, "won": overview.won_total(month),
            "counts": {"contacts": contacts.count(current_tenant.id), "companies": companies.count(current_tenant.id)}}


@bp.post("/crm/reminders")
def reminder_setting():
    """Turn the member's e-mails about what is assigned to them (reminders.py, assignments.py)
    on or off (any role: a viewer may be assigned activities too). Not the operator's support
    staff visiting under a grant: nothing is assigned to them here, and they get no such e-mail."""
    if current_user.is_staff:
        abort(403)
    enabled = request.form.get("enabled") == "1"
    if reminders.set_wanted(current_user, enabled):
        db.session.commit()
    flash("You will get e-mails about what is assigned to you." if enabled
          else "You will no longer get e-mails about what is assigned to you.", "success")
    return redirect(_dashboard_url())


def _dashboard_url() -> str:
    """The dashboard, as the form posted from it showed it (its own or everyone's due activities)."""
    return url_for("tenant.dashboard", due="all" if request.form.get("due") == "all" else None)


def _uuid_arg(name: str) -> uuid.UUID | None:
    return forms.uuid_or_none(request.args.get(name))


# --- contacts ------------------------------------------------------------------------------


@bp.get("/crm/contacts")
def contact_list():
    return _contact_list(request.args)


def _contact_list(args, *, bulk_errors: dict | None = None, chosen: frozenset[str] = frozenset(), bulk_tag: str = "",
                  bulk_sent=None):
    """The contact list for the query `args`; with `bulk_errors`, shown again after a refused
    change of the contacts `chosen` (their boxes still ticked, the company `bulk_sent` chose
    kept), with a 422."""
    q = args.get("q", "")[:200]
    filters = forms.ContactFilter(formdata=args, meta={"csrf": False})
    pickers.offer(filters.company, "companies", none_label="Any")
    company_id = forms.optional_uuid(filters.company.data) if filters.company.validate(filters) else None
    tag = args.get("tag", "").strip()[:contacts.MAX_TAG]
    sort = args.get("sort", "name")
    offered = custom_fields.usable()
    by_field = custom_fields.filter_of(args, offered)
    page = contacts.listing(q=q, company_id=company_id, tag=tag, sort=sort, page=args.get("page", 1, type=int) or 1,
                            custom=by_field.condition if by_field else None)
    _read("contact", [c.id for c, _ in page.items], listed=True, search=bool(q.strip()))
    _read("company", pickers.shown_ids(filters.company), listed=True, filter=True)
    firms = overview.subject_labels([("company", c.company_id) for c, _ in page.items if c.company_id is not None])
    _read_names(firms)
    member = g.get("membership")
    mover = None
    if member is not None and member.can("member") and page.items:  # the bulk bar, with its choice of a company
        mover = bulk_company_form(bulk_sent)
        _read("company", pickers.shown_ids(mover.bulk_company), listed=True, bulk=True)
    return render_template("crm/contacts.html", page=page, q=q, filters=filters, company_id=company_id, tag=tag,
                           offered=offered, by_field=by_field, field_key=args.get("field", "").strip(),
                           field_value=args.get("value", "")[:custom_fields.MAX_TEXT + 100],
                           field_unset=args.get("unset") == "1",
                           sort=sort, max_tag=contacts.MAX_TAG, display_name=contacts.display_name,
                           firms={i: name for (_, i), name in firms.items()}, bulk_errors=bulk_errors or {},
                           chosen=chosen, bulk_tag=bulk_tag, mover=mover), 422 if bulk_errors else 200


def bulk_company_form(sent=None) -> forms.BulkCompany:
    """The contact list's choice of a company for the contacts ticked, as sent (or empty)."""
    mover = forms.BulkCompany(formdata=sent, meta={"csrf": False})
    pickers.offer(mover.bulk_company, "companies", none_label="— choose a company —")
    return mover


@bp.get("/crm/contacts/lookup")
def contact_lookup():
    return _lookup("contacts")


@bp.get("/crm/companies/lookup")
def company_lookup():
    return _lookup("companies")


@bp.get("/crm/deals/lookup")
def deal_lookup():
    return _lookup("deals")


def _lookup(kind: str):
    """The pickers' search as one types: {"items": [{"id", "label", "hint"}], "total"}."""
    found, total = pickers.find(kind, request.args.get("q", ""))
    _read(pickers.KINDS[kind].entity, [option.id for option in found], listed=True, search=True, picker=True)
    return jsonify({"items": [option.as_json() for option in found], "total": total})


def _usable(contact_id):
    """The contact, for a change: refused (409) while a data subject request restricts it."""
    contact = contacts.get(contact_id) or abort(404)
    if contact.restricted_at is not None:
        abort(409, contacts.RESTRICTED)
    return contact


@bp.get("/crm/contacts/<uuid:contact_id>")
def contact_show(contact_id, activity_form=None):
    contact = contacts.get(contact_id) or abort(404)
    if contact.restricted_at is not None:  # [DSR-restrict] kept and shown as restricted, not usable
        flash(f"Restricted since {contact.restricted_at:%Y-%m-%d} by a data subject request. "
              + contacts.RESTRICTED, "warn")
    if contact.objected_at is not None:  # [DSR-object]
        flash(f"The person objected to processing on {contact.objected_at:%Y-%m-%d}: they are left out of "
              "exports and other bulk processing.", "info")
    company = companies.get(contact.company_id) if contact.company_id else None
    related = _timeline("contact", contact.id, activity_form)
    related["locked"] = contact.restricted_at is not None
    member = g.get("membership")
    alike = duplicates.of(contact) if not related["locked"] and member is not None and member.can("member") else []
    defined = custom_fields.definitions()
    custom = custom_fields.shown(contact, defined)
    # As the API's reads say: custom values shown, and whether a special category's was [DPA-A.special].
    _read("contact", [contact.id], listed=False, custom_fields=any(value for _d, value in custom),
          special_category=any(value for d, value in custom if d.special_category))
    _read("contact", [c.id for c, _plain in alike], listed=True, duplicates=True)
    _read_timeline(related)
    return render_template("crm/contact.html", contact=contact, plain=contact.plain(), alike=alike,
                           company=company, company_name=company.reveal("name") if company else "",
                           custom=custom, filterable={d.id for d in custom_fields.usable(defined)},
                           display_name=contacts.display_name, **related)


def _saved_meanwhile(form, saved, entity: str, row) -> list[str]:
    """An edit refused as based on an older version: the sent form marked with what is saved
    now (versions.saved_meanwhile), which the page shows, so it is a read."""
    _read(entity, [row.id], listed=False, form=True)
    return versions.saved_meanwhile(form, saved)


def _sent(form, row, entity: str) -> tuple:
    """The values of the form if it was sent and is valid (else None), and what a new record of
    them would duplicate (_already_there), which holds the save back until the user says so."""
    if not form.validate_on_submit():
        return None, []
    data = form.data_for_service()
    return data, _already_there(row, data, entity)


def _already_there(row, data, entity: str) -> list:
    """What a new record would duplicate (duplicates.already_there), shown by name before it
    is made, so a read; nothing once the user chose to make it anyway, or for an edit."""
    if row is not None or request.form.get("create_anyway"):
        return []
    found = duplicates.already_there(data)
    _read(entity, [m.row.id for m in found], listed=True, duplicates=True)
    return found


def _contact_form(contact=None):
    shown = custom_fields.usable()
    form = custom_fields.contact_form(forms.ContactForm, shown)
    if request.method == "GET":
        if contact is not None:
            form.fill_from(contact, contact.plain())
            custom_fields.fill_form(form, contact)
            _read("contact", [contact.id], listed=False, form=True)
        elif request.args.get("company"):
            form.company.data = request.args["company"]
    pickers.offer(form.company, "companies")
    conflict = None
    data, already = _sent(form, contact, "contact")
    if data is not None and not already:
        try:
            if contact is None:
                contact = contacts.create(data, actor=current_user)
            else:
                contacts.update(contact, data, actor=current_user, version=form.sent_version())
            custom_fields.save(contact, custom_fields.form_values(form), only=shown, actor=current_user)
        except contacts.UnknownCompany as exc:
            db.session.rollback()
            form.company.errors = [*form.company.errors, str(exc)]
        except versions.EditConflict:
            db.session.rollback()
            contact = _usable(contact.id)
            saved = custom_fields.contact_form(forms.ContactForm, shown, formdata=None)
            saved.fill_from(contact, contact.plain())
            custom_fields.fill_form(saved, contact)
            conflict = _saved_meanwhile(form, saved, "contact", contact)
        if not form.errors and not conflict:  # saved, or what was saved meanwhile is what they sent
            db.session.commit()
            flash("Contact saved.", "success")
            return redirect(url_for("crm.contact_show", contact_id=contact.id))
    status = 409 if conflict or already else 422 if form.errors else 200
    _read("company", pickers.shown_ids(form.company), listed=True, form=True)
    return render_template("crm/contact_form.html", form=form, contact=contact, conflict=conflict,
                           already=already, name_of=contacts.display_name), status


@bp.route("/crm/contacts/new", methods=["GET", "POST"])
@require_role("member")
def contact_new():
    return _contact_form()


@bp.route("/crm/contacts/<uuid:contact_id>/edit", methods=["GET", "POST"])
@require_role("member")
def contact_edit(contact_id):
    return _contact_form(_usable(contact_id))


@bp.post("/crm/contacts/<uuid:contact_id>/delete")
@require_role("member")
def contact_delete(contact_id):
    contact = _usable(contact_id)  # a restricted contact is kept; erasure goes through its request
    contacts.delete(contact, actor=current_user)
    db.session.commit()
    flash("Contact deleted.", "success")
    return redirect(url_for("crm.contact_list"))


# --- companies -----------------------------------------------------------------------------


@bp.get("/crm/companies")
def company_list():
    q = request.args.get("q", "")[:200]
    has_contacts = request.args.get("has_contacts", "")
    sort = request.args.get("sort", "name")
    page = companies.listing(q=q, has_contacts=has_contacts, sort=sort, page=_page_arg())
    _read("company", [c.id for c, *_ in page.items], listed=True, search=bool(q.strip()))
    return render_template("crm/companies.html", page=page, q=q, has_contacts=has_contacts, sort=sort)


@bp.get("/crm/companies/<uuid:company_id>")
def company_show(company_id, activity_form=None):
    company = companies.get(company_id) or abort(404)
    people = contacts.of_company(company.id)
    related = _timeline("company", company.id, activity_form)
    member = g.get("membership")
    alike = company_merge.of(company) if member is not None and member.can("member") else []
    _read("company", [company.id], listed=False)
    _read("company", [c.id for c, _plain in alike], listed=True, duplicates=True)
    _read("contact", [c.id for c, _ in people], listed=True)
    _read_timeline(related)
    return render_template("crm/company.html", company=company, plain=company.plain(), alike=alike,
                           people=people, display_name=contacts.display_name, **related)


def _company_form(company=None):
    form = forms.CompanyForm()
    if request.method == "GET" and company is not None:
        form.fill_from(company, company.plain())
        _read("company", [company.id], listed=False, form=True)
    conflict = None
    data, already = _sent(form, company, "company")
    if data is not None and not already:
        try:
            if company is None:
                company = companies.create(data, actor=current_user)
            else:
                companies.update(company, data, actor=current_user, version=form.sent_version())
        except versions.EditConflict:
            db.session.rollback()
            company = companies.get(company.id) or abort(404)
            saved = forms.CompanyForm(formdata=None)
            saved.fill_from(company, company.plain())
            conflict = _saved_meanwhile(form, saved, "company", company)
        if not conflict:  # saved, or what was saved meanwhile is what they sent
            db.session.commit()
            flash("Company saved.", "success")
            return redirect(url_for("crm.company_show", company_id=company.id))
    status = 409 if conflict or already else 422 if form.errors else 200
    return render_template("crm/company_form.html", form=form, company=company, conflict=conflict,
                           already=already, name_of=lambda plain: plain["name"]), status


@bp.route("/crm/companies/new", methods=["GET", "POST"])
@require_role("member")
def company_new():
    return _company_form()


@bp.route("/crm/companies/<uuid:company_id>/edit", methods=["GET", "POST"])
@require_role("member")
def company_edit(company_id):
    return _company_form(companies.get(company_id) or abort(404))


@bp.post("/crm/companies/<uuid:company_id>/delete")
@require_role("member")
def company_delete(company_id):
    company = companies.get(company_id) or abort(404)
    try:
        detached = companies.delete(company, actor=current_user)
    except companies.HoldsRestricted as exc:
        db.session.rollback()
        flash(str(exc), "error")
        return redirect(url_for("crm.company_show", company_id=company_id))
    db.session.commit()
    kept = {0: "", 1: " Its contact stays, without a company."}.get(
        detached, f" Its {detached} contacts stay, without a company.")
    flash(f"Company deleted.{kept}", "success")
    return redirect(url_for("crm.company_list"))


# --- timeline of activities ----------------------------------------------------------------


def _timeline(subject: str, subject_id, form=None) -> dict:
    related = deals.of(**{f"{subject}_id": subject_id}) if subject in ("contact", "company") else []
    rows = deals.memberships()
    members = deals.members(rows)
    if form is None:
        form = _activity_form(rows=rows)
        if str(current_user.id) in dict(form.owner.choices):  # a new activity is one's own unless said otherwise
            form.owner.data = str(current_user.id)
    return {"timeline": activities.timeline(subject, subject_id), "activity_form": form,
            "activity_action": url_for(f"crm.{subject}_activity_add", **{f"{subject}_id": subject_id}),
            "related_deals": related, "deal_stages": {s.id: s for s in stages.ordered()} if related else {},
            "now": local_time.now(), "member_names": dict(members)}


def _activity_form(keeping=None, rows=None, **kwargs) -> forms.ActivityForm:
    """The activity form, offering the active members and `keeping`, the activity's own."""
    return forms.ActivityForm(owner_choices=deals.assignable(keeping, rows), **kwargs)


def _add_activity(subject: str, subject_id, show):
    form = _activity_form()
    if not form.validate_on_submit():
        return show(subject_id, activity_form=form), 422
    try:
        activities.create(subject, subject_id, form.data_for_service(), actor=current_user)
    except deals.Refused as exc:  # the member chosen left meanwhile
        db.session.rollback()
        form.owner.errors = [str(exc)]
        return show(subject_id, activity_form=form), 422
    db.session.commit()
    flash("Activity added.", "success")
    return redirect(url_for(f"crm.{subject}_show", **{f"{subject}_id": subject_id}) + "#timeline")


@bp.get("/crm/contacts/<uuid:contact_id>/activities")
@bp.get("/crm/companies/<uuid:company_id>/activities")
@bp.get("/crm/deals/<uuid:deal_id>/activities")
def activity_add_page(**record):
    """Where the timeline's form posts to, asked for again (a reload of the page it sent back
    with errors, a bookmark): the record's page at its timeline, rather than a 405."""
    (key, record_id), = record.items()
    subject = key.removesuffix("_id")
    # Another workspace's record (or none) is a 404 here as on its page, never a redirect to it.
    {"contact": contacts.get, "company": companies.get, "deal": deals.get}[subject](record_id) or abort(404)
    return redirect(url_for(f"crm.{subject}_show", **{key: record_id}) + "#timeline")


@bp.post("/crm/contacts/<uuid:contact_id>/activities")
@require_role("member")
def contact_activity_add(contact_id):
    _usable(contact_id)
    return _add_activity("contact", contact_id, contact_show)


@bp.post("/crm/companies/<uuid:company_id>/activities")
@require_role("member")
def company_activity_add(company_id):
    companies.get(company_id) or abort(404)
    return _add_activity("company", company_id, company_show)


@bp.post("/crm/deals/<uuid:deal_id>/activities")
@require_role("member")
def deal_activity_add(deal_id):
    deals.get(deal_id) or abort(404)
    return _add_activity("deal", deal_id, deal_show)


def _changeable(activity_id):
    """The activity, for a change: refused (409) while its contact is restricted [DSR-restrict],
    whose timeline is kept as it is."""
    activity = activities.get(activity_id) or abort(404)
    if activity.contact_id is not None:
        _usable(activity.contact_id)
    return activity


def _back_to(activity):
    subject, subject_id = activities.subject_of(activity)
    return redirect(url_for(f"crm.{subject}_show", **{f"{subject}_id": subject_id}) + "#timeline")


@bp.get("/crm/activities")
def activity_list():
    return _activity_list(request.args)


def _activity_list(args, *, bulk_errors: dict | None = None, chosen: frozenset[str] = frozenset(),
                   bulk_sent: dict | None = None):
    """The activity list for the query `args`; with `bulk_errors`, shown again after a refused
    change of the activities `chosen` (their boxes still ticked, the choice `bulk_sent` kept),
    with a 422."""
    q = args.get("q", "")[:200]
    kind = args.get("kind", "")
    state = args.get("state", "open")
    sort = args.get("sort", "due")
    kind = kind if kind in ACTIVITY_KINDS else ""
    state = state if state in listed_activities.STATES else "open"
    sort = sort if sort in listed_activities.SORTS else "due"
    owner = args.get("owner", "")
    owner = owner if owner == listed_activities.UNASSIGNED else forms.uuid_or_none(owner)
    page = listed_activities.listing(now=local_time.now(), q=q, kind=kind, state=state, sort=sort, owner=owner,
                                     page=args.get("page", 1, type=int) or 1)
    _read("activity", [d.activity.id for d in page.items], listed=True, search=bool(q.strip()))
    _read_names((d.subject, d.subject_id) for d in page.items)
    # The default list empty: none at all, or all of them done?
    all_done = not page.items and state == "open" and not (q.strip() or kind or owner) and listed_activities.any_listed()
    rows = deals.memberships()
    members = deals.members(rows)
    return render_template("crm/activities.html", page=page, q=q, kind=kind, state=state, sort=sort,
                           kinds=ACTIVITY_KIND_LABELS, states=listed_activities.STATES, sorts=listed_activities.SORTS,
                           owner=str(owner or ""), owners=[(listed_activities.UNASSIGNED, "Nobody"), *members],
                           assignable=deals.assignable(rows=rows), member_names=dict(members),
                           bulk_errors=bulk_errors or {}, all_done=all_done,
                           chosen=chosen, bulk_sent=bulk_sent or {}, nobody=bulk.NOBODY), 422 if bulk_errors else 200


# The list's own query, carried through its forms as list_<name> so "Mark done" returns to it.
ACTIVITY_LIST_ARGS = ("q", "kind", "state", "owner", "sort", "page")


@bp.post("/crm/activities/<uuid:activity_id>/done")
@require_role("member")
def activity_done(activity_id):
    activity = _changeable(activity_id)
    done = request.form.get("done", "1") == "1"
    activities.complete(activity, done=done, actor=current_user)
    db.session.commit()
    back = request.form.get("back")  # a fixed name, never a URL: no open redirect
    if back in ("dashboard", "activities"):
        flash("Activity marked as done." if done else "Activity reopened.", "success")
        if back == "dashboard":
            return redirect(_dashboard_url())
        kept = {name: request.form[f"list_{name}"] for name in ACTIVITY_LIST_ARGS if request.form.get(f"list_{name}")}
        at = forms.uuid_or_none(request.form.get("list_at"))  # the row to return to (an id, never a URL)
        return redirect(url_for("crm.activity_list", **kept) + (f"#a-{at}" if at else ""))
    return _back_to(activity)


@bp.post("/crm/activities/<uuid:activity_id>/tomorrow")
@require_role("member")
def activity_tomorrow(activity_id):
    """The dashboard's "Tomorrow": an open activity due today or before moves to tomorrow, the
    morning routine's other answer beside "Mark done"."""
    activity = _changeable(activity_id)
    tomorrow = local_time.today() + timedelta(days=1)
    if not activity.done:
        activities.set_column(activity, "due_on", tomorrow, actor=current_user, via="dashboard")
        db.session.commit()
    flash(f"Activity moved to tomorrow ({tomorrow.isoformat()}).", "success")
    return redirect(_dashboard_url())


@bp.route("/crm/activities/<uuid:activity_id>/edit", methods=["GET", "POST"])
@require_role("member")
def activity_edit(activity_id):
    activity = _changeable(activity_id)
    subject, subject_id = activities.subject_of(activity)
    form = _activity_form(activity.owner_id)
    if request.method == "GET":
        form.fill_from(activity, activity.reveal("note"))
        _read("activity", [activity.id], listed=False, form=True)
    conflict = None
    if form.validate_on_submit():
        try:
            activities.update(activity, form.data_for_service(), actor=current_user, version=form.sent_version())
        except versions.EditConflict:
            db.session.rollback()
            activity = _changeable(activity.id)
            saved = _activity_form(activity.owner_id, formdata=None)
            saved.fill_from(activity, activity.reveal("note"))
            conflict = _saved_meanwhile(form, saved, "activity", activity)
        except deals.Refused as exc:  # the member chosen left meanwhile
            db.session.rollback()
            activity = _changeable(activity.id)
            form.owner.errors = [str(exc)]
            conflict = None
        if not conflict and not form.errors:  # saved, or what was saved meanwhile is what they sent
            db.session.commit()
            flash("Activity saved.", "success")
            return _back_to(activity)
    label = overview.subject_labels([(subject, subject_id)])[subject, subject_id]
    _read(subject, [subject_id], listed=True)  # its name is on the page
    status = 409 if conflict else 422 if form.errors else 200
    return render_template("crm/activity_form.html", form=form, activity=activity, subject=subject,
                           subject_id=subject_id, subject_label=label, conflict=conflict), status


@bp.post("/crm/activities/<uuid:activity_id>/delete")
@require_role("member")
def activity_delete(activity_id):
    activity = _changeable(activity_id)
    back = _back_to(activity)
    activities.delete(activity, actor=current_user)
    db.session.commit()
    flash("Activity deleted.", "success")
    return back


# --- deals ---------------------------------------------------------------------------------


def _stages() -> list:
    found = stages.ensure_defaults()
    db.session.commit()  # the seeded defaults, if this was the first visit
    return found


def _owner_choice(raw: str | None) -> tuple[uuid.UUID | None, bool, str]:
    """A deal list's or the board's owner filter: (a member's id, only the deals of no one
    (bulk.NOBODY), the choice as the filter keeps it, "" for anyone's)."""
    owner_id, unowned = forms.uuid_or_none(raw), raw == bulk.NOBODY
    return owner_id, unowned, bulk.NOBODY if unowned else str(owner_id or "")


@bp.get("/crm/deals")
def deal_list():
    return _deal_list(request.args)


def _deal_list(args, *, bulk_errors: dict | None = None, chosen: frozenset[str] = frozenset(),
               bulk_sent: dict | None = None):
    """The deal list for the query `args`; with `bulk_errors`, shown again after a refused
    change of the deals `chosen` (their boxes still ticked, the choices `bulk_sent` kept), with
    a 422."""
    reasons = [(str(r.id), r.name) for r in lost_reasons.ensure_defaults()] + [(deals.NO_REASON, "Not given")]
    pipeline = _stages()
    now = local_time.now()
    q = args.get("q", "")[:200]
    stage_id = forms.uuid_or_none(args.get("stage"))
    owner_id, unowned, owner = _owner_choice(args.get("owner"))
    close = args.get("close", "") if deals.close_label(args.get("close", "")) else ""
    next_step = deals.IDLE if args.get("next") == deals.IDLE else ""
    reason = args.get("reason", "") if args.get("reason", "") in dict(reasons) else ""
    sort = args.get("sort", "-value")
    page = deals.listing(q=q, stage_id=stage_id, owner_id=owner_id, unowned=unowned, close=close,
                         next_step=next_step, reason=reason, sort=sort, page=args.get("page", 1, type=int) or 1)
    # The list as it is filtered, for what keeps it: the pager, the export and the bulk form.
    kept = {name: value for name, value in (("q", q), ("stage", stage_id), ("owner", owner), ("close", close),
                                            ("next", next_step), ("reason", reason), ("sort", sort)) if value}
    _read("deal", [d.id for d, _ in page.items], listed=True, search=bool(q.strip()))
    labels = overview.subject_labels([(s, getattr(d, f"{s}_id")) for d, _ in page.items for s in ("contact", "company")
                                      if getattr(d, f"{s}_id") is not None])
    _read_names(labels)
    rows = deals.memberships()
    return render_template("crm/deals.html", page=page, q=q, stage_choices=[(s.id, s.name) for s in pipeline],
                           stage_names={s.id: s for s in pipeline},
                           owners=deals.members(rows), assignable=deals.assignable(rows=rows), stage_id=stage_id,
                           owner_id=owner_id, owner=owner, close=close,
                           close_choices=[*deals.CLOSE_CHOICES.items(),
                                          *([(close, deals.close_label(close))] if close not in deals.CLOSE_CHOICES
                                            and close else [])],
                           next_step=next_step, reason=reason, reason_choices=reasons, sort=sort, kept=kept,
                           steps=deals.next_steps([d.id for d, _ in page.items], now), labels=labels,
                           today=now.date(),
                           restricted_label=overview.RESTRICTED_LABEL, bulk_errors=bulk_errors or {}, chosen=chosen,
                           bulk_sent=bulk_sent or {}, nobody=bulk.NOBODY), 422 if bulk_errors else 200


@bp.get("/crm/deals/<uuid:deal_id>")
def deal_show(deal_id, activity_form=None, move_error: str | None = None, reason_error: str | None = None):
    deal = deals.get(deal_id) or abort(404)
    contact = contacts.get(deal.contact_id) if deal.contact_id else None
    company = companies.get(deal.company_id) if deal.company_id else None
    related = _timeline("deal", deal.id, activity_form)
    owner = related["member_names"].get(str(deal.owner_id), "") if deal.owner_id else ""
    _read("deal", [deal.id], listed=False)
    _read("activity", [a.id for a, _ in related["timeline"]], listed=True)
    # The contact's name is on the page, unless it is restricted [DSR-restrict].
    named = contact is not None and contact.restricted_at is None
    _read("contact", [contact.id] if named else [], listed=True)
    pipeline = stages.ordered()
    stage = next((s for s in pipeline if s.id == deal.stage_id), None)
    reasons = lost_reasons.ensure_defaults() if stage is not None and stage.is_lost else []
    return render_template("crm/deal.html", deal=deal, title=deal.reveal("title"), pipeline=pipeline,
                           stage=stage, move_error=move_error, reasons=reasons, reason_error=reason_error,
                           chance=deals.win_probability(deal, stage) if stage is not None else None,
                           reason=next((r.name for r in reasons if r.id == deal.lost_reason_id), None),
                           contact=contact, contact_named=named,
                           contact_name=contacts.display_name(contact.plain()) if named else overview.RESTRICTED_LABEL,
                           company=company, company_name=company.reveal("name") if company else "", owner=owner,
                           **related)


def _deal_form(deal=None):
    pipeline = _stages()
    form = forms.DealForm(stage_choices=[(str(s.id), s.name) for s in pipeline],
                          owner_choices=deals.assignable(deal.owner_id if deal is not None else None),
                          lost_reason_choices=[(str(r.id), r.name) for r in lost_reasons.ensure_defaults()])
    if request.method == "GET":
        if deal is not None:
            form.fill_from(deal, deal.reveal("title"))
            _read("deal", [deal.id], listed=False, form=True)
        else:
            form.currency.data = form.currency.data or currencies.of_country(current_tenant.country)
            form.owner.data = str(current_user.id)
            for name in ("contact", "company", "stage"):
                if request.args.get(name):
                    getattr(form, name).data = request.args[name]
    pickers.offer(form.contact, "contacts", kept=deal.contact_id if deal is not None else None)
    pickers.offer(form.company, "companies")
    conflict = None
    if form.validate_on_submit():
        try:
            if deal is None:
                deal = deals.create(form.data_for_service(), actor=current_user)
            else:
                deals.update(deal, form.data_for_service(), actor=current_user, version=form.sent_version())
        except deals.Refused as exc:
            db.session.rollback()
            field = getattr(form, exc.field)
            field.errors = [*field.errors, str(exc)]
        except versions.EditConflict:
            db.session.rollback()
            deal = deals.get(deal.id) or abort(404)
            saved = forms.DealForm(formdata=None)
            saved.fill_from(deal, deal.reveal("title"))
            conflict = _saved_meanwhile(form, saved, "deal", deal)
        if not form.errors and not conflict:  # saved, or what was saved meanwhile is what they sent
            db.session.commit()
            flash("Deal saved.", "success")
            return redirect(url_for("crm.deal_show", deal_id=deal.id))
    _read("contact", pickers.shown_ids(form.contact), listed=True, form=True)
    _read("company", pickers.shown_ids(form.company), listed=True, form=True)
    status = 409 if conflict else 422 if form.errors else 200
    # Which stage the form will send is not known while it is filled in: the hint names each.
    stage_chances = ", ".join(f"{s.name} {s.probability}\u00a0%" for s in pipeline if not (s.is_won or s.is_lost))
    return render_template("crm/deal_form.html", form=form, deal=deal, conflict=conflict,
                           stage_chances=stage_chances, lost_stages=[str(s.id) for s in pipeline if s.is_lost]), status


@bp.route("/crm/deals/new", methods=["GET", "POST"])
@require_role("member")
def deal_new():
    return _deal_form()


@bp.route("/crm/deals/<uuid:deal_id>/edit", methods=["GET", "POST"])
@require_role("member")
def deal_edit(deal_id):
    return _deal_form(deals.get(deal_id) or abort(404))


@bp.post("/crm/deals/<uuid:deal_id>/delete")
@require_role("member")
def deal_delete(deal_id):
    deal = deals.get(deal_id) or abort(404)
    deals.delete(deal, actor=current_user)
    db.session.commit()
    flash("Deal deleted.", "success")
    return redirect(url_for("crm.deal_list"))


@bp.get("/crm/deals/board")
def deal_board():
    return _board_page(request.args.get("q", "")[:200], request.args.get("owner", ""))


def _board_page(q: str, owner: str, move_errors: dict | None = None):
    """The board of the deals `q` finds of `owner`: a member's id, bulk.NOBODY or anyone's."""
    _stages()
    now = local_time.now()
    owner_id, unowned, owner = _owner_choice(owner)
    columns = board.columns(q=q, owner_id=owner_id, unowned=unowned)
    cards = [deal for column in columns for deal, _ in column.cards]
    _read("deal", [d.id for d in cards], listed=True, board=True, search=bool(q.strip()))
    labels = overview.subject_labels([(s, getattr(d, f"{s}_id")) for d in cards for s in ("contact", "company")
                                      if getattr(d, f"{s}_id") is not None])
    _read_names(labels, board=True)
    return render_template("crm/board.html", columns=columns, q=q, owner_id=owner_id, owner=owner,
                           owners=deals.members(), nobody=bulk.NOBODY,
                           labels=labels, restricted_label=overview.RESTRICTED_LABEL, today=now.date(),
                           steps=deals.next_steps([d.id for d in cards], now),
                           reasons={r.id: r.name for r in lost_reasons.ordered()},
                           move_errors=move_errors or {}), 422 if move_errors else 200


@bp.post("/crm/deals/<uuid:deal_id>/stage")
@require_role("member")
def deal_move(deal_id):
    """A deal moved on the board (or from its page, with back=deal); the board's own query comes
    as board_q and board_owner, so the move returns to the board it was made on."""
    deal = deals.get(deal_id) or abort(404)
    back = {name: request.form.get(f"board_{name}", "")[:200] for name in ("q", "owner")}
    stage_id = forms.uuid_or_none(request.form.get("stage"))
    try:
        moved = board.move(deal, stage_id, actor=current_user)
    except deals.Refused as exc:
        db.session.rollback()
        if request.form.get("back") == "deal":
            return deal_show(deal.id, move_error=str(exc)), 422
        return _board_page(back["q"], back["owner"], move_errors={deal.id: str(exc)})
    db.session.commit()
    stage = stages.get(stage_id)
    title = deal.reveal("title")
    flash(f"“{title}” moved to {stage.name}." if moved else f"“{title}” is in {stage.name} already.", "success")
    if request.form.get("back") == "deal":
        return redirect(url_for("crm.deal_show", deal_id=deal.id))
    # board.js puts the focus back on the deal moved (moved=), its column in view (#stage-)
    return redirect(url_for("crm.deal_board", moved=deal.id, **{k: v for k, v in back.items() if v})
                    + f"#stage-{stage_id}")


@bp.post("/crm/deals/<uuid:deal_id>/lost-reason")
@require_role("member")
def deal_lost_reason(deal_id):
    """Say why a lost deal was lost, from its page (a move on the board or in bulk gives none)."""
    deal = deals.get(deal_id) or abort(404)
    try:
        changed = deals.set_lost_reason(deal, forms.uuid_or_none(request.form.get("lost_reason")),
                                        actor=current_user)
    except deals.Refused as exc:
        db.session.rollback()
        return deal_show(deal.id, reason_error=str(exc)), 422
    db.session.commit()
    if changed:
        flash("Reason saved.", "success")
    return redirect(url_for("crm.deal_show", deal_id=deal.id))


# --- pipeline stages (admins and owners) ---------------------------------------------------


def _stages_page(status=200, *, new_form=None, errors=None, sent=None, reason_error=None):
    """The stages page, with the reasons for losing a deal; `errors` is {stage id: {field:
    [message]}} of a refused change of that stage, whose values as sent are in `sent` ({stage
    id: form}), so that nothing typed is lost. `reason_error`: (reason id or "new", the name
    sent, the message) of a refused change of the reasons."""
    pipeline = _stages()
    if new_form is None:
        new_form = forms.StageForm(prefix="new")
        new_form.probability.data = "50"
    return render_template("crm/stages.html", stages=pipeline, used={s.id: stages.deal_count(s.id) for s in pipeline},
                           new_form=new_form, errors=errors or {}, sent=sent or {},
                           reasons=lost_reasons.ensure_defaults(), reasons_used=lost_reasons.usage(),
                           reason_error=reason_error, moved=request.args.get("moved"),
                           moved_direction=request.args.get("direction")), status


@bp.get("/crm/stages")
@require_role("admin")
def stage_list():
    return _stages_page()


@bp.post("/crm/stages/new")
@require_role("admin")
def stage_new():
    form = forms.StageForm(prefix="new")
    if form.validate_on_submit():
        try:
            stages.add(**form.service_kwargs(), actor=current_user)
        except stages.StageError as exc:
            db.session.rollback()
            field = getattr(form, exc.field)
            field.errors = [*field.errors, str(exc)]
        else:
            db.session.commit()
            flash("Stage added.", "success")
            return redirect(url_for("crm.stage_list"))
    return _stages_page(422, new_form=form)


@bp.post("/crm/stages/<uuid:stage_id>/edit")
@require_role("admin")
def stage_edit(stage_id):
    stage = stages.get(stage_id) or abort(404)
    form = forms.StageForm()
    if form.validate_on_submit():
        kwargs = form.service_kwargs()
        try:
            changed = stages.update(stage, kwargs.pop("name"), **kwargs, actor=current_user)
        except stages.StageError as exc:
            db.session.rollback()
            return _stages_page(422, errors={stage_id: {exc.field: [str(exc)]}}, sent={stage_id: form})
        db.session.commit()
        flash("Stage saved." if changed else "Nothing to save: the stage is as it was.", "success")
        return redirect(url_for("crm.stage_list"))
    return _stages_page(422, errors={stage_id: form.errors}, sent={stage_id: form})


def _reason_change(change, key, name: str, done: str, form: forms.LostReasonForm | None = None):
    """Run a change of the lost reasons (the name sent checked by `form` first, when it has
    one); refused, the stages page again with why next to the reason `key` (its id, or "new")
    and the `name` sent."""
    if form is not None and not form.validate_on_submit():
        return _stages_page(422, reason_error=(key, name, " ".join(e for errs in form.errors.values() for e in errs)))
    try:
        changed = change()  # False only for a rename to the same name
    except lost_reasons.ReasonError as exc:
        db.session.rollback()
        return _stages_page(422, reason_error=(key, name, str(exc)))
    db.session.commit()
    flash(done if changed is not False else "Nothing to save: the reason is as it was.", "success")
    return redirect(url_for("crm.stage_list") + "#reasons-h")


@bp.post("/crm/lost-reasons/new")
@require_role("admin")
def lost_reason_new():
    form = forms.LostReasonForm()
    name = form.name.data or ""
    return _reason_change(lambda: lost_reasons.add(name, actor=current_user), "new", name, "Reason added.", form)


@bp.post("/crm/lost-reasons/<uuid:reason_id>/edit")
@require_role("admin")
def lost_reason_edit(reason_id):
    reason = lost_reasons.get(reason_id) or abort(404)
    form = forms.LostReasonForm()
    name = form.name.data or ""
    return _reason_change(lambda: lost_reasons.rename(reason, name, actor=current_user), reason_id, name,
                          "Reason saved.", form)


@bp.post("/crm/lost-reasons/<uuid:reason_id>/delete")
@require_role("admin")
def lost_reason_delete(reason_id):
    reason = lost_reasons.get(reason_id) or abort(404)
    return _reason_change(lambda: lost_reasons.delete(reason, actor=current_user), reason_id, reason.name,
                          "Reason deleted.")


@bp.post("/crm/stages/<uuid:stage_id>/move")
@require_role("admin")
def stage_move(stage_id):
    stage = stages.get(stage_id) or abort(404)
    direction = "up" if request.form.get("direction") == "up" else "down"
    stages.move(stage, direction, actor=current_user)
    db.session.commit()
    pipeline = stages.ordered()
    flash(f"“{stage.name}” moved {direction}: now {stage.position} of {len(pipeline)}.", "success")
    # Back on the stage moved, its button in focus (autofocus, which a #fragment would cancel):
    # the next press moves it again.
    return redirect(url_for("crm.stage_list", moved=stage.id, direction=direction))


@bp.post("/crm/stages/<uuid:stage_id>/delete")
@require_role("admin")
def stage_delete(stage_id):
    stage = stages.get(stage_id) or abort(404)
    try:
        stages.delete(stage, actor=current_user)
    except stages.StageError as exc:
        db.session.rollback()
        return _stages_page(422, errors={stage_id: {"stage": [str(exc)]}})
    db.session.commit()
    flash("Stage deleted.", "success")
    return redirect(url_for("crm.stage_list"))
