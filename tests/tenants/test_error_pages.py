"""Error pages in our words, leading back into the workspace the address is in (and to the
section above a record not found); an unavailable page offers to try again. The API's JSON
errors are unchanged."""

from __future__ import annotations

import re
import uuid

import pytest
from werkzeug.exceptions import ServiceUnavailable

from tests.identity.support import text
from tests.tenants.crm.conftest import signed_in


def _links(html: str) -> list[tuple[str, str]]:
    actions = html[html.index('<section class="card narrow"'):]
    actions = actions[actions.index('class="form-actions"'):actions.index("</section>")]
    return [(label.strip(), href) for href, label in re.findall(r'<a class="btn[^"]*" href="([^"]+)">(.*?)</a>', actions, re.S)]


@pytest.fixture
def acme_member(web_app):
    from tests.identity.support import new_tenant

    tenant = new_tenant(web_app, "acme", country="CZ")
    return tenant, signed_in(web_app, tenant, "member")


def _name(web_app, tenant) -> str:
    from tenantry.platform.db import db
    from tenantry.platform.tenancy import Tenant
    from tests.identity.support import in_app

    with in_app(web_app, commit=False):
        return db.session.get(Tenant, tenant.id).name


def test_a_record_not_found_says_so_and_leads_to_its_list_and_the_workspace(web_app, acme_member):
    tenant, member = acme_member
    response = member.get(f"/t/acme/crm/contacts/{uuid.uuid4()}")
    assert response.status_code == 404
    html = text(response)
    assert "This page or record does not exist, or it was deleted." in html
    assert "requested URL" not in html
    assert _links(html) == [("Back to Contacts", "/t/acme/crm/contacts"), (f"Back to {_name(web_app, tenant)}", "/t/acme/")]


def test_an_unknown_address_in_a_workspace_leads_back_to_it(web_app, acme_member):
    tenant, member = acme_member
    html = text(member.get("/t/acme/no-such-page"))
    assert _links(html) == [(f"Back to {_name(web_app, tenant)}", "/t/acme/")]


def test_a_workspace_one_is_not_in_is_not_offered(web_app, acme_member):
    from tests.identity.support import new_tenant

    _tenant, member = acme_member
    new_tenant(web_app, "other", country="CZ")
    for path in ("/t/other/crm/contacts", "/t/other/nope", "/t/nowhere/crm/contacts"):
        response = member.get(path)
        assert response.status_code == 404
        assert _links(text(response)) == [("Back to the start", "/")]


def test_a_form_s_address_opened_by_itself_explains_and_leads_to_the_section(web_app, acme_member):
    tenant, member = acme_member
    response = member.get(f"/t/acme/crm/deals/{uuid.uuid4()}/delete")
    assert response.status_code == 405
    html = text(response)
    assert "it is where a form sends" in html and "not allowed for the requested URL" not in html
    assert _links(html) == [("Back to Deals", "/t/acme/crm/deals"), (f"Back to {_name(web_app, tenant)}", "/t/acme/")]


def test_a_forbidden_page_keeps_its_own_reason(web_app, acme_member):
    tenant, _member = acme_member
    viewer = signed_in(web_app, tenant, "viewer")
    response = viewer.get("/t/acme/crm/contacts/new")
    assert response.status_code == 403
    html = text(response)
    assert "Your role in this workspace does not allow this." in html
    assert ("Back to Contacts", "/t/acme/crm/contacts") in _links(html)


@pytest.fixture
def unavailable_page(web_app):
    """A page of the workspace that answers 503, registered before the app's first request."""
    @web_app.get("/t/<slug>/test-unavailable")
    def _unavailable(slug):
        raise ServiceUnavailable()


def test_unavailable_offers_the_same_address_again(unavailable_page, acme_member):
    _tenant, member = acme_member
    html = text(member.get("/t/acme/test-unavailable?x=1"))
    assert "Try again in a few minutes" in html
    assert _links(html)[0] == ("Try again", "/t/acme/test-unavailable?x=1")


def test_signed_out_an_error_leads_to_the_start(web_app):
    response = web_app.test_client().get("/no-such-page")
    assert response.status_code == 404
    assert "This page or record does not exist" in text(response)
    assert _links(text(response)) == [("Back to the start", "/")]


def test_json_errors_keep_their_shape_and_words(web_app):
    response = web_app.test_client().get("/no-such-page", headers={"Accept": "application/json"})
    assert response.status_code == 404
    body = response.get_json()
    assert set(body) == {"error"} and set(body["error"]) == {"code", "message", "fields"}
    assert body["error"]["code"] == "not_found" and "requested URL was not found" in body["error"]["message"]
