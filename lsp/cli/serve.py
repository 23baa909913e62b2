"""`fillgap serve`: run the language server on stdio."""

from __future__ import annotations

import argparse


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--log-level", default="WARNING")


def run(ns: argparse.Namespace) -> int:
    from lsp.server.app import main  # here, not at the top: `fillgap -h` need not load pygls

    main(ns.log_level)
    return 0
