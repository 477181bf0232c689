"""Every form post answers odd values with the page and its errors, a redirect or a 4xx, never
a 500: each POST route of the tenant app (as its owner, with real objects) and of the admin
console (as a platform admin and as the DPO), taken from the URL map, given every field name
of every form of the app set to each odd value at once.

Routes that end something (delete, cancel, revoke...) go last, so that the objects the other
routes need are still there when they are posted to."""

from __future__ import annotations

import pytest
from flask_wtf import FlaskForm

from tests.admin.test_role_matrix import _client_for, admin_rules, matrix  # noqa: F401 (fixture)
from tests.admin.test_role_matrix import _fill as admin_url
from tests.test_isolation import _fill as tenant_url
from tests.test_isolation import owner_of_every_object, tenant_rules
from tests.test_odd_queries import VALUES

# Besides the odd values: what checkboxes, numbers, dates and choices expect, so that posts
# also get past the first field's error and reach the writes.
FORM_VALUES = [*VALUES, "1", "on", "2026-12-31", "2026-12-31T10:00", "CZ", "EUR", "member"]
ENDING = ("delete", "cancel", "destroy", "leave", "remove", "revoke", "purge", "close", "withdraw", "retire")


def _forms(cls=FlaskForm):
    for sub in cls.__subclasses__():
        yield sub
        yield from _forms(sub)


def _field_names() -> list[str]:
    """The field names of every form class loaded (the app factory imports them all)."""
    return sorted({name for form in _forms() for name in dir(form)
                   if hasattr(getattr(form, name, None), "field_class")})


def _post_all(client, rules, url_of) -> list[tuple[str, str, int]]:
    names = _field_names()
    assert {"first_name", "emails", "iban", "value", "stage", "scopes"} <= set(names)
    failed = []
    for rule in sorted(rules, key=lambda r: any(word in r.endpoint for word in ENDING)):
        url = url_of(rule)
        for value in FORM_VALUES:
            response = client.post(url, data={name: value for name in names})
            response.close()
            if response.status_code >= 500:
                failed.append((rule.endpoint, repr(value[:12]), response.status_code))
    return failed


SHARDS = 2  # as in test_odd_queries: the suite's workers share the tenant's forms


@pytest.mark.parametrize("shard", range(SHARDS))
def test_every_tenant_form_takes_odd_values_without_a_500(app, shard):
    client, slug, ids = owner_of_every_object(app, "odd-forms")
    rules = [rule for rule in tenant_rules(app) if "POST" in rule.methods]
    assert len(rules) > 40
    assert _post_all(client, rules[shard::SHARDS], lambda rule: tenant_url(rule, slug, ids)) == []


@pytest.mark.parametrize("who", ["platform-admin", "dpo"])
def test_every_admin_form_takes_odd_values_without_a_500(app, matrix, who):  # noqa: F811
    client = _client_for(app, matrix, who)
    rules = [rule for rule in admin_rules(app) if "POST" in rule.methods]
    assert _post_all(client, rules, lambda rule: admin_url(rule, matrix["ids"])) == []
