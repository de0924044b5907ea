"""Request bodies for the registration routes: seed 002's POST /api/agents, Masumi's POST
/api/v1/registry."""

from __future__ import annotations

from typing import Any

LONG_DESCRIPTION = (
    "Summarises long documents into faithful abstracts, cites the passages it used and says "
    "when the source is ambiguous — über-präzise, 多言語対応, 🚀 "
)[:250]
LONG_URL = "https://agents.example.com/" + "summariser/" * 20


def agent_body(vkey: str, mode: str, amounts: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    body: dict[str, Any] = {
        "pricingMode": mode,
        "name": f"{mode} summariser",
        "description": "Summarises documents.",
        "apiBaseUrl": "https://agents.example.com/summariser",
        "Capability": {"name": "summarise", "version": "1.0.0"},
        "Author": {"name": "Ada", "contactEmail": "ada@example.com", "organization": "Example"},
        "Legal": {"privacyPolicy": "https://example.com/privacy", "terms": "https://example.com/t"},
        "Tags": ["summaries", "documents"],
        "ExampleOutputs": [
            {"name": "abstract", "url": "https://example.com/a.txt", "mimeType": "text/plain"}
        ],
        "sellingWalletVkey": vkey,
    }
    if amounts is not None:
        body["amounts"] = amounts
    return body


def registry_body(vkey: str, pricing: dict[str, Any]) -> dict[str, Any]:
    body = agent_body(vkey, "Free")
    del body["pricingMode"]
    body["network"] = "Devnet"
    body["AgentPricing"] = pricing
    body["name"] = f"Masumi {pricing['pricingType']} agent"
    return body
