"""When a model needs more replicas: queue length first, latency second. Serve's controller calls
the policy every control period and applies the deployment's own limits and delays to its answer
(min/max replicas, upscale_delay_s, downscale_delay_s), so this only says how many it would want.

Queue: Serve's own rule, ongoing fills (running and waiting, at the replicas and their handles)
over the fills one replica should carry (`target_ongoing_requests`). Latency: while every replica
is busy and their p95 (reported by each replica, `record_autoscaling_stats`) is over `latency_ms`,
one more than there are, even if the queue rule is content: a replica batching many fills keeps
its queue short and its fills slow.
"""

from __future__ import annotations

from typing import Any


class QueueAndLatency:
    def __init__(self, latency_ms: float = 0.0) -> None:
        self.latency_ms = latency_ms

    def __call__(self, ctx: Any) -> tuple[float, dict[str, Any]]:
        running = ctx.current_num_replicas
        if running == 0:
            return ctx.target_num_replicas, {}
        ongoing = ctx.total_num_requests
        wanted = ongoing / ctx.config.get_target_ongoing_requests()
        if self.latency_ms > 0 and ongoing >= running and self._slow(ctx):
            wanted = max(wanted, running + 1)
        return wanted, {}

    def _slow(self, ctx: Any) -> bool:
        p95 = (ctx.aggregated_metrics or {}).get("p95_ms") or {}
        return bool(p95) and sum(p95.values()) / len(p95) > self.latency_ms


POLICY = f"{__name__}:QueueAndLatency"
