"""A fill through `fillgap serve` from a hub-shaped folder shows no special token.

A raw LSP client over stdio (tests/reliability/rpc.py) starts `fillgap serve` with only
{"model": <folder>, "worker": {"mode": "private"}} and small budgets, opens a document, and asks
for inline completions at several gaps. The folders' output heads are biased so that the filler
and the special ids win at some gap positions (test_hub_load.py shows they do), so an empty list
of leaks means they were dropped: no <|endoftext|>, <|im_end|>, <|dlm_pad|>, <|eot_id|>, <|mask|>,
<M>, <|expand|>, ... ever reaches the editor, while ordinary code does.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.model.hub.folders import HubFolder
from tests.reliability.rpc import RawServer

pytestmark = [pytest.mark.slow]  # each starts a server and a worker that loads a 152k-row head

DOC = (
    "import math\n\n\n"
    "def area(w, h):\n"
    "    total = w * h\n"
    "    \n"
    "    return total\n\n\n"
    "class Point:\n"
    "    def __init__(self, x, y):\n"
    "        self.x = x\n"
    "        \n"
)
CURSORS = [(5, 4), (12, 8), (4, 16)]  # (line, character): two blank lines in a body, one mid-line
# The budgets keep each fill to a few dozen passes of a tiny model; everything else is the family's.
OPTIONS = {"threads": 1, "budgets": {"body": [8, 16], "lines": [8], "line": [8]}}


@pytest.fixture()
def serve(tmp_path: Path) -> Iterator[Callable[[HubFolder], RawServer]]:
    started: list[RawServer] = []

    def start(folder: HubFolder) -> RawServer:
        server = RawServer(tmp_path / f"serve-{len(started)}.stderr")
        started.append(server)
        server.initialize({**OPTIONS, "model": str(folder.path), "worker": {"mode": "private"}})
        return server

    yield start
    for server in started:
        server.close()


def _texts(server: RawServer, uri: str) -> list[str]:
    out = []
    for line, character in CURSORS:
        for item in server.inline_items(uri, line, character, timeout=180):
            text = item.insert_text
            out.append(text if isinstance(text, str) else text.value)
    return out


@pytest.mark.parametrize(
    # slow Qwen2 files with <|dlm_pad|> filling; <M> named only by the tokenizer files; LLaDA's
    # <|eot_id|>; DreamOn's <|expand|>/<|delete|> (Dream-v0's layout is DiffuCoder's, test_hub_load.py)
    "name",
    ["DiffuCoder-7B-Instruct", "Open-dCoder-0.5B", "LLaDA-8B-Instruct", "DreamOn-v0-7B"],
)
def test_a_fill_through_serve_shows_no_special_token(
    hub: Callable[..., HubFolder], serve: Callable[[HubFolder], RawServer], name: str
) -> None:
    folder = hub(name)
    server = serve(folder)
    uri = f"file:///tmp/hub/{name}.py"
    server.open(uri, DOC)
    texts = _texts(server, uri)
    assert server.status()["worker"] == "ready", server.stderr_text()[-2000:]
    assert not [m for m in server.messages() if "unavailable" in m], server.messages()
    leaks = {(s, t) for t in texts for s in folder.special_strings() if s in t}
    assert not leaks, f"special tokens reached the editor: {sorted(leaks)[:5]}"
    assert any(t.strip() for t in texts), f"no fill had any text: {texts}"
