"""The HumanEval leak check finds a leaked solution and passes a clean corpus."""

from __future__ import annotations

from pathlib import Path

from lsp.eval.tasks import load_problems
from model.train.corpus import SourceFile
from model.train.decontaminate import check


def test_a_copied_solution_is_found_and_a_clean_corpus_passes() -> None:
    problem = load_problems()[0]
    clean = SourceFile(Path("a.py"), "a.py", "def area(w, h):\n    return w * h\n" * 20)
    copied = SourceFile(Path("b.py"), "b.py", "# vendored\n" + problem.prompt + problem.solution)
    assert check([clean])["leaked"] == []
    report = check([clean, copied])
    assert report["checked"] and problem.task_id in report["leaked"]  # (and a near-twin problem)
    assert problem.task_id in report["entry_point_defined"]
