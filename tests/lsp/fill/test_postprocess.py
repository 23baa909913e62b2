from __future__ import annotations

from lsp.fill.gaps import BODY_BUDGETS, LINE_BUDGETS, Gap
from lsp.fill.postprocess import clean, error_ranges, longest_parsing_prefix, parses

DOC = 'def area(w, h):\n    """Area."""\n    pass\n\n\ndef other():\n    return 1\n'
BODY = Gap("body", DOC.index("pass"), DOC.index("pass") + 4, "    ", BODY_BUDGETS)


def test_body_stops_at_dedent_and_trailing_space_goes() -> None:
    raw = "x = w * h   \n    return x\ndef stray():\n    pass"
    assert clean(raw, BODY, DOC[BODY.end :]) == "x = w * h\n    return x"


def test_echo_of_the_suffix_is_cut() -> None:
    doc = "def f():\n    pass\n    y = 2\n"
    gap = Gap("body", doc.index("pass"), doc.index("pass") + 4, "    ", BODY_BUDGETS)
    assert clean("x = 1\n    y = 2", gap, doc[gap.end :]) == "x = 1"


def test_what_follows_a_return_in_the_same_block_is_cut() -> None:
    suffix = DOC[BODY.end :]
    assert clean("return None\n    return None", BODY, suffix) == "return None"
    assert (
        clean("if w:\n        return w\n    return h\n    x = 1", BODY, suffix)
        == "if w:\n        return w\n    return h"
    )
    assert (
        clean("raise ValueError(\n        w\n    )\n    y = 2", BODY, suffix) == "raise ValueError(\n        w\n    )"
    )
    assert clean("returned = w\n    return returned", BODY, suffix) == "returned = w\n    return returned"
    js = Gap("body", 0, 0, "  ", BODY_BUDGETS)
    assert clean("return {\n    a: 1,\n  };\n  const b = 2;", js, "\n}\n") == "return {\n    a: 1,\n  };"
    assert clean("throw new Error(w);\n  w += 1;", js, "\n}\n") == "throw new Error(w);"


def test_single_line_gap_keeps_one_line() -> None:
    doc = "total = \n"
    gap = Gap("line", 8, 8, "", LINE_BUDGETS)
    assert clean("a + b\nprint(total)", gap, doc[8:]) == "a + b"


def test_the_longest_parsing_run_of_lines_is_kept() -> None:
    raw = "x = w * h\n    return x +"
    assert longest_parsing_prefix("python", DOC, BODY, raw) == "x = w * h"
    assert longest_parsing_prefix("python", DOC, BODY, "return (") == ""


def test_the_rest_of_a_line_is_cut_to_its_longest_parsing_words() -> None:
    doc = 'def area(w, h):\n    """Area."""\n    return w\n'
    at = doc.index("return w") + len("return w")
    gap = Gap("line", at, at, "    ", LINE_BUDGETS)
    assert longest_parsing_prefix("python", doc, gap, ", h)") == ", h"
    assert longest_parsing_prefix("python", doc, gap, " * h") == " * h"
    assert longest_parsing_prefix("python", doc, gap, ")))") == ""
    assert longest_parsing_prefix("python", DOC, BODY, "return (w") == ""  # a body: whole lines only


def test_error_ranges_point_into_the_insertion() -> None:
    text = "x = w * h\n    return x +"
    ranges = error_ranges("python", DOC, BODY, text)
    assert ranges and all(0 <= a < b <= len(text) for a, b in ranges)
    assert any(a <= text.index("+") < b for a, b in ranges)
    assert error_ranges("python", DOC, BODY, "return w * h") == []


def test_a_body_of_only_docstrings_and_comments_adds_no_code() -> None:
    from lsp.fill.postprocess import parses

    assert not parses("python", DOC, BODY, '"""Return the area."""')
    assert not parses("python", DOC, BODY, "# TODO\n    pass")
    assert parses("python", DOC, BODY, '"""More words."""\n    return w * h')
    tail = "class K:\n    def f(self):\n        pass\n"
    last = Gap("body", tail.index("pass"), tail.index("pass") + 4, "        ", BODY_BUDGETS)
    assert not parses("python", tail, last, '"""Only a docstring."""')


def test_python_fills_must_also_pass_cpythons_parser() -> None:
    from lsp.fill.postprocess import parses

    # tree-sitter alone accepts both of these
    assert not parses("python", DOC, BODY, '"""doc"""Send')
    assert not parses("python", DOC, BODY, "def inner():")
    assert parses("python", DOC, BODY, "return w * h")


def test_in_a_document_cpython_rejects_the_insertion_may_not_cause_the_error() -> None:
    # The gap is the only line of an `if` block, so the document does not compile before the fill.
    doc = "def f(x):\n    if x:\n        \n    return 0\n"
    at = doc.index("        \n") + 8
    gap = Gap("lines", at, at, "        ", LINE_BUDGETS)
    assert parses("python", doc, gap, "x += 1")
    assert not parses("python", doc, gap, "x += 1\n  y = 2")  # a dedent CPython rejects, tree-sitter may not
    broken_above = "def g(:\n    pass\n\n" + doc
    shifted = Gap("lines", at + 18, at + 18, "        ", LINE_BUDGETS)  # the same place, 18 characters down
    assert parses("python", broken_above, shifted, "x += 1")
    # One character further is the start of `    return 0`: CPython's first error, above, no longer
    # hides what the insertion does there (it is checked in its own region now).
    past = Gap("lines", at + 19, at + 19, "        ", LINE_BUDGETS)
    assert not parses("python", broken_above, past, "x += 1")


def test_whole_file_check_prefers_an_insertion_that_mends_the_document() -> None:
    doc = "def f(x):\n    y = 0\n    \n        return x\n"  # the blanked line opened the block below it
    at = doc.index("    \n") + 4
    gap = Gap("lines", at, at, "    ", LINE_BUDGETS)
    assert parses("python", doc, gap, "y = 1")  # leaves the old error where it was: allowed
    assert not parses("python", doc, gap, "y = 1", whole_file=True)
    assert parses("python", doc, gap, "if x:", whole_file=True)
