"""The committed openapi.json is the app's: clients generated from it match the running node."""

from __future__ import annotations

import json
from pathlib import Path

from node.openapi import openapi_document

COMMITTED = Path(__file__).parents[2] / "openapi.json"


def test_committed_openapi_matches_the_app() -> None:
    committed = json.loads(COMMITTED.read_text())
    assert committed == openapi_document(), "openapi.json is stale: run `make openapi`"


def test_api_key_security_scheme_is_the_token_header() -> None:
    schemes = openapi_document()["components"]["securitySchemes"]
    assert schemes["API-Key"] == {"type": "apiKey", "in": "header", "name": "token"}


def test_amounts_are_documented_as_decimal_strings() -> None:
    schemas = openapi_document()["components"]["schemas"]
    amount = schemas["UnitAmount"]["properties"]["amount"]
    assert amount["type"] == "string" and amount["pattern"] == "^[0-9]{1,25}$"
