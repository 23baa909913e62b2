"""A bidirectional transformer in the Qwen2 layout (GQA, RoPE, SwiGLU, RMSNorm, q/k/v bias).

Tensor names follow the Hugging Face Qwen2 checkpoints (`model.layers.N.self_attn.q_proj.weight`,
...), so our own checkpoints and Qwen2-derived diffusion models load through one code path.
Attention is full (non-causal) by default: every position sees both sides of a gap.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields

import torch
import torch.nn.functional as F
from torch import nn

from model.attention import attend


@dataclass
class ModelConfig:
    vocab_size: int = 8192
    hidden_size: int = 256
    intermediate_size: int = 688
    num_hidden_layers: int = 4
    num_attention_heads: int = 4
    num_key_value_heads: int = 2
    max_position_embeddings: int = 512
    rope_theta: float = 10000.0
    rms_norm_eps: float = 1e-6
    attention_bias: bool = True  # q/k/v carry a bias in the Qwen2 family
    tie_word_embeddings: bool = True
    # Models adapted from an autoregressive LM predict token i from the hidden state at i-1.
    shift_logits: bool = False

    @property
    def head_dim(self) -> int:
        return self.hidden_size // self.num_attention_heads

    @classmethod
    def from_dict(cls, d: dict) -> ModelConfig:
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in d.items() if k in known})

    def to_dict(self) -> dict:
        return asdict(self)


class RMSNorm(nn.Module):
    def __init__(self, dim: int, eps: float) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.ones(dim))
        self.eps = eps

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        dtype = x.dtype
        x = x.float()
        x = x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + self.eps)
        return self.weight * x.to(dtype)


def rope_tables(cfg: ModelConfig, positions: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """cos/sin of shape (T, head_dim) for the given positions, half-split layout as in HF."""
    steps = torch.arange(0, cfg.head_dim, 2, dtype=torch.float32, device=positions.device)
    inv = 1.0 / (cfg.rope_theta ** (steps / cfg.head_dim))
    angles = positions.float()[:, None] * inv[None, :]
    emb = torch.cat([angles, angles], dim=-1)
    return emb.cos(), emb.sin()


def _rotate_half(x: torch.Tensor) -> torch.Tensor:
    a, b = x.chunk(2, dim=-1)
    return torch.cat([-b, a], dim=-1)


def apply_rope(x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor) -> torch.Tensor:
    return x * cos.to(x.dtype) + _rotate_half(x) * sin.to(x.dtype)


@dataclass
class LayerCache:
    """Keys and values of one layer (B, kv_heads, T, head_dim), before GQA expansion.

    Append mode (`positions` None): new keys are appended, as in autoregressive decoding.
    Overwrite mode: new keys are written at `positions` of a full-length cache and attention runs
    over the whole cache; this is the approximate prefix/suffix reuse of Fast-dLLM's dual cache.
    """

    k: torch.Tensor | None = None
    v: torch.Tensor | None = None
    positions: torch.Tensor | None = None

    def update(self, k: torch.Tensor, v: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        if self.k is None or self.v is None:
            self.k, self.v = k, v
        elif self.positions is None:
            self.k, self.v = torch.cat([self.k, k], dim=2), torch.cat([self.v, v], dim=2)
        else:
            self.k[:, :, self.positions], self.v[:, :, self.positions] = k, v
        return self.k, self.v


class Attention(nn.Module):
    def __init__(self, cfg: ModelConfig) -> None:
        super().__init__()
        self.cfg = cfg
        hd, nh, nkv = cfg.head_dim, cfg.num_attention_heads, cfg.num_key_value_heads
        self.q_proj = nn.Linear(cfg.hidden_size, nh * hd, bias=cfg.attention_bias)
        self.k_proj = nn.Linear(cfg.hidden_size, nkv * hd, bias=cfg.attention_bias)
        self.v_proj = nn.Linear(cfg.hidden_size, nkv * hd, bias=cfg.attention_bias)
        self.o_proj = nn.Linear(nh * hd, cfg.hidden_size, bias=False)

    def forward(
        self,
        x: torch.Tensor,
        cos: torch.Tensor,
        sin: torch.Tensor,
        key_padding: torch.Tensor | None,
        causal: bool,
        cache: LayerCache | None = None,
    ) -> torch.Tensor:
        B, T, _ = x.shape
        hd, nh, nkv = self.cfg.head_dim, self.cfg.num_attention_heads, self.cfg.num_key_value_heads
        q = self.q_proj(x).view(B, T, nh, hd).transpose(1, 2)
        k = self.k_proj(x).view(B, T, nkv, hd).transpose(1, 2)
        v = self.v_proj(x).view(B, T, nkv, hd).transpose(1, 2)
        q, k = apply_rope(q, cos, sin), apply_rope(k, cos, sin)
        if cache is not None:
            causal = causal and cache.k is None  # one new token after a prefix sees every cached key
            k, v = cache.update(k, v)
        y = attend(q, k, v, key_padding, causal)
        return self.o_proj(y.transpose(1, 2).reshape(B, T, nh * hd))


class MLP(nn.Module):
    def __init__(self, cfg: ModelConfig) -> None:
        super().__init__()
        self.gate_proj = nn.Linear(cfg.hidden_size, cfg.intermediate_size, bias=False)
        self.up_proj = nn.Linear(cfg.hidden_size, cfg.intermediate_size, bias=False)
        self.down_proj = nn.Linear(cfg.intermediate_size, cfg.hidden_size, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.down_proj(F.silu(self.gate_proj(x)) * self.up_proj(x))


class Block(nn.Module):
    def __init__(self, cfg: ModelConfig) -> None:
        super().__init__()
        self.input_layernorm = RMSNorm(cfg.hidden_size, cfg.rms_norm_eps)
        self.self_attn = Attention(cfg)
        self.post_attention_layernorm = RMSNorm(cfg.hidden_size, cfg.rms_norm_eps)
        self.mlp = MLP(cfg)

    def forward(
        self,
        x: torch.Tensor,
        cos: torch.Tensor,
        sin: torch.Tensor,
        key_padding: torch.Tensor | None,
        causal: bool,
        cache: LayerCache | None = None,
    ) -> torch.Tensor:
        x = x + self.self_attn(self.input_layernorm(x), cos, sin, key_padding, causal, cache)
        return x + self.mlp(self.post_attention_layernorm(x))


class Backbone(nn.Module):
    """Named `model` inside DiffusionLM so tensor names match HF (`model.embed_tokens`, ...)."""

    def __init__(self, cfg: ModelConfig) -> None:
        super().__init__()
        self.embed_tokens = nn.Embedding(cfg.vocab_size, cfg.hidden_size)
        self.layers = nn.ModuleList(Block(cfg) for _ in range(cfg.num_hidden_layers))
        self.norm = RMSNorm(cfg.hidden_size, cfg.rms_norm_eps)


# The columns whose logits a pass returns: (H,) the same columns of every row, giving (B, H, V);
# or a (rows, cols) pair of (N,) indices, giving (N, V): each row its own columns, packed.
Columns = torch.Tensor | tuple[torch.Tensor, torch.Tensor]


class DiffusionLM(nn.Module):
    def __init__(self, cfg: ModelConfig) -> None:
        super().__init__()
        self.config = cfg
        self.model = Backbone(cfg)
        self.lm_head = nn.Linear(cfg.hidden_size, cfg.vocab_size, bias=False)
        if cfg.tie_word_embeddings:
            self.lm_head.weight = self.model.embed_tokens.weight
        self.apply(self._init)

    @staticmethod
    def _init(m: nn.Module) -> None:
        if isinstance(m, nn.Linear):
            nn.init.normal_(m.weight, std=0.02)
            if m.bias is not None:
                nn.init.zeros_(m.bias)
        elif isinstance(m, nn.Embedding):
            nn.init.normal_(m.weight, std=0.02)

    def num_parameters(self) -> int:
        return sum(p.numel() for p in self.parameters())

    def forward(
        self,
        ids: torch.Tensor,
        key_padding: torch.Tensor | None = None,
        causal: bool = False,
        cache: list[LayerCache] | None = None,
        positions: torch.Tensor | None = None,
        heads: Columns | None = None,
    ) -> torch.Tensor:
        """Logits (B, T, V) for token ids (B, T); key_padding (B, T_keys) is True where a key is real.

        `positions` (T,) are the tokens' places in the sequence (default 0..T-1); with a cache
        they say where the new tokens sit. `heads` (Columns) limits the output layer to those columns:
        with a vocabulary of thousands it is a large share of a small model's pass. The
        raw logits are returned: with shift_logits, the logits at i predict token i+1 (see
        `token_logits`).
        """
        T = ids.shape[1]
        if positions is None:
            positions = torch.arange(T, device=ids.device)
        cos, sin = rope_tables(self.config, positions)
        cos, sin = cos.to(ids.device), sin.to(ids.device)
        x = self.model.embed_tokens(ids)
        for i, layer in enumerate(self.model.layers):
            x = layer(x, cos, sin, key_padding, causal, None if cache is None else cache[i])
        if isinstance(heads, tuple):
            x = x[heads]
        elif heads is not None:
            x = x[:, heads]
        return self.lm_head(self.model.norm(x))

    def token_logits(
        self,
        ids: torch.Tensor,
        key_padding: torch.Tensor | None = None,
        cache: list[LayerCache] | None = None,
        cols: Columns | None = None,
    ) -> torch.Tensor:
        """Logits whose position i scores token i, over the full (bidirectional) sequence; with
        `cols` (sorted column indices, or per-row (rows, cols) pairs: see Columns), only there."""
        if isinstance(cols, tuple):
            rows, at = cols
            return self(ids, key_padding, cache=cache, heads=(rows, self._sources(at)))
        if cols is not None:
            return self(ids, key_padding, cache=cache, heads=self._sources(cols))
        logits = self(ids, key_padding, cache=cache)
        if self.config.shift_logits:  # the first position has no left neighbour; reuse its own
            logits = torch.cat([logits[:, :1], logits[:, :-1]], dim=1)
        return logits

    def _sources(self, cols: torch.Tensor) -> torch.Tensor:
        """The hidden states that score `cols`: with shift_logits, each column's left neighbour."""
        return (cols - 1).clamp(min=0) if self.config.shift_logits else cols

    def new_cache(self) -> list[LayerCache]:
        return [LayerCache() for _ in self.model.layers]
