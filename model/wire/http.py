"""How the worker protocol travels over HTTP to a fillgap cluster (`model/cluster`): the paths under
the cluster's address, the token header and the content type. Standard library only: `lsp/` imports it.

Every request's body is one protocol frame (`model.wire.protocol.encode_frame`), and so is every
answer, error answers included: a frame of another protocol version is answered with an error frame
of this one, so both ends can say which versions they speak. A fill is one request; closing its
stream is how a client cancels it. The HTTP status says what kind of answer it is, for proxies and
people reading logs; clients read the frame.
"""

from __future__ import annotations

HELLO = "/hello"  # Hello (naming the model) -> that model's Ready
FILL = "/fill"  # FillRequest -> FillResult, or ErrorReply
STATUS = "/status"  # StatusRequest -> ClusterStatus
CONTENT_TYPE = "application/x-fillgap-frame"
AUTHORIZATION = "authorization"  # "Bearer <token>", compared in constant time


def bearer(token: str | None) -> dict[str, str]:
    """The headers that carry `token` (none without one)."""
    return {AUTHORIZATION: f"Bearer {token}"} if token else {}


def token_of(header: str | None) -> str:
    """The token in an Authorization header's value ("" when there is none)."""
    scheme, _, value = (header or "").partition(" ")
    return value.strip() if scheme.lower() == "bearer" else ""
