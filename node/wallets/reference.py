"""`paynode escrow deploy-reference-script`: the escrow's reference script paid by one of the
node's hot wallets, through the wallet's journaled, locked build and submit (spend_from_wallet).

The checks come in the order an operator fixes them: the holder (another network, the escrow,
one of our hot wallets: node.chain.reference, ADR 0014), then an output already there (nothing is
paid), then the paying wallet (`--wallet`, else the network's first Selling wallet).
"""

from __future__ import annotations

from collections.abc import Callable

from sqlmodel import Session, col, select

from node.chain.builders import BuiltTx
from node.chain.context import PortChainContext
from node.chain.reference import (
    Progress,
    ReferenceFailed,
    ReferenceRefused,
    ReferenceScript,
    check_holder,
    deploy_and_wait,
    escrow_reference,
)
from node.chain.submitter import Outcome
from node.runtime import Runtime
from node.wallets.models import HotWallet, HotWalletType, TxStatus
from node.wallets.service import WalletBusy, WalletJournal, spend_from_wallet, wallet_actor

DEFAULT_TIMEOUT_S = 300.0


def deploy_escrow_reference_script(
    runtime: Runtime,
    holder: str,
    *,
    wallet_id: str | None = None,
    timeout_s: float = DEFAULT_TIMEOUT_S,
    progress: Progress | None = None,
    make_block: Callable[[], object] | None = None,
) -> ReferenceScript:
    """The output at `holder` carrying the network's escrow script: found, or paid by a hot
    wallet and waited for. ReferenceRefused names the option at fault; ReferenceFailed says why
    nothing was deployed or seen in time."""
    chain = runtime.chain
    if chain is None:
        raise ReferenceFailed("this node has no chain")
    profile = runtime.network
    with Session(runtime.engine) as session:
        own = {wallet.payment_key_hash for wallet in _wallets(session, profile.name)}
    holder_address = check_holder(profile, holder, own)
    reference = escrow_reference(profile, chain, holder_address)
    if reference.found is not None:
        return ReferenceScript(reference.found, holder, reference.script_hash, None)
    with Session(runtime.engine) as session:
        wallet = payer_wallet(session, profile.name, wallet_id)
    payer = wallet_actor(runtime.secrets, wallet, profile.network_id)

    def spend(build: Callable[[PortChainContext], BuiltTx]) -> Outcome:
        return spend_from_wallet(
            runtime.engine, chain, wallet.id, profile.network_id, build,
            lock_timeout_ms=runtime.settings.wallet_lock_timeout_s * 1000,
        )  # fmt: skip

    try:
        deployed = deploy_and_wait(
            chain, reference, payer, spend,
            timeout_s=timeout_s, progress=progress, make_block=make_block,
        )  # fmt: skip
    except WalletBusy as error:
        raise ReferenceFailed(f"{error}; try again when it is free") from error
    if deployed.tx_hash is not None:  # seen on chain: the journal need not wait for its TTL
        WalletJournal(runtime.engine, wallet.id).mark(deployed.tx_hash, TxStatus.CONFIRMED)
    return deployed


def payer_wallet(session: Session, network: str, wallet_id: str | None) -> HotWallet:
    """`--wallet` (a hot wallet of this network), else the network's first Selling wallet."""
    if wallet_id is not None:
        wallet = session.get(HotWallet, wallet_id)
        if wallet is None or wallet.network != network:
            raise ReferenceRefused("--wallet", f"no hot wallet {wallet_id} on {network}")
        return wallet
    selling = _wallets(session, network, HotWalletType.SELLING)
    if not selling:
        raise ReferenceRefused(
            "--wallet", f"this node has no Selling wallet on {network}; name a hot wallet's id"
        )
    return selling[0]


def _wallets(session: Session, network: str, kind: HotWalletType | None = None) -> list[HotWallet]:
    """This node's hot wallets of `network` (of that type), the oldest first."""
    query = select(HotWallet).where(HotWallet.network == network)
    if kind is not None:
        query = query.where(HotWallet.type == kind)
    return list(session.exec(query.order_by(col(HotWallet.created_at), col(HotWallet.id))))
