"""A DiffusionGemma checkpoint folder read without transformers: its side files and its tensor plan.

Everything here is stdlib + the safetensors headers (model/checkpoint.py, model/weights.py), so the
worker can weigh and check a folder (model/engine.py's device rule) before the ~3 s transformers
import that model/gemma_load.py pays to build the model.

- Side files: generation_config.json over the reference defaults, the chat template
  (chat_template.jinja, else tokenizer_config.json's "chat_template"), tokenizer_config.json. A
  folder lacking any of the three still loads, on the reference defaults, with one warning naming
  what is missing.
- Tensors: the vision tower and its projector are left unloaded (fillgap fills text); they are
  the explicit allow-list SKIPPED. Every other tensor must have a place in the model or it is
  refused by name before any weight is read; tied copies a folder stores anyway (lm_head.weight
  in a tied checkpoint) are ignored, as transformers ignores them.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from model.checkpoint import _headers, read_config
from model.hub_tokenizer import read_json
from model.weights import CheckpointError, Entry

log = logging.getLogger("fillgap.worker")

MODEL_TYPE = "diffusion_gemma"
# The tensors of the image path: Gemma 4's vision encoder and the projection of its soft tokens
# into the text width. A text fill never runs them.
SKIPPED = (re.compile(r"^model\.encoder\.vision_tower\."), re.compile(r"^model\.encoder\.embed_vision\."))
SHOWN = 5  # unexpected tensors named in the error; the rest are counted
# The reference loop's defaults where a checkpoint sets nothing: transformers'
# DiffusionGemmaGenerationConfig._get_default_generation_params (generation_diffusion_gemma.py,
# transformers 5.24): 256 new tokens, 48 steps, entropy bound 0.1, temperature 0.8 -> 0.4, stop
# after 1 stable step under a mean entropy of 0.005.
REFERENCE_GENERATION: dict[str, Any] = {
    "max_new_tokens": 256,
    "max_denoising_steps": 48,
    "entropy_bound": 0.1,
    "t_min": 0.4,
    "t_max": 0.8,
    "stability_threshold": 1,
    "confidence_threshold": 0.005,
}
GENERATION_KEYS = (*REFERENCE_GENERATION, "eos_token_id", "pad_token_id", "bos_token_id")


def is_diffusion_gemma(config: Mapping[str, Any]) -> bool:
    return str(config.get("model_type", "")).lower() == MODEL_TYPE


def skipped(name: str) -> bool:
    """Whether a folder's tensor is on the allow-list of tensors left unloaded."""
    return any(p.search(name) for p in SKIPPED)


@dataclass(frozen=True)
class SideFiles:
    """What a folder says besides its weights, with the reference defaults where it says nothing."""

    generation: dict[str, Any]  # REFERENCE_GENERATION's keys (+ the ids the file gives), file over defaults
    chat_template: str | None
    tokenizer_config: dict[str, Any]
    missing: tuple[str, ...]  # which of the three were absent (one warning names them all)


def _generation(folder: Path) -> tuple[dict[str, Any], bool]:
    raw = read_json(folder, "generation_config.json")
    found = (folder / "generation_config.json").is_file()
    out = dict(REFERENCE_GENERATION)
    sampler = raw.get("sampler_config")
    if isinstance(sampler, dict):  # transformers writes the dataclass as a dict with `_cls_name`
        kind = sampler.get("_cls_name", "EntropyBoundSamplerConfig")
        if kind != "EntropyBoundSamplerConfig":
            where = folder / "generation_config.json"
            raise CheckpointError(f"{where}: sampler_config {kind!r}: fillgap runs EntropyBoundSamplerConfig only")
        if sampler.get("entropy_bound") is not None:
            out["entropy_bound"] = float(sampler["entropy_bound"])
    out.update({k: raw[k] for k in GENERATION_KEYS if k != "entropy_bound" and raw.get(k) is not None})
    return out, found


def _template(folder: Path, tokenizer_config: dict[str, Any]) -> str | None:
    path = folder / "chat_template.jinja"
    if path.is_file():
        return path.read_text(encoding="utf-8")
    inside = tokenizer_config.get("chat_template")
    if isinstance(inside, list):  # [{"name": "default", "template": ...}, ...]
        named = {t.get("name"): t.get("template") for t in inside if isinstance(t, dict)}
        inside = named.get("default")
    return inside if isinstance(inside, str) and inside else None


def side_files(folder: Path) -> SideFiles:
    """The folder's generation defaults, chat template and tokenizer_config.json; logs one warning
    naming whichever of them the folder lacks."""
    folder = Path(folder)
    tokenizer_config = read_json(folder, "tokenizer_config.json")
    generation, has_generation = _generation(folder)
    template = _template(folder, tokenizer_config)
    missing = tuple(
        name
        for name, present in (
            ("generation_config.json", has_generation),
            ("a chat template (chat_template.jinja or tokenizer_config.json's chat_template)", template is not None),
            ("tokenizer_config.json", (folder / "tokenizer_config.json").is_file()),
        )
        if not present
    )
    if missing:
        log.warning(
            "%s: no %s; loading with the reference defaults (%s)",
            folder,
            ", no ".join(missing),
            ", ".join(f"{k}={v}" for k, v in REFERENCE_GENERATION.items()),
        )
    return SideFiles(generation, template, tokenizer_config, missing)


def tensor_entries(folder: Path) -> dict[str, Entry]:
    """Every tensor of the folder's safetensors shards (a pickle-only folder is refused, naming its files)."""
    return _headers(Path(folder))


def text_parameter_count(folder: Path) -> int:
    """The numbers a text-only load puts on the device: every stored tensor but the vision ones
    (a tied checkpoint stores the shared encoder/decoder/head weights once, so this is what loads)."""
    return sum(e.numel for name, e in tensor_entries(folder).items() if not skipped(name))


def plan(
    folder: Path,
    entries: Mapping[str, Entry],
    wanted: Mapping[str, tuple[int, ...]],
    tied: Mapping[str, str],
) -> tuple[dict[str, Entry], tuple[str, ...]]:
    """(the model's name -> the folder's tensor that fills it, the folder's tensors left unloaded).

    `wanted`: every parameter and persistent buffer of the text model with its shape; `tied`:
    target -> source among them (a target is not read: it shares its source's tensor). A missing or
    mis-shaped tensor, or one with no place and not on the SKIPPED allow-list, is refused by name."""
    out: dict[str, Entry] = {}
    for name, shape in wanted.items():
        if name in tied:
            continue
        got = entries.get(name)
        if got is None:
            raise CheckpointError(f"{folder}: tensor {name!r} is missing from the weights")
        if got.shape != tuple(shape):
            raise CheckpointError(f"{folder}: tensor {name!r} has shape {got.shape}, expected {tuple(shape)}")
        out[name] = got
    left = tuple(sorted(n for n in entries if skipped(n)))
    extra = sorted(n for n in entries if n not in out and n not in tied and not skipped(n))
    if extra:
        more = f" and {len(extra) - SHOWN} more" if len(extra) > SHOWN else ""
        raise CheckpointError(
            f"{folder}: {len(extra)} tensors in the weights have no place in the DiffusionGemma text model "
            f"config.json describes and are not vision tensors: {', '.join(map(repr, extra[:SHOWN]))}{more}"
        )
    return out, left


def read_gemma_config(folder: Path) -> dict[str, Any]:
    raw = read_config(Path(folder))
    if not is_diffusion_gemma(raw):
        raise CheckpointError(f"{folder / 'config.json'}: model_type {raw.get('model_type')!r} is not {MODEL_TYPE!r}")
    if not isinstance(raw.get("text_config"), dict):
        raise CheckpointError(f"{folder / 'config.json'}: no text_config")
    return raw


def flat_config(raw: Mapping[str, Any]) -> dict[str, Any]:
    """text_config with the root's token ids over it: what the shared special-token rules
    (model/special_tokens.py) read as config.json."""
    out = dict(raw["text_config"])
    for key in ("eos_token_id", "bos_token_id", "pad_token_id", "image_token_id", "boi_token_id", "eoi_token_id"):
        if raw.get(key) is not None:
            out[key] = raw[key]
    return out
