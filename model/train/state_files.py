"""A training run's optimizer state on disk, in safetensors files of at most MAX_FILE_BYTES each.

The repository keeps every file under 40 MB, and AdamW's two moments for a model of a few million
parameters are already past that, so a run's state is written in shards (`optimizer-00001.safetensors`,
...) that can be committed as they are and resumed on another machine. A single
`optimizer.safetensors` (runs written before the shards) is still read.
"""

from __future__ import annotations

from pathlib import Path

import torch
from safetensors.torch import load_file, save_file

from model.shards import MAX_FILE_BYTES, shard_groups

STEM = "optimizer"


def shard_paths(out: Path) -> list[Path]:
    return sorted(out.glob(f"{STEM}-[0-9][0-9][0-9][0-9][0-9].safetensors"))


def save_sharded(tensors: dict[str, torch.Tensor], out: Path, max_bytes: int = MAX_FILE_BYTES) -> list[Path]:
    """Write `tensors` in shards of at most `max_bytes` (a tensor larger than that gets one of its
    own), replacing the shards of an earlier save only once all the new ones are written."""
    written = []
    for i, group in enumerate(shard_groups(tensors, max_bytes), start=1):
        tmp = out / f"{STEM}-{i:05d}.safetensors.tmp"
        save_file(group, str(tmp))
        written.append(tmp)
    old = set(shard_paths(out)) | {out / f"{STEM}.safetensors"}
    final = [tmp.with_suffix("") for tmp in written]
    for path in old - set(final):
        path.unlink(missing_ok=True)
    for tmp, path in zip(written, final, strict=True):
        tmp.replace(path)
    return final


def load_sharded(out: Path) -> dict[str, torch.Tensor]:
    """Every tensor of the run's optimizer state: its shards, else the single file of older runs."""
    shards = shard_paths(out)
    if not shards:
        return load_file(str(out / f"{STEM}.safetensors"))
    flat: dict[str, torch.Tensor] = {}
    for path in shards:
        flat.update(load_file(str(path)))
    return flat
