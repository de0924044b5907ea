"""Hot wallets over real HTTP, the mnemonic encrypted at rest, and the one-spender wallet lock."""

from __future__ import annotations

import threading
import time

import httpx
import pytest
from sqlalchemy import Engine, text
from sqlmodel import Session

from node.crypto import DecryptionError, SecretBox
from node.wallets import service
from node.wallets.keys import derive_keys, generate_mnemonic
from node.wallets.models import HotWallet
from tests.conftest import LiveNode

# A fixed test mnemonic (BIP-39 test vector entropy 0x00..00, 24 words): no funds anywhere.
KNOWN_MNEMONIC = " ".join(["abandon"] * 23 + ["art"])
MAINNET_ADDRESS = (
    "addr1qyfuahzn3rpnlah2ctcdjxdfl4230ygdar00qxc32guetexyg7nun6hggw9g2gpnayzf22sksr0aqdgkdcv"
    "qpc2stwtqgrp4f9"
)
TESTNET_ADDRESS = (
    "addr_test1qqfuahzn3rpnlah2ctcdjxdfl4230ygdar00qxc32guetexyg7nun6hggw9g2gpnayzf22sksr0aqd"
    "gkdcvqpc2stwtqt4u496"
)


def add(admin: httpx.Client, **body: object) -> httpx.Response:
    return admin.post("/api/v1/wallet", json=body)


def test_known_mnemonic_derives_the_cip1852_address() -> None:
    keys = derive_keys(KNOWN_MNEMONIC, 0)
    again = derive_keys(KNOWN_MNEMONIC.upper().replace(" ", "  "), 0)
    assert keys.payment_key_hash == again.payment_key_hash
    assert keys.address.startswith("addr_test1q")
    assert derive_keys(KNOWN_MNEMONIC, 1).address.startswith("addr1q")
    assert derive_keys(KNOWN_MNEMONIC, 1).payment_key_hash == keys.payment_key_hash
    signing_key_hash = keys.payment_signing_key.to_verification_key().hash().payload.hex()
    assert signing_key_hash == keys.payment_key_hash


def test_import_and_read_back(admin: httpx.Client) -> None:
    response = add(
        admin,
        type="Selling",
        walletMnemonic=KNOWN_MNEMONIC,
        note="seller 1",
        collectionAddress=TESTNET_ADDRESS,
        network="Devnet",
    )
    assert response.status_code == 200, response.text
    wallet = response.json()["data"]
    expected = derive_keys(KNOWN_MNEMONIC, 0)
    assert wallet["walletVkey"] == expected.payment_key_hash
    assert wallet["walletAddress"] == expected.address
    assert wallet["type"] == "Selling" and wallet["network"] == "devnet"
    assert "abandon" not in response.text
    fetched = admin.get("/api/v1/wallet", params={"id": wallet["id"]})
    assert fetched.json()["data"]["Secret"] is None and "abandon" not in fetched.text
    revealed = admin.get("/api/v1/wallet", params={"id": wallet["id"], "includeSecret": "true"})
    assert revealed.json()["data"]["Secret"]["mnemonic"] == KNOWN_MNEMONIC


def test_generated_wallet_has_a_valid_stored_mnemonic(admin: httpx.Client) -> None:
    wallet = add(admin, type="Purchasing").json()["data"]
    secret = admin.get("/api/v1/wallet", params={"id": wallet["id"], "includeSecret": "true"})
    mnemonic = secret.json()["data"]["Secret"]["mnemonic"]
    assert len(mnemonic.split()) == 24
    assert derive_keys(mnemonic, 0).payment_key_hash == wallet["walletVkey"]


def test_mnemonic_is_encrypted_at_rest(admin: httpx.Client, engine: Engine) -> None:
    add(admin, type="Selling", walletMnemonic=KNOWN_MNEMONIC)
    with engine.connect() as connection:
        blob = connection.execute(text("SELECT encrypted_mnemonic FROM hot_wallet")).scalar_one()
    assert b"abandon" not in bytes(blob)
    assert len(bytes(blob)) > len(KNOWN_MNEMONIC)


def test_duplicate_wallet_answers_409_with_the_existing_one(admin: httpx.Client) -> None:
    first = add(admin, type="Selling", walletMnemonic=KNOWN_MNEMONIC).json()["data"]
    again = add(admin, type="Purchasing", walletMnemonic=KNOWN_MNEMONIC)
    assert again.status_code == 409
    assert again.json()["id"] == first["id"]
    assert again.json()["object"]["walletVkey"] == first["walletVkey"]
    listed = admin.get("/api/v1/wallet/list").json()["data"]["Wallets"]
    assert [row["id"] for row in listed] == [first["id"]]


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"type": "Selling", "walletMnemonic": "abandon " * 12}, "walletMnemonic"),
        ({"type": "Selling", "walletMnemonic": "abandon " * 24}, "walletMnemonic"),
        ({"type": "Selling", "walletMnemonic": "zzz " * 24}, "walletMnemonic"),
        ({"type": "Selling", "collectionAddress": MAINNET_ADDRESS}, "collectionAddress"),
        ({"type": "Selling", "collectionAddress": "addr_test1nonsense"}, "collectionAddress"),
        ({"type": "Selling", "network": "Mainnet"}, "network"),
        ({"type": "Funding"}, "type"),
        ({"walletMnemonic": KNOWN_MNEMONIC}, "type"),
    ],
)
def test_bad_input_names_the_field_and_writes_nothing(
    admin: httpx.Client, engine: Engine, body: dict[str, object], field: str
) -> None:
    response = add(admin, **body)
    assert response.status_code == 422, response.text
    assert response.json()["error"]["message"].startswith(field)
    with engine.connect() as connection:
        assert connection.execute(text("SELECT count(*) FROM hot_wallet")).scalar_one() == 0


def test_list_filters_by_type_and_pages(admin: httpx.Client) -> None:
    selling = {add(admin, type="Selling").json()["data"]["id"] for _ in range(3)}
    add(admin, type="Purchasing")
    page1 = admin.get("/api/v1/wallet/list", params={"type": "Selling", "limit": 2}).json()["data"]
    cursor = page1["nextCursorId"]
    page2 = admin.get(
        "/api/v1/wallet/list", params={"type": "Selling", "limit": 2, "cursorId": cursor}
    ).json()["data"]
    ids = [row["id"] for row in page1["Wallets"] + page2["Wallets"]]
    assert set(ids) == selling and len(ids) == 3
    assert page2["nextCursorId"] is None


def test_update_collection_address(admin: httpx.Client) -> None:
    wallet = add(admin, type="Selling").json()["data"]
    changed = admin.patch(
        "/api/v1/wallet", json={"id": wallet["id"], "collectionAddress": TESTNET_ADDRESS}
    )
    assert changed.json()["data"]["collectionAddress"] == TESTNET_ADDRESS
    wrong = admin.patch(
        "/api/v1/wallet", json={"id": wallet["id"], "collectionAddress": MAINNET_ADDRESS}
    )
    assert wrong.status_code == 422
    missing = admin.patch("/api/v1/wallet", json={"id": "0" * 32, "note": "x"})
    assert missing.status_code == 404


def test_encryption_round_trip_and_wrong_key() -> None:
    box = SecretBox("k" * 40)
    sealed = box.encrypt(b"secret words", b"wallet-1")
    assert box.decrypt(sealed, b"wallet-1") == b"secret words"
    assert box.encrypt(b"secret words", b"wallet-1") != sealed  # fresh salt and nonce
    with pytest.raises(DecryptionError):
        SecretBox("j" * 40).decrypt(sealed, b"wallet-1")
    with pytest.raises(DecryptionError):
        box.decrypt(sealed, b"wallet-2")  # moved onto another row
    tampered = sealed[:-1] + bytes([sealed[-1] ^ 1])
    with pytest.raises(DecryptionError):
        box.decrypt(tampered, b"wallet-1")


def test_wallet_keys_refuse_a_wrong_secret(
    admin: httpx.Client, session: Session, secret_box: SecretBox
) -> None:
    wallet_id = add(admin, type="Selling", walletMnemonic=KNOWN_MNEMONIC).json()["data"]["id"]
    wallet = session.get(HotWallet, wallet_id)
    assert wallet is not None
    keys = service.wallet_keys(secret_box, wallet, 0)
    assert keys.payment_key_hash == wallet.payment_key_hash
    with pytest.raises(DecryptionError):
        service.wallet_keys(SecretBox("other-encryption-key-" * 2), wallet, 0)


def _stored_wallet(session: Session, secret_box: SecretBox) -> HotWallet:
    from node.config import load_profile
    from node.wallets.schemas import WalletCreate

    request = WalletCreate.model_validate(
        {"type": "Purchasing", "walletMnemonic": generate_mnemonic()}
    )
    return service.add_wallet(session, secret_box, load_profile("devnet"), request)


def test_wallet_lock_admits_one_spender_at_a_time(
    engine: Engine, session: Session, secret_box: SecretBox
) -> None:
    wallet = _stored_wallet(session, secret_box)
    inside = 0
    most_inside = 0
    entries = 0
    guard = threading.Lock()

    def spend() -> None:
        nonlocal inside, most_inside, entries
        with service.wallet_lock(engine, wallet.id, timeout_ms=60_000, wait_ms=30_000, poll_ms=5):
            with guard:
                inside += 1
                entries += 1
                most_inside = max(most_inside, inside)
            time.sleep(0.02)
            with guard:
                inside -= 1

    threads = [threading.Thread(target=spend) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert entries == 8
    assert most_inside == 1


def test_wallet_lock_waits_then_gives_up_and_expires(
    engine: Engine, session: Session, secret_box: SecretBox
) -> None:
    wallet = _stored_wallet(session, secret_box)
    assert service.try_lock_wallet(engine, wallet.id, "first", timeout_ms=60_000)
    assert not service.try_lock_wallet(engine, wallet.id, "second", timeout_ms=60_000)
    with (
        pytest.raises(service.WalletBusy),
        service.wallet_lock(engine, wallet.id, timeout_ms=60_000, wait_ms=100),
    ):
        pass
    # A holder that outlived the timeout loses the lock, and cannot release its successor's.
    time.sleep(0.01)
    assert service.try_lock_wallet(engine, wallet.id, "second", timeout_ms=5)
    assert not service.unlock_wallet(engine, wallet.id, "first")
    assert service.unlock_wallet(engine, wallet.id, "second")
    assert service.try_lock_wallet(engine, wallet.id, "third", timeout_ms=60_000)


def test_locked_wallet_shows_lock_time(admin: httpx.Client, engine: Engine, node: LiveNode) -> None:
    wallet = add(admin, type="Selling").json()["data"]
    assert wallet["lockedAt"] is None
    assert service.try_lock_wallet(engine, wallet["id"], "worker", timeout_ms=60_000)
    shown = admin.get("/api/v1/wallet", params={"id": wallet["id"]}).json()["data"]
    assert shown["lockedAt"] is not None
