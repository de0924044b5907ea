"""The devnet server program: a ledger, its HTTP API (uvicorn), block production and persistence.

`DevnetServer` runs in a background thread (`start()` / `stop()`, for tests and for the node's
CLI) or in the foreground (`serve_forever()`, for `python -m devnet`). State is saved atomically
by a saver thread shortly after every change, and once more on shutdown.
"""

from __future__ import annotations

import logging
import signal
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

import uvicorn

from devnet.api import API_PREFIX, create_devnet_app
from devnet.genesis import Genesis
from devnet.ledger import Ledger, Mode
from devnet.params import DEFAULT_PARAMS_PATH, ProtocolParams

log = logging.getLogger("devnet")
DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 3030
DEFAULT_BLOCK_TIME_S = 2.0
SAVE_INTERVAL_S = 0.5
START_TIMEOUT_S = 30.0


@dataclass(frozen=True)
class DevnetConfig:
    host: str = DEFAULT_HOST
    port: int = DEFAULT_PORT  # 0: any free port (see DevnetServer.url)
    state_path: Path | None = None
    block_time_s: float | None = DEFAULT_BLOCK_TIME_S  # None: manual mode (a block per submit)
    seed: str = "paynode-devnet"
    params_path: Path = DEFAULT_PARAMS_PATH
    funded: Mapping[str, int] = field(default_factory=dict)  # bech32 address -> lovelace
    # None: the wall clock when the genesis is made. A start in the past would put the current
    # epoch's end_time behind the wall clock, and pycardano refetches its caches on every call.
    system_start_ms: int | None = None
    log_level: str = "warning"

    @property
    def manual(self) -> bool:
        return self.block_time_s is None


def open_ledger(config: DevnetConfig) -> Ledger:
    """The saved state when there is one, else a fresh genesis, in the configured mode."""
    mode: Mode = "manual" if config.manual else "realtime"
    if config.state_path is not None and config.state_path.exists():
        ledger = Ledger.load(str(config.state_path))
        if ledger.mode != mode:
            ledger.set_mode(mode)
        return ledger
    system_start_ms = config.system_start_ms
    if system_start_ms is None:
        system_start_ms = time.time_ns() // 1_000_000_000 * 1000  # whole seconds: slot 0
    genesis = Genesis(seed=config.seed, funded=dict(config.funded), system_start_ms=system_start_ms)
    return Ledger(ProtocolParams.load(config.params_path), genesis, mode=mode)


class _Saver:
    """Saves the ledger when it changed, at most every SAVE_INTERVAL_S (JSON of the whole
    chain: cheap for a devnet, and atomic thanks to the temporary-file rename)."""

    def __init__(self, ledger: Ledger, path: Path | None, lock: threading.RLock) -> None:
        self.ledger, self.path, self.lock = ledger, path, lock
        self._dirty = threading.Event()

    def mark(self) -> None:
        self._dirty.set()

    def flush(self) -> None:
        if self.path is None or not self._dirty.is_set():
            return
        self._dirty.clear()
        with self.lock:
            self.ledger.save(str(self.path))

    def save_now(self) -> None:
        self._dirty.set()
        self.flush()


class DevnetServer:
    def __init__(self, config: DevnetConfig, ledger: Ledger | None = None) -> None:
        self.config = config
        self.ledger = ledger if ledger is not None else open_ledger(config)
        self.lock = threading.RLock()
        self._saver = _Saver(self.ledger, config.state_path, self.lock)
        self.app = create_devnet_app(self.ledger, lock=self.lock, on_change=self._saver.mark)
        self._uvicorn = uvicorn.Server(
            uvicorn.Config(
                self.app,
                host=config.host,
                port=config.port,
                log_level=config.log_level,
                lifespan="off",
                access_log=False,
            )
        )
        self._stopping = threading.Event()
        self._threads: list[threading.Thread] = []
        self._server_thread: threading.Thread | None = None

    # Addresses --------------------------------------------------------------------------------

    @property
    def port(self) -> int:
        servers = getattr(self._uvicorn, "servers", [])
        for server in servers:
            for sock in server.sockets:
                return int(sock.getsockname()[1])
        return self.config.port

    @property
    def listening(self) -> bool:
        return bool(self._uvicorn.started)

    @property
    def url(self) -> str:
        """Base URL; Blockfrost clients take `url + "/api"` (they append /v0)."""
        return f"http://{self.config.host}:{self.port}"

    @property
    def blockfrost_url(self) -> str:
        return self.url + API_PREFIX

    # Lifecycle --------------------------------------------------------------------------------

    def start(self) -> None:
        """Serve in a background thread; returns once the socket listens."""
        self._server_thread = threading.Thread(
            target=self._uvicorn.run, name="devnet-http", daemon=True
        )
        self._server_thread.start()
        deadline = time.monotonic() + START_TIMEOUT_S
        while not self.listening:
            if not self._server_thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError(f"devnet server did not start on {self.url}")
            time.sleep(0.01)
        self._start_workers()

    def stop(self) -> None:
        self._uvicorn.should_exit = True
        if self._server_thread is not None:
            self._server_thread.join(timeout=10)
        self._stop_workers()

    def serve_forever(self) -> None:
        """Serve in this thread until interrupted (uvicorn handles SIGINT/SIGTERM)."""
        # uvicorn re-raises the signal it stopped on once it has restored the previous handlers;
        # with SIGTERM's default handler the process would die before the state is saved.
        signal.signal(signal.SIGTERM, _exit_on_sigterm)
        self._start_workers()
        try:
            self._uvicorn.run()
        finally:
            self._stop_workers()

    def _start_workers(self) -> None:
        self._saver.save_now()  # a fresh devnet has a state file from the first second
        self._spawn(self._save_loop, "devnet-saver")
        if not self.config.manual:
            self._spawn(self._block_loop, "devnet-blocks")

    def _stop_workers(self) -> None:
        self._stopping.set()
        for thread in self._threads:
            thread.join(timeout=10)
        self._saver.save_now()

    def _spawn(self, target: object, name: str) -> None:
        thread = threading.Thread(target=target, name=name, daemon=True)  # type: ignore[arg-type]
        self._threads.append(thread)
        thread.start()

    def _save_loop(self) -> None:
        while not self._stopping.wait(SAVE_INTERVAL_S):
            self._saver.flush()

    def _block_loop(self) -> None:
        interval = self.config.block_time_s or DEFAULT_BLOCK_TIME_S
        while not self._stopping.wait(interval):
            with self.lock:
                block = self.ledger.tick()
            if block is not None:
                self._saver.mark()


def _exit_on_sigterm(_signum: int, _frame: object) -> None:
    raise SystemExit(0)


def serve(config: DevnetConfig, *, announce: bool = True) -> None:
    """Run a devnet in the foreground (what `python -m devnet` and `paynode devnet` call)."""
    server = DevnetServer(config)
    if announce:  # once listening, so that the printed URL has the real port
        threading.Thread(
            target=_announce, args=(server,), name="devnet-announce", daemon=True
        ).start()
    server.serve_forever()


def _announce(server: DevnetServer) -> None:
    deadline = time.monotonic() + START_TIMEOUT_S
    while not server.listening and time.monotonic() < deadline:
        time.sleep(0.01)
    genesis = server.ledger.genesis
    mode = "manual" if server.config.manual else f"a block every {server.config.block_time_s} s"
    print(f"devnet: Blockfrost API at {server.url}{API_PREFIX} ({mode})", flush=True)
    print(f"devnet: USDM unit {genesis.usdm_unit}", flush=True)
    print(f"devnet: genesis wallet {genesis.wallet_address}", flush=True)
    if server.config.state_path is not None:
        print(f"devnet: state in {server.config.state_path}", flush=True)
