"""No sale, no other use [DPA-7.2]: a CCPA business concludes an agreement that says so in its
law's words; its record of processing names providing the service as the only processing and only
the subprocessors that serve it; and the operator's own staff, who run the service, see none of
its personal information in the console."""

from __future__ import annotations

import html as html_lib
import re

import pytest

from tenantry.platform.db import db
from tenantry.platform.tenancy import Tenant, tenant_context
from tenantry.tenants.crm import contacts
from tests.dpa.duties.support import new_staff
from tests.identity.support import in_app, new_tenant, sign_in, text

CANARY = "Zdenka Kanárková-Prodejná"


@pytest.mark.obligation("DPA-7.2", "DPA-1.terms")
def test_a_ccpa_business_is_promised_no_sale_and_nothing_leaves_the_service(web_app, web, frozen):
    acme = new_tenant(web_app, "acme", country="US", jurisdiction="ccpa")
    with in_app(web_app), tenant_context(db.session.get(Tenant, acme.id)):
        contacts.create(contacts.ContactData(first_name="Zdenka", last_name="Kanárková-Prodejná",
                                             emails=["zdenka@example.com"]))
    sign_in(web, acme.owner)

    agreement = " ".join(html_lib.unescape(text(web.get("/t/acme/agreement"))).split())
    assert "The service provider does not sell personal information" in agreement
    assert "only for the business purpose of providing the service" in agreement

    record = text(web.get("/t/acme/records/processor.md"))
    processing = record.split("## Processing on the business's behalf", 1)[1].split("## ", 1)[0]
    assert "only to provide that service" in processing
    assert "Personal information is never sold nor used for any other purpose" in processing
    assert not re.search(r"\b(controller|processor|data subject)s?\b", record.split("## Subprocessors")[0], re.I)
    page = " ".join(html_lib.unescape(text(web.get("/t/acme/records"))).split())
    assert not re.search(r"\b(controller|data subject)s?\b", page, re.I)
    subprocessors = record.split("## Subprocessors", 1)[1].split("## ", 1)[0]
    for name in ("Amazon Web Services", "Digital Solutions s.r.o. (DigiSign)", "Microsoft Azure OpenAI Service"):
        assert name in subprocessors  # those the registry lists as serving this tenant, and no other
    assert subprocessors.count("\n| ") - 1 == 3

    admin = web_app.test_client()
    sign_in(admin, new_staff(web_app, "platform-admin"))
    for path in ("/admin/", "/admin/tenants/", f"/admin/tenants/{acme.id}"):
        page = admin.get(path)
        assert page.status_code == 200, path
        assert "Kanárková" not in text(page) and "zdenka@example.com" not in text(page), path
