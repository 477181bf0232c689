"""?q= on /api/v1/deals and /api/v1/activities: the deal list's search of the UI, and the
activities of the contacts, companies and deals it finds (tests/tenants/crm/test_deal_search.py
has the search itself)."""

from __future__ import annotations

from tests.tenants.crm.test_deal_search import _world


def test_deals_and_activities_take_q(api, api_app, acme):
    ids = _world(api_app, acme)

    def found(path, q):
        response = api.get(path, query_string={"q": q})
        assert response.status_code == 200, response.get_json()
        return {item["id"] for item in response.get_json()["items"]}

    assert found("/api/v1/deals", "okna") == {str(ids["windows"])}
    assert found("/api/v1/deals", "jana@example.com") == {str(ids["renewal"])}
    # Activities: of the contact found, of the deals found (by title or through the contact).
    assert found("/api/v1/activities", "jana@example.com") == {str(ids["on-jana"]), str(ids["on-renewal"])}
    assert found("/api/v1/activities", "25596641") == {str(ids["on-glass"]), str(ids["on-windows"])}
    assert found("/api/v1/activities", "showroom") == {str(ids["on-windows"])}
    assert found("/api/v1/activities", "nikdo") == set()
    assert api.get("/api/v1/deals", query_string={"q": "x" * 201}).status_code == 400
