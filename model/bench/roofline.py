"""The fastest a decode could possibly run on a device: the roofline bound for our transformer.

A forward pass over T tokens must read every weight once (2 bytes each in bf16) and do about
2 x (non-embedding parameters) x T multiply-adds for the projections, plus 4 x layers x hidden x
T x S for attention against S keys, plus the output layer at the positions scored. Whichever of
memory traffic and arithmetic takes longer bounds the pass; a decode's bound is the sum over its
passes. Peak figures are the vendors' dense bf16 numbers (no sparsity):
- H100 SXM: 3.35 TB/s HBM3, 989 TFLOP/s; H100 PCIe: 2.0 TB/s, 756 TFLOP/s
- H200: 4.8 TB/s HBM3e, 989 TFLOP/s
(NVIDIA H100 and H200 datasheets.) Other devices: pass --bandwidth-gbs and --peak-tflops.
"""

from __future__ import annotations

from dataclasses import dataclass

from model.transformer import ModelConfig

PEAKS = {  # name fragment (lower case) -> (bytes/s, FLOP/s)
    "h200": (4.8e12, 989e12),
    "h100 pcie": (2.0e12, 756e12),
    "h100": (3.35e12, 989e12),
}


@dataclass(frozen=True)
class Device:
    name: str
    bandwidth: float  # bytes/s
    flops: float  # FLOP/s in the bench's dtype


def known_device(name: str) -> Device | None:
    lowered = name.lower()
    for fragment, (bandwidth, flops) in PEAKS.items():
        if fragment in lowered:
            return Device(name, bandwidth, flops)
    return None


def pass_seconds(cfg: ModelConfig, dev: Device, tokens: int, keys: int, scored: int, bytes_per_weight: int) -> float:
    """Lower bound on one forward pass: `tokens` computed, attending to `keys`, `scored` through the head."""
    h, layers = cfg.hidden_size, cfg.num_hidden_layers
    kv = cfg.num_key_value_heads * cfg.head_dim
    per_layer = h * h * 2 + h * kv * 2 + 3 * h * cfg.intermediate_size  # q, o, k, v, gate/up/down
    weights = layers * per_layer + cfg.vocab_size * h
    flops = 2 * layers * per_layer * tokens + 4 * layers * h * tokens * keys + 2 * cfg.vocab_size * h * scored
    return max(weights * bytes_per_weight / dev.bandwidth, flops / dev.flops)


def decode_bound(
    cfg: ModelConfig, dev: Device, method: str, context: int, gap: int, passes: int, bytes_per_weight: int = 2
) -> float:
    """Seconds the fastest possible run of this bench row would take."""
    full = 2 * context + gap
    if method.startswith("autoregressive"):  # a prefill, then one token a pass against a growing cache
        prefill = pass_seconds(cfg, dev, context, context, 1, bytes_per_weight)
        return prefill + sum(pass_seconds(cfg, dev, 1, context + i, 1, bytes_per_weight) for i in range(gap))
    if "cache" in method:  # one full pass, then only the gap's positions are recomputed
        first = pass_seconds(cfg, dev, full, full, gap, bytes_per_weight)
        return first + (passes - 1) * pass_seconds(cfg, dev, gap, full, gap, bytes_per_weight)
    return passes * pass_seconds(cfg, dev, full, full, full, bytes_per_weight)
