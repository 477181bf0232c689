"""The audit trail of a workspace for its owners and admins [DPA-B.logging, TT-activity-log]:
the filtered list, one event, a record's history and the CSV. Reading the trail is itself
audited (`audit.viewed`, `audit.exported`)."""

from __future__ import annotations

from datetime import UTC, date, datetime

from flask import abort, flash, g, redirect, render_template, request, url_for
from flask_login import current_user
from wtforms import DateField, SelectField, StringField
from wtforms.validators import Length, Optional, ValidationError

from tenantry.platform import audit, audit_retention
from tenantry.platform.csv_cells import csv_download
from tenantry.platform.db import db
from tenantry.platform.forms import Form
from tenantry.platform.identity.models import Role
from tenantry.platform.tenancy import Tenant, current_tenant, tenant_context
from tenantry.platform.web import require_role, tenant_blueprint
from tenantry.tenants import audit_trail, local_time
from tenantry.tenants.audit_trail import FilterError, Filters

bp = tenant_blueprint("audit", __name__)

EARLIEST = date(2000, 1, 1)
CSV_HEADER = ["event id", "seq", "when (UTC)", "actor type", "actor id", "actor", "IP address", "user agent",
              "action", "record type", "record id", "records read", "fields changed", "outcome"]


class FilterForm(Form):
    """The filters are a GET form: links to a filtered list can be shared and bookmarked."""

    class Meta:
        csrf = False

    person = SelectField("Person", validate_choice=False)
    record_type = SelectField("Record type", validate_choice=False)
    record_id = StringField("Record id", validators=[Optional(), Length(max=64)])
    action = SelectField("Action", validate_choice=False)
    since = DateField("From", validators=[Optional()], format="%Y-%m-%d")
    until = DateField("To", validators=[Optional()], format="%Y-%m-%d")

    def __init__(self, *args, people, actions, record_types, **kwargs):
        super().__init__(*args, **kwargs)
        self.person.choices = [("", "Anyone"), *people]
        self.action.choices = [("", "Any action"), *sorted(((a, audit_trail.action_label(a)) for a in actions),
                                                          key=lambda choice: choice[1])]
        self.record_type.choices = [("", "Any record"), *((t, t) for t in record_types)]

    def validate(self, extra_validators=None) -> bool:
        ok = super().validate(extra_validators)
        for name, message in (("since", "Enter the first day as YYYY-MM-DD."),
                              ("until", "Enter the last day as YYYY-MM-DD.")):
            field = getattr(self, name)
            if field.raw_data and field.raw_data[0] and field.data is None:
                field.errors = [message]
                ok = False
            elif field.data is not None and not EARLIEST <= field.data <= date(9998, 12, 31):
                field.errors = [f"Choose a day after {EARLIEST.isoformat()}."]
                ok = False
        if self.since.data and self.until.data and self.until.data < self.since.data:
            self.until.errors = [*self.until.errors, "The last day cannot be before the first day."]
            ok = False
        if self.person.data and self.person.data not in {value for value, _ in self.person.choices}:
            # Support staff and removed accounts are not in the list, yet their events link here
            # ("Everything by them"): a well-formed kind:id is kept, and shown as it is.
            try:
                kind, _ident = audit_trail.parse_person(self.person.data)
            except FilterError:
                kind = None
            if kind is None:
                self.person.errors = [*self.person.errors, "Choose one from the list."]
                ok = False
            else:
                self.person.choices = [*self.person.choices, (self.person.data, self.person.data)]
        if self.action.data and self.action.data not in {value for value, _ in self.action.choices}:
            self.action.errors = [*self.action.errors, "Choose one from the list."]
            ok = False
        try:
            audit_trail.check_record(self.record_type.data, self.record_id.data)
        except FilterError as exc:
            getattr(self, exc.field).errors = [*getattr(self, exc.field).errors, str(exc)]
            ok = False
        return ok

    def filters(self, zone) -> Filters:
        actor_type, actor_id = audit_trail.parse_person(self.person.data or "")
        record_type, record_id = audit_trail.check_record(self.record_type.data, self.record_id.data)
        since, until = audit_trail.day_range(self.since.data, self.until.data, zone)
        return Filters(actor_type=actor_type, actor_id=actor_id, record_type=record_type, record_id=record_id,
                       action=self.action.data or None, since=since, until=until)

    def query_args(self) -> dict[str, str]:
        return {name: request.args[name] for name in ("person", "record_type", "record_id", "action", "since", "until")
                if request.args.get(name)}


def _form() -> FilterForm:
    tid = current_tenant.id
    return FilterForm(formdata=request.args, people=audit_trail.people(tid), actions=audit_trail.actions(tid),
                      record_types=audit_trail.record_types(tid))


MAX_SEQ = 2**63 - 1  # a BIGINT: a larger cursor would not even reach the database


def _cursor() -> int | None:
    before = request.args.get("before", type=int)
    return before if before and 0 < before <= MAX_SEQ else None


def _rows(events, zone=None):
    actors = audit_trail.actors_of(events)
    zone = zone or local_time.zone_of(current_tenant)
    return [{"event": e, "actor": actors[(e.actor_type, e.actor_id)], "local": e.occurred_at.astimezone(zone),
             "agent": audit_trail.short_agent(e.user_agent), "label": audit_trail.action_label(e.action),
             "fields": audit_trail.fields_of(e),
             "reads": audit_trail.read_ids(e)} for e in events]


def _viewed(details: dict, target_type: str = "audit_trail", target_id=None) -> None:
    audit.record("audit.viewed", actor=current_user, tenant_id=current_tenant.id, target_type=target_type,
                 target_id=target_id, details=details)
    db.session.commit()


@bp.get("/audit")
@require_role(Role.ADMIN)
def index():
    form = _form()
    zone = local_time.zone_of(current_tenant)
    if request.args and not form.validate():
        return render_template("tenants/audit.html", form=form, rows=[], next_before=None, invalid=True,
                               zone=zone, retention=audit_trail.retention_days(current_tenant),
                               oldest=None, export_args={}), 422
    filters = form.filters(zone)
    events, next_before = audit_trail.page(current_tenant.id, filters, before=_cursor())
    _viewed({"filters": filters.describe(), "before": _cursor(), "shown": len(events)})
    return render_template("tenants/audit.html", form=form, rows=_rows(events), next_before=next_before,
                           invalid=False, zone=zone, retention=audit_trail.retention_days(current_tenant),
                           oldest=audit_trail.oldest(current_tenant.id), export_args=form.query_args())


@bp.get("/audit/export.csv")
@require_role(Role.ADMIN)
def export_csv():
    form = _form()
    if request.args and not form.validate():
        return render_template("tenants/audit.html", form=form, rows=[], next_before=None, invalid=True,
                               zone=local_time.zone_of(current_tenant),
                               retention=audit_trail.retention_days(current_tenant), oldest=None,
                               export_args={}), 422
    zone = local_time.zone_of(current_tenant)
    filters = form.filters(zone)
    tenant = current_tenant._get_current_object()
    tenant_id = tenant.id
    total = audit_trail.count(tenant_id, filters)
    audit.record("audit.exported", actor=current_user, tenant_id=tenant_id, target_type="audit_trail",
                 details={"filters": filters.describe(), "rows": total, "format": "csv"})
    db.session.commit()

    def rows():
        # The body streams after the view has returned, when the request's tenant is no longer
        # current: the batches are read (and API clients named) inside the tenant again.
        with tenant_context(tenant):
            for batch in audit_trail.iterate(tenant_id, filters):
                for row in _rows(batch, zone):
                    e, actor = row["event"], row["actor"]
                    yield [e.id, e.seq, e.occurred_at.astimezone(UTC).isoformat(), e.actor_type, e.actor_id,
                           actor.label, e.ip, e.user_agent, e.action, e.target_type, e.target_id,
                           " ".join(row["reads"]), " ".join(row["fields"]), e.outcome]

    stamp = datetime.now(UTC).strftime("%Y%m%d-%H%M%S")
    return csv_download(f"audit-{current_tenant.slug}-{stamp}.csv", CSV_HEADER, rows())


@bp.get("/audit/events/<int:audit_event_id>")
@require_role(Role.ADMIN)
def event(audit_event_id: int):
    if audit_event_id > MAX_SEQ:  # no such event, and too large for the database to be asked
        abort(404)
    found = audit_trail.get(current_tenant.id, audit_event_id) or abort(404)
    [row] = _rows([found])
    changes = audit_trail.changes_of(found)
    _viewed({"event_id": found.id, "values_shown": changes is not None}, target_type="audit_event",
            target_id=found.id)
    return render_template("tenants/audit_event.html", row=row, changes=changes,
                           record_url=_record_url(found.target_type, found.target_id))


@bp.get("/audit/record/<record_type>/<record_id>")
@require_role(Role.ADMIN)
def record_history(record_type: str, record_id: str):
    try:
        record_type, record_id = audit_trail.check_record(record_type, record_id)
    except FilterError:
        abort(404)
    events, next_before = audit_trail.history(current_tenant.id, record_type, record_id, before=_cursor())
    if not events and _cursor() is None:
        # A record this workspace's trail has never named is, for this workspace, not there.
        abort(404)
    _viewed({"record_type": record_type, "record_id": record_id, "before": _cursor(), "shown": len(events)})
    return render_template("tenants/audit_record.html", rows=_rows(events), next_before=next_before,
                           record_type=record_type, record_id=record_id,
                           record_url=_record_url(record_type, record_id),
                           zone=local_time.zone_of(current_tenant),
                           retention=audit_trail.retention_days(current_tenant))


class RetentionForm(Form):
    """How long the workspace's audit events are kept [DPA-B.logging]: never below 30 days."""

    days = StringField("Keep audit events for (days)")

    def validate_days(self, field) -> None:
        value = (field.data or "").strip()
        if not (value.isascii() and value.lstrip("-").isdigit()):  # isdigit() alone takes "²"
            raise ValidationError("Enter a whole number of days.")
        # A long run of digits is out of range without converting it (int() refuses 4,300+ digits).
        days = int(value) if len(value) <= 6 else audit_retention.MAX_DAYS + 1
        if not audit_retention.MIN_DAYS <= days <= audit_retention.MAX_DAYS:
            raise ValidationError(f"Keep audit events between {audit_retention.MIN_DAYS} and "
                                  f"{audit_retention.MAX_DAYS} days.")
        field.days = days


def _retention_page(form: RetentionForm, status: int = 200):
    return render_template("tenants/audit_retention.html", form=form,
                           retention=audit_trail.retention_days(current_tenant),
                           min_days=audit_retention.MIN_DAYS, max_days=audit_retention.MAX_DAYS,
                           oldest=audit_trail.oldest(current_tenant.id),
                           zone=local_time.zone_of(current_tenant)), status


@bp.get("/audit/retention")
@require_role(Role.OWNER)
def retention():
    return _retention_page(RetentionForm(data={"days": str(audit_trail.retention_days(current_tenant))}))


@bp.post("/audit/retention")
@require_role(Role.OWNER)
def retention_save():
    form = RetentionForm()
    if form.validate_on_submit():
        tenant = db.session.get(Tenant, current_tenant.id)
        try:
            changed = audit_trail.set_retention(tenant, form.days.days, actor=current_user)
        except audit_retention.RetentionError as exc:
            form.days.errors = [*form.days.errors, str(exc)]
        else:
            db.session.commit()
            if changed:
                flash(f"Audit events are now kept for {form.days.days} days.", "success")
            return redirect(url_for("audit.retention"))
    db.session.rollback()
    return _retention_page(form, 422)


def _record_url(record_type: str | None, record_id: str | None) -> str | None:
    target = audit_trail.RECORD_ENDPOINTS.get(record_type or "")
    if target is None or not record_id:
        return None
    endpoint, arg = target
    try:
        return url_for(endpoint, **{arg: record_id})
    except Exception:  # an id that does not fit the record's URL (e.g. not a UUID) gets no link
        return None


@bp.app_template_global("audit_history_url")
def audit_history_url(record_type: str, record_id) -> str | None:
    """The "History" link of a record page; only owners and admins read the trail."""
    membership = g.get("membership")
    if membership is None or not membership.can(Role.ADMIN):
        return None
    return url_for("audit.record_history", record_type=record_type, record_id=str(record_id))


def init_app(app) -> None:
    from tenantry.platform import cron
    from tenantry.platform.web import add_tenant_nav
    from tenantry.tenants import account_review, account_review_views

    app.register_blueprint(bp)
    app.register_blueprint(account_review_views.bp)
    add_tenant_nav(app, "audit.index", "Audit trail", role="admin", order=95)
    add_tenant_nav(app, "account_review.index", "Account review", role="admin", order=96)
    # Idle members go first, so the month's report shows who is still active.
    cron.register(app, "account-review.auto-deactivate", account_review.auto_deactivate_sweep)
    cron.register(app, "account-review.monthly", account_review.monthly_sweep)
