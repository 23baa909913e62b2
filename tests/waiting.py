"""Waiting on a state instead of sleeping a fixed time: tests must pass on a busy machine too.

A fixed `sleep(0.2)` before an assertion is a race the test loses when another process keeps the
cores busy; `until` polls the state the test needs, with a deadline generous enough for a loaded
2-core machine, and names what it waited for when the deadline passes.
"""

from __future__ import annotations

import asyncio
import inspect
import time
from collections.abc import Awaitable, Callable
from typing import TypeVar

import pytest

T = TypeVar("T")
GENEROUS_S = 60.0  # far above any normal wait: only a broken behaviour takes this long


def until(what: str, probe: Callable[[], T], timeout: float = GENEROUS_S, every: float = 0.05) -> T:
    """Poll `probe` until it returns something truthy, and return that; fail naming `what`."""
    deadline = time.monotonic() + timeout
    while not (value := probe()):
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout:g} s waiting for {what}")
        time.sleep(every)
    return value


async def until_async(
    what: str, probe: Callable[[], T | Awaitable[T]], timeout: float = GENEROUS_S, every: float = 0.05
) -> T:
    """`until` inside an event loop: the probe may be a coroutine function (a status request)."""
    deadline = time.monotonic() + timeout
    while True:
        value = probe()
        if inspect.isawaitable(value):
            value = await value
        if value:
            return value  # type: ignore[return-value]
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout:g} s waiting for {what}")
        await asyncio.sleep(every)
