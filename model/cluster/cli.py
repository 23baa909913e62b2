"""`fillgap cluster up | down | status`: deploy the models on a running Ray cluster, take them
down, or print the deployment. `ray start --head` (and `ray start --address` on other nodes) is the
operator's, as the README's team recipe says; this command connects to it (`--address`)."""

from __future__ import annotations

import argparse
import logging
import sys
import tomllib
from typing import Any

from model.wire.endpoint import EndpointError, read_token


def _model(text: str) -> tuple[str, str | None]:
    name, sep, path = text.partition("=")
    if not name or not name.replace("-", "").replace("_", "").replace(".", "").isalnum():
        raise argparse.ArgumentTypeError(f"--model NAME[=PATH]: a name of letters, digits, - _ ., not {name!r}")
    return name, (path or None) if sep else None


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="fillgap cluster", description="Serve fillgap workers on Ray Serve.")
    p.add_argument("--address", default="auto", help="the Ray cluster (default: the one `ray start` runs here)")
    sub = p.add_subparsers(dest="action", required=True)
    up = sub.add_parser("up", help="deploy, or roll out changed settings without dropping fills")
    up.add_argument(
        "--config",
        default=None,
        metavar="FILE.toml",
        help="the whole cluster: [[models]] tables of ModelSpec keys (model/cluster/app.py), "
        "http_host, http_port, token_file, gateways; flags below then only fill in what it leaves out",
    )
    up.add_argument(
        "--model",
        type=_model,
        action="append",
        default=[],
        metavar="NAME[=PATH]",
        help="a model to serve under NAME (PATH: its checkpoint on every node; none: the shipped one); "
        "repeatable, the first is the default",
    )
    up.add_argument("--min-replicas", type=int, default=1)
    up.add_argument("--max-replicas", type=int, default=1, help="above --min-replicas: autoscaled")
    up.add_argument("--cpus", type=float, default=1.0, help="CPU share per replica")
    up.add_argument("--gpus", type=float, default=0.0, help="GPUs per replica (1: one each)")
    up.add_argument("--threads", type=int, default=0, help="torch threads per replica (0: its CPU share)")
    up.add_argument("--device", default="auto")
    up.add_argument("--dtype", default="auto")
    up.add_argument("--target-ongoing", type=float, default=4.0, help="fills per replica before scaling up")
    up.add_argument("--latency-ms", type=float, default=0.0, help="also scale up while p95 is above this")
    up.add_argument("--upscale-delay-s", type=float, default=10.0)
    up.add_argument("--downscale-delay-s", type=float, default=120.0)
    up.add_argument("--http-host", default="127.0.0.1", help="Serve's proxy (keep it private; see README)")
    up.add_argument("--http-port", type=int, default=8000)
    up.add_argument("--token-file", default=None, help="the token fills must carry (else $FILLGAP_TOKEN)")
    up.add_argument("--wait-s", type=float, default=600.0, help="give up if not running by then")
    sub.add_parser("down", help="delete the deployment (Ray keeps running)")
    return p


def _flag_models(ns: argparse.Namespace) -> list[dict[str, Any]]:
    scale = dict(min_replicas=ns.min_replicas, max_replicas=max(ns.max_replicas, ns.min_replicas))
    shared = dict(
        num_cpus=ns.cpus,
        num_gpus=ns.gpus,
        threads=ns.threads,
        device=ns.device,
        dtype=ns.dtype,
        target_ongoing=ns.target_ongoing,
        latency_ms=ns.latency_ms,
        upscale_delay_s=ns.upscale_delay_s,
        downscale_delay_s=ns.downscale_delay_s,
        **scale,
    )
    return [dict(name=name, path=path, **shared) for name, path in ns.model]


def cluster_spec(ns: argparse.Namespace) -> Any:
    """The ClusterSpec the config file and flags describe; ValueError naming what is wrong."""
    from model.cluster.app import ClusterSpec, ModelSpec

    config: dict[str, Any] = {}
    if ns.config:
        with open(ns.config, "rb") as f:
            config = tomllib.load(f)
    unknown = set(config) - {"models", "http_host", "http_port", "token_file", "gateways"}
    if unknown:
        raise ValueError(f"{ns.config}: unknown keys {sorted(unknown)}")
    tables = config.get("models") or _flag_models(ns)
    if not tables:
        raise ValueError("no model to serve: --model NAME[=PATH], or [[models]] in --config")
    models = []
    for table in tables:
        try:
            models.append(ModelSpec(**table))
        except TypeError as exc:
            raise ValueError(f"a model's settings: {exc}") from exc
    token = read_token(config.get("token_file") or ns.token_file)
    if not token:
        raise ValueError("needs a token: token_file, --token-file FILE or $FILLGAP_TOKEN")
    host, port = config.get("http_host", ns.http_host), config.get("http_port", ns.http_port)
    return ClusterSpec(models, token, http_host=host, http_port=port, gateways=config.get("gateways", 1))


def _up(ns: argparse.Namespace) -> int:
    from model.cluster.app import deploy

    spec = cluster_spec(ns)
    url = deploy(spec, ns.address, ns.wait_s)
    print(f"serving {', '.join(m.name for m in spec.models)} at {url}")
    return 0


def main(argv: list[str] | None = None) -> int:
    ns = _parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s fillgap-cluster %(levelname)s %(message)s")
    try:
        if ns.action == "up":
            return _up(ns)
        from model.cluster.app import undeploy

        undeploy(ns.address)
        print("deleted the fillgap deployment")
        return 0
    except (EndpointError, OSError, ValueError, RuntimeError, ConnectionError) as exc:
        print(f"fillgap cluster {ns.action}: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
