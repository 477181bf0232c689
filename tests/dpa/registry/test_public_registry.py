"""The published registry: seeded entries, the public page, JSON, a well-formed Atom feed, and
a change log that keeps past states."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from datetime import UTC, datetime

import pytest

from tests.dpa.registry.conftest import new_staff, propose

ATOM = "{http://www.w3.org/2005/Atom}"
SEEDED = ("Amazon Web Services", "Digital Solutions s.r.o. (DigiSign)", "Microsoft Azure OpenAI Service")


@pytest.mark.obligation("DPA-4.8", "DPA-6.1")
def test_the_three_seeded_subprocessors_are_listed_with_a_transfer_mechanism_outside_the_eea(client):
    page = client.get("/subprocessors")
    assert page.status_code == 200
    text = page.get_data(as_text=True)
    for name in SEEDED:
        assert name in text
    data = client.get("/subprocessors.json").get_json()
    subs = {s["legal_name"]: s for s in data["subprocessors"]}
    assert len(subs) == 3
    by_prefix = {name: next(s for n, s in subs.items() if n.startswith(name)) for name in SEEDED}
    assert all(s["status"] == "active" for s in subs.values())
    assert by_prefix["Amazon Web Services"]["feature"] == "hosting"
    assert "Frankfurt" in by_prefix["Amazon Web Services"]["processing_location"]
    assert by_prefix["Digital Solutions s.r.o. (DigiSign)"]["transfer_mechanism"] == "eea"
    for s in subs.values():
        outside = not (s["processing_in_eea"] and s["corporate_in_eea"])
        if outside:  # a US parent company: a recorded mechanism, never "no transfer"
            assert s["transfer_mechanism"] in {"adequacy", "sccs", "dpf"}, s["legal_name"]
    assert {by_prefix[n]["transfer_mechanism"] for n in ("Amazon Web Services", "Microsoft Azure OpenAI Service")} \
        <= {"sccs", "dpf"}


@pytest.mark.obligation("DPA-4.8")
def test_the_atom_feed_is_well_formed_and_carries_the_change_log(app, client, time_machine):
    time_machine.move_to(datetime(2026, 6, 1, 9, 0, tzinfo=UTC), tick=False)
    staff = new_staff(app)
    propose(app, staff, datetime(2026, 6, 20, tzinfo=UTC), legal_name="Feedtest <&> s.r.o.")
    response = client.get("/subprocessors.atom")
    assert response.status_code == 200
    assert response.mimetype == "application/atom+xml"
    root = ET.fromstring(response.data)  # noqa: S314 (our own feed; raises when malformed)
    assert root.tag == f"{ATOM}feed"
    for tag in ("id", "title", "updated"):
        assert root.find(f"{ATOM}{tag}") is not None and root.find(f"{ATOM}{tag}").text
    entries = root.findall(f"{ATOM}entry")
    assert len(entries) == 4  # three seeded + the proposal
    for entry in entries:
        for tag in ("id", "title", "updated"):
            assert entry.find(f"{ATOM}{tag}").text
        datetime.fromisoformat(entry.find(f"{ATOM}updated").text)  # RFC 3339 timestamps
    assert len({e.find(f"{ATOM}id").text for e in entries}) == 4
    assert any(e.find(f"{ATOM}title").text == "Proposed: Feedtest <&> s.r.o." for e in entries)


@pytest.mark.obligation("DPA-4.8")
def test_the_change_log_keeps_past_states(app, client, time_machine):
    from tenantry.dpa.registry import services
    from tenantry.platform import cron

    time_machine.move_to(datetime(2026, 6, 1, 9, 0, tzinfo=UTC), tick=False)
    staff = new_staff(app)
    sub_id = propose(app, staff, datetime(2026, 6, 20, tzinfo=UTC))
    time_machine.move_to(datetime(2026, 6, 21, tzinfo=UTC), tick=False)
    with app.app_context():
        cron.sweep()
        assert services.get(sub_id).status == "active"
    log = [c for c in client.get("/subprocessors.json").get_json()["changes"] if c["subprocessor_id"] == str(sub_id)]
    assert [c["action"] for c in log] == ["activated", "proposed"]
    assert [c["state"]["status"] for c in log] == ["active", "proposed"]
    page = client.get("/subprocessors").get_data(as_text=True)
    assert "Change log" in page and "activated" in page and "proposed" in page
