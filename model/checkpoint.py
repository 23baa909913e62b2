"""Checkpoint folders in the Hugging Face layout: config.json, model.safetensors, tokenizer.json.

Only safetensors are read. A folder holding only pickles (.bin/.pt/.pth) is refused before any of
its bytes are parsed; a missing or mis-shaped tensor is an error naming the file and the tensor.
"""

from __future__ import annotations

import json
from pathlib import Path

import torch
from safetensors.torch import load_file, save_file

from model.families import Family, UnknownArchitecture, family_of, our_config, their_name
from model.tokenizer import CodeTokenizer
from model.transformer import DiffusionLM, ModelConfig

DEFAULT_CHECKPOINT = Path(__file__).parent / "checkpoints" / "fillgap-small"
PICKLE_SUFFIXES = (".bin", ".pt", ".pth", ".ckpt", ".pkl")


class CheckpointError(ValueError):
    pass


def resolve(spec: str) -> Path:
    """A checkpoint folder for a path, or for `hf:ORG/NAME` (downloaded with huggingface_hub, which
    must be installed and online; only configs, tokenizers and safetensors are fetched)."""
    if not spec.startswith("hf:"):
        return Path(spec)
    try:
        from huggingface_hub import snapshot_download
    except ImportError as exc:
        raise CheckpointError(f"{spec}: install huggingface_hub to fetch hub checkpoints") from exc
    patterns = ["*.json", "*.safetensors", "tokenizer*", "*.txt"]
    return Path(snapshot_download(spec[3:], allow_patterns=patterns))


def read_config(folder: Path) -> dict:
    path = folder / "config.json"
    if not path.is_file():
        raise CheckpointError(f"{folder}: no config.json (is this a checkpoint folder?)")
    return json.loads(path.read_text())


def _weight_files(folder: Path) -> list[Path]:
    index = folder / "model.safetensors.index.json"
    if index.is_file():
        shards = sorted(set(json.loads(index.read_text())["weight_map"].values()))
        return [folder / s for s in shards]
    single = folder / "model.safetensors"
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
    state: dict[str, torch.Tensor] = {}
    for path in _weight_files(folder):
        try:
            state.update(load_file(str(path)))
        except Exception as exc:  # safetensors raises its own error types for truncated headers
            raise CheckpointError(f"{path}: not a readable safetensors file ({exc})") from exc
    return state


def _renamed_state(
    model: DiffusionLM,
    state: dict[str, torch.Tensor],
    family: Family,
    folder: Path,
) -> dict[str, torch.Tensor]:
    """Our tensor names -> their tensors, every shape checked; errors name the file's tensor."""
    out = {}
    for name, tensor in model.state_dict().items():
        theirs = their_name(family, name)
        got = state.get(theirs)
        if got is None and name == "lm_head.weight" and model.config.tie_word_embeddings:
            got = state.get(their_name(family, "model.embed_tokens.weight"))
        if got is None:
            raise CheckpointError(f"{folder}: tensor {theirs!r} is missing from the weights")
        if tuple(got.shape) != tuple(tensor.shape):
            raise CheckpointError(
                f"{folder}: tensor {theirs!r} has shape {tuple(got.shape)}, expected {tuple(tensor.shape)}"
            )
        out[name] = got
    return out


def load_checkpoint(folder: Path, dtype: torch.dtype = torch.float32) -> tuple[DiffusionLM, CodeTokenizer, dict]:
    folder = Path(folder)
    raw = read_config(folder)
    try:
        family = family_of(raw)
    except UnknownArchitecture as exc:
        raise CheckpointError(f"{folder / 'config.json'}: {exc}") from exc
    cfg = ModelConfig.from_dict(our_config(raw))
    state = load_state(folder)
    model = DiffusionLM(cfg)
    model.load_state_dict(_renamed_state(model, state, family, folder), strict=True)
    model.to(dtype).eval()
    tok_path = folder / "tokenizer.json"
    if not tok_path.is_file():
        raise CheckpointError(f"{folder}: no tokenizer.json")
    return model, CodeTokenizer.from_file(tok_path, our_config(raw)), raw


def save_checkpoint(model: DiffusionLM, tokenizer: CodeTokenizer, folder: Path, extra: dict | None = None) -> None:
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    state = {k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()}
    if model.config.tie_word_embeddings:
        state.pop("lm_head.weight", None)  # shared with the embedding, as HF stores it
    tmp = folder / "model.safetensors.tmp"
    save_file(state, str(tmp), metadata={"format": "pt"})
    tmp.replace(folder / "model.safetensors")
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
