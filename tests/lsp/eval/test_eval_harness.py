"""The HumanEval harness is honest: tasks rebuild their problem, the true code passes, nothing fails,
and filled programs cannot hang, flood memory, touch the network or write outside their folder."""

from __future__ import annotations

import asyncio

import pytest

from lsp.eval.harness import Judge, presets, run_config, summarize
from lsp.eval.sandbox import run_program
from lsp.eval.tasks import KINDS, all_tasks, load_problems, sample

PROBLEMS = load_problems()


def test_task_counts_match_humaneval_infilling() -> None:
    assert len(PROBLEMS) == 164
    assert len(all_tasks(PROBLEMS, "single")) == 1033  # the paper's single-line count
    assert len(all_tasks(PROBLEMS, "body")) == 164
    assert len(all_tasks(PROBLEMS, "multi")) > 4000


@pytest.mark.parametrize("kind", KINDS)
def test_each_task_put_back_is_its_problem(kind: str) -> None:
    for task in all_tasks(PROBLEMS, kind):
        assert task.filled(task.truth).rstrip() == task.problem.source.rstrip(), task.id
        assert task.truth.strip(), task.id
        line_end = task.document.find("\n", task.cursor)
        rest_of_line = task.document[task.cursor : line_end if line_end >= 0 else None]
        assert rest_of_line == ("pass" if kind == "body" else ""), task.id
        assert not task.document[task.document.rfind("\n", 0, task.cursor) + 1 : task.cursor].strip(), task.id


@pytest.mark.slow  # runs real programs / a training run / a benchmark child
def test_canonical_fills_all_pass_and_empty_bodies_all_fail() -> None:
    judge = Judge()
    tasks = [t for kind in KINDS for t in all_tasks(PROBLEMS, kind)]
    canonical = asyncio.run(run_config(presets()["canonical"], tasks, judge))
    assert summarize(canonical)["pass@1"] == 1.0
    assert all(r.exact and r.parses and r.raw_parses for r in canonical)
    bodies = all_tasks(PROBLEMS, "body")
    empty = asyncio.run(run_config(presets()["empty"], bodies, judge))
    assert summarize(empty)["pass@1"] == 0.0
    assert not any(r.offered or r.raw_parses for r in empty)


def test_sample_is_seeded_and_bounded() -> None:
    tasks = all_tasks(PROBLEMS, "single")
    assert sample(tasks, 50, 0) == sample(tasks, 50, 0)
    assert sample(tasks, 50, 0) != sample(tasks, 50, 1)
    assert len(sample(tasks, 50, 0)) == 50 and sample(tasks, 0, 0) == tasks


def test_a_hanging_program_is_stopped() -> None:
    verdict = run_program("while True:\n    pass\n", timeout=1.0)
    assert verdict.status == "timeout" and not verdict.passed


def test_a_program_cannot_reach_the_network() -> None:
    source = "import socket\nsocket.create_connection(('127.0.0.1', 9), timeout=1)\n"
    verdict = run_program(source)
    assert not verdict.passed and "network" in verdict.detail


def test_a_program_cannot_take_all_memory() -> None:
    verdict = run_program("x = bytearray(8 << 30)\n")
    assert not verdict.passed and "MemoryError" in verdict.detail


def test_each_program_gets_a_fresh_throwaway_folder() -> None:
    assert run_program("open('left.txt', 'w').write('x')\n").passed
    verdict = run_program("import os\nassert not os.path.exists('left.txt'), os.getcwd()\n")
    assert verdict.passed, verdict.detail
