"""The activities list: open ones by due date (undated last), the state, kind and search
filters, pages, "Mark done" back to the same list, roles, the export of what is shown, the
read it records, and the changes to the activities ticked."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
import sqlalchemy as sa

from tenantry.platform import clock
from tenantry.platform.audit import AuditEvent
from tenantry.platform.db import db
from tenantry.platform.tenancy import all_tenants
from tenantry.tenants.crm import activity_list
from tests.identity.support import in_app, text

from .conftest import listed_reads, signed_in
from .test_dashboard import _seed

NOTES = ("Send the revised quote", "Call about the offer", "Follow-up e-mail", "Too far ahead", "No date",
         "Already done", "Of a restricted contact")


def _notes(client, **args) -> list[str]:
    """The notes of the rows shown, in their order."""
    html = text(client.get("/t/acme/crm/activities", query_string=args))
    body = html[html.index("<tbody"):html.index("</tbody>")] if "<tbody" in html else ""
    return [note for _, note in sorted((body.index(n), n) for n in NOTES if n in body)]


def test_open_ones_by_due_date_undated_last_and_never_a_restricted_contacts(web_app, member, acme):
    _seed(web_app, acme.id)
    assert _notes(member) == ["Send the revised quote", "Call about the offer", "Follow-up e-mail",
                              "Too far ahead", "No date"]
    html = text(member.get("/t/acme/crm/activities"))
    assert html.count("badge badge-danger") == 1 and "5 activities." in html
    assert 'href="/t/acme/crm/deals/' in html and "Forged gates" in html and "Kovárna Novák s.r.o." in html


@pytest.mark.parametrize(("args", "expected"), [
    ({"state": "overdue"}, ["Send the revised quote"]),
    ({"state": "due"}, ["Send the revised quote", "Call about the offer"]),  # overdue or due today
    ({"state": "week"}, ["Send the revised quote", "Call about the offer", "Follow-up e-mail"]),  # the dashboard's
    ({"state": "done"}, ["Already done"]),
    ({"state": "all", "kind": "call"}, ["Already done", "Call about the offer"]),
    ({"kind": "email"}, ["Follow-up e-mail"]),
    ({"q": "novakova"}, ["Call about the offer", "Too far ahead", "No date"]),  # Jana's
    ({"q": "gates"}, ["Send the revised quote"]),  # the deal's title
    ({"q": "kovarna"}, ["Follow-up e-mail"]),  # the company's name
    ({"q": "restricted", "state": "all"}, []),
    ({"state": "nonsense", "sort": "nonsense", "kind": "nonsense"}, ["Send the revised quote", "Call about the offer",
                                                                     "Follow-up e-mail", "Too far ahead", "No date"]),
])
def test_filters_and_search(web_app, member, acme, args, expected):
    _seed(web_app, acme.id)
    assert _notes(member, **args) == expected


def test_newest_first_and_pages_keep_the_query(web_app, member, acme, monkeypatch):
    _seed(web_app, acme.id)
    assert _notes(member, sort="newest", state="all") == ["Already done", "No date", "Too far ahead",
                                                          "Follow-up e-mail", "Call about the offer",
                                                          "Send the revised quote"]
    monkeypatch.setattr(activity_list, "PAGE_SIZE", 2)
    html = text(member.get("/t/acme/crm/activities?q=novakova"))
    assert "Page 1 of 2" in html and "/t/acme/crm/activities?page=2&amp;q=novakova" in html
    assert _notes(member, q="novakova", page=2) == ["No date"]


def test_mark_done_returns_to_the_same_list(web_app, member, acme):
    ids, _ = _seed(web_app, acme.id)
    html = text(member.get("/t/acme/crm/activities?q=novakova&kind=call"))
    assert 'name="list_q" value="novakova"' in html and 'name="list_kind" value="call"' in html
    done = member.post(f"/t/acme/crm/activities/{ids['today']}/done",
                       data={"done": "1", "back": "activities", "list_q": "novakova", "list_kind": "call",
                             "list_next": "https://evil.example/"})
    assert done.status_code == 302
    assert done.headers["Location"] == "/t/acme/crm/activities?q=novakova&kind=call"
    assert _notes(member, q="novakova", kind="call") == []
    assert _notes(member, q="novakova", kind="call", state="done") == ["Already done", "Call about the offer"]
    again = member.post(f"/t/acme/crm/activities/{ids['today']}/done", data={"done": "0", "back": "activities"})
    assert again.headers["Location"] == "/t/acme/crm/activities"
    assert "Call about the offer" in _notes(member)


def test_a_viewer_reads_without_buttons_and_the_page_is_accessible(web_app, acme):
    from tests.test_accessibility import _problems

    _seed(web_app, acme.id)
    viewer = signed_in(web_app, acme, "viewer")
    response = viewer.get("/t/acme/crm/activities?state=all")
    assert response.status_code == 200 and "Mark done" not in text(response) and "Export CSV" not in text(response)
    assert _problems(response) == []
    assert "Activities" in re.findall(r'<a [^>]*href="/t/acme/crm/activities"[^>]*>([^<]+)</a>', text(response))


def test_the_export_holds_what_the_list_finds(web_app, member, acme):
    _seed(web_app, acme.id)
    html = text(member.get("/t/acme/crm/activities?q=gates&state=done"))
    assert "/t/acme/crm/activities/export.csv?q=gates&amp;state=done" in html
    exported = member.get("/t/acme/crm/activities/export.csv?q=gates").get_data(as_text=True)
    assert "Send the revised quote" in exported and "Call about the offer" not in exported
    # Each state of the list exports what it lists ("all" everything, as no state does).
    for state in ("open", "due", "overdue", "done", "all"):
        html = text(member.get(f"/t/acme/crm/activities?state={state}"))
        link = re.search(r'href="(/t/acme/crm/activities/export\.csv[^"]*)"', html).group(1).replace("&amp;", "&")
        exported = member.get(link).get_data(as_text=True)
        assert sorted(n for n in NOTES if n in exported) == sorted(_notes(member, state=state)), state
    # A link of an earlier version (done=yes|no) still exports what it did.
    assert "Already done" in member.get("/t/acme/crm/activities/export.csv?done=yes").get_data(as_text=True)
    assert "Already done" not in member.get("/t/acme/crm/activities/export.csv?done=no").get_data(as_text=True)


@pytest.mark.obligation("DPA-B.monitoring")
def test_what_the_list_shows_is_recorded_as_reads(web_app, member, acme):
    ids, subjects = _seed(web_app, acme.id)
    member.get("/t/acme/crm/activities?q=kovarna")
    read = {action: (d["ids"], d.get("search")) for action, d in listed_reads(web_app, acme.id).items()}
    assert read == {"crm.activity.listed": ([str(ids["week"])], True),
                    "crm.company.listed": ([str(subjects["firm"])], None)}


def test_the_activities_ticked_are_marked_done_reopened_or_deleted(web_app, member, acme):
    ids, _subjects = _seed(web_app, acme.id)
    ticked = [str(ids["today"]), str(ids["week"]), str(ids["done"])]
    page = text(member.get("/t/acme/crm/activities", query_string={"state": "all"}))
    assert 'id="bulk"' in page and 'aria-label="Tick: Call about Jana Nováková"' in page
    done = member.post("/t/acme/crm/activities/bulk", data={"ids": ticked, "action": "done", "list_kind": "call"})
    assert done.status_code == 302 and done.headers["Location"].endswith("/t/acme/crm/activities?kind=call")
    assert "2 activities marked as done (of 3 chosen)." in text(member.get(done.headers["Location"]))
    assert _notes(member) == ["Send the revised quote", "Too far ahead", "No date"]
    assert _completed(web_app) == set(ticked)  # the one done already was done by the seed, not again
    reopened = member.post("/t/acme/crm/activities/bulk", data={"ids": ticked[:1], "action": "reopen"})
    assert "1 activity reopened (of 1 chosen)." in text(member.get(reopened.headers["Location"]))
    deleted = member.post("/t/acme/crm/activities/bulk", data={"ids": ticked[1:], "action": "delete"})
    assert "2 activities deleted." in text(member.get(deleted.headers["Location"]))
    assert "Follow-up e-mail" not in _notes(member, state="all") and "Already done" not in _notes(member, state="all")


@pytest.mark.parametrize(("chosen", "action", "message"), [
    (["today", "restricted"], "done", "1 activity chosen is of a restricted contact and cannot be changed."),
    ([], "done", "Choose at least one activity: tick the box next to it."),
    (["today"], "explode", "Choose what to do with the activities chosen."),
])
def test_a_refused_change_writes_nothing_and_keeps_the_boxes(web_app, member, acme, chosen, action, message):
    ids, _subjects = _seed(web_app, acme.id)
    answer = member.post("/t/acme/crm/activities/bulk", data={
        "ids": [str(ids[key]) for key in chosen], "action": action, "list_state": "all"})
    assert answer.status_code == 422
    html = text(answer)
    field = "action" if action == "explode" else "ids"
    assert f'<p class="error" id="bulk-{field}-err" role="alert">{message}</p>' in html
    if chosen:
        assert f'id="pick-{ids["today"]}" class="pick" checked' in html
    assert "Call about the offer" in _notes(member)  # still open
    viewer = signed_in(web_app, acme, "viewer")
    assert 'id="bulk"' not in text(viewer.get("/t/acme/crm/activities"))
    assert viewer.post("/t/acme/crm/activities/bulk", data={"ids": [str(ids["today"])], "action": "done"}).status_code == 403


def _completed(web_app) -> set[str]:
    with in_app(web_app, commit=False), all_tenants():
        return set(db.session.scalars(sa.select(AuditEvent.target_id).where(AuditEvent.action == "crm.activity.completed")))


def test_the_activities_ticked_get_a_new_due_date_audited(web_app, member, acme):
    ids, _subjects = _seed(web_app, acme.id)
    later = (clock.now().date() + timedelta(days=14)).isoformat()
    page = text(member.get("/t/acme/crm/activities"))
    assert '<label for="bulk-due">Due date</label>' in page and 'type="date" name="bulk_due" id="bulk-due"' in page
    ticked = [str(ids["overdue"]), str(ids["today"])]
    moved = member.post("/t/acme/crm/activities/bulk", data={"ids": ticked, "action": "due", "bulk_due": later,
                                                             "list_state": "overdue"})
    assert moved.status_code == 302 and moved.headers["Location"].endswith("?state=overdue")
    assert f"2 activities now due on {later} (of 2 chosen)." in text(member.get(moved.headers["Location"]))
    assert _notes(member, state="overdue") == []
    with in_app(web_app, commit=False), all_tenants():
        changed = db.session.execute(sa.select(AuditEvent.target_id, AuditEvent.details).where(
            AuditEvent.action == "crm.activity.updated")).all()
        assert sorted(changed) == sorted((i, {"via": "bulk", "fields": ["due_on"]}) for i in ticked)
    # The same date again changes nothing.
    again = member.post("/t/acme/crm/activities/bulk", data={"ids": ticked, "action": "due", "bulk_due": later})
    assert "0 activities now due on" in text(member.get(again.headers["Location"]))


@pytest.mark.parametrize(("sent", "message"), [
    ("", "Choose the new due date."),
    ("31.12.2026", "Enter a date as YYYY-MM-DD, for example 2025-06-30."),
    ("2026-02-30", "Enter a date as YYYY-MM-DD, for example 2025-06-30."),
])
def test_a_bad_due_date_is_shown_next_to_it_and_nothing_moves(web_app, member, acme, sent, message):
    ids, _subjects = _seed(web_app, acme.id)
    answer = member.post("/t/acme/crm/activities/bulk", data={"ids": [str(ids["overdue"])], "action": "due",
                                                              "bulk_due": sent})
    assert answer.status_code == 422
    html = text(answer)
    assert f'<p class="error" id="bulk-due-err" role="alert">{message}</p>' in html
    assert 'id="bulk-due" value="' + sent + '" aria-invalid="true" aria-describedby="bulk-due-err"' in html
    assert _notes(member, state="overdue") == ["Send the revised quote"]
