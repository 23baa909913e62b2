"""What `fillgap cluster up` makes of its config and flags, and the autoscaling policy's rule, on
stand-in contexts (the real autoscaler drives it in tests/cluster)."""

from __future__ import annotations

import argparse
from pathlib import Path
from types import SimpleNamespace

import pytest

from model.cluster.app import ModelSpec
from model.cluster.cli import _parser, cluster_spec
from model.cluster.scaling import QueueAndLatency


def _ns(*argv: str) -> argparse.Namespace:
    return _parser().parse_args(["up", *argv])


def test_a_config_file_describes_each_model(tmp_path: Path) -> None:
    (tmp_path / "token").write_text("t0k\n")
    config = tmp_path / "c.toml"
    config.write_text(
        f'token_file = "{tmp_path / "token"}"\nhttp_port = 9000\n'
        '[[models]]\nname = "big"\npath = "/m/big"\nnum_gpus = 1\nmin_replicas = 2\nmax_replicas = 4\n'
        '[[models]]\nname = "small"\n'
    )
    spec = cluster_spec(_ns("--config", str(config)))
    assert [m.name for m in spec.models] == ["big", "small"] and spec.token == "t0k" and spec.http_port == 9000
    big = spec.models[0]
    assert big.scaling()["autoscaling_config"]["max_replicas"] == 4
    assert big.worker_options()["model"] == "/m/big" and spec.models[1].scaling() == {"num_replicas": 1}


def test_an_unknown_key_is_named(tmp_path: Path) -> None:
    config = tmp_path / "c.toml"
    config.write_text('[[models]]\nname = "m"\nreplicas = 3\n')
    with pytest.raises(ValueError, match="replicas"):
        cluster_spec(_ns("--config", str(config), "--token-file", str(config)))


def test_flags_serve_the_shipped_model_and_need_a_token(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("FILLGAP_TOKEN", raising=False)
    with pytest.raises(ValueError, match="needs a token"):
        cluster_spec(_ns("--model", "small"))
    monkeypatch.setenv("FILLGAP_TOKEN", "env-token")
    spec = cluster_spec(_ns("--model", "small", "--cpus", "2"))
    assert spec.models[0].path is None and spec.models[0].worker_options()["threads"] == 2


def _ctx(running: int, ongoing: float, p95: dict[str, float] | None = None) -> SimpleNamespace:
    config = SimpleNamespace(get_target_ongoing_requests=lambda: 4.0)
    metrics = {"p95_ms": p95} if p95 is not None else {}
    return SimpleNamespace(
        current_num_replicas=running, target_num_replicas=running, total_num_requests=ongoing,
        config=config, aggregated_metrics=metrics,
    )  # fmt: skip


def test_the_queue_decides_first() -> None:
    policy = QueueAndLatency(latency_ms=0)
    assert policy(_ctx(2, 16))[0] == 4  # 16 fills, 4 per replica
    assert policy(_ctx(2, 2))[0] == 0.5  # Serve's own limits keep min_replicas


def test_slow_busy_replicas_get_one_more_even_with_a_short_queue() -> None:
    policy = QueueAndLatency(latency_ms=1000)
    assert policy(_ctx(2, 4, {"a": 1500, "b": 1700}))[0] == 3
    assert policy(_ctx(2, 4, {"a": 500, "b": 700}))[0] == 1.0  # fast: the queue's answer
    assert policy(_ctx(2, 1, {"a": 1500, "b": 1700}))[0] == 0.25  # slow but idle: old latencies


def test_model_names_are_checked() -> None:
    with pytest.raises(SystemExit):
        _ns("--model", "no spaces=x")
    assert ModelSpec("m").scaling() == {"num_replicas": 1}
