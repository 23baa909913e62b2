"""How much memory loading a checkpoint takes, against the bytes of its weights.

`python -m model.bench.load_memory` writes a random checkpoint shaped like Qwen2-0.5B (our qwen2
family: hidden 896, 24 layers, 14 heads, 2 key/value heads, MLP 4864, vocabulary 151,936, tied
embeddings; stored as bfloat16, about 1 GB) in one child process, then loads it in a fresh child
per dtype and prints the post-`import torch` resident set (baseline), the peak resident set after
loading (VmHWM), the weights' bytes, (peak - baseline) / weights, and the load's seconds. The
file was just written, so it is read from the page cache: the seconds are the loader's, not the
disk's. tests/model/test_memory.py runs the same two children and bounds the ratio.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

QWEN2_05B = {
    "architectures": ["Qwen2ForCausalLM"],
    "model_type": "qwen2",
    "hidden_size": 896,
    "intermediate_size": 4864,
    "num_hidden_layers": 24,
    "num_attention_heads": 14,
    "num_key_value_heads": 2,
    "vocab_size": 151936,
    "max_position_embeddings": 32768,
    "rope_theta": 1000000.0,
    "rms_norm_eps": 1e-06,
    "tie_word_embeddings": True,
    "use_sliding_window": False,
    "hidden_act": "silu",
    "torch_dtype": "bfloat16",
}
DISK_BYTES = 1_000_000_000  # what the checkpoint takes on disk, roughly
POOL = 1 << 22  # random numbers drawn for the checkpoint, tiled over every tensor
MODULE = "model.bench.load_memory"


def _status_kb(field: str) -> int | None:
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith(field + ":"):
                    return int(line.split()[1])
    except OSError:
        pass
    return None


def _rss_mb(field: str) -> float:
    """VmRSS (now) or VmHWM (the peak) in MB; where /proc is missing, the peak from getrusage."""
    kb = _status_kb(field)
    if kb is None:
        import resource

        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        return peak / 1e6 if sys.platform == "darwin" else peak * 1024 / 1e6
    return kb * 1024 / 1e6


def _write(folder: Path) -> None:
    """The child that builds the checkpoint: random bfloat16 weights, the shipped tokenizer."""
    import torch
    from safetensors.torch import save_file

    from model.checkpoint import DEFAULT_CHECKPOINT
    from model.transformer import DiffusionLM, ModelConfig

    folder.mkdir(parents=True, exist_ok=True)
    shipped = json.loads((DEFAULT_CHECKPOINT / "config.json").read_text())
    ids = {k: shipped[k] for k in ("mask_token_id", "eos_token_id", "pad_token_id")}
    (folder / "config.json").write_text(json.dumps({**QWEN2_05B, **ids}, indent=2))
    shutil.copy(DEFAULT_CHECKPOINT / "tokenizer.json", folder / "tokenizer.json")
    with torch.device("meta"):
        shapes = {k: v.shape for k, v in DiffusionLM(ModelConfig.from_dict(QWEN2_05B)).state_dict().items()}
    # Random numbers drawn once and tiled: the bytes are what is measured, and drawing 494M normals
    # takes longer than everything else here.
    pool = torch.empty(2 * POOL, dtype=torch.bfloat16, device="cpu")
    pool.normal_(0.0, 0.02, generator=torch.Generator(device="cpu").manual_seed(0))
    state = {}
    for i, (name, shape) in enumerate(shapes.items()):
        if name == "lm_head.weight":  # tied: stored once, as HF stores it
            continue
        flat = torch.empty(shape, dtype=torch.bfloat16, device="cpu").view(-1)
        start = (i * 7919) % POOL  # each tensor its own window of the pool
        for at in range(0, flat.numel(), POOL):
            part = flat[at : at + POOL]
            part.copy_(pool[start : start + part.numel()])
        state[name] = flat.view(shape)
    save_file(state, str(folder / "model.safetensors"), metadata={"format": "pt"})


def _load(folder: Path, dtype: str) -> dict[str, Any]:
    """The child that measures: baseline after `import torch`, peak after loading."""
    import torch  # noqa: F401  (the baseline: what a worker holds before it loads anything)

    baseline = _rss_mb("VmRSS")
    from model.checkpoint import load_checkpoint
    from model.engine import DTYPES

    t0 = time.perf_counter()
    model, _, _ = load_checkpoint(folder, DTYPES[dtype], "cpu")
    seconds = time.perf_counter() - t0
    peak = _rss_mb("VmHWM")
    weights = sum(p.numel() * p.element_size() for p in model.parameters()) / 1e6
    assert {p.dtype for p in model.parameters()} == {DTYPES[dtype]} and not any(p.is_meta for p in model.parameters())
    return {
        "dtype": dtype,
        "parameters": model.num_parameters(),
        "baseline_mb": round(baseline, 1),
        "peak_mb": round(peak, 1),
        "weights_mb": round(weights, 1),
        "ratio": round((peak - baseline) / weights, 3),
        "load_s": round(seconds, 2),
    }


def _child(*args: str) -> str:
    out = subprocess.run([sys.executable, "-m", MODULE, *args], capture_output=True, text=True, check=False)
    if out.returncode != 0:
        raise RuntimeError(f"{MODULE} {' '.join(args)} failed:\n{out.stderr[-4000:]}")
    return out.stdout


def enough_disk(folder: Path) -> bool:
    """Whether `folder`'s file system has room for the checkpoint (and a margin)."""
    return shutil.disk_usage(folder).free > 2 * DISK_BYTES


def build_checkpoint(folder: Path) -> Path:
    """Write the random 0.5B checkpoint into `folder`, in a child process; returns the folder."""
    _child("--write", str(folder))
    return folder


def measure(folder: Path, dtype: str) -> dict[str, Any]:
    """Load the checkpoint in a fresh process with `dtype` on the CPU: its memory figures."""
    return json.loads(_child("--measure", str(folder), "--dtype", dtype).splitlines()[-1])


def _report(rows: list[dict[str, Any]], folder: Path) -> None:
    disk = sum(p.stat().st_size for p in folder.glob("*.safetensors")) / 1e9
    print(f"random Qwen2-0.5B-shaped checkpoint: {rows[0]['parameters'] / 1e6:.1f}M parameters, {disk:.2f} GB bf16")
    print(f"{'dtype':<10}{'baseline MB':>13}{'peak MB':>10}{'weights MB':>12}{'(peak-base)/weights':>21}{'load s':>8}")
    for r in rows:
        print(
            f"{r['dtype']:<10}{r['baseline_mb']:>13.0f}{r['peak_mb']:>10.0f}{r['weights_mb']:>12.0f}"
            f"{r['ratio']:>21.3f}{r['load_s']:>8.2f}"
        )


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m model.bench.load_memory", description=__doc__.split("\n\n")[0])
    p.add_argument("--write", type=Path, help=argparse.SUPPRESS)  # the children's entry points
    p.add_argument("--measure", type=Path, help=argparse.SUPPRESS)
    p.add_argument("--dtype", default="bfloat16")
    p.add_argument("--dtypes", default="float32,bfloat16", help="the dtypes to load it in, one child each")
    ns = p.parse_args(argv)
    if ns.write:
        _write(ns.write)
        return 0
    if ns.measure:
        print(json.dumps(_load(ns.measure, ns.dtype)))
        return 0
    with tempfile.TemporaryDirectory(prefix="fillgap-load-memory-") as tmp:
        if not enough_disk(Path(tmp)):
            print(f"not enough disk under {tmp} for a {DISK_BYTES / 1e9:.0f} GB checkpoint", file=sys.stderr)
            return 2
        folder = build_checkpoint(Path(tmp) / "qwen2-0.5b-random")
        _report([measure(folder, d) for d in ns.dtypes.split(",")], folder)
    return 0


if __name__ == "__main__":
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    sys.exit(main())
