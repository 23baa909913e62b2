"""Deepen a trained checkpoint without changing what it computes: the start of a bigger model.

Two CPU cores cannot train a bigger model from scratch past the small one in a session, but they
can keep training the small one's knowledge in a deeper network. Block expansion (LLaMA Pro, Wu
et al. 2024) inserts a copy of a block after each original with its two output projections
(attention `o_proj`, MLP `down_proj`) set to zero: each new block adds nothing to the residual
stream, so the grown model's logits equal the base's exactly, and training starts from the base's
loss instead of from noise. The copies' other weights get gradients once their outputs move off
zero, from the first step on.
"""

from __future__ import annotations

import torch

ZEROED = ("self_attn.o_proj.weight", "mlp.down_proj.weight")  # a block's writes to the residual stream


def grown_layer_sources(base_layers: int, layers: int) -> list[int | None]:
    """For each layer of the grown model, the base layer it is (an int) or a zeroed copy of
    (None after its source): copies spread evenly, each right after the layer it copies."""
    if layers < base_layers:
        raise ValueError(f"cannot grow {base_layers} layers to {layers}: that is fewer")
    extra = layers - base_layers
    out: list[int | None] = []
    for i in range(base_layers):
        out.append(i)
        # layer i gets a copy when the running share of copies falls behind extra / base_layers
        if (i + 1) * extra // base_layers > i * extra // base_layers:
            out.append(None)
    return out


def grow_state(state: dict[str, torch.Tensor], base_layers: int, layers: int) -> dict[str, torch.Tensor]:
    """The base's tensors renamed into `layers` layers, each inserted copy's output projections zero."""
    prefix = "model.layers."
    out = {k: v for k, v in state.items() if not k.startswith(prefix)}
    source = grown_layer_sources(base_layers, layers)
    for new, src in enumerate(source):
        copy_of = src if src is not None else source[new - 1]
        assert copy_of is not None
        for key, val in state.items():
            if key.startswith(f"{prefix}{copy_of}."):
                name = key.removeprefix(f"{prefix}{copy_of}.")
                zero = src is None and name in ZEROED
                out[f"{prefix}{new}.{name}"] = torch.zeros_like(val) if zero else val.clone()
    return out
