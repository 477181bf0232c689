"""JSON responses are encoded by orjson and read as Flask's encoder wrote them."""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import Decimal

from flask import jsonify
from flask.json.provider import DefaultJSONProvider

from tenantry.platform.web import App


@dataclass
class Point:
    x: int
    label: str


def _flask_body(value) -> object:
    plain = App(__name__)
    plain.json = DefaultJSONProvider(plain)
    with plain.app_context():
        return json.loads(jsonify(value).get_data())


def test_bodies_are_those_flask_wrote_keys_sorted_and_utf8():
    app = App(__name__)
    value = {"b": 1, "a": [Decimal("12.50"), uuid.UUID(int=5), Point(1, "ž")],
             "when": datetime(2026, 12, 6, 13, 5, tzinfo=UTC), "day": date(2026, 12, 6),
             "name": "Nováková", "none": None, "big": 2**70}
    with app.app_context():
        response = jsonify(value)
    raw = response.get_data()
    assert response.mimetype == "application/json"
    assert json.loads(raw) == _flask_body(value)
    assert json.loads(raw)["when"] == "Sun, 06 Dec 2026 13:05:00 GMT"
    assert json.loads(raw)["a"] == ["12.50", str(uuid.UUID(int=5)), {"x": 1, "label": "ž"}]
    # Past 64 bits orjson refuses; the body is Flask's own then, not an error.
    assert json.loads(raw)["big"] == 2**70


def test_keys_come_sorted_and_text_as_utf8():
    app = App(__name__)
    with app.app_context():
        raw = jsonify({"b": 1, "a": "Nováková"}).get_data()
    assert raw == '{"a":"Nováková","b":1}'.encode()


def test_debug_responses_stay_indented_for_people():
    app = App(__name__)
    app.debug = True
    with app.app_context():
        raw = jsonify({"b": 1, "a": 2}).get_data(as_text=True)
    assert raw == '{\n  "a": 2,\n  "b": 1\n}\n'


def test_views_returning_dicts_use_it_too():
    app = App(__name__)
    app.add_url_rule("/x", "x", lambda: {"z": 1, "y": "ů"})
    raw = app.test_client().get("/x").get_data()
    assert raw == '{"y":"ů","z":1}'.encode()
