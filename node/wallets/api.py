"""/wallet routes: admin only. The mnemonic is returned only when includeSecret=true is asked."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from node.auth.api import AdminKey
from node.runtime import RuntimeDep, SessionDep
from node.wallets import service
from node.wallets.models import HotWalletType
from node.wallets.schemas import WalletCreate, WalletList, WalletOut, WalletUpdate
from node.web import DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE, Success, success

router = APIRouter(tags=["wallet"])


@router.post("/wallet", summary="Add a hot wallet from a 24-word mnemonic, or generate one")
def add_wallet(
    _caller: AdminKey, runtime: RuntimeDep, session: SessionDep, request: WalletCreate
) -> Success[WalletOut]:
    wallet = service.add_wallet(session, runtime.secrets, runtime.profile, request)
    return success(service.to_out(wallet))


@router.get("/wallet", summary="One hot wallet; its mnemonic only with includeSecret=true")
def get_wallet(
    _caller: AdminKey,
    runtime: RuntimeDep,
    session: SessionDep,
    wallet_id: Annotated[str, Query(alias="id", min_length=1, max_length=32)],
    include_secret: Annotated[bool, Query(alias="includeSecret")] = False,
) -> Success[WalletOut]:
    wallet = service.get_wallet(session, runtime.profile, wallet_id)
    mnemonic = service.reveal_mnemonic(runtime.secrets, wallet) if include_secret else None
    return success(service.to_out(wallet, mnemonic))


@router.get("/wallet/list", summary="Hot wallets of this network, newest first")
def list_wallets(
    _caller: AdminKey,
    runtime: RuntimeDep,
    session: SessionDep,
    wallet_type: Annotated[HotWalletType | None, Query(alias="type")] = None,
    limit: Annotated[int, Query(ge=1, le=MAX_PAGE_SIZE)] = DEFAULT_PAGE_SIZE,
    cursor_id: Annotated[str | None, Query(alias="cursorId", max_length=32)] = None,
) -> Success[WalletList]:
    wallets = service.list_wallets(session, runtime.profile, wallet_type, limit, cursor_id)
    next_cursor = wallets[-1].id if len(wallets) == limit else None
    rows = [service.to_out(wallet) for wallet in wallets]
    return success(WalletList(wallets=rows, next_cursor_id=next_cursor))


@router.patch("/wallet", summary="Set a wallet's collection address or note")
def update_wallet(
    _caller: AdminKey, runtime: RuntimeDep, session: SessionDep, request: WalletUpdate
) -> Success[WalletOut]:
    return success(service.to_out(service.update_wallet(session, runtime.profile, request)))
