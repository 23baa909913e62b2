"""What a cluster serves, and putting it on Ray Serve: one deployment per model (its replicas each
hold the model: `FillReplica`), and the gateway in front, at `ROUTE` under Serve's HTTP proxy.

Deploying again with changed settings (a new checkpoint, other limits) is Serve's rolling update:
new replicas start and must pass their health check before old ones stop, and an old one finishes
its fills first (`graceful_shutdown_timeout_s`), so no request is dropped.
"""

from __future__ import annotations

import logging
import time
from dataclasses import asdict, dataclass

import ray
from ray import serve

from model.cluster.board import NAME as BOARD_NAME
from model.cluster.board import NAMESPACE as BOARD_NAMESPACE
from model.cluster.board import board
from model.cluster.gateway import APP, Gateway, token_digest
from model.cluster.replica import STALL_LIMIT_S, FillReplica
from model.cluster.scaling import POLICY
from model.wire.options import WorkerOptions

log = logging.getLogger("fillgap.cluster")

ROUTE = "/fillgap"
PASSED_OPTIONS = ("model", "device", "threads", "dtype", "quantize", "context_tokens", "max_batch_rows")


@dataclass
class ModelSpec:
    """One model the cluster serves, under `name` (what settings and fills name it by)."""

    name: str
    path: str | None = None  # a checkpoint folder on every node (None: the shipped model)
    min_replicas: int = 1
    max_replicas: int = 1
    num_cpus: float = 1.0  # per replica: Ray's CPU share
    num_gpus: float = 0.0  # per replica: 1 for a GPU each (0.5: two replicas share one)
    threads: int = 0  # torch threads (0: the replica's whole CPU share)
    device: str = "auto"
    dtype: str = "auto"
    quantize: str = ""  # as `fillgap worker --quantize`: fp8, bnb-8bit, bnb-4bit (DiffusionGemma)
    context_tokens: int = 0  # as `fillgap worker --context-tokens` (0: the model's training context)
    max_batch_rows: int = 64
    target_ongoing: float = 4.0  # fills one replica should carry before another is started
    latency_ms: float = 0.0  # and while every replica is busy with its p95 above this (0: queue only)
    upscale_delay_s: float = 10.0
    downscale_delay_s: float = 120.0
    stall_limit_s: float = STALL_LIMIT_S  # one step running longer: the replica is hung and replaced
    health_check_period_s: float = 5.0
    health_check_timeout_s: float = 30.0
    # A replica being replaced (a rolling update, a failed health check) finishes its fills first,
    # for at most this long: past the longest fill deadline editors set (30 s by default).
    graceful_shutdown_timeout_s: float = 60.0

    def worker_options(self) -> dict[str, object]:
        threads = self.threads or max(1, int(self.num_cpus))
        opts = WorkerOptions(
            model=self.path,
            device=self.device,
            threads=threads,
            dtype=self.dtype,
            quantize=self.quantize,
            context_tokens=self.context_tokens,
            max_batch_rows=self.max_batch_rows,
        )
        return {k: v for k, v in asdict(opts).items() if k in PASSED_OPTIONS}

    def scaling(self) -> dict[str, object]:
        if self.min_replicas == self.max_replicas:
            return {"num_replicas": self.min_replicas}
        return {
            "autoscaling_config": {
                "min_replicas": self.min_replicas,
                "max_replicas": self.max_replicas,
                "target_ongoing_requests": self.target_ongoing,
                "upscale_delay_s": self.upscale_delay_s,
                "downscale_delay_s": self.downscale_delay_s,
                "metrics_interval_s": 1.0,
                "look_back_period_s": 5.0,
                "policy": {"policy_function": POLICY, "policy_kwargs": {"latency_ms": self.latency_ms}},
            }
        }


@dataclass
class ClusterSpec:
    models: list[ModelSpec]
    token: str
    http_host: str = "127.0.0.1"  # the proxy's: 0.0.0.0 only behind a firewall or TLS terminator
    http_port: int = 8000
    gateways: int = 1  # gateway replicas: two, and a gateway that dies leaves the other serving


def _model_deployment(spec: ModelSpec, status_board: object) -> object:
    ongoing = max(8, int(spec.target_ongoing * 4))  # a replica takes more than its share while others start
    deployment = serve.deployment(FillReplica).options(
        name=spec.name,
        ray_actor_options={"num_cpus": spec.num_cpus, "num_gpus": spec.num_gpus},
        max_ongoing_requests=ongoing,
        health_check_period_s=spec.health_check_period_s,
        health_check_timeout_s=spec.health_check_timeout_s,
        graceful_shutdown_timeout_s=spec.graceful_shutdown_timeout_s,
        **spec.scaling(),
    )
    return deployment.bind(spec.name, spec.worker_options(), status_board, spec.stall_limit_s)


def application(spec: ClusterSpec) -> object:
    if not spec.models or len({m.name for m in spec.models}) != len(spec.models):
        raise ValueError("a cluster serves at least one model, each under a name of its own")
    status_board = board()
    models = {m.name: _model_deployment(m, status_board) for m in spec.models}
    gateway = serve.deployment(Gateway).options(
        name="gateway", num_replicas=spec.gateways, ray_actor_options={"num_cpus": 0}, max_ongoing_requests=10_000
    )
    return gateway.bind(models, token_digest(spec.token), status_board)


def deploy(spec: ClusterSpec, address: str = "auto", wait_s: float = 600.0) -> str:
    """Deploy (or roll out changes to) the cluster's models on the Ray cluster at `address`; the
    URL editors reach it at, once every model is running."""
    ray.init(address=address, namespace="fillgap", log_to_driver=False)
    # One proxy, on the head node: the one address users are given and the firewall lets through
    # (a proxy on every node would try to bind the head's address on each of them).
    serve.start(proxy_location="HeadOnly", http_options={"host": spec.http_host, "port": spec.http_port})
    serve.run(application(spec), name=APP, route_prefix=ROUTE, blocking=False)  # type: ignore[arg-type]
    wait_running(wait_s)
    return f"http://{spec.http_host}:{spec.http_port}{ROUTE}"


def wait_running(wait_s: float) -> None:
    until = time.monotonic() + wait_s
    while True:
        app = serve.status().applications.get(APP)
        state = app.status.value if app is not None else "MISSING"
        if state == "RUNNING":
            return
        if state == "DEPLOY_FAILED" or time.monotonic() > until:
            raise RuntimeError(f"the cluster's application is {state}: {app.message if app else ''}")
        time.sleep(0.5)


def undeploy(address: str = "auto") -> None:
    """Delete the deployment and the status board (Ray and Serve keep running)."""
    ray.init(address=address, namespace="fillgap", log_to_driver=False)
    serve.delete(APP)
    try:
        ray.kill(ray.get_actor(BOARD_NAME, namespace=BOARD_NAMESPACE))
    except ValueError:  # none: it was never made, or is gone already
        pass
