"""Checkpoint folders in the Hugging Face layout: config.json, safetensors weights, tokenizer files.

Only safetensors are read. A folder holding only pickles (.bin/.pt/.pth) is refused before any of
its bytes are parsed. Before a byte of the weights is read, the config and every shard's header
are checked: a config flag we cannot run, a missing or mis-shaped tensor, or a tensor the
architecture has no place for is an error naming the config key or the file's tensor name. The
model is built on the meta device (no random init, no float32 copy) and each tensor is read
straight onto the target device in the target dtype (model/weights.py): loading takes the
weights' memory plus one tensor.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import load_file, save_file

from model.families import Family, UnknownArchitecture, family_of, our_config, their_name
from model.shards import MAX_FILE_BYTES, shard_groups
from model.tokenizer import CodeTokenizer, load_tokenizer
from model.transformer import DiffusionLM, ModelConfig
from model.weights import CheckpointError, Entry, read_header, read_tensor, staging_buffer

DEFAULT_CHECKPOINT = Path(__file__).parent / "checkpoints" / "fillgap-small"
SINGLE = "model.safetensors"
INDEX = "model.safetensors.index.json"  # with the shards' names, for weights past MAX_FILE_BYTES
PICKLE_SUFFIXES = (".bin", ".pt", ".pth", ".ckpt", ".pkl")
LoadProgress = Callable[[int, int, str], None]  # bytes read, bytes in all, what is being read
# Buffers some older checkpoints saved; the rotary tables are computed, never read.
HARMLESS = re.compile(r"(^|\.)rotary_emb\.inv_freq$")
ROPE_KEYS = ("rope_scaling", "rope_parameters")  # dicts, judged by their rope type
SHOWN = 5  # unexpected tensors named in the error; the rest are counted


def resolve(spec: str) -> Path:
    """A checkpoint folder for a path, or for `hf:ORG/NAME` (downloaded with huggingface_hub, which
    must be installed and online; only configs, tokenizers and safetensors are fetched)."""
    if not spec.startswith("hf:"):
        return Path(spec)
    try:
        from huggingface_hub import snapshot_download
    except ImportError as exc:
        raise CheckpointError(
            f"{spec}: fetching hub checkpoints needs huggingface_hub: pip install 'fillgap[hub]' "
            "(or download the folder and pass its path)"
        ) from exc
    patterns = ["*.json", "*.safetensors", "tokenizer*", "*.txt"]
    return Path(snapshot_download(spec[3:], allow_patterns=patterns))


def read_config(folder: Path) -> dict:
    path = folder / "config.json"
    if not path.is_file():
        raise CheckpointError(f"{folder}: no config.json (is this a checkpoint folder?)")
    return json.loads(path.read_text())


def weight_files(folder: Path) -> list[Path]:
    """The folder's safetensors weights: the index's shards in name order, else model.safetensors."""
    index = folder / INDEX
    if index.is_file():
        shards = sorted(set(json.loads(index.read_text())["weight_map"].values()))
        return [folder / s for s in shards]
    single = folder / SINGLE
    if single.is_file():
        return [single]
    pickles = [p.name for p in folder.iterdir() if p.suffix in PICKLE_SUFFIXES]
    if pickles:
        raise CheckpointError(
            f"{folder}: only pickle weights found ({', '.join(sorted(pickles))}); fillgap loads "
            "safetensors only and never unpickles. Convert them to model.safetensors first."
        )
    raise CheckpointError(f"{folder}: no model.safetensors or model.safetensors.index.json")


def load_state(folder: Path) -> dict[str, torch.Tensor]:
    """Every tensor of the folder's weights on the CPU, as stored (for training's warm start)."""
    state: dict[str, torch.Tensor] = {}
    for path in weight_files(folder):
        try:
            state.update(load_file(str(path)))
        except Exception as exc:  # safetensors raises its own error types for truncated headers
            raise CheckpointError(f"{path}: not a readable safetensors file ({exc})") from exc
    return state


def _headers(folder: Path) -> dict[str, Entry]:
    """Every tensor of every shard, by the file's name for it; one name in two shards is refused."""
    entries: dict[str, Entry] = {}
    for path in weight_files(folder):
        if not path.is_file():
            raise CheckpointError(f"{folder}: the index names {path.name}, which is not in the folder")
        for name, entry in read_header(path).items():
            if name in entries:
                raise CheckpointError(f"{folder}: tensor {name!r} is in both {entries[name].path.name} and {path.name}")
            entries[name] = entry
    return entries


def parameter_count(folder: Path) -> int:
    """How many numbers the weights hold, read from the shards' headers (no tensor is read)."""
    return sum(e.numel for e in _headers(Path(folder)).values())


def _runs(key: str, value: Any, allowed: tuple[Any, ...]) -> bool:
    if key in ROPE_KEYS and isinstance(value, dict):  # {"rope_type": "default", "rope_theta": ...}
        value = value.get("rope_type", value.get("type", "default"))
    if isinstance(value, list):  # e.g. layer_types: one entry per layer
        return all(v in allowed for v in value)
    return value in allowed


def _unsupported(raw: dict, family: Family, cfg: ModelConfig) -> list[str]:
    bad = [
        f"{key}={raw[key]!r} (fillgap runs {' or '.join(map(repr, allowed))})"
        for key, allowed in family.supported.items()
        if key in raw and not _runs(key, raw[key], allowed)
    ]
    head_dim = raw.get("head_dim")
    if head_dim is not None and head_dim != cfg.head_dim:
        bad.append(f"head_dim={head_dim!r} (fillgap runs hidden_size / num_attention_heads = {cfg.head_dim})")
    return bad


def checked_config(folder: Path, raw: dict) -> tuple[Family, ModelConfig]:
    """The family and our config for a folder's config.json, refusing what we cannot run."""
    try:
        family = family_of(raw)
    except UnknownArchitecture as exc:
        raise CheckpointError(f"{folder / 'config.json'}: {exc}") from exc
    cfg = ModelConfig.from_dict(our_config(raw))
    bad = _unsupported(raw, family, cfg)
    if bad:
        raise CheckpointError(f"{folder / 'config.json'}: fillgap cannot run {'; '.join(bad)}")
    return family, cfg


def _plan(folder: Path, model: DiffusionLM, family: Family) -> dict[str, Entry]:
    """Our tensor name -> the file's tensor that fills it, every shape checked and nothing left
    over; errors name the file's tensor."""
    entries = _headers(folder)
    tied = model.config.tie_word_embeddings
    plan: dict[str, Entry] = {}
    used = set()
    for name, want in model.state_dict().items():
        theirs = their_name(family, name)
        used.add(theirs)  # a tied checkpoint may still store lm_head: the embedding wins, as in HF
        if tied and name == "lm_head.weight":
            theirs = their_name(family, "model.embed_tokens.weight")
        got = entries.get(theirs)
        if got is None:
            raise CheckpointError(f"{folder}: tensor {theirs!r} is missing from the weights")
        if got.shape != tuple(want.shape):
            raise CheckpointError(f"{folder}: tensor {theirs!r} has shape {got.shape}, expected {tuple(want.shape)}")
        plan[name] = got
    extra = sorted(n for n in entries if n not in used and not HARMLESS.search(n))
    if extra:
        more = f" and {len(extra) - SHOWN} more" if len(extra) > SHOWN else ""
        raise CheckpointError(
            f"{folder}: {len(extra)} tensors in the weights have no place in the {family.name} model "
            f"config.json describes: {', '.join(map(repr, extra[:SHOWN]))}{more}"
        )
    return plan


@contextmanager
def _shapes_only() -> Iterator[None]:
    """Modules built inside get meta tensors: no memory, and their random init does nothing. One
    exception made explicit: torch's normal_ on a meta tensor imports torch._dynamo (6 s and 74 MB
    of resident memory measured, torch 2.13), so for meta tensors it is skipped outright."""
    real = torch.nn.init.normal_

    def normal_(tensor: torch.Tensor, *args: Any, **kwargs: Any) -> torch.Tensor:
        return tensor if tensor.is_meta else real(tensor, *args, **kwargs)

    torch.nn.init.normal_ = normal_  # type: ignore[assignment]
    try:
        with torch.device("meta"):
            yield
    finally:
        torch.nn.init.normal_ = real


def _read_weights(
    plan: dict[str, Entry], device: torch.device, dtype: torch.dtype, progress: LoadProgress | None
) -> dict[str, torch.Tensor]:
    """Each planned tensor read once (a tied matrix serves two names), shard by shard in file order."""
    unique = sorted({(e.path, e.start): e for e in plan.values()}.values(), key=lambda e: (e.path, e.start))
    files = sorted({e.path for e in unique})
    total, done = sum(e.nbytes for e in unique), 0
    report = progress or (lambda done, total, message: None)
    staging = staging_buffer(unique, device, dtype)
    loaded: dict[tuple[Path, int], torch.Tensor] = {}
    for i, path in enumerate(files, 1):
        message = f"{path.name} ({i} of {len(files)})"
        report(done, total, message)
        with path.open("rb", buffering=0) as f:
            for entry in (e for e in unique if e.path == path):
                loaded[entry.path, entry.start] = read_tensor(f, entry, device, dtype, staging)
                done += entry.nbytes
                report(done, total, message)
    return {name: loaded[e.path, e.start] for name, e in plan.items()}


def load_checkpoint(
    folder: Path, dtype: torch.dtype = torch.float32, device: str = "cpu", progress: LoadProgress | None = None
) -> tuple[DiffusionLM, CodeTokenizer, dict]:
    """The folder's model (on `device`, in `dtype`, in eval mode), its tokenizer and its raw config.
    `progress(bytes_done, bytes_total, message)` is called as the weights are read."""
    folder = Path(folder)
    raw = read_config(folder)
    family, cfg = checked_config(folder, raw)
    try:  # before the weights: a broken tokenizer should not cost a long read
        tok = load_tokenizer(folder, our_config(raw), family)
    except ValueError as exc:  # the tokenizer files' own errors name the file
        raise CheckpointError(str(exc)) from exc
    with _shapes_only():
        model = DiffusionLM(cfg)
    state = _read_weights(_plan(folder, model, family), torch.device(device), dtype, progress)
    model.load_state_dict(state, strict=True, assign=True)
    if cfg.tie_word_embeddings:  # assign gave each name its own Parameter; share one again
        model.lm_head.weight = model.model.embed_tokens.weight
    return model.eval(), tok, raw


def _shard_names(folder: Path) -> set[Path]:
    return set(folder.glob("model-[0-9][0-9][0-9][0-9][0-9]-of-[0-9][0-9][0-9][0-9][0-9].safetensors"))


def save_weights(state: dict[str, torch.Tensor], folder: Path, max_bytes: int = MAX_FILE_BYTES) -> list[Path]:
    """`state` as model.safetensors, or, past `max_bytes`, in shards named as save_pretrained names
    them with model.safetensors.index.json; the other layout's files of an earlier save are removed
    once the new ones are in place."""
    groups = shard_groups(state, max_bytes)
    n = len(groups)
    names = [SINGLE] if n == 1 else [f"model-{i:05d}-of-{n:05d}.safetensors" for i in range(1, n + 1)]
    kept = {folder / name for name in names} | ({folder / INDEX} if n > 1 else set())
    stale = (_shard_names(folder) | {folder / SINGLE, folder / INDEX}) - kept
    for name, group in zip(names, groups, strict=True):
        tmp = folder / f"{name}.tmp"
        save_file(group, str(tmp), metadata={"format": "pt"})
        tmp.replace(folder / name)
    if n > 1:
        weight_map = {key: name for name, group in zip(names, groups, strict=True) for key in group}
        total = sum(t.nbytes for t in state.values())
        tmp = folder / f"{INDEX}.tmp"
        tmp.write_text(json.dumps({"metadata": {"total_size": total}, "weight_map": weight_map}, indent=2) + "\n")
        tmp.replace(folder / INDEX)
    for path in stale:
        path.unlink(missing_ok=True)
    return [folder / name for name in names]


def save_checkpoint(model: DiffusionLM, tokenizer: CodeTokenizer, folder: Path, extra: dict | None = None) -> None:
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    state = {k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()}
    if model.config.tie_word_embeddings:
        state.pop("lm_head.weight", None)  # shared with the embedding, as HF stores it
    save_weights(state, folder)
    sp = tokenizer.specials
    config = {
        "architectures": ["FillgapDiffusionLM"],
        "model_type": "fillgap",
        **model.config.to_dict(),
        "mask_token_id": sp.mask,
        "null_token_id": sp.null,
        "eos_token_id": sp.eos,
        "pad_token_id": sp.pad,
        **(extra or {}),
    }
    (folder / "config.json").write_text(json.dumps(config, indent=2) + "\n")
    tokenizer.tok.save(str(folder / "tokenizer.json"))
