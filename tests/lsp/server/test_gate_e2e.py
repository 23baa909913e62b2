"""The as-you-type gate through `fillgap serve` and the real worker: a typed request whose fill the
model rates under the gate shows no ghost text, and asking for it (an invoked request) shows it."""

from __future__ import annotations

import pytest
from lsprotocol import types

from lsp.eval.client import close_doc, open_doc, running_server
from lsp.fill.gate import SCORE
from tests.lsp.server.test_inline import BLANKS, URI, _inline, _status

pytestmark = [pytest.mark.slow]

GATE = 0.999  # nearly every fill of the shipped model scores under this: it is "unlikely" here


async def test_a_typed_request_hides_an_unlikely_fill_that_an_invoked_one_shows() -> None:
    async with running_server({"typing": {"gate": GATE}, "debounce_ms": 0}) as client:
        for text, line, col in BLANKS:
            open_doc(client, URI, text)
            typed = await _inline(client, line, col, automatic=True)
            asked = await _inline(client, line, col)  # the typed request's fill, from the cache
            close_doc(client, URI)
            if asked:
                break
        else:
            raise AssertionError("the model offered nothing for any blank body line")
        (item,) = asked
        assert isinstance(item.command, types.Command) and item.command.arguments is not None
        uri, scores, facts = item.command.arguments
        assert facts["how"] in ("whole", "repaired", "cut")  # typed: no resampling
        assert uri == URI and 0 <= scores[SCORE] < GATE
        assert typed == []
        status = await _status(client)
        assert status["suggestions"]["gated"] >= 1 and status["suggestions"]["hits"] >= 1
