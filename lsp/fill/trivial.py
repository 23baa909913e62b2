"""Fills that leave a function doing nothing with what it is given: `return None`, `pass`, `...`,
a bare `return`, `raise NotImplementedError`, or a constant returned by a function that takes
parameters. Such a fill parses and may even pass a weak test, but ignores the function's
parameters and docstring, so it is not worth showing as ghost text while typing (lsp/fill/gate.py).

Judged on the function that holds the gap, after the fill, in the gap's region (lsp/fill/region.py):
its body, less trivia (docstrings, comments and placeholders: grammars/<lang>/trivia.scm), must be
empty or one such statement. A fill among other real statements is never trivial.

Per language, by tree-sitter node type: Python in full; JavaScript/TypeScript, Go and Rust by
their equivalents (`return null;` / `undefined`, `return nil`, `None` / `()`; their placeholders,
`throw new Error(...)`, `panic("...")`, `todo!()`, are trivia already). Another language: never trivial.
"""

from __future__ import annotations

from dataclasses import dataclass

import tree_sitter as ts

from lsp.fill.gaps import Gap
from lsp.fill.region import cached_region
from lsp.fill.syntax import LANGUAGES, ByteIndex, captured, grammar, parse


@dataclass(frozen=True)
class Shapes:
    """What a language's trees call the things the detector looks for."""

    functions: frozenset[str]  # function nodes; each has a `body` field
    returns: frozenset[str]  # return statements/expressions; the value, if any, is their first named child
    constants: frozenset[str]  # literal nodes
    containers: frozenset[str]  # constants when all they hold is: [], (1, 2), {"a": 0}
    nothing: frozenset[str]  # what "no value" is spelled as: None, null, undefined, nil
    raises: frozenset[str] = frozenset()  # Python: `raise NotImplementedError`
    self_names: frozenset[str] = frozenset()  # a first parameter that is not one the caller passes
    wrappers: frozenset[str] = frozenset({"expression_statement", "statement_list"})  # unwrapped: one child


_PYTHON = Shapes(
    functions=frozenset({"function_definition"}),
    returns=frozenset({"return_statement"}),
    constants=frozenset({"integer", "float", "string", "concatenated_string", "true", "false", "none"}),
    containers=frozenset({"list", "dictionary", "tuple", "set", "pair", "parenthesized_expression"}),
    nothing=frozenset({"none"}),
    raises=frozenset({"raise_statement"}),
    self_names=frozenset({"self", "cls"}),
)
_JS = Shapes(
    functions=frozenset(
        {
            "function_declaration",
            "function_expression",
            "function",
            "arrow_function",
            "method_definition",
            "generator_function_declaration",
            "generator_function",
        }
    ),
    returns=frozenset({"return_statement"}),
    constants=frozenset({"number", "string", "true", "false", "null", "undefined", "template_string"}),
    containers=frozenset({"array", "object", "pair", "parenthesized_expression"}),
    nothing=frozenset({"null", "undefined"}),
)
_GO = Shapes(
    functions=frozenset({"function_declaration", "method_declaration", "func_literal"}),
    returns=frozenset({"return_statement"}),
    constants=frozenset(
        {
            "int_literal",
            "float_literal",
            "interpreted_string_literal",
            "raw_string_literal",
            "rune_literal",
            "true",
            "false",
            "nil",
        }
    ),
    containers=frozenset({"expression_list"}),
    nothing=frozenset({"nil"}),
)
_RUST = Shapes(
    functions=frozenset({"function_item", "closure_expression"}),
    returns=frozenset({"return_expression"}),
    constants=frozenset(
        {
            "integer_literal",
            "float_literal",
            "string_literal",
            "raw_string_literal",
            "char_literal",
            "boolean_literal",
            "unit_expression",
        }
    ),
    containers=frozenset({"array_expression", "tuple_expression"}),
    nothing=frozenset({"unit_expression"}),
    self_names=frozenset({"self_parameter"}),
)
SHAPES: dict[str, Shapes] = {"python": _PYTHON, "javascript": _JS, "typescript": _JS, "go": _GO, "rust": _RUST}


_LISTS = frozenset({"expression_statement", "statement_list", "expression_list"})


def shapes_for(language_id: str) -> Shapes | None:
    spec = LANGUAGES.get(language_id)
    return None if spec is None else SHAPES.get(spec.folder)


def trivial_fill(language_id: str, document: str, gap: Gap, text: str, tree: ts.Tree | None = None) -> bool:
    """Whether putting `text` in the gap leaves the function holding it trivial (see the module
    doc). `tree` is the document's, when the caller keeps one (its region is found in it)."""
    shapes = shapes_for(language_id)
    if shapes is None:
        return False
    region = cached_region(language_id, document, gap.start, gap.end, tree)
    if region.start > 0:  # and the statement before: in the tree without the fill, a function whose
        # body holds only comments ends before them, so its header lies outside the gap's region
        region = cached_region(language_id, document, region.start - 1, gap.end, tree)
    at = gap.start - region.start
    after = region.text[:at] + text + region.text[gap.end - region.start :]
    index = ByteIndex(after)
    return trivial_at(language_id, parse(language_id, after), index.to_byte(at), index.to_byte(at + len(text)), shapes)


def trivial_source(language_id: str, source: str, start: int, end: int) -> bool:
    """`trivial_fill` for a finished text: is the function holding chars [start, end) trivial?"""
    shapes = shapes_for(language_id)
    if shapes is None:
        return False
    index = ByteIndex(source)
    return trivial_at(language_id, parse(language_id, source), index.to_byte(start), index.to_byte(end), shapes)


def trivial_at(language_id: str, tree: ts.Tree, start_byte: int, end_byte: int, shapes: Shapes) -> bool:
    function = _innermost_function(tree.root_node, start_byte, end_byte, shapes)
    if function is None:
        return False
    body = function.child_by_field_name("body")
    if body is None:
        return False
    if body.type not in ("block", "statement_block"):  # an arrow function's or closure's expression body
        return _trivial_statement(body, shapes, _takes_parameters(function, shapes))
    trivia = {n.id for n in captured(grammar(language_id).trivia, body, "trivia")}
    statements = [c for c in body.named_children if c.id not in trivia]
    while len(statements) == 1 and statements[0].type == "statement_list":  # Go nests a block's statements
        statements = [c for c in statements[0].named_children if c.id not in trivia]
    if not statements:
        return True  # nothing but docstrings, comments and placeholders
    return len(statements) == 1 and _trivial_statement(statements[0], shapes, _takes_parameters(function, shapes))


def _innermost_function(root: ts.Node, start: int, end: int, shapes: Shapes) -> ts.Node | None:
    """The deepest function node whose body holds bytes [start, end)."""
    found, node = None, root
    while True:
        inner = next((c for c in node.children if c.start_byte <= start and end <= c.end_byte), None)
        if inner is None:
            return found
        body = inner.child_by_field_name("body") if inner.type in shapes.functions else None
        if body is not None and body.start_byte <= start and end <= body.end_byte:
            found = inner
        node = inner


def _takes_parameters(function: ts.Node, shapes: Shapes) -> bool:
    """Whether the caller passes it anything (Python's `self` and `cls`, Rust's `self` do not count)."""
    params = function.child_by_field_name("parameters")
    if params is None:  # an arrow function of one bare parameter: `x => 0`
        return function.child_by_field_name("parameter") is not None
    named = [p for p in params.named_children if p.type not in ("comment", "line_comment", "block_comment")]
    if named and (named[0].type in shapes.self_names or _text(named[0]) in shapes.self_names):
        named = named[1:]
    return bool(named)


def _trivial_statement(node: ts.Node, shapes: Shapes, has_parameters: bool) -> bool:
    """`return`, `return None`, a raise of NotImplementedError, or (with parameters) a constant
    returned or left as the value."""
    while node.type in shapes.wrappers and node.named_child_count == 1:
        node = node.named_children[0]
    if node.type in shapes.raises:
        raised = node.named_children[0] if node.named_child_count else None
        if raised is not None and raised.type == "call":
            raised = raised.child_by_field_name("function")
        return raised is None or _text(raised) == "NotImplementedError"
    value: ts.Node | None = node
    if node.type in shapes.returns:
        value = node.named_children[0] if node.named_child_count else None
        while value is not None and value.type in _LISTS and value.named_child_count == 1:
            value = value.named_children[0]  # Go's `return nil` returns an expression_list
        if value is None or value.type in shapes.nothing or _text(value) in ("None", "undefined"):
            return True
    elif node.type in shapes.nothing or _text(node) == "None":
        return True
    return has_parameters and value is not None and _constant(value, shapes)


def _constant(node: ts.Node, shapes: Shapes) -> bool:
    if node.type in shapes.constants:
        return not any(c.type in ("interpolation", "template_substitution") for c in node.named_children)
    if node.type in shapes.containers:
        return all(_constant(c, shapes) for c in node.named_children)
    if node.type in ("unary_operator", "unary_expression"):  # -1
        return node.named_child_count == 1 and _constant(node.named_children[0], shapes)
    return False


def _text(node: ts.Node) -> str:
    return node.text.decode("utf-8", "replace") if node.text is not None else ""
