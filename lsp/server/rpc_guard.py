"""JSON-RPC hygiene pygls leaves out: every request that carries an id gets an answer.

pygls structures each message while `json.loads` decodes it; a request whose params do not fit
the method's types (a negative line, a string for a number, no params at all), one without
`"jsonrpc": "2.0"`, or one sent after `shutdown` is logged and dropped, and the editor waits
forever on that id. Here a message is decoded as plain JSON first and structured as a whole: what
does not fit is answered with InvalidParams/InvalidRequest for its id (a null id when the id
itself is unusable) and the server reads on. What is logged names the method and the fault,
never the params (they hold the user's code).

The frames themselves go through `FramedStdin`: pygls reads a header line, takes a Content-Length
only from a line that is exactly that header, and reads that many bytes into memory at once. So
one truncated frame glued the next header to its leftovers and every later message was lost
(the leftovers of each body swallowing the next header), and `Content-Length: 99999999999999`
ended the server with a MemoryError. `FramedStdin` finds a Content-Length header at the end of a
line of junk (so the stream is back in step at the next frame), drops a frame over MAX_BODY at
its header, and reads header lines of bounded length.

Text with lone surrogates (valid JSON, invalid Unicode) is made valid on arrival (`valid_unicode`).
"""

from __future__ import annotations

import logging
import re
from typing import Any, BinaryIO

import cattrs
from lsprotocol.types import EXIT, ResponseErrorMessage
from pygls.exceptions import JsonRpcException, JsonRpcInternalError, JsonRpcInvalidParams, JsonRpcInvalidRequest
from pygls.protocol import LanguageServerProtocol
from pygls.protocol.json_rpc import JsonRPCNotification, JsonRPCRequestMessage, JsonRPCResponseMessage

log = logging.getLogger("fillgap.rpc")

MAX_BODY = 256 * 1024 * 1024  # a frame's body; a 10 MB document with every character escaped fits
MAX_LINE = 1024 * 1024  # a header line is read in pieces of at most this
_HEADER = re.compile(rb"Content-Length: *(\d+)\r?\n$", re.IGNORECASE)
_DROPPED = b"X-Fillgap-Dropped: frame\r\n"  # what pygls sees instead of a header it must not act on


class FramedStdin:
    """The server's stdin as pygls reads it (readline, read), with the stream kept in step."""

    def __init__(self, raw: BinaryIO) -> None:
        self.raw = raw

    def readline(self) -> bytes:
        line = self.raw.readline(MAX_LINE)
        found = _HEADER.search(line)
        if found is None:
            return line
        if found.start() > 0:
            log.warning("skipped %d bytes of junk before a frame header", found.start())
        length = int(found.group(1))
        if length > MAX_BODY:
            log.warning("dropped a frame of %d bytes (the limit is %d)", length, MAX_BODY)
            return _DROPPED
        return b"Content-Length: %d\r\n" % length

    def read(self, n: int) -> bytes:
        return self.raw.read(n)


_SURROGATE = re.compile("[\ud800-\udfff]")


def valid_unicode(value: Any) -> Any:
    """`value` with each lone surrogate (a JSON escape like \\ud800 decodes to one) made U+FFFD.

    Such text cannot be encoded (tree-sitter, the worker, UTF-16 columns all failed on it); the
    replacement is one code point for one, one UTF-16 unit for one, three UTF-8 bytes for three, so
    every position the client sends still means the same place."""
    if isinstance(value, str):
        return _SURROGATE.sub("\ufffd", value) if _SURROGATE.search(value) else value
    if isinstance(value, list):
        return [valid_unicode(v) for v in value]
    if isinstance(value, dict):
        return {valid_unicode(k): valid_unicode(v) for k, v in value.items()}
    return value


def _usable_id(msg_id: object) -> bool:
    return isinstance(msg_id, int | str) and not isinstance(msg_id, bool)


class GuardedProtocol(LanguageServerProtocol):
    def structure_message(self, data: dict[str, Any]) -> Any:
        """`json.loads`'s object hook: every object stays a dict; `handle_message` structures the whole."""
        return data

    def _structure(self, data: dict[str, Any]) -> Any:
        """pygls's structuring of one whole message; raises JsonRpcException, logging no params."""
        try:
            if "id" in data:
                if "error" in data:
                    return self._converter.structure(data, ResponseErrorMessage)
                if "method" in data:
                    kind = self.get_message_type(data["method"]) or JsonRPCRequestMessage
                    return self._converter.structure(data, kind)
                kind = self._result_types.pop(data["id"], None) or JsonRPCResponseMessage
                return self._converter.structure(data, kind)
            kind = self.get_message_type(data.get("method", "")) or JsonRPCNotification
            return self._converter.structure(data, kind)
        except cattrs.BaseValidationError as exc:
            raise JsonRpcInvalidParams("; ".join(cattrs.transform_error(exc))) from exc
        except (TypeError, ValueError, KeyError, AttributeError) as exc:
            raise JsonRpcInvalidRequest(f"malformed message: {type(exc).__name__}") from exc

    def _refuse(self, data: object, error: JsonRpcException) -> None:
        method = data.get("method") if isinstance(data, dict) else None
        msg_id = data.get("id") if isinstance(data, dict) else None
        log.warning(
            "refused %s %s: %s", method if isinstance(method, str) else "a message", _describe(msg_id), error.message
        )
        if getattr(getattr(self._server, "settings", None), "log_documents", False):  # the user asked for it
            log.warning("the refused message: %r", data)
        if isinstance(data, dict) and "method" in data and "id" in data:  # a request: it waits for an answer
            self._send_response(msg_id if _usable_id(msg_id) else None, error=error.to_response_error())  # type: ignore[arg-type]

    def handle_message(self, message: Any) -> None:
        if not isinstance(message, dict) or message.get("jsonrpc") != self.VERSION:
            self._refuse(message, JsonRpcInvalidRequest('not a JSON-RPC 2.0 message (need "jsonrpc": "2.0")'))
            return
        if "method" in message and "id" in message and not _usable_id(message["id"]):
            self._refuse(message, JsonRpcInvalidRequest("a request id must be an integer or a string"))
            return
        try:
            structured = self._structure(valid_unicode(message))
        except JsonRpcException as exc:
            self._refuse(message, exc)
            return
        except Exception as exc:  # a converter fault is the server's, but still answered
            self._refuse(message, JsonRpcInternalError(f"cannot read the message: {type(exc).__name__}"))
            return
        if self._shutdown and "id" in message and message.get("method") not in (None, EXIT):
            self._refuse(message, JsonRpcInvalidRequest("the server is shutting down"))
            return
        super().handle_message(structured)


def _describe(msg_id: object) -> str:
    return f"(id {msg_id!r})" if _usable_id(msg_id) else "(no usable id)"
