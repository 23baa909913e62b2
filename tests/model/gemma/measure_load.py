"""Load time and peak host memory of a large random DiffusionGemma folder (not a test: run by hand).

`python -m tests.model.gemma.measure_load [--layers 6] [--experts 16] [--dtype bfloat16]` writes a
folder at the published hidden sizes (hidden 2816, heads 16/8 of 256, full layers' 2 key/value
heads of 512, dense MLP 2112, experts of 704, vocabulary 262,144, tied) with fewer layers (the
published 5:1 sliding/full pattern cut to --layers) and fewer experts (top-8 kept), plus the full
published vision tower (27 layers of 1152: present, never read). Tensors are a tiled random pool
in bf16, written shard by shard, so writing needs about one shard of memory. Then a fresh child
imports torch and transformers (the baseline resident set), loads the folder with
model/gemma_load.py on the CPU and prints the load's seconds, the peak resident set (VmHWM), the
bytes of the text weights and (peak - baseline) / weights.
"""

from __future__ import annotations

import argparse
import json
import math
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import torch
from safetensors.torch import save_file

from tests.model.gemma.folders import CHAT_TEMPLATE, _tokenizer_config, tokenizer_json
from tests.model.gemma.published import CONFIG, GENERATION_CONFIG

SHARD_BYTES = 1 << 30
POOL = 1 << 22


def config(layers: int, experts: int) -> dict:
    out = json.loads(json.dumps(CONFIG))
    text = out["text_config"]
    text["num_hidden_layers"] = layers
    text["layer_types"] = text["layer_types"][:layers]
    text["layer_types"][-1] = "full_attention"
    text["num_experts"] = experts
    return out


def write(folder: Path, layers: int, experts: int) -> int:
    from transformers import DiffusionGemmaForBlockDiffusion
    from transformers.initialization import no_init_weights

    from model.gemma_load import hf_config

    raw = config(layers, experts)
    with no_init_weights(), torch.device("meta"):
        model = DiffusionGemmaForBlockDiffusion(hf_config(raw))
    tied = set(model.all_tied_weights_keys)
    shapes = {k: tuple(v.shape) for k, v in model.state_dict().items() if k not in tied}
    pool = torch.randn(POOL, generator=torch.Generator(device="cpu").manual_seed(0), device="cpu").mul_(0.02)
    pool = pool.to(torch.bfloat16)
    weight_map: dict[str, str] = {}
    shard: dict[str, torch.Tensor] = {}
    files: list[list[str]] = [[]]
    size = 0
    for name, shape in shapes.items():  # first pass: which tensors go in which shard
        n = math.prod(shape) * 2
        if size and size + n > SHARD_BYTES:
            files.append([])
            size = 0
        files[-1].append(name)
        size += n
    for i, names in enumerate(files, 1):
        file = f"model-{i:05d}-of-{len(files):05d}.safetensors"
        for name in names:
            n = math.prod(shapes[name])
            shard[name] = pool.repeat(n // POOL + 1)[:n].view(shapes[name]).clone()
        save_file(shard, str(folder / file), metadata={"format": "pt"})
        weight_map.update(dict.fromkeys(names, file))
        shard.clear()
    (folder / "model.safetensors.index.json").write_text(json.dumps({"metadata": {}, "weight_map": weight_map}))
    (folder / "config.json").write_text(json.dumps(raw, indent=2))
    (folder / "generation_config.json").write_text(json.dumps(GENERATION_CONFIG, indent=2))
    (folder / "tokenizer.json").write_text(tokenizer_json())
    (folder / "tokenizer_config.json").write_text(json.dumps(_tokenizer_config(False), indent=2))
    (folder / "chat_template.jinja").write_text(CHAT_TEMPLATE)
    return sum(math.prod(s) for s in shapes.values())


CHILD = """
import json, sys, time
def kb(field):
    for line in open("/proc/self/status"):
        if line.startswith(field + ":"):
            return int(line.split()[1])
import torch, transformers
from transformers import DiffusionGemmaForBlockDiffusion
from model.engine import LoadOptions
from model.gemma_load import load_diffusion_gemma
base = kb("VmRSS")
t = time.perf_counter()
g = load_diffusion_gemma(sys.argv[1], LoadOptions(device="cpu", dtype=sys.argv[2]))
seconds = time.perf_counter() - t
weights = sum(p.numel() * p.element_size() for p in {id(p): p for p in g.model.parameters()}.values())
peak = kb("VmHWM")
print(json.dumps({"seconds": round(seconds, 2), "baseline_mb": base // 1024, "peak_mb": peak // 1024,
                  "weights_mb": weights >> 20, "ratio": round((peak - base) * 1024 / weights, 3),
                  "parameters": sum(p.numel() for p in {id(p): p for p in g.model.parameters()}.values()),
                  "skipped_tensors": len(g.skipped), "expert_mb": g.expert_bytes >> 20}))
"""


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--layers", type=int, default=6)
    ap.add_argument("--experts", type=int, default=16)
    ap.add_argument("--dtype", nargs="+", default=["bfloat16", "float32"])
    ap.add_argument("--keep", default=None, help="write the folder here and keep it")
    ns = ap.parse_args()
    folder = Path(ns.keep or tempfile.mkdtemp(prefix="dg-measure-"))
    folder.mkdir(parents=True, exist_ok=True)
    try:
        stored = write(folder, ns.layers, ns.experts)
        print(json.dumps({"folder": str(folder), "stored_parameters": stored}))
        for dtype in ns.dtype:
            out = subprocess.run([sys.executable, "-c", CHILD, str(folder), dtype], capture_output=True, text=True)
            print(dtype, out.stdout.strip() or out.stderr[-2000:])
    finally:
        if not ns.keep:
            shutil.rmtree(folder, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
