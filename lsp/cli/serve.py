"""`fillgap serve`: run the language server on stdio."""

from __future__ import annotations

import argparse


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--log-level", default="WARNING")
    # stdio is the only transport; clients that name it (vscode-languageclient's TransportKind.stdio,
    # and most generic LSP clients) append --stdio, as pyright and gopls accept it.
    p.add_argument("--stdio", action="store_true", help="speak LSP on stdin/stdout (the default and only transport)")


def run(ns: argparse.Namespace) -> int:
    from lsp.server.app import main  # here, not at the top: `fillgap -h` need not load pygls

    main(ns.log_level)
    return 0
