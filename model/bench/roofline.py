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


# --- Mixture of experts (DiffusionGemma, Gemma 4 26B-A4B) ---------------------------------------
#
# A MoE pass reads the weights every token uses (attention, the dense MLP beside the experts, the
# router) plus only the experts its tokens are routed to. With top-k of E experts chosen per token,
# and routing taken as uniform and independent across tokens (random weights route that way; a
# trained router is more skewed, which lowers the share for a few tokens), T tokens touch an
# expected 1 - (1 - k/E)^T of the experts: 6% for one token, 64% for 16, all but 1e-7 for a
# 256-token canvas. A DiffusionGemma decoder pass scores every canvas position through the tied
# 262k-vocabulary head and reads that table a second time for self-conditioning (the previous
# step's softmax times the embedding); an encoder pass (prefill, a finished canvas, or one
# autoregressive token) scores only the positions asked for.


@dataclass(frozen=True)
class MoEShape:
    """Parameter counts of a DiffusionGemma text model, from its config.json `text_config` keys."""

    hidden: int
    layers: int
    sliding_layers: int
    heads: int
    kv_heads: int  # sliding layers
    head_dim: int
    full_kv_heads: int  # full-attention layers (keys serve as values there)
    full_head_dim: int
    intermediate: int  # the dense MLP beside the experts, and the self-conditioning MLP
    experts: int
    top_k: int
    expert_intermediate: int
    vocab: int
    sliding_window: int

    @classmethod
    def from_text_config(cls, tc: dict) -> MoEShape:
        types = tc.get("layer_types") or []
        layers = int(tc["num_hidden_layers"])
        sliding = sum(1 for t in types[:layers] if t == "sliding_attention") if types else layers - layers // 6
        return cls(
            hidden=int(tc["hidden_size"]),
            layers=layers,
            sliding_layers=sliding,
            heads=int(tc["num_attention_heads"]),
            kv_heads=int(tc["num_key_value_heads"]),
            head_dim=int(tc["head_dim"]),
            full_kv_heads=int(tc.get("num_global_key_value_heads") or tc["num_key_value_heads"]),
            full_head_dim=int(tc.get("global_head_dim") or tc["head_dim"]),
            intermediate=int(tc["intermediate_size"]),
            experts=int(tc["num_experts"]),
            top_k=int(tc["top_k_experts"]),
            expert_intermediate=int(tc["moe_intermediate_size"]),
            vocab=int(tc["vocab_size"]),
            sliding_window=int(tc["sliding_window"]),
        )

    @property
    def attention(self) -> int:
        h, q = self.hidden, self.heads
        sliding = 2 * h * q * self.head_dim + 2 * h * self.kv_heads * self.head_dim  # q, o, k, v
        full = 2 * h * q * self.full_head_dim + h * self.full_kv_heads * self.full_head_dim  # q, o, k (= v)
        return self.sliding_layers * sliding + (self.layers - self.sliding_layers) * full

    @property
    def dense(self) -> int:  # dense MLPs and routers, every layer
        return self.layers * (3 * self.hidden * self.intermediate + self.hidden * self.experts)

    @property
    def expert(self) -> int:  # one expert of one layer
        return 3 * self.hidden * self.expert_intermediate

    @property
    def all_experts(self) -> int:
        return self.layers * self.experts * self.expert

    @property
    def embedding(self) -> int:  # tied with the head
        return self.vocab * self.hidden

    @property
    def self_conditioning(self) -> int:
        return 3 * self.hidden * self.intermediate

    @property
    def parameters(self) -> int:
        return self.attention + self.dense + self.all_experts + self.embedding + self.self_conditioning


def experts_touched(tokens: int, experts: int, top_k: int) -> float:
    """Expected share of the experts that `tokens` tokens, each routed to top_k of them, touch."""
    return 1.0 - (1.0 - top_k / experts) ** max(tokens, 0)


@dataclass(frozen=True)
class MoEPass:
    """One forward pass: `rows` sequences of `tokens` new positions each, after `context` cached ones."""

    rows: int
    tokens: int
    context: int
    scored: int  # positions per row through the head
    decoder: bool  # a canvas pass: bidirectional, self-conditioning, reads the cache without writing it


def moe_pass_bytes(m: MoEShape, p: MoEPass, bytes_per_weight: float = 2, kv_bytes: int = 2) -> float:
    """Bytes the pass must read: the weights it touches and the cached keys and values."""
    n = p.rows * p.tokens
    weights = m.attention + m.dense + m.all_experts * experts_touched(n, m.experts, m.top_k)
    if p.scored:
        weights += m.embedding
    if p.decoder:
        weights += m.embedding + m.self_conditioning
    sliding_keys = min(p.context, m.sliding_window)
    full = m.layers - m.sliding_layers
    cache = m.sliding_layers * sliding_keys * m.kv_heads * m.head_dim * 2  # keys and values
    cache += full * p.context * m.full_kv_heads * m.full_head_dim  # keys only: they are the values
    return weights * bytes_per_weight + p.rows * cache * kv_bytes


def moe_pass_flops(m: MoEShape, p: MoEPass) -> float:
    """Multiply-adds x 2 of the projections, the active experts, attention and the head."""
    n = p.rows * p.tokens
    per_token = m.attention + m.dense + m.layers * m.top_k * m.expert + (m.self_conditioning if p.decoder else 0)
    # a decoder position sees the whole canvas; an encoder position the causal half of its new tokens
    new_keys = p.tokens if p.decoder else (p.tokens + 1) / 2
    keys_sliding = min(p.context, m.sliding_window) + new_keys
    keys_full = p.context + new_keys
    full = m.layers - m.sliding_layers
    attend = 4 * n * m.heads * (m.sliding_layers * keys_sliding * m.head_dim + full * keys_full * m.full_head_dim)
    head = 2 * p.rows * p.scored * m.embedding + (2 * n * m.embedding if p.decoder else 0)
    return 2 * n * per_token + attend + head


def moe_pass_seconds(m: MoEShape, dev: Device, p: MoEPass, bytes_per_weight: float = 2) -> float:
    """Lower bound on one pass: the longer of its memory traffic and its arithmetic."""
    return max(moe_pass_bytes(m, p, bytes_per_weight) / dev.bandwidth, moe_pass_flops(m, p) / dev.flops)


def canvas_bound(
    m: MoEShape, dev: Device, rows: int, canvas: int, context: int, steps: int, bytes_per_weight: float = 2
) -> float:
    """Seconds for the fastest possible canvas: `steps` decoder passes, then the encoder pass that
    appends the finished canvas to the cache."""
    step = MoEPass(rows, canvas, context, scored=canvas, decoder=True)
    append = MoEPass(rows, canvas, context, scored=0, decoder=False)
    return steps * moe_pass_seconds(m, dev, step, bytes_per_weight) + moe_pass_seconds(m, dev, append, bytes_per_weight)


def autoregressive_token_bound(m: MoEShape, dev: Device, rows: int, context: int, bytes_per_weight: float = 2) -> float:
    """Seconds for the fastest possible autoregressive step: one token a row through the encoder."""
    return moe_pass_seconds(m, dev, MoEPass(rows, 1, context, scored=1, decoder=False), bytes_per_weight)
