"""What a training run is asked to do: `fillgap train`'s options and their defaults, declared once.

The parser (model.train.cli) reads its defaults from these fields and the loop reads the parsed
options. The architecture's defaults are ModelConfig's and the objective's are TrainConfig's, so
a size shows up in one place only.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch

from model.train.corpus import stdlib_dir
from model.train.objective import TrainConfig
from model.transformer import ModelConfig


def _stdlib() -> list[str]:
    return [str(stdlib_dir())]


def _torch_threads() -> int:
    return max(1, torch.get_num_threads())


@dataclass
class TrainOptions:
    out: str  # the checkpoint folder; a run already there is resumed
    data: list[str] = field(default_factory=_stdlib)
    site_packages: bool = False
    suffixes: str = ".py"  # comma-separated
    cap_mb: float = 0.0  # per --data folder; 0: no cap
    caps: str = ""  # comma-separated MB, one per --data folder (0: no cap); overrides cap_mb
    init: str | None = None  # a base checkpoint: fine-tune it
    functions: int = 0  # repeat the training files' documented functions this often (model.train.functions)
    grow_layers: int = 0  # with --init: deepen the base to this many layers (model.train.grow); 0: keep its depth
    device: str = "cpu"
    # the architecture of a fresh model (a fine-tune keeps its base's): ModelConfig's defaults
    vocab_size: int = ModelConfig.vocab_size
    hidden: int = ModelConfig.hidden_size
    ffn: int = ModelConfig.intermediate_size
    layers: int = ModelConfig.num_hidden_layers
    heads: int = ModelConfig.num_attention_heads
    kv_heads: int = ModelConfig.num_key_value_heads
    # the objective and its schedule: TrainConfig's defaults
    seq_len: int = TrainConfig.seq_len
    batch_size: int = TrainConfig.batch_size
    steps: int = TrainConfig.steps
    lr: float = TrainConfig.lr
    seed: int = TrainConfig.seed
    ar_fraction: float = TrainConfig.ar_fraction
    span_fraction: float = TrainConfig.span_fraction
    # the process
    threads: int = field(default_factory=_torch_threads)
    log_every: int = 10  # steps between log lines; every tenth line adds the held-out loss
    save_minutes: float = 5.0
    max_minutes: float = 0.0  # stop (resumably) after this long; 0: run to --steps
    # the step's speed (model.train.precision; model.bench.train_speed measures the choices)
    precision: str = "auto"  # auto | fp32 | bf16-autocast | bf16-weights
    compile: bool = False  # torch.compile the model for training
    fused_adamw: bool = False  # AdamW's fused kernel instead of its per-tensor loop
