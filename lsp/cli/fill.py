"""`fillgap fill FILE`: fill every placeholder body of a file and print the change as a unified diff.

The file itself is never written. All gaps are filled in one request (as the server's "Fill all
gaps" action does), through the same worker and checks the language server uses.
"""

from __future__ import annotations

import argparse
import asyncio
import difflib
import sys
from dataclasses import dataclass
from pathlib import Path

from lsp.cli.worker_flags import add_fill_arguments, private_worker, sampler
from lsp.fill.gaps import placeholder_gaps
from lsp.fill.pipeline import Suggestion, fill_jointly
from lsp.fill.syntax import EXTENSIONS, error_nodes, parse
from lsp.worker.client import WorkerClient
from model.wire.protocol import SamplerSettings


@dataclass
class FileFill:
    path: Path
    before: str
    after: str
    gaps: int
    filled: list[Suggestion]

    @property
    def parses(self) -> bool:
        return not error_nodes(parse(language_of(self.path), self.after), language_of(self.path))

    def diff(self) -> str:
        name = str(self.path)
        return "".join(
            difflib.unified_diff(self.before.splitlines(True), self.after.splitlines(True), f"a/{name}", f"b/{name}")
        )


def language_of(path: Path) -> str:
    try:
        return EXTENSIONS[path.suffix]
    except KeyError:
        raise SystemExit(f"fillgap fill: no grammar for {path.suffix!r} files ({path})") from None


async def fill_file(worker: WorkerClient, path: Path, sampler: SamplerSettings) -> FileFill:
    language = language_of(path)
    text = path.read_text(encoding="utf-8")
    gaps = placeholder_gaps(language, text)
    filled, after = await fill_jointly(worker, language, text, gaps, sampler)
    return FileFill(path, text, after, len(gaps), filled)


async def fill_files(paths: list[Path], worker: WorkerClient, settings: SamplerSettings) -> int:
    try:
        for path in paths:
            result = await fill_file(worker, path, settings)
            sys.stdout.write(result.diff())
            print(
                f"{path}: {len(result.filled)} of {result.gaps} placeholder bodies filled; "
                f"result {'parses' if result.parses else 'DOES NOT PARSE'}",
                file=sys.stderr,
            )
    finally:
        await worker.close()
    return 0


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("files", nargs="+", type=Path)
    add_fill_arguments(p)


def run(ns: argparse.Namespace) -> int:
    return asyncio.run(fill_files(ns.files, private_worker(ns), sampler(ns)))
