"""`fillgap worker`: a process that loads a checkpoint once and answers fill requests.

It speaks the frames of `model.protocol` on stdin/stdout (the server that started it holds the
other ends); logs go to stderr. A malformed frame is answered with an error frame; the worker
keeps serving. It exits at end of input or on a `shutdown` message.
"""

from __future__ import annotations

import argparse
import logging
import queue
import sys
import threading
import time
from typing import IO, Any

from model.checkpoint import DEFAULT_CHECKPOINT
from model.protocol import (
    ErrorReply,
    FillRequest,
    FillResult,
    ProtocolError,
    Ready,
    decode_body,
    encode_frame,
    from_wire,
    read_body,
)
from model.sampler import Stopped

log = logging.getLogger("fillgap.worker")


def _send(out: IO[bytes], msg: Any) -> None:
    out.write(encode_frame(msg))
    out.flush()


_END = object()  # the reader's last item: end of input, or a broken stream


class Inbox:
    """Frames read on a thread of their own, so a `cancel` takes effect while a fill is running:
    the fill's sampler asks `cancelled(id)` before every step."""

    def __init__(self, inp: IO[bytes]) -> None:
        self._queue: queue.Queue[Any] = queue.Queue()
        self._cancelled: set[int] = set()
        self._guard = threading.Lock()
        threading.Thread(target=self._read, args=(inp,), daemon=True, name="fillgap-inbox").start()

    def _read(self, inp: IO[bytes]) -> None:
        while True:
            try:
                body = read_body(inp)
            except ProtocolError as exc:
                self._queue.put(exc)  # the stream is out of step; nothing after this can be framed
                break
            if body is None:
                break
            raw = _peek(body)
            if isinstance(raw, dict) and raw.get("type") == "cancel" and isinstance(raw.get("id"), int):
                with self._guard:
                    self._cancelled.add(raw["id"])
                continue
            self._queue.put(body)
        self._queue.put(_END)

    def next(self) -> Any:
        return self._queue.get()

    def cancelled(self, req_id: int) -> bool:
        with self._guard:
            return req_id in self._cancelled

    def forget(self, req_id: int) -> None:
        with self._guard:
            self._cancelled.discard(req_id)


def _peek(body: bytes) -> Any:
    try:
        return decode_body(body)
    except ProtocolError:
        return None


def serve(engine: Any, inp: IO[bytes], out: IO[bytes]) -> None:
    inbox = Inbox(inp)

    def send(msg: Any) -> None:
        _send(out, msg)  # only this thread writes

    served = 0
    while True:
        item = inbox.next()
        if item is _END:
            return
        if isinstance(item, ProtocolError):
            send(ErrorReply(id=None, message=str(item)))
            return
        req_id = None
        try:
            raw = decode_body(item)
            req_id = raw.get("id") if isinstance(raw, dict) else None
            msg = from_wire(raw)
            if isinstance(msg, FillRequest):
                send(_fill(engine, msg, inbox))
                served += 1
            elif isinstance(msg, dict) and msg.get("type") == "shutdown":
                return
            elif isinstance(msg, dict) and msg.get("type") == "status":
                send({"type": "status", "id": req_id, "served": served, "model": str(engine.folder)})
            else:
                raise ProtocolError(f"a worker does not accept {type(msg).__name__}")
        except ProtocolError as exc:
            send(ErrorReply(id=req_id if isinstance(req_id, int) else None, message=str(exc)))
        except Exception as exc:  # a failed fill must not take the worker down
            log.exception("fill %s failed", req_id)
            send(ErrorReply(id=req_id if isinstance(req_id, int) else None, message=f"fill failed: {exc}"))


def _fill(engine: Any, req: FillRequest, inbox: Inbox) -> FillResult | ErrorReply:
    try:
        if inbox.cancelled(req.id):
            raise Stopped
        return engine.fill(req, stop=lambda: inbox.cancelled(req.id))
    except Stopped:
        return ErrorReply(id=req.id, message="cancelled")
    finally:
        inbox.forget(req.id)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="fillgap worker", description="Hold a model and answer fill requests on stdio.")
    p.add_argument("--model", default=str(DEFAULT_CHECKPOINT), help="checkpoint folder (HF layout)")
    p.add_argument("--device", default="cpu")
    p.add_argument("--threads", type=int, default=0, help="torch threads (0: torch's default)")
    p.add_argument(
        "--dtype",
        choices=("auto", "float32", "bfloat16", "float16"),
        default="auto",
        help="weights and activations (auto: bfloat16 on CUDA, float32 elsewhere)",
    )
    args = p.parse_args(argv)
    logging.basicConfig(level=logging.INFO, stream=sys.stderr, format="fillgap-worker %(levelname)s %(message)s")
    out = sys.stdout.buffer
    sys.stdout = sys.stderr  # nothing but frames may reach the real stdout
    t0 = time.perf_counter()
    try:
        from model.checkpoint import resolve
        from model.engine import FillEngine

        engine = FillEngine(resolve(args.model), device=args.device, threads=args.threads or None, dtype=args.dtype)
    except Exception as exc:
        _send(out, ErrorReply(id=None, message=f"cannot load model {args.model}: {exc}"))
        return 2
    log.info(
        "loaded %s on %s in %.2fs; attention: %s", args.model, args.device, time.perf_counter() - t0, engine.backend
    )
    _send(
        out,
        Ready(
            model=str(args.model),
            device=args.device,
            parameters=engine.model.num_parameters(),
            context_tokens=engine.limit,
            backend=engine.backend,
        ),
    )
    serve(engine, sys.stdin.buffer, out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
