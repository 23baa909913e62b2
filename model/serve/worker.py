"""`fillgap worker`: load a checkpoint once and answer fill requests, batched.

Without `--listen` it serves one client on stdin/stdout (a server's private child; while the
model loads it sends `progress` frames, then greets with `ready`, and exits when stdin ends or on
`shutdown`). With `--listen unix://PATH`, `--listen auto`
(the per-user socket for this configuration, see `model/wire/endpoint.py`) or `--listen tcp://HOST:PORT`
(token required) it is a daemon shared by every client (`model/serve/daemon.py`). The flags and
their defaults are `model.wire.options.WorkerOptions`. Either way fills run
through one `Batcher`: continuous batching across every connection. Logs go to stderr.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from model.wire.endpoint import Address, EndpointError, parse_address, read_token, socket_path
from model.wire.options import WorkerOptions, add_worker_arguments, from_namespace
from model.wire.protocol import ErrorReply, Progress, Ready, encode_frame

if TYPE_CHECKING:  # torch is loaded by load, after the flags are read (fillgap worker -h stays quick)
    from model.engine import Engine
    from model.serve.session import Worker

log = logging.getLogger("fillgap.worker")

PROGRESS_EVERY_S = 0.5  # at most this often a progress report while loading (the last one always)
LoadProgress = Callable[[int, int, str], None]  # bytes done, bytes in all, what is being read


def reporter(send: Callable[[Progress], None], every_s: float = PROGRESS_EVERY_S) -> LoadProgress:
    """The checkpoint loader's progress callback, turned into `Progress` messages: the first, then
    at most one per `every_s`, and the one that completes the load."""
    last, said = -float("inf"), ""

    def report(done: int, total: int, message: str) -> None:
        nonlocal last, said
        now = time.monotonic()
        if done < total and now - last < every_s:
            return
        last = now
        if message != said:  # the log gets one line per shard, the client every report
            said = message
            log.info("loading %s (%.0f of %.0f MB)", message, done / 1e6, total / 1e6)
        send(Progress(stage="load", done=int(done), total=int(total), message=message))

    return report


def _args(argv: list[str] | None) -> WorkerOptions:
    p = argparse.ArgumentParser(prog="fillgap worker", description="Hold a model and answer fill requests.")
    add_worker_arguments(p)
    return from_namespace(p.parse_args(argv))


def _addresses(ns: WorkerOptions) -> list[Address]:
    return [
        Address("unix", path=str(socket_path(ns.model, ns.device, ns.dtype))) if text == "auto" else parse_address(text)
        for text in ns.listen
    ]


def load(ns: WorkerOptions, progress: LoadProgress | None = None) -> tuple[Engine, Ready]:
    from model.checkpoint import DEFAULT_CHECKPOINT, resolve
    from model.engine import load_engine, max_memory

    t0 = time.perf_counter()
    model = ns.model or str(DEFAULT_CHECKPOINT)
    engine = load_engine(
        resolve(model),
        device=ns.device,
        threads=ns.threads or None,
        dtype=ns.dtype,
        progress=progress,
        context_tokens=ns.context_tokens,
        device_map=ns.device_map or None,
        max_memory=max_memory(ns.max_memory),
        quantize=ns.quantize or None,
    )
    info = engine.info  # its device is the one `auto` chose
    log.info("loaded %s on %s in %.2fs; attention: %s", model, info.device, time.perf_counter() - t0, info.backend)
    ready = Ready(
        model=model,
        device=info.device,
        parameters=info.parameters,
        context_tokens=info.context_tokens,
        backend=info.backend,
        pid=os.getpid(),
        family=info.family or "",
        canvas_tokens=info.canvas_tokens or 0,
        experts=info.experts or 0,
        experts_active=info.experts_active or 0,
        dtype=info.dtype or "",
        typing_gate=info.typing_gate or 0.0,
    )
    return engine, ready


def make_worker(engine: Engine, ready: Ready, max_rows: int) -> Worker:
    from model.serve.batcher import Batcher
    from model.serve.session import Worker

    return Worker(Batcher(engine, max_rows=max_rows), ready)


def serve_stdio(ns: WorkerOptions) -> int:
    out = sys.stdout.buffer
    sys.stdout = sys.stderr  # nothing but frames may reach the real stdout
    write_lock = threading.Lock()

    def write(frame: bytes) -> None:
        with write_lock:
            out.write(frame)
            out.flush()

    def send_progress(progress: Progress) -> None:
        try:
            write(encode_frame(progress))
        except OSError:  # the server left; the session below sees the end of stdin
            pass

    try:
        engine, ready = load(ns, reporter(send_progress))  # progress frames precede ready
    except Exception as exc:
        write(encode_frame(ErrorReply(id=None, message=f"cannot load model {ns.model or 'default'}: {exc}")))
        return 2
    from model.serve.session import Session

    Session(make_worker(engine, ready, ns.max_batch_rows), sys.stdin.buffer, write, "stdio", greet=True).run()
    return 0


def serve_daemon(ns: WorkerOptions, addresses: list[Address]) -> int:
    from model.serve.daemon import ALREADY_RUNNING, Daemon, ProgressFile, bind_tcp, bind_unix, claim, release

    token = read_token(ns.token_file)
    if any(a.scheme == "tcp" for a in addresses) and not token:
        log.error("--listen tcp:// needs a token: --token-file FILE or $FILLGAP_TOKEN")
        return 2
    unix = [Path(a.path) for a in addresses if a.scheme == "unix"]
    if len(unix) > 1:
        log.error("at most one unix:// address")
        return 2
    sock = unix[0] if unix else None
    lock_fd = claim(sock) if sock is not None else None
    if sock is not None and lock_fd is None:
        log.info("a worker already serves %s", sock)
        return ALREADY_RUNNING
    inode = None
    loading = ProgressFile(sock)
    try:
        engine, ready = load(ns, reporter(loading.write))  # only the daemon holding the lock loads a model
        listeners = []
        for a in addresses:
            listeners.append((bind_unix(Path(a.path)) if a.scheme == "unix" else bind_tcp(a), a))
            if a.scheme == "unix":
                inode = os.lstat(a.path).st_ino
            log.info("listening on %s", a)
        loading.remove()
        why = Daemon(make_worker(engine, ready, ns.max_batch_rows), ns.idle_timeout, token).serve(listeners)
        log.info("stopped (%s)", why)
        return 0
    finally:
        loading.remove()
        release(sock, inode, lock_fd)


def main(argv: list[str] | None = None) -> int:
    ns = _args(argv)
    logging.basicConfig(
        level=logging.INFO, stream=sys.stderr, format="%(asctime)s fillgap-worker %(levelname)s %(message)s"
    )
    if not ns.listen:
        return serve_stdio(ns)
    try:
        code = serve_daemon(ns, _addresses(ns))
    except EndpointError as exc:
        log.error("%s", exc)
        code = 2
    except Exception as exc:
        log.exception("worker failed: %s", exc)
        code = 2
    # Fill threads may still be inside torch; leaving without interpreter teardown is safer.
    logging.shutdown()
    os._exit(code)


if __name__ == "__main__":
    sys.exit(main())
