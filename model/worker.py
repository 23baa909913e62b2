"""`fillgap worker`: a process that loads a checkpoint once and answers fill requests.

It speaks the frames of `model.protocol` on stdin/stdout (the server that started it holds the
other ends); logs go to stderr. A malformed frame is answered with an error frame; the worker
keeps serving. It exits at end of input or on a `shutdown` message.
"""

from __future__ import annotations

import argparse
import logging
import sys
import time
from typing import IO, Any

from model.checkpoint import DEFAULT_CHECKPOINT
from model.protocol import (
    ErrorReply,
    FillRequest,
    ProtocolError,
    Ready,
    decode_body,
    encode_frame,
    from_wire,
    read_body,
)

log = logging.getLogger("fillgap.worker")


def _send(out: IO[bytes], msg: Any) -> None:
    out.write(encode_frame(msg))
    out.flush()


def serve(engine: Any, inp: IO[bytes], out: IO[bytes]) -> None:
    served = 0
    while True:
        try:
            body = read_body(inp)
        except ProtocolError as exc:
            _send(out, ErrorReply(id=None, message=str(exc)))
            return  # the stream is out of step; nothing after this can be framed
        if body is None:
            return
        req_id = None
        try:
            raw = decode_body(body)
            req_id = raw.get("id") if isinstance(raw, dict) else None
            msg = from_wire(raw)
            if isinstance(msg, FillRequest):
                _send(out, engine.fill(msg))
                served += 1
            elif isinstance(msg, dict) and msg.get("type") == "shutdown":
                return
            elif isinstance(msg, dict) and msg.get("type") == "status":
                _send(out, {"type": "status", "id": req_id, "served": served, "model": str(engine.folder)})
            else:
                raise ProtocolError(f"a worker does not accept {type(msg).__name__}")
        except ProtocolError as exc:
            _send(out, ErrorReply(id=req_id if isinstance(req_id, int) else None, message=str(exc)))
        except Exception as exc:  # a failed fill must not take the worker down
            log.exception("fill %s failed", req_id)
            _send(out, ErrorReply(id=req_id if isinstance(req_id, int) else None, message=f"fill failed: {exc}"))


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
