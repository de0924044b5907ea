"""Print the node's OpenAPI document (`make openapi` writes it to openapi.json)."""

from __future__ import annotations

import json
from typing import Any

from node.app import create_app


def openapi_document() -> dict[str, Any]:
    return create_app(None).openapi()


def render() -> str:
    return json.dumps(openapi_document(), indent=2, sort_keys=True) + "\n"


if __name__ == "__main__":
    print(render(), end="")
