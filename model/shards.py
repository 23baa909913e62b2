"""Tensors grouped for safetensors files of at most MAX_FILE_BYTES each.

The repository keeps every file under 40 MB (a checkpoint's weights and a run's optimizer state
are committed as they are), so anything larger is written in shards.
"""

from __future__ import annotations

import torch

MAX_FILE_BYTES = 36_000_000


def shard_groups(tensors: dict[str, torch.Tensor], max_bytes: int = MAX_FILE_BYTES) -> list[dict[str, torch.Tensor]]:
    """`tensors` in name order, cut into groups of at most `max_bytes` (a tensor larger than that
    gets a group of its own); one group when they all fit."""
    groups: list[dict[str, torch.Tensor]] = [{}]
    size = 0
    for key in sorted(tensors):
        if groups[-1] and size + tensors[key].nbytes > max_bytes:
            groups.append({})
            size = 0
        groups[-1][key] = tensors[key]
        size += tensors[key].nbytes
    return groups
