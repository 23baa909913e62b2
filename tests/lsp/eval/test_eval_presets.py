"""`fillgap eval --configs instruction,inpainting`: each preset reaches the worker as one set field."""

from __future__ import annotations

from lsp.eval.command import _configs
from lsp.eval.harness import WorkerChoice, _server_options
from lsp.fill.settings import from_options
from model.wire.protocol import FillRequest, from_wire, to_wire


def test_the_infill_presets_travel_from_eval_to_the_wire_as_one_set_field() -> None:
    for config in _configs("instruction,inpainting"):
        settings = from_options(_server_options(config, WorkerChoice()))  # what the server makes of them
        request = from_wire(to_wire(FillRequest(id=1, prefix="x = ", suffix="\n", sampler=settings.sampler)))
        assert request.sampler.set_fields() == {"infill": config.name}  # the rest stays the checkpoint's
