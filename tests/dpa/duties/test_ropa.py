"""Records of processing: the processor's record per tenant, built from live data and
downloadable [ROPA-processor, DPA-4.3.8], regenerated at least every 30 days [TT-inventory],
and the controller's own processing activities [ROPA-controller]."""

from __future__ import annotations

import html as html_lib
from datetime import timedelta
from html.parser import HTMLParser

import pytest

from tenantry.dpa.duties import ropa
from tenantry.dpa.duties.models import ProcessingActivity, RecordSnapshot
from tests.dpa.duties.support import rows
from tests.identity.support import T0, in_app, new_member, new_tenant, sign_in, text

ACTIVITY = {"name": "Customer care", "purpose": "Answering customers' questions", "legal_basis": "contract",
            "data_categories": "Name, e-mail, order history", "subject_categories": "Customers",
            "recipients": "None", "retention": "3 years after the last contact"}


class _Checker(HTMLParser):
    """Fails on unbalanced tags; collects the text."""

    VOID = {"meta", "br", "hr", "img", "input", "link"}

    def __init__(self):
        super().__init__()
        self.stack: list[str] = []
        self.text: list[str] = []

    def handle_starttag(self, tag, attrs):
        if tag not in self.VOID:
            self.stack.append(tag)

    def handle_endtag(self, tag):
        assert self.stack and self.stack[-1] == tag, f"</{tag}> closes {self.stack[-1:]}"
        self.stack.pop()

    def handle_data(self, data):
        self.text.append(data)


@pytest.mark.obligation("DPA-4.3.8")
@pytest.mark.obligation("ROPA-processor")
def test_the_processors_record_is_built_from_live_data_and_downloads(web_app, web, frozen):
    acme = new_tenant(web_app, "acme", require_2fa=False, password_min_length=14)
    new_member(web_app, acme, "member")
    new_member(web_app, acme, "viewer")
    globex = new_tenant(web_app, "globex", require_2fa=True)
    new_member(web_app, globex)
    sign_in(web, acme.owner)

    page = web.get("/t/acme/records")
    assert page.status_code == 200
    body = html_lib.unescape(text(page))
    assert "Workspace members' accounts" in body
    assert "at least 14 characters" in body and "AES-256-GCM" in body and "a full backup every day" in body

    md = web.get("/t/acme/records/processor.md")
    assert md.status_code == 200 and md.mimetype == "text/markdown"
    assert md.headers["Content-Disposition"] == 'attachment; filename="record-of-processing-acme-20260601.md"'
    doc = text(md)
    assert doc.startswith("# Record of processing: Acme\n")
    # Three members of acme, counted live; the other tenant's member is not.
    assert "| Workspace members' accounts | Name, e-mail address, password hash, two-factor secrets, sign-in history | The tenant's users | 3 |" in doc
    for heading in ("## Subprocessors", "## Transfers outside the EEA", "## Security measures in force", "## Retention"):
        assert heading in doc
    assert "| Two-factor authentication | available to every member; always required for staff |" in doc
    # The subprocessors active for the tenant, from the registry, with transfers outside the EEA.
    subprocessors = doc.split("## Subprocessors", 1)[1].split("## Transfers", 1)[0]
    transfers = doc.split("## Transfers outside the EEA", 1)[1].split("## Security", 1)[0]
    for name in ("Amazon Web Services", "Digital Solutions s.r.o. (DigiSign)", "Microsoft Azure OpenAI Service"):
        assert name in subprocessors
    assert "Standard contractual clauses" in transfers and "DigiSign" not in transfers

    page_html = web.get("/t/acme/records/processor.html")
    assert page_html.status_code == 200 and page_html.mimetype == "text/html"
    checker = _Checker()
    checker.feed(text(page_html))
    checker.close()
    assert checker.stack == []
    assert "<script" not in text(page_html)
    assert "Record of processing: Acme" in "".join(checker.text)
    # Each download is kept as a snapshot of what was handed out.
    assert [s["trigger"] for s in rows(web_app, RecordSnapshot)] == ["download", "download"]

    # Another member joins: the next record counts four, from live data.
    new_member(web_app, acme)
    assert "| The tenant's users | 4 |" in text(web.get("/t/acme/records/processor.md"))


def test_other_modules_register_categories_of_data(app_ctx, monkeypatch):
    from tests import factories

    monkeypatch.setattr(ropa, "_categories", dict(ropa._categories))
    tenant = factories.make_tenant("acme")
    ropa.register_category("Contacts", lambda tenant_id: 7, data="Name, e-mail, phone", subjects="Customers")
    ropa.register_category("Deals", lambda tenant_id: 0, data="Deal notes", subjects="Customers")
    from tenantry.platform.tenancy import tenant_context

    with tenant_context(tenant):
        content = ropa.build(tenant)
    names = [c["name"] for c in content["categories"]]
    assert names == ["Workspace members' accounts", "Contacts"]  # Deals: none held, so not listed
    assert "| Contacts | Name, e-mail, phone | Customers | 7 |" in ropa.to_markdown(content)


def test_markdown_cells_cannot_break_the_table(app_ctx):
    content = {"name": "A | B\nC"}
    assert ropa._md_cell(content["name"]) == "A \\| B C"


@pytest.mark.obligation("TT-inventory")
def test_the_record_is_regenerated_at_least_every_30_days(web_app, frozen):
    from tenantry.platform import cron

    acme = new_tenant(web_app, "acme")
    new_tenant(web_app, "globex")
    with in_app(web_app):
        assert cron.sweep(T0)["records-of-processing"] == 2
        assert cron.sweep(T0 + timedelta(days=29, hours=23))["records-of-processing"] == 0
    assert len(rows(web_app, RecordSnapshot)) == 2
    with in_app(web_app):
        assert cron.sweep(T0 + timedelta(days=30))["records-of-processing"] == 2
        assert cron.sweep(T0 + timedelta(days=30))["records-of-processing"] == 0  # idempotent
    snapshots = rows(web_app, RecordSnapshot, RecordSnapshot.tenant_id == acme.id,
                     order_by=RecordSnapshot.generated_at)
    assert [s["generated_at"] for s in snapshots] == [T0, T0 + timedelta(days=30)]
    assert all(s["trigger"] == "sweep" for s in snapshots)
    assert snapshots[-1]["content"]["controller"]["slug"] == "acme"


@pytest.mark.obligation("ROPA-controller")
def test_a_controller_keeps_its_own_processing_activities(web_app, web, frozen):
    acme = new_tenant(web_app, "acme")
    sign_in(web, acme.owner)
    bad = web.post("/t/acme/records/activities/new", data={**ACTIVITY, "legal_basis": "because", "purpose": ""})
    assert bad.status_code == 422
    page = text(bad)
    assert "Not a valid choice" in page and "Enter the purpose." in page
    assert rows(web_app, ProcessingActivity) == []

    assert web.post("/t/acme/records/activities/new", data=ACTIVITY).status_code == 302
    [activity] = rows(web_app, ProcessingActivity)
    assert activity["legal_basis"] == "contract" and activity["tenant_id"] == acme.id
    assert "Performance of a contract (art. 6(1)(b))" in text(web.get("/t/acme/records"))

    edit = web.post(f"/t/acme/records/activities/{activity['id']}",
                    data={**ACTIVITY, "legal_basis": "legitimate-interests", "retention": "1 year"})
    assert edit.status_code == 302
    [activity] = rows(web_app, ProcessingActivity)
    assert activity["legal_basis"] == "legitimate-interests" and activity["retention"] == "1 year"
    md = text(web.get("/t/acme/records/processor.md"))
    assert "| Customer care | Answering customers' questions | Legitimate interests (art. 6(1)(f)) |" in md

    assert web.post(f"/t/acme/records/activities/{activity['id']}", data={**ACTIVITY, "retention": ""}).status_code == 422
    assert rows(web_app, ProcessingActivity)[0]["retention"] == "1 year"
    assert web.post(f"/t/acme/records/activities/{activity['id']}/delete").status_code == 302
    assert rows(web_app, ProcessingActivity) == []


def test_members_below_admin_do_not_reach_the_records(web_app, web, frozen):
    acme = new_tenant(web_app, "acme")
    member = new_member(web_app, acme, "member")
    sign_in(web, member)
    assert web.get("/t/acme/records").status_code == 403
    assert web.post("/t/acme/records/activities/new", data=ACTIVITY).status_code == 403
