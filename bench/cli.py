"""CLI start-up: wall time of ``romana --help``, ``romana decode`` and ``romana tenant list``.

Each command runs as its own process, the way a person or a script runs it, beside the
reference ``python3 -c pass`` — the interpreter romana runs on (``sys.executable``), starting
and doing nothing — measured in the same run, round after round, alternating, so both see the
same machine. ``decode`` and ``tenant list`` talk to a real romanad (SQLite, loopback) started
here, with a topology of two hosts, a few tenants and one allocation whose address is decoded;
the CLI is logged in once (``romana login --password-stdin``) and reads its saved token, as
after a real login. Output goes to /dev/null, so no terminal rendering is measured. romana's
modules are byte-compiled first, as ``pip install`` does: a process that finds no ``.pyc`` (a
source tree run with ``PYTHONDONTWRITEBYTECODE``) compiles each module it imports, every run.

Target (issue 19): p50 <= 150 ms wall for each command.

Where the time goes is measured beside: the wall time of a process that only imports one part
(p50, same rounds): the CLI with its command tree, the HTTP client (httpx), the wire models
(pydantic), Rich's tables, and the client stack a request needs, plus loading the system's
trust store for TLS, done in-process.

A benchmark prints figures and ratios; it asserts nothing.

    python -m bench.cli [--runs 40]
"""

from __future__ import annotations

import argparse
import compileall
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Mapping, Sequence
from pathlib import Path

import romana
from bench import common
from bench.ipam import TOPOLOGY
from romana.client import Client, ClientSettings
from romana.lab.romanad import Romanad

ROMANA = os.path.join(os.path.dirname(sys.executable), "romana")
REFERENCE = "python3 -c pass"
TARGET_MS = 150.0
WARM_UP = 3  # rounds before measuring: page cache and romanad's caches
TENANTS = ("acme", "globex", "initech")


def prepare(daemon: Romanad) -> str:
    """The plan, hosts and tenants ``tenant list`` shows; the address ``decode`` explains."""
    with Client(ClientSettings(url=(daemon.url,), token=daemon.admin_token())) as client:
        client.apply_topology(TOPOLOGY)
        client.add_host("h1", "192.0.2.1")
        client.add_host("h2", "192.0.2.2")
        for name in TENANTS:
            client.create_tenant(name)
        allocation = client.allocate("bench-1", "h1", TENANTS[0])
    address: str = allocation["addresses"][0]
    return address


def environment(url: str, config: Path) -> dict[str, str]:
    """The caller's environment without any ROMANA_ setting, pointed at ``url``."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("ROMANA_")}
    return {**env, "ROMANA_URL": url, "ROMANA_CONFIG": str(config)}


def login(daemon: Romanad, env: Mapping[str, str]) -> None:
    username, password = daemon.admin()
    done = subprocess.run(
        [ROMANA, "login", "-u", username, "--password-stdin"],
        input=f"{password}\n".encode(),
        env=dict(env),
        capture_output=True,
        timeout=60,
    )
    if done.returncode != 0:
        raise RuntimeError(f"romana login failed: {done.stderr.decode()}")


def timed(argv: Sequence[str], env: Mapping[str, str]) -> float:
    """Wall seconds of one run of ``argv``; a failed run stops the benchmark."""
    began = time.perf_counter()
    done = subprocess.run(
        list(argv), env=dict(env), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, timeout=60
    )
    took = time.perf_counter() - began
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(argv)} failed: {done.stderr.decode()}")
    return took


def percentile(samples: list[float], p: int) -> float:
    return statistics.quantiles(samples, n=100, method="inclusive")[p - 1]


def compared(metric: str, ours: list[float], ref: list[float], p: int) -> common.Result:
    value = round(percentile(ours, p) * 1000, 1)
    reference = round(percentile(ref, p) * 1000, 1)
    gated = p == 50
    return common.Result(
        metric=f"{metric} p{p}",
        value=value,
        unit="ms",
        target=f"<= {TARGET_MS:.0f} ms" if gated else "",
        reference=reference,
        reference_name=REFERENCE,
        ratio=round(value / reference, 2),
        meets_target=value <= TARGET_MS if gated else None,
    )


PARTS = {
    "import romana.cli.main (Typer, the command modules, settings)": "import romana.cli.main",
    "import httpx": "import httpx",
    "import romana.wire.rest (pydantic and the wire models)": "import romana.wire.rest",
    "import rich.console and rich.table": "import rich.console, rich.table",
    "import romana.client.http (the client stack a request needs)": "import romana.client.http",
}
"""Breakdown parts: what each process imports, beside the commands and the reference."""


def trust_store(runs: int) -> list[float]:
    """Seconds to build the client's TLS context from the system's trust store, each run."""
    from romana.client.tls import client_context

    took = []
    for _ in range(runs):
        began = time.perf_counter()
        client_context()
        took.append(time.perf_counter() - began)
    return took


def part(metric: str, seconds: float) -> common.Result:
    return common.Result(metric=metric, value=round(seconds * 1000, 1), unit="ms")


def ms(samples: list[float]) -> list[float]:
    return [round(s * 1000, 3) for s in samples]


def distributions(samples: dict[str, list[float]]) -> list[dict[str, object]]:
    """The commands beside the reference, and the parts' imports beside it, as distributions
    of the wall time of each run (ms)."""
    ref = samples[REFERENCE]
    commands = [name for name in samples if name.startswith("romana")]
    p50 = {name: statistics.median(samples[name]) * 1000 for name in (*commands, REFERENCE)}
    met = sum(p50[name] <= TARGET_MS for name in commands)
    figures = ", ".join(f"{name.removeprefix('romana ')} {p50[name]:.0f} ms" for name in commands)
    parts = {code.removeprefix("import "): samples[name] for name, code in PARTS.items()}
    largest = max(parts, key=lambda code: statistics.median(parts[code]))
    return [
        common.distribution(
            "How long does each romana command take, beside the interpreter starting and "
            "doing nothing?",
            f"p50 {figures}, beside {p50[REFERENCE]:.0f} ms for {REFERENCE}; the target is "
            f"{TARGET_MS:.0f} ms each, met by {met} of {len(commands)}.",
            "ms",
            {**{name: ms(samples[name]) for name in commands}, REFERENCE: ms(ref)},
        ),
        common.distribution(
            "What does a process take that imports one module alone?",
            f"Each box is a new process importing one module (its own cost is what exceeds "
            f"{REFERENCE}); the largest p50 is {largest}, "
            f"{statistics.median(parts[largest]) * 1000:.0f} ms.",
            "ms",
            {**{code: ms(took) for code, took in parts.items()}, REFERENCE: ms(ref)},
        ),
    ]


def run(runs: int) -> tuple[list[common.Result], list[dict[str, object]]]:
    compileall.compile_dir(os.path.dirname(romana.__file__), quiet=1)
    with tempfile.TemporaryDirectory(prefix="romana-bench-cli-") as tmp:
        work = Path(tmp)
        daemon = Romanad(work, store=f"sqlite://{work}/romana.db").start()
        try:
            address = prepare(daemon)
            env = environment(daemon.url, work / "config" / "config.toml")
            login(daemon, env)
            commands = {
                REFERENCE: [sys.executable, "-c", "pass"],
                "romana --help": [ROMANA, "--help"],
                "romana decode ADDRESS": [ROMANA, "decode", address],
                "romana tenant list": [ROMANA, "tenant", "list"],
                **{name: [sys.executable, "-c", code] for name, code in PARTS.items()},
            }
            samples: dict[str, list[float]] = {name: [] for name in commands}
            for i in range(WARM_UP + runs):
                for name, argv in commands.items():
                    took = timed(argv, env)
                    if i >= WARM_UP:
                        samples[name].append(took)
        finally:
            daemon.stop()
    ref = samples[REFERENCE]
    parts = [part(f"{name} (p50)", statistics.median(samples[name])) for name in PARTS]
    results = [
        compared(name, samples[name], ref, p)
        for name in commands
        if name.startswith("romana")
        for p in (50, 95)
    ]
    tls = statistics.median(trust_store(runs))
    return [
        *results,
        *parts,
        part("TLS context from the system trust store (p50)", tls),
    ], distributions(samples)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.cli", description=__doc__)
    parser.add_argument("--runs", type=int, default=40, help="runs of each command")
    args = parser.parse_args(argv)
    results, charts = run(args.runs)
    notes = (
        f"{args.runs} runs of each command, alternating with the reference, each a new "
        f"process; the reference is `python3 -c pass` with the interpreter romana runs on "
        f"({sys.executable}). decode and tenant list against one romanad on SQLite over "
        "loopback, logged in with a saved token; output to /dev/null."
    )
    return common.finish("cli", results, notes, distributions=charts)


if __name__ == "__main__":
    sys.exit(main())
