"""The bench's 100 typing events (lsp/bench/e2e.py typing_replay) through `fillgap serve` under
typing-profile overrides sent as initializationOptions. Not product code.

    python results/typing-profile/bench_typing.py old,l8-16-r2"""

import asyncio
import json
import sys

from lsp.bench import e2e
from lsp.eval.client import running_server

SHORT = {"body": [32], "lines": [8, 16], "line": [8]}
VARIANTS = {
    "old": {"refine_rounds": 1, "budgets": {"body": [32], "lines": [32], "line": [8]}},
    "l8-16-r2": {"refine_rounds": 2, "budgets": SHORT},
    "l8-16-r2-res": {"refine_rounds": 2, "resample": True, "budgets": SHORT},
}


async def main(names: list[str]) -> None:
    sample = e2e.cases(e2e.FULL.typing + 2)
    for name in names:
        options = {"threads": 0, "snippets": "off", "worker": {"mode": "private"}, "typing": VARIANTS[name]}
        async with running_server(options) as client:
            typing, _ = await e2e.typing_replay(client, sample[1 : 1 + e2e.FULL.typing])
        print(name, json.dumps(typing), flush=True)


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1].split(",")))
