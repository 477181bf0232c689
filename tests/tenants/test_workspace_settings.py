"""The workspace page: owners and admins rename the workspace and choose its time zone (the
CRM's clock), audited; the default is its country's first zone; a zone that is none, or an
empty name, is an error next to its field with nothing saved; members and viewers cannot."""

from __future__ import annotations

from datetime import UTC, datetime

from tenantry.platform.db import db
from tenantry.platform.tenancy import Tenant
from tenantry.tenants import local_time
from tests.identity.support import (
    audit_events,
    field_errors,
    in_app,
    login_password,
    new_member,
    new_tenant,
    text,
)


def _saved(app, tenant) -> tuple:
    with in_app(app, commit=False):
        t = db.session.get(Tenant, tenant.id)
        return t.name, t.time_zone, local_time.zone_of(t).key


def test_an_admin_renames_the_workspace_and_moves_its_clock(web_app, web):
    tenant = new_tenant(web_app, "globex", country="US")
    login_password(web, new_member(web_app, tenant, "admin").email)
    page = text(web.get("/t/globex/settings/workspace"))
    assert '<option value="">America/New_York (the country&#39;s)</option>' in page
    # The country's own zones come first, then all the others.
    assert page.index('<optgroup label="Zones of United States">') < page.index('value="America/Los_Angeles"') \
        < page.index('<optgroup label="All zones">') < page.index('value="Europe/Prague"')
    assert _saved(web_app, tenant) == ("Globex", None, "America/New_York")

    saved = web.post("/t/globex/settings/workspace", data={"name": " Globex West ", "time_zone": "America/Los_Angeles"})
    assert saved.status_code == 302
    assert _saved(web_app, tenant) == ("Globex West", "America/Los_Angeles", "America/Los_Angeles")
    [event] = audit_events(web_app, "tenant.settings-changed")
    assert event["details"] == {"from": {"name": "Globex", "time_zone": None},
                                "to": {"name": "Globex West", "time_zone": "America/Los_Angeles"}}
    with in_app(web_app, commit=False):
        # 07:00 UTC is still the day before on the Pacific coast (23:00), not in New York (02:00).
        t = db.session.get(Tenant, tenant.id)
        assert local_time.today(t, datetime(2026, 12, 8, 7, 0, tzinfo=UTC)).isoformat() == "2026-12-07"
    assert '<option selected value="America/Los_Angeles">' in text(web.get("/t/globex/settings/workspace"))

    # Back to the country's zone; saving what is there already records nothing.
    web.post("/t/globex/settings/workspace", data={"name": "Globex West", "time_zone": ""})
    web.post("/t/globex/settings/workspace", data={"name": "Globex West", "time_zone": ""})
    assert _saved(web_app, tenant) == ("Globex West", None, "America/New_York")
    assert len(audit_events(web_app, "tenant.settings-changed")) == 2


def test_a_zone_that_is_none_or_no_name_is_refused_next_to_its_field(web_app, web):
    tenant = new_tenant(web_app, "acme", country="CZ")
    login_password(web, tenant.owner.email)
    for sent, field in (({"name": "Acme", "time_zone": "Mars/Olympus_Mons"}, "time_zone"),
                        ({"name": "   ", "time_zone": "Europe/Prague"}, "name"),
                        # A line break in a one-line field would reach e-mail subjects ("Invited to …").
                        ({"name": "Acme\rCorp", "time_zone": "Europe/Prague"}, "name"),
                        ({"name": "Acme\nCorp", "time_zone": "Europe/Prague"}, "name")):
        refused = web.post("/t/acme/settings/workspace", data=sent)
        assert refused.status_code == 422 and field_errors(text(refused), field), sent
    assert _saved(web_app, tenant) == ("Acme", None, "Europe/Prague")
    assert audit_events(web_app, "tenant.settings-changed") == []


def test_members_and_viewers_cannot(web_app, web):
    tenant = new_tenant(web_app, "acme", country="CZ")
    for role in ("member", "viewer"):
        client = web_app.test_client()
        login_password(client, new_member(web_app, tenant, role).email)
        assert client.get("/t/acme/settings/workspace").status_code == 403
        assert client.post("/t/acme/settings/workspace", data={"name": "Mine"}).status_code == 403
    assert _saved(web_app, tenant)[0] == "Acme"
