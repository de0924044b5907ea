"""What auditors see: every agent under a registry policy read from the chain (not the
database), as table, JSON or CSV rows; and the differences between the chain and this node's
registry rows (`paynode registry list | audit`, GET /api/v1/registry/onchain)."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable
from typing import Any

from sqlmodel import Session, col, select

from node.agents.models import RegistryRequest
from node.wallets.models import HotWallet
from registry import audit as registry_audit
from registry import onchain
from registry.metadata import Amount, PricingMode

CSV_COLUMNS = (
    "agentIdentifier",
    "holder",
    "quantity",
    "mintTxHash",
    "name",
    "apiBaseUrl",
    "pricingMode",
    "amounts",
    "violations",
)


def pricing_text(agent: onchain.OnchainAgent) -> str:
    """`Fixed 1000000 <unit>`, `Fixed+prices a unit | b unit`, `Free`, `Dynamic`, or `?`."""
    if agent.metadata is None:
        return "?"
    amounts = " | ".join(f"{a.quantity} {a.unit}" for a in agent.metadata.amounts)
    return f"{agent.metadata.pricing_mode} {amounts}".strip()


def agent_row(agent: onchain.OnchainAgent) -> dict[str, Any]:
    """One agent as JSON: what the chain says, and every MIP-002 violation found."""
    metadata = agent.metadata
    return {
        "agentIdentifier": agent.unit,
        "holder": agent.holder,
        "quantity": agent.quantity,
        "mintTxHash": agent.mint_tx_hash,
        "name": agent.name if agent.name is not None else agent.raw_name,
        "apiBaseUrl": agent.api_base_url,
        "pricingMode": None if metadata is None else str(metadata.pricing_mode),
        "amounts": []
        if metadata is None
        else [{"quantity": str(a.quantity), "unit": a.unit} for a in metadata.amounts],
        "violations": [{"path": v.path, "message": v.message} for v in agent.violations],
    }


def csv_text(rows: Iterable[dict[str, Any]]) -> str:
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=CSV_COLUMNS, lineterminator="\n")
    writer.writeheader()
    for row in rows:
        flat = dict(row)
        flat["amounts"] = " | ".join(f"{a['quantity']} {a['unit']}" for a in row["amounts"])
        flat["violations"] = " | ".join(f"{v['path']}: {v['message']}" for v in row["violations"])
        writer.writerow(flat)
    return out.getvalue()


def registry_records(session: Session, network: str) -> list[registry_audit.RegistryRecord]:
    """This node's registry rows as the auditor compares them, with the selling wallet's
    address as the expected holder."""
    rows = session.exec(
        select(RegistryRequest, HotWallet)
        .join(HotWallet, col(HotWallet.id) == col(RegistryRequest.selling_wallet_id))
        .where(RegistryRequest.network == network)
        .order_by(col(RegistryRequest.created_at), col(RegistryRequest.id))
    ).all()
    return [
        registry_audit.RegistryRecord(
            agent_identifier=row.agent_identifier,
            state=str(row.state),
            name=row.name,
            api_base_url=row.api_base_url,
            pricing_mode=PricingMode(row.pricing_mode),
            amounts=[Amount(quantity=int(a["quantity"]), unit=a["unit"]) for a in row.amounts],
            holder_address=row.recipient_address or wallet.address,
            request_id=row.id,
        )
        for row, wallet in rows
    ]


def own_addresses(session: Session, network: str) -> set[str]:
    wallets = session.exec(select(HotWallet).where(HotWallet.network == network)).all()
    return {wallet.address for wallet in wallets}


def audit_registry(
    session: Session,
    network: str,
    agents: Iterable[onchain.OnchainAgent],
) -> list[registry_audit.Difference]:
    """Every difference between the chain's agents and this node's rows, for the agents held
    by this node's wallets (or recorded by it)."""
    return registry_audit.audit(
        agents, registry_records(session, network), own_addresses(session, network)
    )


def difference_row(difference: registry_audit.Difference) -> dict[str, Any]:
    return {
        "agentIdentifier": difference.agent_identifier,
        "requestId": difference.request_id,
        "kind": difference.kind,
        "detail": difference.detail,
    }
