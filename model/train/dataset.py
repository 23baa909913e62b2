"""Which files a training run reads, and the record of them kept in its checkpoint's config.

The --data folders, each with its own byte cap (--caps) or one for all (--cap-mb), the suffixes
asked for, and installed packages only when --site-packages says so (model.train.corpus filters
them by licence). The record says where the data came from, how much each split holds, which
licences it carries and whether HumanEval leaked in.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Any

from model.train import licenses
from model.train.corpus import SourceFile, collect_all, stdlib_dir
from model.train.decontaminate import check as humaneval_leaks
from model.train.objective import TokenStream
from model.train.options import TrainOptions


def run_files(opts: TrainOptions) -> list[SourceFile]:
    """Every file of the run's folders, deduplicated across them, each folder capped."""
    return collect_all(roots_of(opts), installed=opts.site_packages, suffixes=_suffixes(opts), cap_bytes=_caps(opts))


def roots_of(opts: TrainOptions) -> list[Path]:
    return [Path(d) for d in opts.data]


def _caps(opts: TrainOptions) -> int | list[int]:
    """Bytes per --data folder: --caps names one per folder, else --cap-mb holds for all."""
    if opts.caps:
        return [int(float(mb) * 1e6) for mb in opts.caps.split(",")]
    return int(opts.cap_mb * 1e6)


def _suffixes(opts: TrainOptions) -> tuple[str, ...]:
    return tuple(opts.suffixes.split(","))


def corpus_record(
    opts: TrainOptions,
    train_files: list[SourceFile],
    functions: list[SourceFile],
    held_files: list[SourceFile],
    train_stream: TokenStream,
    held_stream: TokenStream,
) -> dict[str, Any]:
    """Where the data came from, how much each split holds, and whether HumanEval leaked in;
    `functions` are the documents model.train.functions cut from `train_files`, counted apart."""
    roots = roots_of(opts)
    return {
        "roots": [str(r) for r in roots],
        "site_packages": bool(opts.site_packages),
        "suffixes": list(_suffixes(opts)),
        "cap_mb_per_root": [float(mb) for mb in opts.caps.split(",")] if opts.caps else opts.cap_mb,
        "init": opts.init,
        "files_by_suffix": dict(Counter(Path(f.rel).suffix for f in train_files)),
        "functions": {
            "repeat": opts.functions,
            "documents": len(functions),
            "bytes": sum(len(f.text.encode()) for f in functions),
        },
        "files_train": len(train_files),
        "files_held_out": len(held_files),
        "tokens_train": int(len(train_stream.ids)),
        "tokens_held_out": int(len(held_stream.ids)),
        "bytes_train": sum(len(f.text.encode()) for f in train_files),
        "license": "PSF-2.0 (CPython standard library)" if roots == [stdlib_dir()] else "see the model card",
        "humaneval_leak_check": humaneval_leaks(train_files),
        "licenses": licenses.summary(train_files),
    }
