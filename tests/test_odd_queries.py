"""Every page answers odd query strings with a page or a 4xx, never a 500: each GET route of
the tenant app (as its owner, with real objects), of the admin console (as a platform admin
and as the DPO) and of the public site, taken from the URL map so that routes added later are
covered. The parameter names are those the code reads, collected from its source.

PostgreSQL is the stricter of the two databases here: a NUL byte that reaches a query fails
there, so this test means most when the suite runs on it too."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

import tenantry
from tests.admin.test_role_matrix import _client_for, admin_rules, matrix  # noqa: F401 (fixture)
from tests.admin.test_role_matrix import _fill as admin_url
from tests.test_isolation import _fill as tenant_url
from tests.test_isolation import owner_of_every_object, tenant_rules

# request.args.get("x"), request.args["x"], args.getlist("x"), and the filter forms' fields
# (FilterForm(formdata=request.args) reads its own field names).
_READS = re.compile(r"""args(?:\.get(?:list)?\(|\[)\s*["']([a-z_]+)["']""")
_FILTER_FORMS = ("person", "record_type", "record_id", "action", "since", "until")


def _query_names() -> list[str]:
    root = Path(tenantry.__file__).parent
    found = {name for path in root.rglob("*.py") for name in _READS.findall(path.read_text())}
    found |= {name for path in root.rglob("*.html") for name in _READS.findall(path.read_text())}
    return sorted(found | set(_FILTER_FORMS))


NAMES = _query_names()
# Empty, negative, out of range, not a number, NUL, impossible and far dates, a nil UUID,
# quoting, very long, JSON-looking, a lone percent sign, digits that str.isdigit() takes and int()
# refuses (superscripts).
VALUES = ["", "-1", "99999999999999999999999", "abc", "\x00", "2026-13-45", "9999-12-31",
          "00000000-0000-0000-0000-000000000000", "' OR 1=1 --", "x" * 5000, "[]", "%", "12345²"]


def _walk(client, urls: list[str]) -> list[tuple[str, str, int]]:
    """Each URL with every name set to each odd value at once, then with each name alone
    given a NUL byte (a view that refuses one parameter early may never read the others)."""
    failed = []
    for url in urls:
        queries = [{name: value for name in NAMES} for value in VALUES] + [{name: "a\x00b"} for name in NAMES]
        for query in queries:
            response = client.get(url, query_string=query)
            response.close()  # a streamed download not read would keep its context open
            if response.status_code >= 500:
                shown = {k: (v[:12] + "…" if len(v) > 12 else v) for k, v in list(query.items())[:2]}
                failed.append((url, repr(shown), response.status_code))
    return failed


def test_the_query_names_are_found():
    assert {"q", "sort", "page", "cursor", "limit", "before"} <= set(NAMES)


# The tenant pages are many (some 8,000 requests in all): in shards, so that the suite's
# workers share them rather than one of them walking all while the other waits at the end.
SHARDS = 4


@pytest.mark.parametrize("shard", range(SHARDS))
def test_every_tenant_page_takes_odd_queries_without_a_500(app, shard):
    client, slug, ids = owner_of_every_object(app, "odd-queries")
    urls = [tenant_url(rule, slug, ids) for rule in tenant_rules(app) if "GET" in rule.methods]
    assert len(urls) > 40
    assert _walk(client, urls[shard::SHARDS]) == []


@pytest.mark.parametrize("who", ["platform-admin", "dpo"])
def test_every_admin_page_takes_odd_queries_without_a_500(app, matrix, who):  # noqa: F811
    client = _client_for(app, matrix, who)
    urls = [admin_url(rule, matrix["ids"]) for rule in admin_rules(app) if "GET" in rule.methods]
    assert _walk(client, urls) == []


def test_every_public_page_takes_odd_queries_without_a_500(app):
    public = [r for r in app.url_map.iter_rules()
              if "GET" in r.methods and not r.arguments and not r.rule.startswith(("/t/", "/admin"))
              and r.endpoint != "static"]
    assert len(public) > 5
    assert _walk(app.test_client(), [rule.rule for rule in public]) == []
