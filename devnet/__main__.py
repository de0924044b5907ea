"""`python -m devnet`: run the local devnet (Blockfrost API + control API)."""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from pathlib import Path

from devnet.params import DEFAULT_PARAMS_PATH
from devnet.server import (
    DEFAULT_BLOCK_TIME_S,
    DEFAULT_HOST,
    DEFAULT_PORT,
    DevnetConfig,
    serve,
)


def parse_args(argv: Sequence[str] | None = None) -> DevnetConfig:
    parser = argparse.ArgumentParser(
        prog="python -m devnet", description="A local Cardano ledger serving Blockfrost's API."
    )
    parser.add_argument("--host", default=DEFAULT_HOST)
    parser.add_argument("--port", type=int, default=DEFAULT_PORT)
    parser.add_argument("--state", type=Path, help="state file: loaded if it exists, kept saved")
    timing = parser.add_mutually_exclusive_group()
    timing.add_argument(
        "--block-time",
        type=float,
        default=DEFAULT_BLOCK_TIME_S,
        metavar="S",
        help=f"realtime mode: a block every S seconds (default {DEFAULT_BLOCK_TIME_S})",
    )
    timing.add_argument("--manual", action="store_true", help="a block per submitted transaction")
    parser.add_argument("--seed", default="paynode-devnet", help="genesis seed (keys, USDM policy)")
    parser.add_argument("--params", type=Path, default=DEFAULT_PARAMS_PATH, metavar="FILE")
    parser.add_argument(
        "--fund",
        action="append",
        default=[],
        metavar="ADDRESS=LOVELACE",
        help="fund an address at genesis (repeatable)",
    )
    parser.add_argument("--log-level", default="warning")
    args = parser.parse_args(argv)
    if args.block_time is not None and args.block_time <= 0:
        parser.error("--block-time must be positive")
    return DevnetConfig(
        host=args.host,
        port=args.port,
        state_path=args.state,
        block_time_s=None if args.manual else args.block_time,
        seed=args.seed,
        params_path=args.params,
        funded=_funded(parser, args.fund),
        log_level=args.log_level,
    )


def _funded(parser: argparse.ArgumentParser, entries: list[str]) -> dict[str, int]:
    funded: dict[str, int] = {}
    for entry in entries:
        address, _, lovelace = entry.partition("=")
        if not lovelace.isdigit():
            parser.error(f"--fund {entry!r}: expected ADDRESS=LOVELACE")
        funded[address] = int(lovelace)
    return funded


def main(argv: Sequence[str] | None = None) -> None:
    serve(parse_args(argv))


if __name__ == "__main__":
    main()
