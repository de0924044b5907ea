"""Run every benchmark and write BENCHMARKS.md: each figure with the machine, the date, the commit
and the command that reproduces it.

Each benchmark is a script in bench/ that prints its own table; this script runs them one after
another (never two at once: they would share the cores they measure), captures what they print,
and writes it verbatim under the command that printed it. A benchmark that fails is reported as
failed, with its last lines, and the exit status says so.

    .venv/bin/python bench/report.py [--only lifecycle,sync] [--quick] [--output BENCHMARKS.md]

`--quick` runs each benchmark with small sizes (a check that they all still run, not figures to
quote). PostgreSQL figures need PAYNODE_TEST_DATABASE_URL (or --postgres).
"""

from __future__ import annotations

import argparse
import os
import platform
import re
import subprocess
import sys
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
ANSI_ESCAPE = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")
TABLE_WIDTH = "140"  # rich lays tables out to the terminal's width; a file has none


@dataclass(frozen=True)
class Benchmark:
    name: str
    what: str
    args: tuple[str, ...]
    quick_args: tuple[str, ...]

    def command(self, quick: bool) -> list[str]:
        return [f"bench/{self.name}.py", *(self.quick_args if quick else self.args)]


BENCHMARKS = (
    Benchmark(
        "lifecycle",
        "The escrow lifecycle end to end (#8): jobs per minute with 1, 10 and 50 concurrent "
        "buyers, fees per job, Blockfrost requests per job on each node. Goals: at most 0.6 ADA "
        "of fees and 15 requests per job per node (batched locks, scripts by reference).",
        ("--rounds", "1,10,50"),
        ("--rounds", "1"),
    ),
    Benchmark(
        "sync",
        "The chain mirror (#9): catching up 10,000 escrow transactions (transactions per second, "
        "Blockfrost requests per transaction; goal at most 2), and billing balance and usage "
        "latency at 10,000 and 1,000,000 usage rows on PostgreSQL (goal p99 under 20 ms, flat).",
        ("--txs", "10000", "--rows", "10000,1000000"),
        ("--txs", "200", "--rows", "10000"),
    ),
    Benchmark(
        "contract_costs",
        "The escrow and registry contracts (#4): execution units, script and transaction sizes and "
        "fees per action, inline and by reference, against the deployed Aiken validator.",
        (),
        (),
    ),
    Benchmark(
        "tx_build",
        "Building, balancing and signing each escrow transaction (#5).",
        ("--runs", "30"),
        ("--runs", "3"),
    ),
    Benchmark(
        "registry",
        "Reading the agent registry from the chain (#7).",
        ("--agents", "100", "--assets", "1000"),
        ("--agents", "10", "--assets", "100"),
    ),
    Benchmark(
        "pricing",
        "Quoting (#6): quotes per second through the node's API.",
        ("--seconds", "3", "--clients", "4"),
        ("--seconds", "1", "--clients", "2"),
    ),
    Benchmark(
        "devnet_validate",
        "The devnet's ledger (#3): transfers and script spends validated per second.",
        ("--transfers", "200", "--spends", "30"),
        ("--transfers", "20", "--spends", "3"),
    ),
)


@dataclass(frozen=True)
class Run:
    benchmark: Benchmark
    command: str
    seconds: float
    exit_code: int
    output: str


def run(benchmark: Benchmark, quick: bool, env: dict[str, str]) -> Run:
    argv = benchmark.command(quick)
    shown = " ".join([".venv/bin/python", *argv])
    print(f"== {shown}", flush=True)
    started = time.monotonic()
    done = subprocess.run(
        [sys.executable, *argv],
        cwd=REPO_ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        check=False,
    )
    seconds = time.monotonic() - started
    output = ANSI_ESCAPE.sub("", done.stdout).rstrip()
    print(output, flush=True)
    print(f"== {benchmark.name}: exit {done.returncode} after {seconds:.0f} s", flush=True)
    return Run(benchmark, shown, seconds, done.returncode, output)


def machine() -> list[tuple[str, str]]:
    facts = [
        ("CPU", _cpu_model()),
        ("cores", str(os.cpu_count())),
        ("memory", _memory()),
        ("system", f"{platform.system()} {platform.release()} ({platform.machine()})"),
        ("Python", platform.python_version()),
        ("load average at start (1, 5, 15 min)", _load()),
    ]
    return facts


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def _memory() -> str:
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                return f"{int(line.split()[1]) // (1024 * 1024)} GiB"
    except OSError:
        pass
    return "unknown"


def _load() -> str:
    try:
        return ", ".join(f"{value:.2f}" for value in os.getloadavg())
    except OSError:
        return "unknown"


def _commit() -> str:
    done = subprocess.run(
        ["git", "describe", "--always", "--dirty"],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    return done.stdout.strip() or "unknown"


def markdown(runs: list[Run], quick: bool, started: datetime, facts: list[tuple[str, str]]) -> str:
    lines = [
        "# paynode benchmarks",
        "",
        "Generated by `bench/report.py` (`make report`) from the runs below; do not edit by hand.",
        "Every figure is what the benchmark printed on this machine on this date.",
        "",
        f"- date: {started.strftime('%Y-%m-%d %H:%M UTC')}",
        f"- commit: `{_commit()}`",
        *(f"- {label}: {value}" for label, value in facts),
        f"- sizes: {'quick (a smoke run, not figures to quote)' if quick else 'full'}",
        "",
        "To reproduce everything: `make report`; one benchmark: the command under its heading, "
        "from the repository's root after `make test` has set up `.venv` (PostgreSQL figures "
        "need `PAYNODE_TEST_DATABASE_URL`, e.g. `postgresql://postgres@127.0.0.1:5432/test`).",
        "",
    ]
    for done in runs:
        status = "" if done.exit_code == 0 else f" — **FAILED (exit {done.exit_code})**"
        lines += [
            f"## {done.benchmark.name}{status}",
            "",
            done.benchmark.what,
            "",
            f"`{done.command}` — {done.seconds:.0f} s",
            "",
            "```text",
            done.output,
            "```",
            "",
        ]
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    names = [benchmark.name for benchmark in BENCHMARKS]
    parser.add_argument("--only", default="", help=f"comma-separated, of: {', '.join(names)}")
    parser.add_argument("--quick", action="store_true", help="small sizes: a smoke run")
    parser.add_argument("--output", default=str(REPO_ROOT / "BENCHMARKS.md"))
    parser.add_argument("--postgres", default=os.environ.get("PAYNODE_TEST_DATABASE_URL"))
    args = parser.parse_args()
    chosen = [name for name in args.only.split(",") if name] or names
    unknown = sorted(set(chosen) - set(names))
    if unknown:
        parser.error(f"--only: unknown benchmark(s) {', '.join(unknown)}")
    env = {**os.environ, "COLUMNS": TABLE_WIDTH}
    if args.postgres:
        env["PAYNODE_TEST_DATABASE_URL"] = args.postgres
    started = datetime.now(UTC)
    facts = machine()
    runs = [run(benchmark, args.quick, env) for benchmark in BENCHMARKS if benchmark.name in chosen]
    Path(args.output).write_text(markdown(runs, args.quick, started, facts) + "\n")
    print(f"wrote {args.output}")
    return 0 if all(done.exit_code == 0 for done in runs) else 1


if __name__ == "__main__":
    sys.exit(main())
