"""Loading a DiffusionGemma checkpoint folder onto a device: transformers' reference modules, our reads.

The model is transformers' DiffusionGemmaForBlockDiffusion (the reference implementation: Gemma 4
MoE encoder and decoder, self-conditioning, the soft-capped head), imported only here and only
when such a folder is loaded. It is never built through an Auto class or with remote code: the
class is named, so config.json's `auto_map` (if any) is never followed. Attention runs through
torch SDPA (transformers marks this model as not supporting flash-attn).

The default load streams the weights ourselves: the module tree is built on the meta device
without its vision tower (no memory, no random init), every text tensor is planned against the
shards' headers (model/gemma_folder.py: missing, mis-shaped or unexpected tensors refused by
name; the vision tensors on an allow-list, left unread), then read one at a time straight into
its device and dtype (model/checkpoint.py, model/weights.py: peak host memory is the weights on
the CPU path, the largest tensor on a GPU path), with progress reported per tensor. The shared
encoder/decoder/head weights of a tied checkpoint are read once and shared again.

A `device_map` (several GPUs) or `quantize` hands the read to transformers' from_pretrained with
those options passed through (it needs accelerate; quantizing needs the library named below).
The folder is checked the same way first. Untested on several GPUs: no machine here has two.

Quantizing, what the libraries do to this MoE (transformers 5.24): 22.8B of the 25.2B parameters
sit in 3-D expert tensors (experts.gate_up_proj (E, 2I, H), experts.down_proj (E, H, I)), not in
nn.Linear modules. bitsandbytes (8-bit, 4-bit NF4) swaps only nn.Linear, so the experts stay
bf16: "bnb-8bit"/"bnb-4bit" shrink attention, dense MLP and router only. transformers' own
FineGrainedFP8 quantizer replaces each `.experts` module with FP8Experts (e4m3 weights, 128x128
block scales) as well as the linears: "fp8" halves the experts, on CUDA GPUs of compute
capability 8.9+ (H100, H200, RTX 4090) only. No maintained library here quantizes the expert
tensors to 4 bits on the fly; pre-quantized 4-bit builds (GGUF, MLX, NVFP4) are other formats.
LoadedGemma.expert_bytes reports the experts' bytes after loading, whichever path ran.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from model.checkpoint import LoadProgress, _read_weights
from model.devices import resolve_device
from model.engine import LoadOptions, torch_dtype
from model.families import FAMILIES
from model.gemma_folder import SideFiles, flat_config, plan, read_gemma_config, side_files, tensor_entries
from model.special_tokens import SpecialIds
from model.tokenizer import CodeTokenizer, load_tokenizer
from model.weights import CheckpointError, Entry

QUANTIZE = ("fp8", "bnb-8bit", "bnb-4bit")
END_OF_TURN = "<turn|>"  # Gemma 4's end-of-turn marker (id 106 in its vocabulary)


@dataclass
class LoadedGemma:
    """A DiffusionGemma folder loaded for text: the model and everything a fill needs beside it."""

    model: Any  # transformers' DiffusionGemmaForBlockDiffusion, eval mode, no vision tower
    tokenizer: CodeTokenizer  # encode/decode without special-token handling, token_texts
    specials: SpecialIds  # pad 0, eos 1, bos 2; `ends` holds every end id config.json declares
    end_of_turn: int | None  # <turn|>: where an instruction-mode answer ends
    generation: dict[str, Any]  # generation_config.json over the reference defaults (gemma_folder.REFERENCE_GENERATION)
    chat_template: str | None
    config: dict[str, Any]  # config.json as read
    skipped: tuple[str, ...]  # the folder's tensors left unloaded (the vision tower and its projector)
    device: torch.device  # where inputs go (the embeddings' device under a device_map)
    dtype: torch.dtype
    missing: tuple[str, ...] = ()  # side files the folder lacked (reference defaults used, one warning logged)
    quantized_by: str | None = None  # the library that quantized the weights, None: not quantized
    expert_bytes: int = 0  # bytes the MoE expert tensors hold after loading
    device_map: dict[str, Any] | None = None  # transformers' placement, when a device_map was passed
    seconds: float = 0.0  # wall time of the load
    text_config: dict[str, Any] = field(default_factory=dict)

    @property
    def canvas_length(self) -> int:
        return int(self.config.get("canvas_length") or 256)

    def status(self) -> dict[str, Any]:
        """The EngineInfo fields fillgap status shows (family, canvas_tokens, experts, experts_active,
        dtype, device_memory)."""
        on_device = sum(
            t.numel() * t.element_size() for t in self.model.parameters() if t.device.type not in ("cpu", "meta")
        )
        return {
            "family": "diffusion_gemma",
            "canvas_tokens": self.canvas_length,
            "experts": self.text_config.get("num_experts"),
            "experts_active": self.text_config.get("top_k_experts"),
            "dtype": str(self.dtype).removeprefix("torch."),
            "device_memory": on_device or None,
        }


def _transformers() -> Any:
    try:
        import transformers
    except ImportError as exc:
        raise CheckpointError(
            "DiffusionGemma checkpoints need transformers >= 5.11 (pip install 'transformers>=5.11')"
        ) from exc
    if not hasattr(transformers, "DiffusionGemmaForBlockDiffusion"):
        raise CheckpointError(
            f"transformers {transformers.__version__} has no DiffusionGemma (added in 5.11): "
            "pip install -U 'transformers>=5.11'"
        )
    return transformers


def hf_config(raw: dict[str, Any]) -> Any:
    """transformers' DiffusionGemmaConfig for a config.json, with SDPA attention."""
    config = _transformers().DiffusionGemmaConfig.from_dict(raw)
    config._attn_implementation = "sdpa"
    return config


def skeleton(config: Any) -> Any:
    """The text model's module tree on the meta device: no init, no memory, no vision tower."""
    tf = _transformers()
    from transformers.initialization import no_init_weights

    with no_init_weights(), torch.device("meta"):
        model = tf.DiffusionGemmaForBlockDiffusion(config)
    _drop_vision(model)
    return model


def _drop_vision(model: Any) -> None:
    # a text fill never runs the image path; the module slots stay, empty
    model.model.encoder.vision_tower = None
    model.model.encoder.embed_vision = None


def wanted_tensors(model: Any) -> tuple[dict[str, tuple[int, ...]], dict[str, str]]:
    """(every parameter and persistent buffer the text model holds -> its shape, tied target -> source)."""
    state = model.state_dict()
    wanted = {name: tuple(t.shape) for name, t in state.items()}
    tied = {t: s for t, s in (getattr(model, "all_tied_weights_keys", None) or {}).items() if t in wanted}
    return wanted, tied


def _set(model: Any, name: str, tensor: torch.Tensor) -> None:
    owner, _, leaf = name.rpartition(".")
    module = model.get_submodule(owner)
    if leaf in module._parameters:
        module._parameters[leaf] = torch.nn.Parameter(tensor, requires_grad=False)
    else:
        module._buffers[leaf] = tensor


def _materialize_buffers(model: Any, device: torch.device) -> None:
    """The buffers no checkpoint stores, computed on `device`: the rotary tables and the embeddings' scale."""
    for name, module in model.named_modules():
        meta = [b for b, t in module._buffers.items() if t is not None and t.is_meta]
        if not meta:
            continue
        if hasattr(module, "rope_init_fns") or name.endswith("rotary_emb"):
            fresh = type(module)(module.config, device=device)
            for b in meta:
                module._buffers[b] = fresh._buffers[b]
        elif meta == ["embed_scale"] and hasattr(module, "scalar_embed_scale"):
            module._buffers["embed_scale"] = torch.tensor(module.scalar_embed_scale, device=device)
        else:
            raise CheckpointError(f"buffer {name}.{meta[0]} is in no checkpoint and fillgap cannot compute it")
    left = [n for n, t in [*model.named_parameters(), *model.named_buffers()] if t.is_meta]
    if left:
        raise CheckpointError(f"tensors left unloaded: {', '.join(left[:5])}")


def _stream(
    model: Any,
    planned: dict[str, Entry],
    tied: dict[str, str],
    device: torch.device,
    dtype: torch.dtype,
    progress: LoadProgress | None,
) -> None:
    state = _read_weights(planned, device, dtype, progress)
    for name, tensor in state.items():
        _set(model, name, tensor)
    for target, source in tied.items():  # the encoder's text weights and lm_head share the decoder's
        owner, _, leaf = target.rpartition(".")
        model.get_submodule(owner)._parameters[leaf] = model.get_parameter(source)
    _materialize_buffers(model, device)


def check_quantize(kind: str | None, device: torch.device) -> None:
    """Refuse, before anything is read, a quantization this machine cannot run."""
    if kind is None:
        return
    if kind not in QUANTIZE:
        raise CheckpointError(f"quantize {kind!r}: fillgap quantizes DiffusionGemma with one of {', '.join(QUANTIZE)}")
    if kind == "fp8" and (device.type != "cuda" or torch.cuda.get_device_capability(device) < (8, 9)):
        raise CheckpointError(
            "quantize fp8 (transformers' FineGrainedFP8, which also quantizes the MoE experts) needs a CUDA GPU "
            "of compute capability 8.9 or more (H100, H200, RTX 4090)"
        )
    if kind.startswith("bnb-"):
        try:
            import bitsandbytes  # noqa: F401
        except ImportError as exc:
            raise CheckpointError(
                f"quantize {kind} needs bitsandbytes (pip install bitsandbytes). Note that it quantizes nn.Linear "
                "only: DiffusionGemma's MoE experts (22.8B of its 25.2B parameters) stay bf16."
            ) from exc


def _quantization_config(kind: str) -> tuple[Any, str]:
    tf = _transformers()
    if kind == "fp8":
        return tf.FineGrainedFP8Config(modules_to_not_convert=["lm_head", "embed_tokens", "router"]), "transformers fp8"
    skip = ["lm_head", "router", "self_conditioning"]
    bits = {"load_in_8bit": True} if kind == "bnb-8bit" else {"load_in_4bit": True, "bnb_4bit_quant_type": "nf4"}
    return tf.BitsAndBytesConfig(llm_int8_skip_modules=skip, bnb_4bit_compute_dtype=torch.bfloat16, **bits), (
        "bitsandbytes"
    )


def _from_pretrained(
    folder: Path, config: Any, options: LoadOptions, device: torch.device, dtype: torch.dtype, total: int
) -> tuple[Any, str | None]:
    """transformers' own loading, for a device_map or a quantized load (options passed through)."""
    tf = _transformers()
    try:
        import accelerate  # noqa: F401
    except ImportError as exc:
        raise CheckpointError(
            "a device_map or quantized DiffusionGemma load runs through transformers, which needs accelerate: "
            "pip install 'fillgap[multi-gpu]' (or pip install accelerate)"
        ) from exc
    quantization, by = (None, None)
    if options.quantize:
        quantization, by = _quantization_config(options.quantize)
    report = options.progress or (lambda done, total, message: None)
    report(0, total, "transformers from_pretrained")
    model = tf.DiffusionGemmaForBlockDiffusion.from_pretrained(
        str(folder),
        config=config,
        dtype=dtype,
        attn_implementation="sdpa",
        use_safetensors=True,
        device_map=options.device_map if options.device_map is not None else str(device),
        max_memory=options.max_memory,
        quantization_config=quantization,
    )
    _drop_vision(model)
    report(total, total, "transformers from_pretrained")
    return model, by


def _devices(model: Any) -> set[torch.device]:
    return {p.device for p in model.parameters()}


def expert_bytes(model: Any) -> int:
    """Bytes the MoE expert tensors hold (quantized weights and their scales included)."""
    return sum(
        t.numel() * t.element_size() for n, t in [*model.named_parameters(), *model.named_buffers()] if ".experts." in n
    )


def _tokenizer(folder: Path, raw: dict[str, Any]) -> CodeTokenizer:
    try:
        return load_tokenizer(folder, flat_config(raw), FAMILIES["diffusion_gemma"])
    except ValueError as exc:  # the tokenizer files' own errors name the file
        raise CheckpointError(str(exc)) from exc


def load_diffusion_gemma(folder: Path, options: LoadOptions | None = None) -> LoadedGemma:
    """The folder's DiffusionGemma for text fills, on options.device in options.dtype (auto: bf16 on
    CUDA, fp32 elsewhere), eval mode. Refuses before reading a weight: a folder without safetensors
    (pickles are never read), a tensor missing, mis-shaped or without a place (vision tensors
    excepted), broken tokenizer files."""
    started = time.perf_counter()
    folder = Path(folder)
    options = options or LoadOptions()
    device = torch.device(resolve_device(options.device))
    dtype = torch_dtype(options.dtype, device.type)
    check_quantize(options.quantize, device)
    raw = read_gemma_config(folder)
    entries = tensor_entries(folder)  # a pickle-only folder is refused here, before any import
    tok = _tokenizer(folder, raw)
    side: SideFiles = side_files(folder)
    config = hf_config(raw)
    model = skeleton(config)
    planned, left = plan(folder, entries, *wanted_tensors(model))
    tied = wanted_tensors(model)[1]
    total = sum(e.nbytes for e in {(e.path, e.start): e for e in planned.values()}.values())
    quantized_by, placement = None, None
    if options.device_map is not None or options.quantize:
        model, quantized_by = _from_pretrained(folder, config, options, device, dtype, total)
        # accelerate records a placement only when it spans devices; one device is {"": that device}
        placement = getattr(model, "hf_device_map", None) or {"": str(_devices(model).pop())}
        device = model.model.encoder.language_model.embed_tokens.weight.device
    else:
        _stream(model, planned, tied, device, dtype, options.progress)
    model.eval()
    return LoadedGemma(
        model=model,
        tokenizer=tok,
        specials=tok.specials,
        end_of_turn=tok.tok.token_to_id(END_OF_TURN),
        generation=side.generation,
        chat_template=side.chat_template,
        config=raw,
        skipped=left,
        device=device,
        dtype=dtype,
        missing=side.missing,
        quantized_by=quantized_by,
        expert_bytes=expert_bytes(model),
        device_map=placement,
        seconds=time.perf_counter() - started,
        text_config=dict(raw["text_config"]),
    )
