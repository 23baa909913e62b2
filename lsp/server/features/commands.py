"""workspace/executeCommand: fillgap.accepted (an inline item's command), fillgap.status, and
fillgap.fillBody / fillgap.fillAll (a code action's edit, computed and applied in one call)."""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from lsprotocol import types
from pygls.exceptions import JsonRpcInvalidParams

from lsp import __version__
from lsp.fill.actions import ActionData, body_on_line
from lsp.fill.syntax import LANGUAGES
from lsp.server.edits import edit_for
from lsp.server.positions import document_at, open_document
from lsp.server.state import FillgapServer
from lsp.server.suggest import gate_in_force
from lsp.worker.client import WorkerUnavailable

STATUS_TIMEOUT_S = 2.0  # the worker's own counters are worth this wait, no more


def register(server: FillgapServer) -> None:
    server.command("fillgap.accepted")(accepted_command)
    server.command("fillgap.status")(status_command)
    server.command("fillgap.fillBody")(fill_body_command)
    server.command("fillgap.fillAll")(fill_all_command)


def accepted_command(ls: FillgapServer, *args: Any) -> None:
    """An inline item was accepted (its `command`): counted for fillgap.status, never sent anywhere."""
    if args and isinstance(args[0], str):
        ls.cache.accepted(args[0])


async def status_command(ls: FillgapServer, *args: Any) -> dict[str, object]:
    result = status(ls)
    if ls.worker is not None and ls.worker.running:  # the worker's own counters; never starts one
        try:
            result["worker_status"] = asdict(await ls.worker.status(timeout=STATUS_TIMEOUT_S))
        except (WorkerUnavailable, TimeoutError) as exc:
            result["worker_status"] = {"error": str(exc)}
    return result


async def fill_body_command(ls: FillgapServer, *args: Any) -> dict[str, object]:
    """fillgap.fillBody(uri, line): fill the placeholder body on that line and apply the edit."""
    if len(args) != 2 or not isinstance(args[0], str) or not isinstance(args[1], int):
        raise JsonRpcInvalidParams("fillgap.fillBody takes (uri, line)")
    line_start = types.Position(line=args[1], character=0)
    doc = document_at(ls.workspace, args[0], line_start)
    text, language = doc.source, doc.language_id or ""
    gap = body_on_line(language, text, doc.offset_at_position(line_start), ls.trees.tree(doc.uri, language, text))
    if gap is None:
        return {"applied": False, "reason": "no placeholder body on that line"}
    return await apply_action(ls, ActionData(doc.uri, doc.version or 0, "body", gap.start, gap.end))


async def fill_all_command(ls: FillgapServer, *args: Any) -> dict[str, object]:
    """fillgap.fillAll(uri): fill every placeholder body of the document and apply the edit."""
    if len(args) != 1 or not isinstance(args[0], str):
        raise JsonRpcInvalidParams("fillgap.fillAll takes (uri)")
    doc = open_document(ls.workspace, args[0])
    return await apply_action(ls, ActionData(doc.uri, doc.version or 0, "all", 0, len(doc.source)))


async def apply_action(ls: FillgapServer, data: ActionData) -> dict[str, object]:
    edit = await edit_for(ls, data)
    if edit is None:
        return {"applied": False, "reason": "the model offered nothing that parses"}
    result = await ls.workspace_apply_edit_async(types.ApplyWorkspaceEditParams(edit=edit, label="fillgap"))
    return {"applied": result.applied, "reason": result.failure_reason}


def status(ls: FillgapServer) -> dict[str, object]:
    """What fillgap.status answers without asking the worker."""
    worker = ls.worker
    ready = worker.ready if worker is not None else None
    return {
        "version": __version__,
        "worker": "ready" if ready is not None else "not started",
        "model": ready.model if ready else ls.settings.model,
        "device": ready.device if ready else ls.settings.device,
        "backend": getattr(ready, "backend", None),
        "languages": sorted(lang for lang in LANGUAGES if ls.settings.fills(lang)),
        "documents": len(ls.workspace.text_documents),
        "suggestions": dict(ls.cache.counts),
        "sampler": ls.settings.sampler.set_fields(),  # what the user set; the worker's family fills in the rest
        "typing_gate": gate_in_force(ls),  # the as-you-type gate in force (the user's, else the model's)
        "model_gate": ready.typing_gate if ready else None,  # the one calibrated for the model (0: none)
        "parses": {"full": ls.trees.full_parses, "incremental": ls.trees.incremental_parses},
    }
