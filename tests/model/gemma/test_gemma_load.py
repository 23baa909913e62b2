"""Loading DiffusionGemma folders (model/gemma_load.py): real folders on disk shaped like the hub
download (tests/model/gemma/folders.py), loaded by our streamed reader and checked against
transformers' own from_pretrained of the same folder."""

from __future__ import annotations

import json
import logging
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from model.checkpoint import DEFAULT_CHECKPOINT
from model.engine import LoadOptions
from model.gemma_folder import REFERENCE_GENERATION, text_parameter_count
from model.weights import CheckpointError, read_header
from tests.model.gemma.folders import VISION_PREFIXES, build
from tests.model.gemma.published import GENERATION_CONFIG, SPECIAL_TOKENS

transformers = pytest.importorskip("transformers")
from model.gemma_load import LoadedGemma, load_diffusion_gemma  # noqa: E402  (imports transformers lazily)

ROOT = Path(__file__).resolve().parents[3]


def _stored(folder: Path) -> dict[str, torch.Tensor]:
    from safetensors.torch import load_file

    out: dict[str, torch.Tensor] = {}
    for path in sorted(folder.glob("*.safetensors")):
        out.update(load_file(str(path)))
    return out


def _logits(model: torch.nn.Module) -> torch.Tensor:
    """One encoder pass over a prompt and one decoder pass over a fixed canvas."""
    gen = torch.Generator(device="cpu").manual_seed(1)
    prompt = torch.tensor([[2, 105, 2364 % 1000, 700, 800, 106, 107, 105, 900, 107]])
    canvas = torch.randint(0, 262144, (1, 32), generator=gen, device="cpu")
    with torch.no_grad():
        return model(input_ids=prompt, decoder_input_ids=canvas).logits


def _reference(folder: Path) -> torch.nn.Module:
    model = transformers.DiffusionGemmaForBlockDiffusion.from_pretrained(
        str(folder), dtype=torch.float32, attn_implementation="sdpa"
    )
    return model.eval()


Loads = dict[tuple[bool, bool], tuple[Path, LoadedGemma, list[tuple[int, int, str]]]]


@pytest.fixture(scope="module")
def loads(gemma_folder) -> Loads:
    """(tied, sharded) -> (folder, what loading it gave, the progress calls), loaded on first use."""
    cache: Loads = {}

    class Lazy(dict):
        def __missing__(self, key: tuple[bool, bool]):
            folder = gemma_folder(tied=key[0], sharded=key[1])
            calls: list[tuple[int, int, str]] = []
            loaded = load_diffusion_gemma(folder, LoadOptions(device="cpu", progress=lambda *a: calls.append(a)))
            self[key] = (folder, loaded, calls)
            return self[key]

    return Lazy(cache)


@pytest.mark.parametrize("tied, sharded", [(True, True), (False, False)], ids=["tied-sharded", "untied-one-file"])
def test_diffusion_gemma_loads_like_transformers(loads: Loads, tied: bool, sharded: bool) -> None:
    folder, loaded, calls = loads[tied, sharded]
    assert (folder / "model.safetensors.index.json").is_file() == sharded
    model = loaded.model
    assert not model.training and loaded.dtype == torch.float32 and loaded.device == torch.device("cpu")
    assert model.config._attn_implementation == "sdpa"
    # the very logits transformers' own loading gives, at the same weights
    assert torch.equal(_logits(model), _logits(_reference(folder)))
    enc, dec = model.model.encoder.language_model, model.model.decoder
    shared = enc.layers[0].experts.gate_up_proj is dec.layers[0].experts.gate_up_proj
    assert shared == tied and (enc.embed_tokens.weight is dec.embed_tokens.weight) == tied
    assert (model.lm_head.weight is dec.embed_tokens.weight) == tied
    stored = _stored(folder)
    assert torch.equal(dec.layers[1].experts.down_proj, stored["model.decoder.layers.1.experts.down_proj"].float())
    if not tied:  # an untied folder's encoder weights are its own, read from their own tensors
        name = "model.encoder.language_model.layers.0.self_attn.q_proj.weight"
        assert torch.equal(enc.layers[0].self_attn.q_proj.weight, stored[name].float())
        assert not torch.equal(enc.layers[0].self_attn.q_proj.weight, dec.layers[0].self_attn.q_proj.weight)
    # progress: from 0 to every byte of the text tensors, never backwards
    text_bytes = sum(t.numel() * t.element_size() for n, t in stored.items() if not n.startswith(VISION_PREFIXES))
    assert calls[0][0] == 0 and calls[-1][:2] == (text_bytes, text_bytes)
    assert [c[0] for c in calls] == sorted(c[0] for c in calls) and len(calls) > len(stored) // 2


def test_diffusion_gemma_vision_tower_left_unloaded_and_listed(loads: Loads) -> None:
    folder, loaded, _ = loads[True, True]
    vision = sorted(n for n in _stored(folder) if n.startswith(VISION_PREFIXES))
    assert len(vision) > 10 and list(loaded.skipped) == vision
    assert loaded.model.model.encoder.vision_tower is None and loaded.model.model.encoder.embed_vision is None
    names = {n for n, _ in loaded.model.named_parameters()}
    assert not any(n.startswith(VISION_PREFIXES) for n in names)
    # the device rule weighs what loads: every stored tensor but the vision ones, each shared tensor once
    unique = {id(p): p.numel() for p in loaded.model.parameters()}
    buffers = sum(b.numel() for n, b in loaded.model.named_buffers() if n.endswith("layer_scalar"))
    assert text_parameter_count(folder) == sum(unique.values()) + buffers


def test_diffusion_gemma_special_ids_template_and_generation_defaults(loads: Loads) -> None:
    loaded = loads[True, True][1]
    sp = loaded.specials
    assert (sp.pad, sp.eos, sp.bos, sp.start, sp.filler) == (0, 1, 2, 2, 0)
    assert loaded.end_of_turn == SPECIAL_TOKENS["<turn|>"] == 106
    assert set(sp.ends) == {1, 106, 50}
    for text in ("<|image|>", "<|image>", "<image|>", "<|turn>", "<turn|>", "<|channel>"):
        assert SPECIAL_TOKENS[text] in sp.drop
    newline = loaded.tokenizer.encode("a\nb")
    assert 107 in newline and 107 not in sp.drop  # Gemma's "\n" is an added token, and text
    assert loaded.tokenizer.decode(loaded.tokenizer.encode("def f(x):\n    return x")) == "def f(x):\n    return x"
    assert loaded.chat_template is not None and "<|turn>" in loaded.chat_template
    assert loaded.generation["entropy_bound"] == GENERATION_CONFIG["sampler_config"]["entropy_bound"]
    assert loaded.generation["max_denoising_steps"] == 48 and loaded.generation["eos_token_id"] == [1, 106, 50]
    assert loaded.missing == () and loaded.canvas_length == 32
    status = loaded.status()
    assert status["family"] == "diffusion_gemma" and (status["experts"], status["experts_active"]) == (4, 2)
    assert status["canvas_tokens"] == 32 and status["dtype"] == "float32" and status["device_memory"] is None


def test_diffusion_gemma_missing_side_files_use_reference_defaults_with_one_warning(gemma_folder, caplog) -> None:
    folder = gemma_folder(generation=False, template=False, tokenizer_config=False)
    with caplog.at_level(logging.WARNING, logger="fillgap.worker"):
        loaded = load_diffusion_gemma(folder, LoadOptions(device="cpu"))
    warnings = [r for r in caplog.records if r.levelno >= logging.WARNING]
    assert len(warnings) == 1
    text = warnings[0].getMessage()
    assert "generation_config.json" in text and "chat template" in text and "tokenizer_config.json" in text
    assert loaded.generation == REFERENCE_GENERATION and loaded.chat_template is None
    assert len(loaded.missing) == 3 and (loaded.specials.eos, loaded.specials.pad) == (1, 0)


def test_diffusion_gemma_chat_template_inside_tokenizer_config(gemma_folder, caplog) -> None:
    folder = gemma_folder(template_in_config=True)
    assert not (folder / "chat_template.jinja").exists()
    with caplog.at_level(logging.WARNING, logger="fillgap.worker"):
        loaded = load_diffusion_gemma(folder, LoadOptions(device="cpu"))
    assert loaded.chat_template == json.loads((folder / "tokenizer_config.json").read_text())["chat_template"]
    assert not [r for r in caplog.records if r.levelno >= logging.WARNING]


def test_diffusion_gemma_refuses_pickle_only_folder(tmp_path) -> None:
    folder = build(tmp_path, pickle_only=True)
    assert (folder / "pytorch_model.bin").is_file() and not list(folder.glob("*.safetensors"))
    with pytest.raises(CheckpointError, match=r"only pickle weights found \(pytorch_model.bin\).*never unpickles"):
        load_diffusion_gemma(folder, LoadOptions(device="cpu"))


def test_diffusion_gemma_refuses_unexpected_tensor_by_name(tmp_path) -> None:
    odd = "model.decoder.layers.0.mlp.adapter.weight"
    extra = {odd: torch.zeros(4, 4, dtype=torch.bfloat16), "model.encoder.vision_tower.new_head.weight": torch.ones(2)}
    folder = build(tmp_path, extra=extra)
    with pytest.raises(CheckpointError, match=rf"1 tensors .* not vision tensors: '{odd}'"):
        load_diffusion_gemma(folder, LoadOptions(device="cpu"))


def test_diffusion_gemma_refuses_missing_and_misshaped_tensors_by_name(tmp_path) -> None:
    folder = build(tmp_path, sharded=False)
    path = folder / "model.safetensors"
    from safetensors.torch import load_file, save_file

    state = load_file(str(path))
    name = "model.decoder.layers.1.router.proj.weight"
    state[name] = state[name][:, :-1].contiguous()
    save_file(state, str(path))
    assert read_header(path)[name].shape[1] == 31
    with pytest.raises(CheckpointError, match=rf"'{name}' has shape \(4, 31\), expected \(4, 32\)"):
        load_diffusion_gemma(folder, LoadOptions(device="cpu"))
    del state[name]
    save_file(state, str(path))
    with pytest.raises(CheckpointError, match=rf"'{name}' is missing"):
        load_diffusion_gemma(folder, LoadOptions(device="cpu"))


def test_diffusion_gemma_device_map_and_max_memory_pass_through_on_cpu(gemma_folder, loads: Loads, monkeypatch) -> None:
    pytest.importorskip("accelerate")
    cls = transformers.DiffusionGemmaForBlockDiffusion
    real = cls.from_pretrained.__func__
    seen: dict[str, object] = {}

    def spy(klass, *args, **kwargs):
        seen.update(kwargs)
        return real(klass, *args, **kwargs)

    monkeypatch.setattr(cls, "from_pretrained", classmethod(spy))
    folder = gemma_folder()
    memory = {"cpu": "4GiB"}
    loaded = load_diffusion_gemma(folder, LoadOptions(device="cpu", device_map="auto", max_memory=memory))
    assert seen["device_map"] == "auto" and seen["max_memory"] == memory
    assert seen["attn_implementation"] == "sdpa" and seen["use_safetensors"] is True
    assert loaded.device_map == {"": "cpu"}  # accelerate records a placement only across devices
    assert loaded.model.model.encoder.vision_tower is None and loaded.dtype == torch.float32
    assert torch.equal(_logits(loaded.model), _logits(loads[True, True][1].model))


def test_diffusion_gemma_quantize_refusals_name_the_library(gemma_folder) -> None:
    folder = gemma_folder()
    with pytest.raises(CheckpointError, match="compute capability 8.9"):
        load_diffusion_gemma(folder, LoadOptions(device="cpu", quantize="fp8"))
    with pytest.raises(CheckpointError, match="one of fp8, bnb-8bit, bnb-4bit"):
        load_diffusion_gemma(folder, LoadOptions(device="cpu", quantize="int3"))
    try:
        import bitsandbytes  # noqa: F401
    except ImportError:
        with pytest.raises(CheckpointError, match=r"needs bitsandbytes.*experts .* stay bf16"):
            load_diffusion_gemma(folder, LoadOptions(device="cpu", quantize="bnb-4bit"))


@pytest.mark.slow
def test_diffusion_gemma_masked_path_never_imports_transformers(gemma_folder) -> None:
    folder = gemma_folder()
    script = f"""
import sys
import model.engine, model.masked_engine, model.gemma_folder, model.families, model.serve.worker
from model.engine import load_engine
engine = load_engine({str(DEFAULT_CHECKPOINT)!r}, device="cpu", threads=1)
assert engine.info.name == "masked-diffusion"
assert model.gemma_folder.text_parameter_count({str(folder)!r}) > 0
print(sorted(m for m in sys.modules if m == "transformers" or m.startswith("transformers.")))
"""
    out = subprocess.run([sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "[]"


def test_diffusion_gemma_status_fields_reach_fillgap_status(loads: Loads, capsys) -> None:
    from dataclasses import asdict

    from lsp.cli.status import _print
    from model.engine import EngineInfo
    from model.wire.endpoint import Address
    from model.wire.protocol import Ready, WorkerStatus, from_wire, to_wire

    loaded = loads[True, True][1]
    info = EngineInfo("block-diffusion", "cpu", "torch SDPA (float32)", 1, 4096, **loaded.status())
    ready = Ready(
        "dg",
        info.device,
        info.parameters,
        info.context_tokens,
        family=info.family or "",
        canvas_tokens=info.canvas_tokens or 0,
        experts=info.experts or 0,
        experts_active=info.experts_active or 0,
        dtype=info.dtype or "",
    )
    assert from_wire(to_wire(ready)) == ready
    old = {
        k: v
        for k, v in to_wire(ready).items()
        if k not in ("family", "canvas_tokens", "experts", "experts_active", "dtype")
    }
    assert from_wire(old).family == ""  # a message without the new fields still decodes
    st = WorkerStatus(
        1,
        "dg",
        "cuda",
        "sdpa",
        9,
        3.0,
        1,
        0,
        0,
        0,
        0,
        0,
        0.0,
        0.0,
        100.0,
        2048.0,
        0,
        0.0,
        **{k: asdict(ready)[k] for k in ("family", "canvas_tokens", "experts", "experts_active", "dtype")},
    )
    _print(Address("unix", path="/x.sock"), from_wire(to_wire(st)))
    out = capsys.readouterr().out
    assert "weights  diffusion_gemma, float32, 4 experts (top 2), canvas 32 tokens" in out
    assert "2048 MB GPU" in out


def test_diffusion_gemma_load_engine_weighs_text_only_and_passes_options(gemma_folder, monkeypatch) -> None:
    import model.devices
    import model.engine
    from model.devices import DeviceError

    folder = gemma_folder()
    text = text_parameter_count(folder)
    vision = sum(e.numel for p in folder.glob("*.safetensors") for n, e in read_header(p).items() if "vision" in n)
    assert vision > 0
    seen: list[LoadOptions] = []
    monkeypatch.setitem(model.engine.ENGINES, "block-diffusion", lambda f, o: seen.append(o) or "engine")
    monkeypatch.setattr(model.engine, "resolve_device", lambda device: "cpu")  # as on a machine without a GPU
    monkeypatch.setattr(model.devices, "CPU_AUTO_MAX_PARAMETERS", text)  # the vision tower would tip it over
    assert model.engine.load_engine(folder, max_memory={"cpu": "1GiB"}, quantize=None) == "engine"
    assert seen[0].device == "cpu" and seen[0].max_memory == {"cpu": "1GiB"} and seen[0].device_map is None
    monkeypatch.setattr(model.devices, "CPU_AUTO_MAX_PARAMETERS", text - 1)
    with pytest.raises(DeviceError, match="too large for the CPU path"):
        model.engine.load_engine(folder)
    assert model.engine.load_engine(folder, device="cpu") == "engine"  # an explicit --device cpu loads it
    assert model.engine.load_engine(folder, device_map="auto") == "engine"  # placement left to transformers
    assert seen[-1].device_map == "auto"


def test_diffusion_gemma_worker_flags_reach_load_options(gemma_folder, monkeypatch) -> None:
    import model.engine
    from model.engine import EngineInfo, max_memory
    from model.serve.worker import _args, load
    from model.wire.options import worker_command

    seen: list[LoadOptions] = []

    class Stub:
        info = EngineInfo(
            "block-diffusion", "cuda", "sdpa", 1, 1, family="diffusion_gemma", canvas_tokens=32, dtype="bf16"
        )

    monkeypatch.setitem(model.engine.ENGINES, "block-diffusion", lambda f, o: seen.append(o) or Stub())
    cmd = worker_command(model=str(gemma_folder()), device_map="auto", max_memory="0=20GiB,cpu=64GiB", quantize="fp8")
    assert cmd[cmd.index("--device-map") + 1] == "auto"
    _, ready = load(_args(cmd[3:]))
    assert (seen[0].device_map, seen[0].max_memory, seen[0].quantize) == ("auto", {0: "20GiB", "cpu": "64GiB"}, "fp8")
    assert (ready.family, ready.canvas_tokens, ready.dtype) == ("diffusion_gemma", 32, "bf16")
    assert max_memory("") is None
    with pytest.raises(ValueError, match="DEVICE=SIZE"):
        max_memory("20GiB")


def test_diffusion_gemma_only_options_refused_for_masked_checkpoints() -> None:
    from model.engine import load_engine

    with pytest.raises(CheckpointError, match="apply to DiffusionGemma checkpoints only .* fillgap checkpoint"):
        load_engine(DEFAULT_CHECKPOINT, device="cpu", quantize="fp8")


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
def test_diffusion_gemma_loads_bf16_on_cuda(loads: Loads) -> None:
    folder, cpu, _ = loads[True, True]
    loaded = load_diffusion_gemma(folder, LoadOptions(device="cuda"))  # dtype auto: bf16 on CUDA
    assert loaded.dtype == torch.bfloat16 and loaded.device.type == "cuda"
    assert {p.device.type for p in loaded.model.parameters()} == {"cuda"}
    assert {p.dtype for p in loaded.model.parameters()} == {torch.bfloat16}
    assert loaded.status()["device_memory"] == sum(
        p.numel() * 2 for p in {id(p): p for p in loaded.model.parameters()}.values()
    )
    gen = torch.Generator(device="cpu").manual_seed(1)
    prompt = torch.tensor([[2, 105, 700, 800, 106, 107, 105, 900, 107]])
    canvas = torch.randint(0, 262144, (1, 32), generator=gen, device="cpu")
    with torch.no_grad():
        got = loaded.model(input_ids=prompt.cuda(), decoder_input_ids=canvas.cuda()).logits.float().cpu()
        want = cpu.model(input_ids=prompt, decoder_input_ids=canvas).logits
    # bf16 against fp32 (bf16 on the CPU measured: max |diff| 0.033 on logits of std 0.11)
    assert (got - want).abs().max() < 0.1
    assert torch.corrcoef(torch.stack([got.flatten(), want.flatten()]))[0, 1] > 0.99
