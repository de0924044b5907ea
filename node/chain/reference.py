"""The escrow's reference script: one output carrying the escrow script, so that every escrow
spend references it instead of paying for its bytes (about 6 kB, 0.3 ADA a transaction).

The script is whatever the profile resolves (Masumi's, fetched by hash, on preprod and mainnet;
ours applied on the devnet). The holder is checked before anything is spent (ADR 0014): an
address of this network, not the escrow itself (an output there without a datum is stuck and the
sync follows that address), and not one of the node's hot wallets (their coin selection would
spend the output). Paying is the caller's `spend`: a hot wallet's journaled, locked build and
submit (node.wallets.reference). No tables here, as everywhere in node/chain.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Collection
from dataclasses import dataclass
from pathlib import Path

from pycardano import Address, PlutusV3Script, UTxO, plutus_script_hash
from pycardano.exception import PyCardanoException

from node.chain.addresses import AddressError, parse_address
from node.chain.blockfrost import BlockfrostChain
from node.chain.builders import Actor, BuiltTx
from node.chain.context import PortChainContext
from node.chain.contracts import deploy_reference_script, escrow_contract, find_reference_output
from node.chain.port import ChainError
from node.chain.submitter import EXPIRED, REJECTED, SIGNED, Outcome
from node.config import NetworkProfile, default_config_dir

TTL_SLOTS = 3600  # an hour on every network (1-second slots): the journal settles it after that
POLL_S = 2.0

Progress = Callable[[str], None]
Spend = Callable[[Callable[[PortChainContext], BuiltTx]], Outcome]


class ReferenceRefused(Exception):
    """The operator's input is refused; `option` names the command-line option at fault."""

    def __init__(self, option: str, message: str) -> None:
        super().__init__(f"{option}: {message}")
        self.option = option


class ReferenceFailed(Exception):
    """The reference script was not deployed, or not seen on chain in time; the message says
    why."""


@dataclass(frozen=True)
class EscrowReference:
    """The escrow script a profile means, a holder for it, and the output there carrying it."""

    script: PlutusV3Script
    script_hash: str
    holder: Address
    found: UTxO | None


@dataclass(frozen=True)
class ReferenceScript:
    """An output carrying the escrow script; `tx_hash` is None when it was there already."""

    utxo: UTxO
    holder: str
    script_hash: str
    tx_hash: str | None

    @property
    def already_there(self) -> bool:
        return self.tx_hash is None

    @property
    def output_reference(self) -> str:
        return f"{self.utxo.input.transaction_id.payload.hex()}#{self.utxo.input.index}"


def check_holder(profile: NetworkProfile, holder: str, own_key_hashes: Collection[str]) -> Address:
    """The holder's address, or ReferenceRefused naming `--holder`."""
    try:
        parsed = parse_address(holder, profile.network_id)
    except AddressError as error:
        raise ReferenceRefused("--holder", f"{error} ({profile.display_name})") from error
    if profile.escrow.address is not None and holder == profile.escrow.address:
        raise ReferenceRefused("--holder", "that is the escrow's own address")
    if parsed.payment_key_hash is not None and parsed.payment_key_hash in own_key_hashes:
        raise ReferenceRefused(
            "--holder",
            "that is one of this node's hot wallets: its coin selection could spend the "
            "reference output; give an address no hot wallet of the node spends from",
        )
    return Address.from_primitive(holder)


def escrow_reference(
    profile: NetworkProfile, chain: BlockfrostChain, holder: Address
) -> EscrowReference:
    """The profile's escrow script and the output at `holder` already carrying it, if any."""
    script = escrow_contract(profile, chain).script
    script_hash = plutus_script_hash(script).payload.hex()
    found = find_reference_output(chain, str(holder), script_hash)
    return EscrowReference(script, script_hash, holder, found)


def deploy_and_wait(
    chain: BlockfrostChain,
    reference: EscrowReference,
    payer: Actor,
    spend: Spend,
    *,
    timeout_s: float,
    progress: Progress | None = None,
    make_block: Callable[[], object] | None = None,
    poll_s: float = POLL_S,
) -> ReferenceScript:
    """Pay for an output at the holder carrying the script (through `spend`), then wait until
    the chain shows it. `make_block` forges the block on a devnet that makes none by itself."""
    say = progress or _silent
    holder = str(reference.holder)
    if reference.found is not None:
        return ReferenceScript(reference.found, holder, reference.script_hash, None)

    def build(context: PortChainContext) -> BuiltTx:
        ttl = context.last_block_slot + TTL_SLOTS
        return deploy_reference_script(context, payer, reference.script, reference.holder, ttl=ttl)

    say(f"building and submitting from {payer.address}")
    try:
        outcome = spend(build)
    except (PyCardanoException, ChainError) as error:
        raise ReferenceFailed(f"the transaction could not be built or sent: {error}") from error
    if outcome.status in (SIGNED, REJECTED, EXPIRED):
        reason = f": {outcome.error}" if outcome.error else ""
        raise ReferenceFailed(f"transaction {outcome.tx_hash} is {outcome.status.lower()}{reason}")
    if make_block is not None:
        make_block()
    found = wait_for_reference(
        chain, holder, reference.script_hash, timeout_s,
        progress=say, tx_hash=outcome.tx_hash, poll_s=poll_s,
    )  # fmt: skip
    return ReferenceScript(found, holder, reference.script_hash, outcome.tx_hash)


def wait_for_reference(
    chain: BlockfrostChain,
    holder: str,
    script_hash: str,
    timeout_s: float,
    *,
    progress: Progress | None = None,
    tx_hash: str | None = None,
    poll_s: float = POLL_S,
    monotonic: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
) -> UTxO:
    """The output at `holder` carrying the script, once the chain shows it; ReferenceFailed
    after `timeout_s`."""
    say = progress or _silent
    started = monotonic()
    what = f"transaction {tx_hash}" if tx_hash else "the output"
    while True:
        try:
            found = find_reference_output(chain, holder, script_hash)
        except ChainError as error:
            raise ReferenceFailed(f"the chain did not answer: {error}") from error
        if found is not None:
            return found
        waited = monotonic() - started
        if waited >= timeout_s:
            raise ReferenceFailed(
                f"the chain did not show {what} within {timeout_s:.0f} s; once it does, "
                "running the command again finds the output and deploys nothing"
            )
        say(f"waiting for the chain to show {what} ({waited:.0f} s of {timeout_s:.0f} s)")
        sleep(min(poll_s, max(0.0, timeout_s - waited)))


@dataclass(frozen=True)
class ProfileLine:
    """Where the operator names the holder: `line` under `[escrow]` of `path`."""

    path: Path
    line: str
    own_config_dir: bool  # PAYNODE_CONFIG_DIR (or config_dir) is set: `path` is the operator's
    already_set: bool  # the profile in use names this holder already


def profile_line(profile: NetworkProfile, holder: str, config_dir: Path | None) -> ProfileLine:
    """The profile line to set for `holder`, in the operator's config dir when there is one
    (else the shipped profile, to be copied into one: PAYNODE_CONFIG_DIR)."""
    directory = config_dir if config_dir is not None else default_config_dir()
    return ProfileLine(
        path=directory / f"{profile.name}.toml",
        line=f'reference_address = "{holder}"',
        own_config_dir=config_dir is not None,
        already_set=profile.escrow.reference_address == holder,
    )


def _silent(_text: str) -> None:
    """No progress to show."""
