"""Every field of every API resource given odd values (wrong types, blanks, huge, NUL,
lookalike ids, deep nesting), odd query parameters and odd ids: each answer is a 2xx or a
4xx with the API's error shape, never a 500, and a refused write leaves the row as it was.
The named cases live beside each resource; this is the net for the combinations."""

from __future__ import annotations

import pytest

from tests.tenants.api.conftest import error_of

ODD = [None, 0, -1, 1.5, 10**30, True, [], [None], [1, 2], {}, {"a": 1}, "", " ", "\t", "x" * 20_000, "\x00", "2²",
       "a\x00b", "=1+1", "2026-13-45", "not-a-uuid", "00000000-0000-0000-0000-000000000000", "NaN", "1e400",
       "🙂" * 50, ["x" * 5_000] * 50, "\u202e", "-0", "1,5", "CZK", "EUR 1"]
BODIES = [b"", b"{", b"[]", b"null", b'"x"', b"\xff\xfe", b'{"a":' * 5_000]
QUERIES = ["limit=0", "limit=-1", "limit=abc", "limit=201", "limit=%C2%B2", "cursor=zzz", "cursor=", "q=%00", "q=%ff",
           "q=" + "a" * 5_000, "company_id=zz", "contact_id=zz", "deal_id=zz", "stage_id=zz", "sort=zz",
           "owner_id=zz", "owner_id=", "state=zz", "state=", "close=zz", "close=", "next=zz", "next="]
IDS = ["zz", "0" * 40, "00000000-0000-0000-0000-000000000000"]
MINIMAL = {"companies": {"name": "Acme"}, "contacts": {"first_name": "Jana"},
           "deals": {"title": "Renewal", "value": "10", "currency": "CZK"}, "activities": {"kind": "call"}}


def _fields(spec: dict, resource: str) -> list[str]:
    schema = spec["paths"][f"/api/v1/{resource}"]["post"]["requestBody"]["content"]["application/json"]["schema"]
    while "$ref" in schema:
        schema = spec["components"]["schemas"][schema["$ref"].rsplit("/", 1)[-1]]
    return list(schema["properties"])


def _sane(response) -> str | None:
    """What is wrong with an answer to odd input, if anything."""
    if response.status_code >= 500:
        return f"{response.status_code}: {response.get_data(as_text=True)[:200]}"
    if response.status_code >= 400:
        error = error_of(response) if response.is_json else None
        if not (error and error.get("code") and error.get("message")):
            return f"{response.status_code} without the error shape: {response.get_data(as_text=True)[:200]}"
    return None


@pytest.mark.parametrize("resource", list(MINIMAL))
def test_odd_input_is_a_4xx_with_the_error_shape_never_a_500(api, resource):
    minimal = dict(MINIMAL[resource])
    if resource == "activities":
        minimal["contact_id"] = api.post("/api/v1/contacts", json={"first_name": "Eva"}).get_json()["id"]
    made = api.post(f"/api/v1/{resource}", json=minimal)
    assert made.status_code == 201, made.get_json()
    path = f"/api/v1/{resource}/{made.get_json()['id']}"
    before = api.get(path).get_json()
    wrong = []
    for field in _fields(api.get("/api/v1/openapi.json").get_json(), resource):
        for value in ODD:
            for method, url, body in (("post", f"/api/v1/{resource}", {**minimal, field: value}),
                                      ("patch", path, {field: value})):
                answer = getattr(api, method)(url, json=body)
                problem = _sane(answer)
                if problem:
                    wrong.append(f"{method} {field}={value!r:.40}: {problem}")
                if method == "patch" and answer.status_code >= 400 and api.get(path).get_json() != before:
                    wrong.append(f"patch {field}={value!r:.40}: refused, yet the row changed")
                if method == "patch" and answer.status_code < 400:
                    before = api.get(path).get_json()
    for raw in BODIES:
        for method, url in (("post", f"/api/v1/{resource}"), ("patch", path)):
            problem = _sane(getattr(api, method)(url, data=raw, headers={"Content-Type": "application/json"}))
            if problem:
                wrong.append(f"{method} body {raw[:20]!r}: {problem}")
    for query in QUERIES:
        problem = _sane(api.get(f"/api/v1/{resource}?{query}"))
        if problem:
            wrong.append(f"get ?{query[:30]}: {problem}")
    for odd_id in IDS:
        for method in ("get", "patch", "delete"):
            problem = _sane(getattr(api, method)(f"/api/v1/{resource}/{odd_id}",
                                                 **({"json": {}} if method == "patch" else {})))
            if problem:
                wrong.append(f"{method} /{odd_id}: {problem}")
    assert not wrong, "\n".join(wrong)
