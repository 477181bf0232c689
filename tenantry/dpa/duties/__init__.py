"""duties: see its issue."""

from flask import Flask


def init_app(app: Flask) -> None:
    return None
