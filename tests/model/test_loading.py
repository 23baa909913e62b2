"""Loading builds the model on the meta device and reads each tensor once into its final dtype and
device, telling progress as it goes; `auto` picks the device, and a checkpoint too large for it is
refused before a weight is read. (Peak memory: tests/model/test_memory.py.)"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from safetensors import safe_open
from safetensors.torch import load_file, save_file

from model import cpu_features, devices
from model.checkpoint import load_checkpoint, parameter_count
from model.devices import DeviceError, resolve_device
from model.engine import load_engine
from model.transformer import DiffusionLM


def _same_weights(a: DiffusionLM, b: DiffusionLM, dtype: torch.dtype) -> bool:
    theirs = b.state_dict()
    return all(torch.equal(t, theirs[k].to(dtype)) for k, t in a.state_dict().items())


def test_weights_land_on_a_meta_built_model_without_random_init(tiny_checkpoint: Path, tiny_model: DiffusionLM) -> None:
    rng = torch.get_rng_state()
    loaded, _, _ = load_checkpoint(tiny_checkpoint)
    assert torch.equal(torch.get_rng_state(), rng)  # nothing drew random numbers: no init ran on real tensors
    assert not any(p.is_meta for p in loaded.parameters())
    assert loaded.lm_head.weight is loaded.model.embed_tokens.weight  # still one tied matrix
    assert loaded.num_parameters() == tiny_model.num_parameters() == parameter_count(tiny_checkpoint)
    assert _same_weights(loaded, tiny_model, torch.float32) and not loaded.training


@pytest.mark.parametrize("stored,wanted", [(torch.float32, torch.bfloat16), (torch.bfloat16, torch.float32)])
def test_each_tensor_is_converted_to_the_dtype_asked_for(
    tiny_checkpoint: Path, stored: torch.dtype, wanted: torch.dtype
) -> None:
    path = tiny_checkpoint / "model.safetensors"
    state = {k: v.to(stored) for k, v in load_file(str(path)).items()}
    save_file(state, str(path))
    loaded, _, _ = load_checkpoint(tiny_checkpoint, wanted)
    assert {p.dtype for p in loaded.parameters()} == {wanted}
    got = loaded.state_dict()
    assert all(torch.equal(got[k], v.to(wanted)) for k, v in state.items())


def _shard(folder: Path, parts: int) -> list[str]:
    """The folder's weights split as the hub splits them: numbered shards and an index."""
    single = folder / "model.safetensors"
    state = load_file(str(single))
    single.unlink()
    names, weight_map, files = sorted(state), {}, []
    for i in range(parts):
        file = f"model-{i + 1:05d}-of-{parts:05d}.safetensors"
        save_file({k: state[k] for k in names[i::parts]}, str(folder / file))
        weight_map.update({k: file for k in names[i::parts]})
        files.append(file)
    (folder / "model.safetensors.index.json").write_text(json.dumps({"metadata": {}, "weight_map": weight_map}))
    return files


def _tensor_bytes(folder: Path, files: list[str]) -> int:
    total = 0
    for file in files:
        with safe_open(str(folder / file), "pt") as f:
            total += sum(f.get_tensor(k).nbytes for k in f.keys())
    return total


def test_progress_counts_every_byte_shard_by_shard(tiny_checkpoint: Path, tiny_model: DiffusionLM) -> None:
    files = _shard(tiny_checkpoint, 3)
    calls: list[tuple[int, int, str]] = []
    loaded, _, _ = load_checkpoint(tiny_checkpoint, progress=lambda *a: calls.append(a))
    total = _tensor_bytes(tiny_checkpoint, files)
    assert calls[0] == (0, total, f"{files[0]} (1 of 3)") and calls[-1][:2] == (total, total)
    assert all(a[0] <= b[0] for a, b in zip(calls, calls[1:], strict=False))  # never goes back
    assert {c[2] for c in calls} == {f"{f} ({i} of 3)" for i, f in enumerate(files, 1)}
    assert len(calls) > len(files) + 1  # per tensor, not only per shard
    assert _same_weights(loaded, tiny_model, torch.float32)


def test_auto_prefers_cuda_then_mps_then_cpu(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setattr(devices, "_mps_available", lambda: False)
    assert resolve_device("auto") == "cpu"
    monkeypatch.setattr(devices, "_mps_available", lambda: True)
    assert resolve_device("auto") == "mps"
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    assert resolve_device("auto") == "cuda"


def test_a_device_that_is_not_here_is_refused_clearly(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setattr(devices, "_mps_available", lambda: False)
    with pytest.raises(DeviceError, match="--device cuda:1: torch sees no CUDA GPU"):
        resolve_device("cuda:1")
    with pytest.raises(DeviceError, match="--device mps: torch sees no MPS device"):
        resolve_device("mps")
    with pytest.raises(DeviceError, match="unknown device 'gpu'"):
        resolve_device("gpu")
    assert resolve_device("cpu") == "cpu"


def _cpu_only(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setattr(devices, "_mps_available", lambda: False)
    monkeypatch.setattr(cpu_features, "cpu_flags", lambda: frozenset())  # no bf16 units: auto is fp32


def test_auto_on_a_cpu_only_machine_loads_and_reports_the_cpu(
    tiny_checkpoint: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _cpu_only(monkeypatch)
    engine = load_engine(tiny_checkpoint)  # device auto is the default
    assert engine.info.device == "cpu" and next(engine.model.parameters()).dtype == torch.float32


def test_a_checkpoint_too_large_for_the_cpu_path_is_refused_unless_asked_for(
    tiny_checkpoint: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _cpu_only(monkeypatch)
    monkeypatch.setattr(devices, "CPU_AUTO_MAX_PARAMETERS", 1000)  # the tiny model stands in for a 7B one
    n = parameter_count(tiny_checkpoint)
    with pytest.raises(DeviceError, match=rf"{n / 1e9:.1f}B parameters .* too large for the CPU path.*GPU is needed"):
        load_engine(tiny_checkpoint, device="auto")
    assert load_engine(tiny_checkpoint, device="cpu").info.device == "cpu"  # an explicit --device cpu loads it


def test_weights_larger_than_free_memory_are_refused_naming_both(
    tiny_checkpoint: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(devices, "free_memory", lambda device: 1000)
    with pytest.raises(DeviceError, match=r"GB as bfloat16\), more than the 0.0 GB cpu has free"):
        load_engine(tiny_checkpoint, device="cpu", dtype="bfloat16")


def test_free_memory_is_read_on_this_machine() -> None:
    free = devices.free_memory("cpu")
    assert free is None or free > 0


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
def test_auto_loads_straight_onto_the_gpu_in_bfloat16(tiny_checkpoint: Path, tiny_model: DiffusionLM) -> None:
    engine = load_engine(tiny_checkpoint)
    params = list(engine.model.parameters())
    assert engine.info.device == "cuda" and {p.device.type for p in params} == {"cuda"}
    assert {p.dtype for p in params} == {torch.bfloat16}
    assert _same_weights(engine.model.cpu(), tiny_model, torch.bfloat16)
