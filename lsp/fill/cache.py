"""Suggestions remembered per document, so the model is asked once per gap.

- Re-asking at the same place in the same text is answered from the cache.
- Typing that matches the suggestion shown (the user writes its first characters instead of
  accepting) is answered with the rest of it, as Copilot and llama.vscode do.
Keys are the text itself (hashed), not the version: Neovim sends no version with its requests.
"""

from __future__ import annotations

import hashlib
from collections import Counter, OrderedDict
from dataclasses import dataclass, replace

from lsp.fill.gaps import Gap
from lsp.fill.pipeline import Suggestion

_last: tuple[str, str] = ("", "")  # the last text digested, and its digest: a request asks twice


def _digest(text: str) -> str:
    global _last
    if _last[0] is not text:
        _last = (text, hashlib.blake2b(text.encode("utf-8", "surrogatepass"), digest_size=16).hexdigest())
    return _last[1]


@dataclass(frozen=True)
class Shown:
    text: str  # the document when the suggestion was made
    suggestion: Suggestion


class SuggestionCache:
    def __init__(self, size: int = 256) -> None:
        self.size = size
        self._exact: OrderedDict[tuple[str, str, int, int], Suggestion | None] = OrderedDict()
        self._shown: dict[str, Shown] = {}
        self.counts: Counter[str] = Counter()  # hits, typed_through, misses, accepted, dismissed, gated

    def typed_through(self, uri: str, text: str, offset: int) -> Suggestion | None:
        """The rest of the suggestion shown, if the user typed its beginning at the cursor."""
        rest = self._typed_through(uri, text, offset)
        if rest is not None:
            self.counts["typed_through"] += 1
        return rest

    def get(self, uri: str, text: str, gap: Gap) -> tuple[bool, Suggestion | None]:
        """(found, suggestion) for this gap of this text; found with None: the model had nothing."""
        key = (uri, _digest(text), gap.start, gap.end)
        if key in self._exact:
            self._exact.move_to_end(key)
            self.counts["hits"] += 1
            return True, self._exact[key]
        self.counts["misses"] += 1
        return False, None

    def put(self, uri: str, text: str, gap: Gap, suggestion: Suggestion | None) -> None:
        key = (uri, _digest(text), gap.start, gap.end)
        self._exact[key] = suggestion
        self._exact.move_to_end(key)
        while len(self._exact) > self.size:
            self._exact.popitem(last=False)

    def shown(self, uri: str, text: str, suggestion: Suggestion) -> None:
        """The suggestion was offered; a different one offered before it counts as dismissed."""
        previous = self._shown.get(uri)
        if previous is not None and previous.suggestion.text != suggestion.text:
            self.counts["dismissed"] += 1
        self._shown[uri] = Shown(text, suggestion)

    def accepted(self, uri: str) -> None:
        self.counts["accepted"] += 1
        self._shown.pop(uri, None)

    def clear(self) -> None:
        """Drop every suggestion (new settings write other ones); the counts stay."""
        self._exact.clear()
        self._shown.clear()

    def forget(self, uri: str) -> None:
        self._shown.pop(uri, None)
        for key in [k for k in self._exact if k[0] == uri]:
            del self._exact[key]

    def _typed_through(self, uri: str, text: str, offset: int) -> Suggestion | None:
        shown = self._shown.get(uri)
        if shown is None:
            return None
        s = shown.suggestion
        typed = offset - s.gap.start
        if not 0 < typed < len(s.text) or not s.text.startswith(text[s.gap.start : offset]):
            return None
        if text != shown.text[: s.gap.start] + s.text[:typed] + shown.text[s.gap.start :]:
            return None
        gap = replace(s.gap, start=offset, end=s.gap.end + typed)
        return Suggestion(gap, s.text[typed:], s.confidence)
