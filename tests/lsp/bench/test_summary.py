"""`fillgap bench`'s table: the typing and invoked latencies come with the share offered beside them."""

from __future__ import annotations

from lsp.bench.command import summary

LSP = {
    "typing": {"n": 100, "p50_ms": 120.0, "p95_ms": 300.0, "p99_ms": 350.0, "offered": 27, "debounce_ms": 150},
    "typing_with_debounce": {"n": 100, "p50_ms": 270.0, "p95_ms": 450.0},
    "invoked": {"n": 20, "p50_ms": 800.0, "p95_ms": 1500.0, "p99_ms": 1600.0, "offered": 19},
    "cold_start": {"first_suggestion_ms": 4000.0},
    "memory": {"server_idle_rss_mb": 60, "server_peak_rss_mb": 70, "worker_rss_mb": 200, "worker_peak_rss_mb": 210},
}


def test_latency_rows_carry_the_count_and_the_share_offered() -> None:
    rows = {name: got for name, got, _ in summary({"lsp": LSP})}
    assert rows["typing, after the debounce, 100 events: p50 / p95 / p99 (ms)"] == "120.0 / 300.0 / 350.0"
    assert rows["typing: share of those events offered a fill"] == "27/100 (27%)"
    assert rows["invoked: share of fills offered"] == "19/20 (95%)"


def test_no_events_no_share() -> None:
    rows = {name: got for name, got, _ in summary({"lsp": {**LSP, "typing": {"n": 0}}})}
    assert rows["typing: share of those events offered a fill"] == "-"


def test_each_cluster_layout_is_a_row_with_its_spread() -> None:
    layout = {"fills_s": 8.46, "p50_ms": 473.0, "p95_ms": 548.0, "served_per_replica": {"a": 32, "b": 33}}
    cluster = {"clients": 4, "layouts": [{"replicas": 2, "threads_per_replica": 1, **layout}]}
    rows = {name: got for name, got, _ in summary({"cluster": cluster})}
    assert rows["cluster, 2 replica(s) x 1 thread(s), 4 clients"] == "8.46 fills/s, p95 548 ms, per replica 32/33"
