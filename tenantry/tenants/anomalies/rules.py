"""The anomaly rules, evaluated in a job after the audit events that feed them are committed.

The request that wrote an event only notes its id (see hooks); counting, deduplicating and
telling people happens here, off the request. Every rule reads the audit trail (or, for API
volume, the hourly counters), so a job that runs late or twice decides the same way.

Deduplication: an alert covers a burst. A later event of the same rule and subject whose time
is within the rule's window of the alert's last event extends that alert; only a quiet spell
longer than the window starts a new one. Raising or extending takes the tenant's settings row
FOR UPDATE, so two workers evaluating one burst agree on one alert.
"""

from __future__ import annotations

import math
import uuid
from collections.abc import Iterable
from datetime import datetime, timedelta

import sqlalchemy as sa
from flask import current_app, has_app_context
from sqlalchemy.dialects import postgresql, sqlite

from tenantry.platform import audit, clock, notify
from tenantry.platform.audit import AuditEvent
from tenantry.platform.db import db
from tenantry.platform.identity.models import Membership, Role, StaffRole, StaffUser, User
from tenantry.platform.tenancy import Tenant, TenantStatus, all_tenants, tenant_context
from tenantry.tenants.anomalies.models import (
    RULE_LABELS,
    Alert,
    AlertSettings,
    ApiUsageHour,
    LoginIP,
    Rule,
    StaffAlert,
)

READ_WINDOW = timedelta(minutes=10)
FAILED_WINDOW = timedelta(minutes=15)
EXPORT_WINDOW = timedelta(minutes=30)
API_WINDOW = timedelta(hours=1)
API_BASELINE_DAYS = 7
# Staff accounts have no tenant to set thresholds; the platform's own are the defaults.
STAFF_FAILED_THRESHOLD = 5
# Enough addresses for a person's home, office, phone and travels; the oldest fall off.
MAX_IPS = 50

PEOPLE = ("user", "staff")
LOGIN_ACTIONS = ("auth.user.login", "auth.staff.login")
FAILURE_ACTIONS = ("auth.user.login", "auth.staff.login", "auth.2fa.verify")


# --- which events matter ------------------------------------------------------------------


def is_export(action: str) -> bool:
    return action.endswith(".exported") or action.startswith("export.")


def relevant(event: AuditEvent) -> bool:
    """Cheap, attribute-only test run at flush time for every audit event."""
    action = event.action or ""
    if action in FAILURE_ACTIONS and event.actor_id and event.actor_type in PEOPLE:
        return True
    if event.tenant_id is None or event.actor_type not in PEOPLE or not event.actor_id:
        return False
    if event.target_type == "contact" and isinstance(event.details, dict) and "ids" in event.details:
        return True
    return is_export(action)


# --- settings -----------------------------------------------------------------------------


def settings_for(tenant_id: uuid.UUID) -> AlertSettings:
    """The tenant's thresholds, or the defaults (unsaved) when it never changed them."""
    row = db.session.get(AlertSettings, tenant_id)
    if row is None:
        row = AlertSettings(tenant_id=tenant_id)
        for column in AlertSettings.__table__.columns:
            if getattr(row, column.key) is None and column.default is not None and not callable(column.default.arg):
                setattr(row, column.key, column.default.arg)
    return row


def _insert(table):
    dialect = db.session.get_bind().dialect.name
    return (postgresql.insert if dialect == "postgresql" else sqlite.insert)(table)


def _lock(tenant_id: uuid.UUID) -> None:
    """Serialise alert raising per tenant on its settings row (created on first need)."""
    table = AlertSettings.__table__
    db.session.execute(_insert(table).values(tenant_id=tenant_id, updated_at=clock.now())
                       .on_conflict_do_nothing(index_elements=["tenant_id"]))
    db.session.execute(sa.select(table.c.tenant_id).where(table.c.tenant_id == tenant_id).with_for_update())


# --- raising and telling -----------------------------------------------------------------


def _base_url() -> str:
    return current_app.extensions["tenantry.settings"].base_url if has_app_context() else ""


def _subject_name(subject_type: str, subject_id: str) -> str:
    if subject_type == "user":
        with all_tenants():
            user = db.session.get(User, uuid.UUID(subject_id))
        return user.display_name if user is not None else "A former member"
    if subject_type == "staff":
        return "A Tenantry staff member (support access)"
    return f"API client {subject_id}"


def describe(alert: Alert) -> str:
    """One sentence for the tenant's owners: the member's name is theirs to see."""
    who = _subject_name(alert.subject_type, alert.subject_id)
    rule = Rule(alert.rule)
    if rule is Rule.MASS_READ:
        return (f"{who} read {alert.observed} different contacts within {READ_WINDOW.seconds // 60} minutes "
                f"(the alert is set for more than {alert.threshold}).")
    if rule is Rule.EXPORT:
        return f"{who} exported data in bulk without being an owner or admin of the workspace."
    if rule is Rule.NEW_IP:
        return f"{who} signed in from an IP address not seen for this account before."
    if rule is Rule.FAILED_LOGINS:
        return (f"{alert.observed} failed sign-ins or two-factor codes for {who} within "
                f"{FAILED_WINDOW.seconds // 60} minutes (the alert is set for {alert.threshold} or more).")
    return (f"{who} made {alert.observed} requests this hour, at least {alert.threshold} being "
            f"the alert level for its usual volume.")


def _owners(tenant_id: uuid.UUID) -> list[User]:
    return list(db.session.execute(
        sa.select(User).join(Membership, Membership.user_id == User.id)
        .where(Membership.tenant_id == tenant_id, Membership.role == Role.OWNER.value, User.active.is_(True))
        .order_by(User.email)
    ).scalars())


def _tell_owners(tenant: Tenant, alert: Alert) -> None:
    link = f"{_base_url()}/t/{tenant.slug}/settings/alerts"
    body = (f"{describe(alert)}\n\nWhen: {alert.first_seen_at:%Y-%m-%d %H:%M} UTC.\n\n"
            f"If you do not recognise this, review the member's access and the audit trail. "
            f"All alerts of the workspace, and their thresholds: {link}")
    for owner in _owners(tenant.id):
        # An owner whose own account the alert is about sees it in the workspace; the e-mail goes
        # to the other owners, who can act on it (the platform already mails a person whose
        # two-factor sign-in locks).
        mine = alert.subject_type == "user" and alert.subject_id == str(owner.id)
        notify.create("security.anomaly", recipient=owner, tenant_id=tenant.id,
                      subject=f"Security alert in {tenant.name}: {alert.label}", body=body,
                      in_app=True, email=not mine)


def raise_alert(tenant: Tenant, rule: Rule, subject_type: str, subject_id: str, at: datetime, *,
                observed: int, threshold: int, window: timedelta | None,
                details: dict | None = None) -> Alert | None:
    """The new alert, or None when the event extended an alert of the same burst."""
    with tenant_context(tenant):
        _lock(tenant.id)
        if window is not None:
            existing = db.session.execute(
                sa.select(Alert).where(Alert.rule == rule.value, Alert.subject_type == subject_type,
                                       Alert.subject_id == subject_id, Alert.last_seen_at >= at - window)
                .order_by(Alert.last_seen_at.desc()).limit(1)
            ).scalar_one_or_none()
            if existing is not None:
                existing.last_seen_at = max(existing.last_seen_at, at)
                existing.observed = max(existing.observed, observed)
                existing.events += 1
                return None
        alert = Alert(tenant_id=tenant.id, rule=rule.value, subject_type=subject_type, subject_id=subject_id,
                      first_seen_at=at, last_seen_at=at, observed=observed, threshold=threshold,
                      details=details)
        db.session.add(alert)
        db.session.flush()
        audit.record("security.alert.raised", actor_type="system", tenant_id=tenant.id,
                     target_type="anomaly_alert", target_id=alert.id, details={"rule": rule.value})
        _tell_owners(tenant, alert)
        return alert


def raise_staff_alert(rule: Rule, staff_id: uuid.UUID, at: datetime, *, observed: int, threshold: int,
                      window: timedelta | None) -> StaffAlert | None:
    # Staff rows have no tenant: the staff member's own row is the lock.
    db.session.execute(sa.select(StaffUser.id).where(StaffUser.id == staff_id).with_for_update())
    if window is not None:
        existing = db.session.execute(
            sa.select(StaffAlert).where(StaffAlert.rule == rule.value, StaffAlert.staff_id == staff_id,
                                        StaffAlert.last_seen_at >= at - window)
            .order_by(StaffAlert.last_seen_at.desc()).limit(1)
        ).scalar_one_or_none()
        if existing is not None:
            existing.last_seen_at = max(existing.last_seen_at, at)
            existing.observed = max(existing.observed, observed)
            existing.events += 1
            return None
    alert = StaffAlert(rule=rule.value, staff_id=staff_id, first_seen_at=at, last_seen_at=at,
                       observed=observed, threshold=threshold)
    db.session.add(alert)
    db.session.flush()
    audit.record("security.staff-alert.raised", actor_type="system", target_type="staff_alert",
                 target_id=alert.id, details={"rule": rule.value})
    admins = db.session.execute(
        sa.select(StaffUser).where(StaffUser.role == StaffRole.PLATFORM_ADMIN.value, StaffUser.active.is_(True))
    ).scalars()
    for admin in admins:
        notify.create("security.staff-anomaly", recipient=admin,
                      subject=f"Security alert: {alert.label} (staff account)",
                      body=(f"{RULE_LABELS[rule]} for a staff account: {observed} at "
                            f"{at:%Y-%m-%d %H:%M} UTC. Details: {_base_url()}/admin/security"),
                      in_app=True, email=True)
    return alert


# --- the rules ----------------------------------------------------------------------------


def _tenant(tenant_id: uuid.UUID) -> Tenant | None:
    tenant = db.session.get(Tenant, tenant_id)
    return tenant if tenant is not None and tenant.status != TenantStatus.DELETED else None


def check_mass_read(tenant: Tenant, actor_type: str, actor_id: str, at: datetime) -> Alert | None:
    with tenant_context(tenant):
        rules = settings_for(tenant.id)
        enabled, limit = rules.mass_read_enabled, rules.mass_read_threshold
    if not enabled:
        return None
    details = db.session.execute(
        sa.select(AuditEvent.details).where(
            AuditEvent.tenant_id == tenant.id, AuditEvent.actor_type == actor_type, AuditEvent.actor_id == actor_id,
            AuditEvent.target_type == "contact", AuditEvent.occurred_at >= at - READ_WINDOW,
            AuditEvent.occurred_at <= at)
    ).scalars()
    seen: set[str] = set()
    for payload in details:
        if isinstance(payload, dict):
            seen.update(str(i) for i in payload.get("ids") or ())
    if len(seen) <= limit:
        return None
    return raise_alert(tenant, Rule.MASS_READ, actor_type, actor_id, at, observed=len(seen), threshold=limit,
                       window=READ_WINDOW)


def check_export(tenant: Tenant, event: AuditEvent) -> Alert | None:
    with tenant_context(tenant):
        if not settings_for(tenant.id).export_enabled:
            return None
        if event.actor_type == "user":
            role = db.session.execute(
                sa.select(Membership.role).where(Membership.user_id == uuid.UUID(event.actor_id))
            ).scalar_one_or_none()
            if role in (Role.OWNER.value, Role.ADMIN.value):
                return None
    return raise_alert(tenant, Rule.EXPORT, event.actor_type, event.actor_id, event.occurred_at, observed=1,
                       threshold=0, window=EXPORT_WINDOW, details={"action": event.action})


def _tenants_of(user_id: uuid.UUID) -> list[Tenant]:
    with all_tenants():
        return [t for t in db.session.execute(
            sa.select(Tenant).join(Membership, Membership.tenant_id == Tenant.id)
            .where(Membership.user_id == user_id, Tenant.status != TenantStatus.DELETED.value)
            .order_by(Tenant.slug)
        ).scalars()]


def failures_within(actor_type: str, actor_id: str, at: datetime) -> int:
    login = "auth.staff.login" if actor_type == "staff" else "auth.user.login"
    return db.session.execute(
        sa.select(sa.func.count()).select_from(AuditEvent).where(
            AuditEvent.tenant_id.is_(None), AuditEvent.actor_type == actor_type, AuditEvent.actor_id == actor_id,
            AuditEvent.outcome == "failure", AuditEvent.action.in_((login, "auth.2fa.verify")),
            AuditEvent.occurred_at >= at - FAILED_WINDOW, AuditEvent.occurred_at <= at)
    ).scalar_one()


def check_failed_logins(actor_type: str, actor_id: str, at: datetime) -> list:
    count = failures_within(actor_type, actor_id, at)
    raised: list = []
    if actor_type == "staff":
        if count >= STAFF_FAILED_THRESHOLD:
            raised.append(raise_staff_alert(Rule.FAILED_LOGINS, uuid.UUID(actor_id), at, observed=count,
                                            threshold=STAFF_FAILED_THRESHOLD, window=FAILED_WINDOW))
        return [a for a in raised if a is not None]
    # A person's sign-in is not any one tenant's; every workspace they can reach is told.
    for tenant in _tenants_of(uuid.UUID(actor_id)):
        with tenant_context(tenant):
            rules = settings_for(tenant.id)
            enabled, limit = rules.failed_logins_enabled, rules.failed_logins_threshold
        if enabled and count >= limit:
            raised.append(raise_alert(tenant, Rule.FAILED_LOGINS, "user", actor_id, at, observed=count,
                                      threshold=limit, window=FAILED_WINDOW))
    return [a for a in raised if a is not None]


def check_new_ip(actor_type: str, actor_id: str, ip: str | None, at: datetime) -> list:
    if not ip:
        return []
    principal_id = uuid.UUID(actor_id)
    table = LoginIP.__table__
    known = db.session.execute(
        sa.select(table.c.ip).where(table.c.principal_type == actor_type, table.c.principal_id == principal_id)
    ).scalars().all()
    if ip in known:
        db.session.execute(table.update().where(
            table.c.principal_type == actor_type, table.c.principal_id == principal_id, table.c.ip == ip,
            table.c.last_seen_at < at).values(last_seen_at=at))
        return []
    inserted = db.session.execute(_insert(table).values(
        principal_type=actor_type, principal_id=principal_id, ip=ip, first_seen_at=at, last_seen_at=at,
    ).on_conflict_do_nothing()).rowcount
    _prune_ips(actor_type, principal_id)
    # The very first sign-in has nothing to compare with; a concurrent job that inserted the same
    # address first has raised the alert already.
    if not known or not inserted:
        return []
    if actor_type == "staff":
        alert = raise_staff_alert(Rule.NEW_IP, principal_id, at, observed=1, threshold=0, window=None)
        return [alert] if alert else []
    raised = []
    for tenant in _tenants_of(principal_id):
        with tenant_context(tenant):
            enabled = settings_for(tenant.id).new_ip_enabled
        if enabled:
            raised.append(raise_alert(tenant, Rule.NEW_IP, "user", actor_id, at, observed=1, threshold=0,
                                      window=None, details={"ip": ip}))
    return [a for a in raised if a is not None]


def _prune_ips(actor_type: str, principal_id: uuid.UUID) -> None:
    table = LoginIP.__table__
    keep = sa.select(table.c.ip).where(
        table.c.principal_type == actor_type, table.c.principal_id == principal_id,
    ).order_by(table.c.last_seen_at.desc()).limit(MAX_IPS).scalar_subquery()
    db.session.execute(table.delete().where(
        table.c.principal_type == actor_type, table.c.principal_id == principal_id, table.c.ip.not_in(keep)))


# --- API volume ---------------------------------------------------------------------------


def hour_of(at: datetime) -> datetime:
    return at.replace(minute=0, second=0, microsecond=0)


def usual_volume(client_id: str, hour: datetime) -> float:
    """Average requests per hour over the previous days' hours in which the client was used."""
    avg = db.session.execute(
        sa.select(sa.func.avg(ApiUsageHour.requests)).where(
            ApiUsageHour.client_id == client_id, ApiUsageHour.hour_start < hour,
            ApiUsageHour.hour_start >= hour - timedelta(days=API_BASELINE_DAYS))
    ).scalar_one_or_none()
    return float(avg or 0)


def count_api_request(client_id: str, at: str | None = None) -> Alert | None:
    """The job run once per API request (in the client's tenant context): count it, then check."""
    from tenantry.platform.tenancy import current_tenant_id

    tenant_id = current_tenant_id()
    when = datetime.fromisoformat(at) if at else clock.now()
    add_api_requests(tenant_id, client_id, hour_of(when), 1)
    return check_api_volume(db.session.get(Tenant, tenant_id), client_id, when)


def add_api_requests(tenant_id: uuid.UUID, client_id: str, hour: datetime, requests: int) -> None:
    """Add to a client's count of the hour (in the tenant's context), creating the row if needed."""
    table = ApiUsageHour.__table__
    statement = _insert(table).values(tenant_id=tenant_id, client_id=client_id, hour_start=hour, requests=requests)
    db.session.execute(statement.on_conflict_do_update(
        index_elements=["tenant_id", "client_id", "hour_start"], set_={"requests": table.c.requests + requests}))


def check_api_volume(tenant: Tenant, client_id: str, at: datetime) -> Alert | None:
    hour = hour_of(at)
    with tenant_context(tenant):
        rules = settings_for(tenant.id)
        enabled, factor, floor = (rules.api_volume_enabled, rules.api_volume_multiplier,
                                  rules.api_volume_min_baseline)
        current = db.session.execute(sa.select(ApiUsageHour.requests).where(
            ApiUsageHour.client_id == client_id, ApiUsageHour.hour_start == hour)).scalar_one_or_none() or 0
        usual = max(usual_volume(client_id, hour), float(floor))
    if not enabled:
        return None
    level = math.ceil(factor * usual)
    if current < level:
        return None
    return raise_alert(tenant, Rule.API_VOLUME, "api_client", client_id, at, observed=current, threshold=level,
                       window=API_WINDOW)


# --- the job ------------------------------------------------------------------------------


def evaluate_events(event_ids: Iterable[int]) -> int:
    """Run the rules on audit events just committed; returns how many alerts were raised."""
    events = list(db.session.execute(
        sa.select(AuditEvent).where(AuditEvent.id.in_(list(event_ids))).order_by(AuditEvent.occurred_at,
                                                                                  AuditEvent.id)
    ).scalars())
    raised = 0
    reads: dict[tuple, datetime] = {}
    failures: dict[tuple, datetime] = {}
    for event in events:
        if event.action in FAILURE_ACTIONS and event.outcome == "failure":
            failures[(event.actor_type, event.actor_id)] = event.occurred_at
        elif event.action in LOGIN_ACTIONS and event.outcome == "success":
            raised += len(check_new_ip(event.actor_type, event.actor_id, event.ip, event.occurred_at))
        elif event.tenant_id is not None and (tenant := _tenant(event.tenant_id)) is not None:
            if event.target_type == "contact" and isinstance(event.details, dict) and "ids" in event.details:
                key = (tenant.id, event.actor_type, event.actor_id)
                reads[key] = max(reads.get(key, event.occurred_at), event.occurred_at)
            elif is_export(event.action):
                raised += check_export(tenant, event) is not None
    # One check per person and burst of this batch, at its latest event.
    for (tenant_id, actor_type, actor_id), at in reads.items():
        tenant = _tenant(tenant_id)
        if tenant is not None:
            raised += check_mass_read(tenant, actor_type, actor_id, at) is not None
    for (actor_type, actor_id), at in failures.items():
        raised += len(check_failed_logins(actor_type, actor_id, at))
    return raised
