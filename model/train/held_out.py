"""Held-out loss by language for several checkpoints on one run's data: `python -m model.train.held_out`.

Takes the same data flags as `fillgap train` (the folders, caps, suffixes), keeps only the
held-out split, and scores each checkpoint on fixed batches of each language's held-out files with
the training objective, so the rows of a model card compare like with like. A checkpoint with
fewer layers than the run's model is scored as it is: growing it (model.train.grow) would not
change its logits.
"""

from __future__ import annotations

import argparse
import json
from collections import defaultdict
from dataclasses import replace
from pathlib import Path

from model.checkpoint import load_checkpoint
from model.train.cli import parser as train_parser
from model.train.corpus import SourceFile, split
from model.train.dataset import run_files
from model.train.loop import held_out_loss
from model.train.objective import TokenStream, TrainConfig
from model.train.options import TrainOptions


def held_out_by_suffix(opts: TrainOptions) -> dict[str, list[SourceFile]]:
    _, held = split(run_files(opts))
    by: dict[str, list[SourceFile]] = defaultdict(list)
    for f in held:
        by[Path(f.rel).suffix.replace(".mjs", ".js")].append(f)
    return dict(sorted(by.items()))


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(prog="python -m model.train.held_out", description=__doc__.splitlines()[0])
    p.add_argument("--models", nargs="+", required=True, help="checkpoint folders to score")
    p.add_argument("--batches", type=int, default=16)
    p.add_argument("--json", help="write the table here")
    ns, rest = p.parse_known_args(argv)
    opts = TrainOptions(**vars(train_parser().parse_args(["--out", "-", *rest])))
    cfg = replace(TrainConfig(), seq_len=opts.seq_len, batch_size=opts.batch_size, span_fraction=opts.span_fraction)
    groups = held_out_by_suffix(opts)
    table: dict[str, dict[str, dict]] = {}
    for folder in ns.models:
        model, tok, _ = load_checkpoint(Path(folder))
        table[folder] = {}
        for suffix, files in groups.items():
            stream = TokenStream(files, tok)
            table[folder][suffix] = held_out_loss(model, stream, cfg, tok.specials, ns.batches)
            print(json.dumps({"model": folder, "language": suffix, **table[folder][suffix]}), flush=True)
    if ns.json:
        Path(ns.json).write_text(json.dumps({"files": {s: len(f) for s, f in groups.items()}, "loss": table}, indent=1))


if __name__ == "__main__":
    main()
