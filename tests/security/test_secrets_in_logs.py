"""Nothing secret in logs (issue #10; DESIGN.md "Secrets: ... neither ever logged").

A full `paynode demo` (node/jobs/demo_run.py: quote, confirm, lock, result, collect, refund,
dispute) runs in this process with every logger at DEBUG (root included, uvicorn's, httpx's,
PyCardano's) and stdout/stderr captured. Webhooks are registered on both nodes (one receiver
answers, one is down, so deliveries and failures are logged) and an extra API key is created and
used. Then every secret the run made is collected — the wallets' mnemonics (decrypted from the
nodes' databases) and every form of their signing keys, the encryption keys, every API token,
the webhooks' signing secrets and auth tokens — and none may appear in what was captured.

No secret is printed on purpose: the demo hands its nodes' admin tokens to its clients in
process; `paynode serve` prints a first-start admin token once to the operator's terminal
with `console.print` (not through logging), which this run does not take.
"""

from __future__ import annotations

import io
import logging
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx
import pytest
from pycardano import HDWallet
from pycardano.crypto.bech32 import Encoding, bech32_encode, convertbits
from rich.console import Console
from sqlmodel import Session, select

from node.bootstrap import DEVNET_KEY_FILE
from node.jobs.demo_run import Demo, Side, demo_world, tell
from node.wallets.keys import PAYMENT_PATH, STAKE_PATH, derive_keys
from node.wallets.models import HotWallet
from node.wallets.service import reveal_mnemonic
from tests.conftest import free_port

MNEMONIC_WINDOW = 4  # this many consecutive words of a mnemonic is a leak


class EveryRecord(logging.Handler):
    """Formats every record with its traceback and any extra fields it carries."""

    _STANDARD = set(vars(logging.LogRecord("", 0, "", 0, "", None, None))) | {"message", "asctime"}

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.lines: list[str] = []
        self.names: set[str] = set()
        self.setFormatter(logging.Formatter("%(name)s %(levelname)s %(message)s"))
        self._lock_lines = threading.Lock()

    def emit(self, record: logging.LogRecord) -> None:
        text = self.format(record)
        extra = {k: v for k, v in vars(record).items() if k not in self._STANDARD}
        if extra:
            text += f" {extra!r}"
        with self._lock_lines:
            self.lines.append(text)
            self.names.add(record.name)


@contextmanager
def every_logger_at_debug(handler: EveryRecord) -> Iterator[Callable[[], None]]:
    """The root logger at DEBUG with `handler`; the callable it gives sets every named logger
    at DEBUG (and hands the handler to those that do not propagate, as uvicorn's); all is
    restored on exit."""
    root = logging.getLogger()
    saved_root = root.level
    saved: dict[str, tuple[int, bool, bool]] = {}

    def open_up() -> None:
        for name in list(logging.root.manager.loggerDict):
            logger = logging.getLogger(name)
            if name not in saved:
                saved[name] = (logger.level, logger.disabled, handler in logger.handlers)
            logger.setLevel(logging.DEBUG)
            logger.disabled = False
            if not logger.propagate and handler not in logger.handlers:
                logger.addHandler(handler)

    root.setLevel(logging.DEBUG)
    root.addHandler(handler)
    open_up()
    try:
        yield open_up
    finally:
        root.removeHandler(handler)
        root.setLevel(saved_root)
        for name, (level, disabled, had_handler) in saved.items():
            logger = logging.getLogger(name)
            logger.setLevel(level)
            logger.disabled = disabled
            if not had_handler:
                logger.removeHandler(handler)


class Receiver(BaseHTTPRequestHandler):
    """A webhook receiver that answers 200 to everything."""

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length", "0")))
        self.send_response(200)
        self.end_headers()

    def log_message(self, format: str, *args: object) -> None:
        return


@contextmanager
def webhook_receiver() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), Receiver)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/hook"
    finally:
        server.shutdown()


EVENTS = [
    "PURCHASE_ON_CHAIN_STATUS_CHANGED",
    "PAYMENT_ON_CHAIN_STATUS_CHANGED",
    "PURCHASE_ON_ERROR",
    "PAYMENT_ON_ERROR",
]


def add_webhook(side: Side, url: str, secrets: set[str]) -> None:
    auth_token = f"hook-auth-{side.name}-0f3c9a7b1e5d"
    body = {"url": url, "Events": EVENTS, "format": "EXTENDED", "authToken": auth_token}
    answer = httpx.post(
        side.url + "/api/v1/webhooks", json=body, headers={"token": token_of(side)}, timeout=30
    )
    assert answer.status_code == 200, answer.text
    secrets.add(auth_token)
    secrets.add(answer.json()["data"]["signingSecret"])


def token_of(side: Side) -> str:
    token = side.client.token
    assert token is not None
    return token


def extra_key(side: Side, secrets: set[str]) -> None:
    """An API key made over HTTP and used once."""
    headers = {"token": token_of(side)}
    made = httpx.post(
        side.url + "/api/v1/api-key", json={"permission": "Read"}, headers=headers, timeout=30
    )
    assert made.status_code == 200, made.text
    token = made.json()["data"]["token"]
    secrets.add(token)
    status = httpx.get(side.url + "/api/v1/api-key-status", headers={"token": token}, timeout=30)
    assert status.status_code == 200


def bech32(hrp: str, data: bytes) -> str:
    text: str = bech32_encode(hrp, convertbits(data, 8, 5), Encoding.BECH32)
    return text


def key_forms(mnemonic: str, network_id: int) -> set[str]:
    """Every spelling of a wallet's secrets we can think of: the words, the root and derived
    extended keys in hex, CBOR and bech32 (addr_xsk, root_xsk, ed25519e_sk, ed25519_sk)."""
    words = mnemonic.split()
    forms = {mnemonic}
    for start in range(len(words) - MNEMONIC_WINDOW + 1):
        window = words[start : start + MNEMONIC_WINDOW]
        forms.add(" ".join(window))
        forms.add('", "'.join(window))
        forms.add("', '".join(window))
    root = HDWallet.from_mnemonic(mnemonic)
    assert root.root_xprivate_key is not None and root.root_chain_code is not None
    forms.add(root.root_xprivate_key.hex())
    forms.add(bech32("root_xsk", root.root_xprivate_key + root.root_chain_code))
    for path in (PAYMENT_PATH, STAKE_PATH):
        derived = root.derive_from_path(path)
        xprv, chain = derived.xprivate_key, derived.chain_code
        forms |= {xprv.hex(), xprv[:32].hex(), xprv[32:].hex()}
        for hrp in ("addr_xsk", "ed25519e_sk", "stake_xsk"):
            forms.add(bech32(hrp, xprv))
            forms.add(bech32(hrp, xprv + chain))
        forms.add(bech32("ed25519_sk", xprv[:32]))
    signing = derive_keys(mnemonic, network_id).payment_signing_key
    forms |= {signing.payload.hex(), signing.to_cbor_hex(), signing.payload[:64].hex()}
    return forms


def wallet_secrets(side: Side) -> tuple[set[str], int]:
    runtime = side.runtime
    assert runtime is not None
    found: set[str] = set()
    with Session(runtime.engine) as session:
        wallets = list(session.exec(select(HotWallet)))
    for wallet in wallets:
        found |= key_forms(reveal_mnemonic(runtime.secrets, wallet), runtime.network.network_id)
    return found, len(wallets)


@pytest.fixture
def demo_data(tmp_path: Path) -> Path:
    return tmp_path / "demo"


def leaks(secrets: set[str], captured: str) -> list[str]:
    lowered = captured.lower()
    return sorted(secret for secret in secrets if secret.lower() in lowered)


def test_the_search_finds_a_planted_secret() -> None:
    """The check below can fail: secrets logged in any of their forms are found."""
    mnemonic = (
        "seven profit shiver soldier lumber wear off burger little wild autumn hello orbit now "
        "write carry click myth lucky oval crew velvet gate rapid"
    )
    forms = key_forms(mnemonic, 0)
    signing = derive_keys(mnemonic, 0).payment_signing_key
    handler = EveryRecord()
    with every_logger_at_debug(handler):
        log = logging.getLogger("node.planted")
        log.debug("wallet words %s", mnemonic.split()[3:9])
        log.info("key", extra={"detail": signing.to_cbor_hex().upper()})
        log.warning("sk %s", bech32("addr_xsk", signing.payload[:64]))
    found = leaks(forms, "\n".join(handler.lines))
    assert len(found) >= 3
    assert signing.to_cbor_hex() in found and bech32("addr_xsk", signing.payload[:64]) in found
    assert leaks(forms, "the demo ran every step; tx 0f00ba") == []


@pytest.mark.soak  # a realtime demo: about 100 s
def test_a_full_demo_logs_no_secret(demo_data: Path, capfd: pytest.CaptureFixture[str]) -> None:
    handler = EveryRecord()
    printed = io.StringIO()
    console = Console(file=printed, width=160, force_terminal=False)
    secrets: set[str] = set()
    with (
        every_logger_at_debug(handler) as open_up,
        webhook_receiver() as receiver_url,
        demo_world(demo_data, console, seller_port=free_port(), buyer_port=free_port()) as run,
    ):
        open_up()  # again: the servers configured their loggers meanwhile
        logging.getLogger("node.security-test").info("capture is on")
        add_webhook(run.seller, receiver_url, secrets)
        add_webhook(run.buyer, f"http://127.0.0.1:{free_port()}/down", secrets)
        for side in (run.seller, run.buyer):
            extra_key(side, secrets)
            secrets.add(token_of(side))
            answer = httpx.get(
                side.url + "/api/v1/api-key-status",
                headers={"token": "paynode_wrong_" + "0" * 40},
                timeout=30,
            )
            assert answer.status_code == 401
        secrets.add(run.agent.api_key)
        told = tell(run)
        stopped = [line for line in printed.getvalue().splitlines() if "demo stopped" in line]
        assert told == 0, stopped
        wallet_count = collect_node_secrets(run, demo_data, secrets)
    out, err = capfd.readouterr()
    captured = "\n".join([*handler.lines, printed.getvalue(), out, err])

    # the capture really saw the run: the demo's story, the node's loggers, the HTTP traffic
    assert "the demo ran every step" in printed.getvalue()
    assert "capture is on" in captured
    assert any(line.startswith("httpx INFO HTTP Request: POST") for line in handler.lines)
    assert any(name.startswith("node.") and name != "node.security-test" for name in handler.names)
    assert any("webhook" in line and "delivered" in line for line in handler.lines)
    assert any("webhook" in line and "failed" in line for line in handler.lines)
    assert len(handler.lines) > 200
    # and the secrets are real: 3 wallets (seller's selling, buyer's purchasing, agent's), keys
    assert wallet_count >= 2
    assert len(secrets) > 100

    leaked = leaks(secrets, captured)
    assert leaked == [], f"{len(leaked)} secrets appear in the logs: {[s[:12] for s in leaked]}"


def collect_node_secrets(run: Demo, data_dir: Path, secrets: set[str]) -> int:
    count = 0
    for side in (run.seller, run.buyer):
        found, wallets = wallet_secrets(side)
        secrets |= found
        count += wallets
        assert side.runtime is not None
        key_file = data_dir / side.name / DEVNET_KEY_FILE
        encryption_key = key_file.read_text().strip()
        assert len(encryption_key) >= 32
        secrets.add(encryption_key)
    return count
