"""Agent registration: requests checked and stored, listed, deregistered; the answers built; and
the worker steps that mint and burn the registry NFTs and follow their transactions on chain.

A row moves Requested → Initiated (the intended tx hash stored before the transaction is sent)
→ Confirmed once the chain shows it deep enough, or → Failed when it was refused, expired, or
could not be built. Registration and deregistration follow the same path.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from pycardano import Address, UTxO
from pydantic import ValidationError
from sqlalchemy import or_, update
from sqlmodel import Session, col, select

from node.agents.models import REGISTRATION_LOVELACE, RegistryRequest, RegistryState
from node.agents.schemas import (
    AgentCreate,
    AgentDescription,
    AgentFields,
    AgentPricingOut,
    AmountOut,
    AuthorOut,
    CapabilityOut,
    CurrentTransaction,
    DynamicPricingOut,
    ExampleOutputOut,
    FixedPricing,
    FixedPricingOut,
    FreePricing,
    FreePricingOut,
    LegalOut,
    PriceOut,
    RegistryCreate,
    RegistryDeregister,
    RegistryEntry,
    WalletRef,
)
from node.chain.addresses import AddressError, parse_address
from node.chain.builders import WINDOW_MS, Actor, BuildError, BuiltTx
from node.chain.context import PortChainContext
from node.chain.contracts import RegistryContract, registry_contract
from node.chain.port import ChainNotFound, ChainUnavailable, Tip
from node.chain.registry_builders import RegistryBuilders
from node.chain.submitter import REJECTED, UNRESOLVED, Outcome, Submitter
from node.clock import iso_from_ms, now_ms
from node.config import NetworkProfile
from node.ids import new_id
from node.runtime import Runtime
from node.wallets.models import HotWallet, HotWalletType, TxStatus, WalletTransaction
from node.wallets.service import (
    WalletBusy,
    WalletJournal,
    find_by_key_hash,
    spend_from_wallet,
    wallet_actor,
)
from node.web import ApiError, field_error, not_found
from registry import metadata as mip002

LOVELACE_UNITS = ("", "lovelace")

FILTER_STATES: dict[str, tuple[RegistryState, ...]] = {
    "Registered": (RegistryState.REGISTRATION_CONFIRMED,),
    "Deregistered": (RegistryState.DEREGISTRATION_CONFIRMED,),
    "Pending": (
        RegistryState.REGISTRATION_REQUESTED,
        RegistryState.REGISTRATION_INITIATED,
        RegistryState.DEREGISTRATION_REQUESTED,
        RegistryState.DEREGISTRATION_INITIATED,
    ),
    "Failed": (RegistryState.REGISTRATION_FAILED, RegistryState.DEREGISTRATION_FAILED),
}
DEREGISTRABLE = (RegistryState.REGISTRATION_CONFIRMED, RegistryState.DEREGISTRATION_FAILED)

# registry.metadata's field names -> ours, so a 422 names the field the caller sent
_API_NAMES = {
    "api_base_url": "apiBaseUrl",
    "example_output": "ExampleOutputs",
    "capability": "Capability",
    "author": "Author",
    "legal": "Legal",
    "tags": "Tags",
    "mime_type": "mimeType",
    "contact_email": "contactEmail",
    "contact_other": "contactOther",
    "privacy_policy": "privacyPolicy",
}


@dataclass(frozen=True)
class Pricing:
    """The pricing of a request in seed 002's terms, and the body field its amounts came in."""

    mode: mip002.PricingMode
    amounts: list[tuple[int, str]]  # (quantity, unit)
    field: str  # where amount i is: f"{field}.{i}"
    paid_together: bool = False  # Masumi's Fixed of several assets, paid together


def seed_pricing(request: AgentCreate) -> Pricing:
    amounts = [(amount.quantity, amount.unit) for amount in request.amounts or []]
    return Pricing(request.pricing_mode, amounts, "amounts")


def masumi_pricing(request: RegistryCreate) -> Pricing:
    """Masumi's AgentPricing in seed 002's terms: Fixed is one price (of one or more assets)."""
    pricing = request.agent_pricing
    if isinstance(pricing, FixedPricing):
        amounts = [(price.amount, price.unit) for price in pricing.pricing]
        together = len(amounts) > 1
        return Pricing(mip002.PricingMode.FIXED, amounts, "AgentPricing.Pricing", together)
    if isinstance(pricing, FreePricing):
        return Pricing(mip002.PricingMode.FREE, [], "AgentPricing.Pricing")
    return Pricing(mip002.PricingMode.DYNAMIC, [], "AgentPricing.Pricing")


# Creating -------------------------------------------------------------------------------------


def register(
    session: Session,
    profile: NetworkProfile,
    request: AgentCreate | RegistryCreate,
    requested_by: str | None,
) -> tuple[RegistryRequest, HotWallet]:
    """Check a registration against this node and store it as RegistrationRequested."""
    if request.network is not None and request.network != profile.display_name:
        raise field_error("network", f"this node serves {profile.display_name}")
    pricing = seed_pricing(request) if isinstance(request, AgentCreate) else masumi_pricing(request)
    _check_units(profile, pricing)
    wallet = selling_wallet(session, profile, request.selling_wallet_vkey)
    _check_recipient(profile, request.recipient_wallet_address)
    agent = agent_metadata(request, pricing)
    now = now_ms()
    row = RegistryRequest(
        id=new_id(),
        network=profile.name,
        state=RegistryState.REGISTRATION_REQUESTED,
        selling_wallet_id=wallet.id,
        recipient_address=request.recipient_wallet_address,
        send_funding_lovelace=max(request.send_funding_lovelace or 0, REGISTRATION_LOVELACE),
        onchain_metadata=mip002.to_onchain(agent),
        pricing_mode=str(pricing.mode),
        amounts=[{"quantity": str(a.quantity), "unit": a.unit} for a in agent.amounts],
        name=request.name,
        api_base_url=request.api_base_url,
        requested_by=requested_by,
        created_at=now,
        updated_at=now,
    )
    session.add(row)
    session.commit()
    return row, wallet


def allowed_units(profile: NetworkProfile) -> tuple[str, ...]:
    stablecoin = profile.stablecoin.unit
    return (*LOVELACE_UNITS, stablecoin) if stablecoin else LOVELACE_UNITS


def _check_units(profile: NetworkProfile, pricing: Pricing) -> None:
    allowed = allowed_units(profile)
    for index, (_quantity, unit) in enumerate(pricing.amounts):
        if unit.lower() not in allowed:
            raise field_error(
                f"{pricing.field}.{index}.unit",
                f"{unit!r} is not a unit of {profile.display_name}: "
                f"use '' or 'lovelace', or {profile.stablecoin.name} ({profile.stablecoin.unit})",
            )


def find_wallet(session: Session, profile: NetworkProfile, vkey: str) -> HotWallet | None:
    return find_by_key_hash(session, profile.name, vkey)


def selling_wallet(session: Session, profile: NetworkProfile, vkey: str) -> HotWallet:
    wallet = find_wallet(session, profile, vkey)
    if wallet is None:
        raise field_error("sellingWalletVkey", "this node holds no wallet with this key")
    if wallet.type != HotWalletType.SELLING:
        raise field_error("sellingWalletVkey", "is not a Selling wallet")
    return wallet


def _check_recipient(profile: NetworkProfile, address: str | None) -> None:
    if address is None:
        return
    try:
        parse_address(address, profile.network_id)
    except AddressError as error:
        raise field_error("recipientWalletAddress", str(error)) from error


def agent_metadata(request: AgentFields, pricing: Pricing) -> mip002.AgentMetadata:
    """The MIP-002 metadata of a request; what registry.metadata refuses is a 422 naming the
    field as the caller wrote it. (Our body models use registry.metadata's field names.)"""
    legal = request.legal
    data = {
        "name": request.name,
        "description": request.description,
        "api_base_url": request.api_base_url,
        "example_output": [out.model_dump() for out in request.example_outputs],
        "capability": request.capability.model_dump(),
        "author": request.author.model_dump(),
        "legal": None if legal is None else legal.model_dump(),
        "tags": list(request.tags),
        "pricing_mode": pricing.mode,
        "paid_together": pricing.paid_together,
        "amounts": [{"quantity": q, "unit": unit} for q, unit in pricing.amounts],
    }
    try:
        return mip002.AgentMetadata.model_validate(data)
    except ValidationError as error:
        raise _metadata_error(error, pricing) from error


def _metadata_error(error: ValidationError, pricing: Pricing) -> ApiError:
    first = error.errors()[0]
    parts = [_API_NAMES.get(str(part), str(part)) for part in first["loc"]]
    if parts and parts[0] in ("amounts", "pricing_mode"):
        parts = [pricing.field, *parts[1:]] if parts[0] == "amounts" else ["pricingMode"]
    field = ".".join(parts) or "body"
    return field_error(field, str(first["msg"]).removeprefix("Value error, "))


# Reading --------------------------------------------------------------------------------------


def list_registrations(
    session: Session,
    profile: NetworkProfile,
    *,
    limit: int,
    cursor_id: str | None = None,
    status: str | None = None,
    search: str | None = None,
    agent_identifier: str | None = None,
) -> list[RegistryRequest]:
    """Newest first; `cursor_id` is the last id of the previous page."""
    query = select(RegistryRequest).where(RegistryRequest.network == profile.name)
    if status is not None:
        query = query.where(col(RegistryRequest.state).in_(FILTER_STATES[status]))
    if search:
        query = query.where(
            or_(
                col(RegistryRequest.name).icontains(search, autoescape=True),
                col(RegistryRequest.api_base_url).icontains(search, autoescape=True),
            )
        )
    if agent_identifier is not None:
        query = query.where(RegistryRequest.agent_identifier == agent_identifier.lower())
    if cursor_id:
        query = query.where(col(RegistryRequest.id) < cursor_id)
    return list(session.exec(query.order_by(col(RegistryRequest.id).desc()).limit(limit)))


def wallets_of(session: Session, rows: Sequence[RegistryRequest]) -> dict[str, HotWallet]:
    ids = {row.selling_wallet_id for row in rows}
    if not ids:
        return {}
    wallets = session.exec(select(HotWallet).where(col(HotWallet.id).in_(ids)))
    return {wallet.id: wallet for wallet in wallets}


def get_registration(session: Session, profile: NetworkProfile, row_id: str) -> RegistryRequest:
    row = session.get(RegistryRequest, row_id)
    if row is None or row.network != profile.name:
        raise not_found("registry request")
    return row


# Deregistering --------------------------------------------------------------------------------


def deregister(
    session: Session, profile: NetworkProfile, request: RegistryDeregister
) -> RegistryRequest:
    """A confirmed agent (or one whose deregistration failed) → DeregistrationRequested."""
    if request.network != profile.display_name:
        raise field_error("network", f"this node serves {profile.display_name}")
    identifier = request.agent_identifier.lower()
    row = session.exec(
        select(RegistryRequest).where(
            RegistryRequest.network == profile.name,
            RegistryRequest.agent_identifier == identifier,
        )
    ).first()
    if row is None:
        raise not_found("agent registered by this node")
    if row.state not in DEREGISTRABLE:
        raise ApiError(
            409,
            f"agentIdentifier: the agent is {row.state}; only a RegistrationConfirmed agent "
            "(or one whose deregistration failed) can be deregistered",
            code="invalid_state",
            fields=["agentIdentifier"],
        )
    row.state = RegistryState.DEREGISTRATION_REQUESTED
    row.error = None
    row.updated_at = now_ms()
    session.add(row)
    session.commit()
    return row


# Answers --------------------------------------------------------------------------------------


def describe(agent: mip002.AgentMetadata) -> AgentDescription:
    """MIP-002 metadata with Masumi's field names, and seed 002's pricing mode and amounts."""
    capability, legal = agent.capability, agent.legal
    return AgentDescription(
        name=agent.name,
        description=agent.description,
        api_base_url=agent.api_base_url,
        capability=None
        if capability is None
        else CapabilityOut(name=capability.name, version=capability.version),
        author=AuthorOut(
            name=agent.author.name,
            contact_email=agent.author.contact_email,
            contact_other=agent.author.contact_other,
            organization=agent.author.organization,
        ),
        legal=None
        if legal is None
        else LegalOut(privacy_policy=legal.privacy_policy, terms=legal.terms, other=legal.other),
        tags=list(agent.tags),
        example_outputs=[
            ExampleOutputOut(name=out.name, url=out.url, mime_type=out.mime_type)
            for out in agent.example_output or []
        ],
        agent_pricing=masumi_agent_pricing(agent.pricing_mode, agent.amounts),
        pricing_mode=str(agent.pricing_mode),
        amounts=[AmountOut(quantity=str(a.quantity), unit=a.unit) for a in agent.amounts or []],
        image=agent.image,
        metadata_version=str(agent.metadata_version),
    )


def masumi_agent_pricing(
    mode: mip002.PricingMode, amounts: Sequence[mip002.Amount] | None
) -> AgentPricingOut:
    """How a Masumi node reads the pricing (registry.metadata.MASUMI_PRICING_TYPE): Fixed+prices
    is Dynamic, the price being chosen per job; lovelace is written "" as Masumi does."""
    pricing_type = mip002.MASUMI_PRICING_TYPE[mode]
    if pricing_type == "Fixed":
        prices = [
            PriceOut(unit="" if a.unit in LOVELACE_UNITS else a.unit, amount=str(a.quantity))
            for a in amounts or []
        ]
        return FixedPricingOut(pricing=prices)
    return FreePricingOut() if pricing_type == "Free" else DynamicPricingOut()


_TX_STATUS: dict[RegistryState, str] = {
    RegistryState.REGISTRATION_INITIATED: "Pending",
    RegistryState.DEREGISTRATION_INITIATED: "Pending",
    RegistryState.REGISTRATION_CONFIRMED: "Confirmed",
    RegistryState.DEREGISTRATION_REQUESTED: "Confirmed",  # the mint is the current transaction
    RegistryState.DEREGISTRATION_CONFIRMED: "Confirmed",
    RegistryState.REGISTRATION_FAILED: "FailedViaTimeout",
    RegistryState.DEREGISTRATION_FAILED: "FailedViaTimeout",
}


def current_transaction(row: RegistryRequest) -> CurrentTransaction | None:
    status = _TX_STATUS.get(row.state)
    if row.tx_hash is None or status is None:
        return None
    return CurrentTransaction.model_validate({"txHash": row.tx_hash, "status": status})


def to_entry(row: RegistryRequest, wallet: HotWallet) -> RegistryEntry:
    decoded = mip002.decode(row.onchain_metadata)
    if decoded.metadata is None:  # what we wrote ourselves: cannot happen unless edited by hand
        raise ValueError(f"registry request {row.id}: stored metadata does not decode")
    described = describe(decoded.metadata)
    return RegistryEntry(
        **dict(described),
        id=row.id,
        network=row.network,
        created_at=iso_from_ms(row.created_at),
        updated_at=iso_from_ms(row.updated_at),
        state=str(row.state),
        agent_identifier=row.agent_identifier,
        send_funding_lovelace=str(row.send_funding_lovelace),
        smart_contract_wallet=WalletRef(
            wallet_vkey=wallet.payment_key_hash, wallet_address=wallet.address
        ),
        recipient_wallet_address=row.recipient_address,
        current_transaction=current_transaction(row),
        error=row.error,
    )


# Worker steps: mint and burn, then follow the transactions ------------------------------------

BATCH = 10  # requests one pass builds at most
WALLET_WAIT_MS = 2_000  # a busy wallet is tried again on the next pass
NEVER_SENT_MS = 2 * WINDOW_MS  # no journal entry by then: the tx was never sent, and its TTL passed

_REQUESTED = (RegistryState.REGISTRATION_REQUESTED, RegistryState.DEREGISTRATION_REQUESTED)
_INITIATED = (RegistryState.REGISTRATION_INITIATED, RegistryState.DEREGISTRATION_INITIATED)
# state -> (where it goes when it works, where it goes when it does not)
_NEXT: dict[RegistryState, tuple[RegistryState, RegistryState]] = {
    RegistryState.REGISTRATION_REQUESTED: (
        RegistryState.REGISTRATION_INITIATED,
        RegistryState.REGISTRATION_FAILED,
    ),
    RegistryState.DEREGISTRATION_REQUESTED: (
        RegistryState.DEREGISTRATION_INITIATED,
        RegistryState.DEREGISTRATION_FAILED,
    ),
    RegistryState.REGISTRATION_INITIATED: (
        RegistryState.REGISTRATION_CONFIRMED,
        RegistryState.REGISTRATION_FAILED,
    ),
    RegistryState.DEREGISTRATION_INITIATED: (
        RegistryState.DEREGISTRATION_CONFIRMED,
        RegistryState.DEREGISTRATION_FAILED,
    ),
}

logger = logging.getLogger(__name__)


class _Later(Exception):
    """Nothing is wrong with the request; the wallet or the chain is not available now."""


def process_registry_requests(runtime: Runtime, *, clock: Callable[[], int] | None = None) -> int:
    """Build, record and send the mint or burn of Requested rows (oldest first) → Initiated, or
    → Failed when it cannot be built or the ledger refuses it. The number of rows moved.
    `clock` defaults to the chain's (the devnet's ledger clock on the devnet)."""
    if runtime.chain is None:
        return 0
    clock = clock or runtime.clock
    moved = 0
    for _ in range(BATCH):
        try:
            if not _process_next(runtime, clock):
                break
        except _Later as error:
            logger.info("registry requests wait: %s", error)
            break
        moved += 1
    return moved


def _claim(session: Session, network: str) -> RegistryRequest | None:
    """The oldest Requested row, locked (PostgreSQL skips rows another replica holds; SQLite has
    one writer and renders no FOR UPDATE)."""
    query = (
        select(RegistryRequest)
        .where(RegistryRequest.network == network)
        .where(col(RegistryRequest.state).in_(_REQUESTED))
        .order_by(col(RegistryRequest.id))
        .limit(1)
        .with_for_update(skip_locked=True)
    )
    return session.exec(query).first()


def _process_next(runtime: Runtime, clock: Callable[[], int]) -> bool:
    with Session(runtime.engine, expire_on_commit=False) as session:
        row = _claim(session, runtime.profile.name)
        if row is None:
            return False
        requested = row.state
        initiated, failed = _NEXT[requested]
        try:
            outcome = _spend(runtime, session, row, initiated, clock)
        except (WalletBusy, ChainUnavailable) as error:
            session.rollback()
            raise _Later(str(error)) from error
        except _Taken:
            return True
        except Exception as error:  # a build that cannot work (BuildError, refused evaluation…)
            session.rollback()
            session.refresh(row)
            if row.state == requested:  # else the tx is recorded: the journal decides its fate
                _set_state(session, row, failed, error=_describe_error(error))
            logger.warning("registry request %s: %s", row.id, error)
            return True
        session.refresh(row)
        if outcome.status == REJECTED:
            _set_state(session, row, failed, error=outcome.error or "the ledger refused it")
        return True


def _spend(
    runtime: Runtime,
    session: Session,
    row: RegistryRequest,
    initiated: RegistryState,
    clock: Callable[[], int],
) -> Outcome:
    assert runtime.chain is not None
    profile = runtime.network
    wallet = session.get(HotWallet, row.selling_wallet_id)
    if wallet is None:
        raise BuildError("the selling wallet is gone")
    owner = wallet_actor(runtime.secrets, wallet, profile.network_id)
    contract = _registry_contract(runtime)

    def build(context: PortChainContext) -> BuiltTx:
        builders = RegistryBuilders(
            context, contract.script, contract.policy_id, clock, profile.slot_config
        )
        built, asset_name = _build(builders, context, owner, row, contract.policy_id)
        _initiate(session, row, initiated, built.tx_hash, asset_name)  # before the tx is sent
        return built

    return spend_from_wallet(
        runtime.engine,
        runtime.chain,
        wallet.id,
        profile.network_id,
        build,
        lock_timeout_ms=runtime.settings.wallet_lock_timeout_s * 1000,
        wait_ms=WALLET_WAIT_MS,
    )


class _Taken(Exception):
    """Another worker moved the row while this one built (SQLite has no row locks)."""


def _initiate(
    session: Session, row: RegistryRequest, initiated: RegistryState, tx_hash: str, asset_name: str
) -> None:
    """Requested → Initiated with the intended tx hash, only if the row is still Requested: the
    spend is abandoned otherwise, before anything is recorded or sent."""
    statement = (
        update(RegistryRequest)
        .where(col(RegistryRequest.id) == row.id)
        .where(col(RegistryRequest.state) == row.state)
        .values(
            state=initiated, tx_hash=tx_hash, asset_name=asset_name, error=None, updated_at=now_ms()
        )
    )
    moved = session.exec(statement).rowcount
    session.commit()
    if moved != 1:
        raise _Taken(row.id)


def _build(
    builders: RegistryBuilders,
    context: PortChainContext,
    owner: Actor,
    row: RegistryRequest,
    policy_id: bytes,
) -> tuple[BuiltTx, str]:
    if row.state == RegistryState.REGISTRATION_REQUESTED:
        recipient = Address.from_primitive(row.recipient_address) if row.recipient_address else None
        return builders.mint(
            owner, row.onchain_metadata, recipient=recipient, lovelace=row.send_funding_lovelace
        )
    if row.asset_name is None:
        raise BuildError("the agent was never minted")
    nft = _nft_utxo(context, owner, policy_id.hex() + row.asset_name)
    return builders.burn(owner, nft, bytes.fromhex(row.asset_name)), row.asset_name


def _nft_utxo(context: PortChainContext, owner: Actor, unit: str) -> UTxO:
    """The selling wallet's UTxO holding the registry NFT (only its holder can burn it)."""
    for utxo in context.port.utxos_at(str(owner.address), asset=unit):
        reference = (bytes(utxo.input.transaction_id), utxo.input.index)
        if reference not in context.excluded:
            return utxo
    raise BuildError(f"the selling wallet does not hold the registry NFT {unit}")


_contracts: dict[str, RegistryContract] = {}


def _registry_contract(runtime: Runtime) -> RegistryContract:
    """The registry policy script, applied (or fetched) once per process."""
    assert runtime.chain is not None
    profile = runtime.network
    key = profile.registry.policy_id or ""
    if key not in _contracts:
        _contracts[key] = registry_contract(profile, runtime.chain)
    return _contracts[key]


def _set_state(
    session: Session, row: RegistryRequest, state: RegistryState, *, error: str | None = None
) -> None:
    row.state = state
    if error is not None:
        row.error = error[:1000]
    row.updated_at = now_ms()
    session.add(row)
    session.commit()


def _describe_error(error: Exception) -> str:
    return f"{type(error).__name__}: {error}" if not isinstance(error, BuildError) else str(error)


def confirm_registry_transactions(runtime: Runtime) -> int:
    """Initiated rows whose transaction is on chain with the profile's confirmations → Confirmed
    (a registration gets its agentIdentifier); those whose transaction the journal found
    rejected or expired → Failed. The number of rows moved."""
    if runtime.chain is None:
        return 0
    with Session(runtime.engine) as session:
        rows = list(
            session.exec(
                select(RegistryRequest)
                .where(RegistryRequest.network == runtime.profile.name)
                .where(col(RegistryRequest.state).in_(_INITIATED))
                .order_by(col(RegistryRequest.id))
                .limit(100)
            )
        )
    if not rows:
        return 0
    tip = runtime.chain.tip()
    resolved: set[str] = set()
    return sum(1 for row in rows if _settle(runtime, row, tip, resolved))


def _settle(runtime: Runtime, row: RegistryRequest, tip: Tip, resolved: set[str]) -> bool:
    assert runtime.chain is not None and row.tx_hash is not None
    confirmed, failed = _NEXT[row.state]
    try:
        info = runtime.chain.transaction(row.tx_hash)
    except ChainNotFound:
        return _settle_missing(runtime, row, failed, resolved)
    if tip.height - info.block_height < runtime.network.required_confirmations:
        return False
    if not info.valid_contract:
        return _move(runtime, row, failed, error="the script failed on chain (collateral taken)")
    identifier = row.agent_identifier
    if row.state == RegistryState.REGISTRATION_INITIATED and row.asset_name is not None:
        identifier = f"{runtime.network.registry.policy_id}{row.asset_name}"
    return _move(runtime, row, confirmed, agent_identifier=identifier)


def _settle_missing(
    runtime: Runtime, row: RegistryRequest, failed: RegistryState, resolved: set[str]
) -> bool:
    """Not on chain (yet): the wallet's journal says whether it still can be."""
    assert runtime.chain is not None
    entry = _journal_entry(runtime, row)
    if entry is None:
        if now_ms() - row.updated_at < NEVER_SENT_MS:
            return False  # recorded a moment ago, or about to be
        return _move(runtime, row, failed, error="the transaction was never sent")
    if entry.status in UNRESOLVED and entry.wallet_id not in resolved:
        resolved.add(entry.wallet_id)  # re-sends the same bytes, or marks them expired
        Submitter(runtime.chain, WalletJournal(runtime.engine, entry.wallet_id)).resolve()
        entry = _journal_entry(runtime, row)
    if entry is not None and entry.status in (TxStatus.REJECTED, TxStatus.EXPIRED):
        reason = entry.last_error or f"the transaction was {entry.status.lower()}"
        return _move(runtime, row, failed, error=f"{entry.status}: {reason}")
    return False


def _journal_entry(runtime: Runtime, row: RegistryRequest) -> WalletTransaction | None:
    with Session(runtime.engine) as session:
        return session.exec(
            select(WalletTransaction).where(WalletTransaction.tx_hash == row.tx_hash)
        ).first()


def _move(
    runtime: Runtime,
    row: RegistryRequest,
    state: RegistryState,
    *,
    error: str | None = None,
    agent_identifier: str | None = None,
) -> bool:
    """Move the row if it still is where we found it (another replica may have been first)."""
    values: dict[str, object] = {"state": state, "updated_at": now_ms()}
    if error is not None:
        values["error"] = error[:1000]
    if agent_identifier is not None:
        values["agent_identifier"] = agent_identifier
    statement = (
        update(RegistryRequest)
        .where(col(RegistryRequest.id) == row.id)
        .where(col(RegistryRequest.state) == row.state)
        .where(col(RegistryRequest.tx_hash) == row.tx_hash)
        .values(**values)
    )
    with runtime.engine.begin() as connection:
        return connection.execute(statement).rowcount == 1
