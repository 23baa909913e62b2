"""`fillgap bench-lsp`: how much later than a bare pygls server `fillgap serve` answers `initialize`.

Both servers are started the same number of times, alternately, in one run, so the machine's
noise falls on both; the medians and their difference are printed (target: within 0.2 s).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
import time

from lsprotocol import types
from pygls.lsp.client import LanguageClient

BARE_SERVER = "from pygls.lsp.server import LanguageServer; LanguageServer('bare', '0').start_io()"


async def time_initialize(command: list[str]) -> float:
    """Seconds from spawning the server to its answer to `initialize`."""
    client = LanguageClient("fillgap-bench", "0")
    start = time.perf_counter()
    await client.start_io(*command)
    await client.initialize_async(types.InitializeParams(capabilities=types.ClientCapabilities()))
    elapsed = time.perf_counter() - start
    await client.shutdown_async(None)
    client.exit(None)
    await client.stop()
    return elapsed


async def measure(repeats: int) -> dict[str, float]:
    bare_cmd = [sys.executable, "-c", BARE_SERVER]
    ours_cmd = [sys.executable, "-m", "lsp.cli", "serve"]
    bare, ours = [], []
    for _ in range(repeats):
        bare.append(await time_initialize(bare_cmd))
        ours.append(await time_initialize(ours_cmd))
    b, o = statistics.median(bare), statistics.median(ours)
    return {"repeats": repeats, "bare_pygls_s": round(b, 3), "fillgap_s": round(o, 3), "difference_s": round(o - b, 3)}


def main(argv: list[str]) -> int:
    p = argparse.ArgumentParser(prog="fillgap bench-lsp", description=__doc__.splitlines()[0])
    p.add_argument("--repeats", type=int, default=7)
    ns = p.parse_args(argv)
    print(json.dumps(asyncio.run(measure(ns.repeats))))
    return 0
