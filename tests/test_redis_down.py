"""With Redis configured but not answering, every page still answers: Redis holds queues,
caches and counters, never the only copy of anything a page needs, so its outage may slow
work down (jobs wait for the sweep) but never turns a page into a 500."""

from __future__ import annotations

from tests.admin.test_role_matrix import _client_for, admin_rules, matrix  # noqa: F401 (fixture)
from tests.admin.test_role_matrix import _fill as admin_url
from tests.conftest import free_port  # a loopback port that nothing listens on
from tests.test_isolation import _fill as tenant_url
from tests.test_isolation import owner_of_every_object, tenant_rules


def _failing(client, urls: list[str]) -> list[tuple[str, int]]:
    failed = []
    for url in urls:
        response = client.get(url)
        response.close()
        if response.status_code >= 500:
            failed.append((url, response.status_code))
    return failed


def test_every_tenant_page_answers_while_redis_is_down(make_app):
    app = make_app(REDIS_URL=f"redis://127.0.0.1:{free_port()}/0")
    client, slug, ids = owner_of_every_object(app, "redis-down")
    urls = [tenant_url(rule, slug, ids) for rule in tenant_rules(app) if "GET" in rule.methods]
    assert len(urls) > 40
    assert _failing(client, urls) == []


def test_every_admin_page_answers_while_redis_is_down(make_app, matrix):  # noqa: F811
    app = make_app(REDIS_URL=f"redis://127.0.0.1:{free_port()}/0", WTF_CSRF_ENABLED=False)
    client = _client_for(app, matrix, "platform-admin")
    urls = [admin_url(rule, matrix["ids"]) for rule in admin_rules(app) if "GET" in rule.methods]
    assert _failing(client, urls) == []
    # The jobs page, which an admin opens when Redis is down, says so rather than failing.
    page = client.get("/admin/jobs/").get_data(as_text=True)
    assert "Redis does not answer" in page and "Connection refused" in page
    assert client.post("/admin/jobs/queues/mail/some-job/retry").status_code == 302
