"""The requests pages speak the tenant's law: a CCPA workspace handles consumer requests, a
PDPA one individuals' requests [DPA-1.terms]."""

from __future__ import annotations

import re

import pytest

from tests.identity.support import login_password, new_tenant, text


@pytest.mark.obligation("DPA-1.terms")
@pytest.mark.parametrize(("jurisdiction", "words"), [("gdpr", "Data subject requests"),
                                                     ("ccpa", "Consumer requests"),
                                                     ("pdpa", "Individual requests")])
def test_the_requests_pages_use_the_tenants_words(web_app, jurisdiction, words):
    acme = new_tenant(web_app, "acme", jurisdiction=jurisdiction)
    client = web_app.test_client()
    assert login_password(client, acme.owner.email).status_code == 302
    for path in ("/t/acme/subject-requests", "/t/acme/subject-requests/new", "/t/acme/"):
        html = text(client.get(path))
        assert words in html or words.replace(" requests", " request") in html, path
        if jurisdiction != "gdpr":
            assert not re.search(r"\bdata subjects?\b", html, re.I), path
