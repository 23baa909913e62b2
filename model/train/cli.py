"""Train a masked-diffusion code model from scratch: `fillgap train`.

The flags and `main`; `python -m model.train.cli` runs it too. The defaults are TrainOptions'
fields (model.train.options), read here, not written again; the run is model.train.loop.
"""

from __future__ import annotations

import argparse
import sys

from model.train.loop import train
from model.train.options import TrainOptions
from model.train.precision import PRECISIONS


def parser() -> argparse.ArgumentParser:
    d = TrainOptions(out="")  # --out has no default: it is required below
    p = argparse.ArgumentParser(prog="fillgap train", description=__doc__.splitlines()[0])
    _data_flags(p, d)
    p.add_argument("--init", help="start from this checkpoint's weights and tokenizer (a fine-tune; fresh optimizer)")
    p.add_argument(
        "--grow-layers", type=int, default=d.grow_layers, help="with --init: deepen the base to this many layers"
    )
    p.add_argument("--device", default=d.device, help="cpu or cuda (bf16 autocast on CUDA)")
    p.add_argument("--out", required=True, help="checkpoint folder to write (resumed if it holds a run)")
    p.add_argument("--vocab-size", type=int, default=d.vocab_size)
    p.add_argument("--hidden", type=int, default=d.hidden)
    p.add_argument("--ffn", type=int, default=d.ffn)
    p.add_argument("--layers", type=int, default=d.layers)
    p.add_argument("--heads", type=int, default=d.heads)
    p.add_argument("--kv-heads", type=int, default=d.kv_heads)
    p.add_argument("--seq-len", type=int, default=d.seq_len)
    p.add_argument("--batch-size", type=int, default=d.batch_size)
    p.add_argument("--steps", type=int, default=d.steps)
    p.add_argument("--lr", type=float, default=d.lr)
    p.add_argument("--seed", type=int, default=d.seed)
    p.add_argument(
        "--ar-fraction", type=float, default=d.ar_fraction, help="share of steps trained autoregressively first"
    )
    p.add_argument(
        "--span-fraction", type=float, default=d.span_fraction, help="share of examples that are gap-shaped infills"
    )
    p.add_argument("--threads", type=int, default=d.threads)
    p.add_argument("--log-every", type=int, default=d.log_every)
    p.add_argument("--save-minutes", type=float, default=d.save_minutes)
    p.add_argument("--max-minutes", type=float, default=d.max_minutes, help="stop (resumably) after this long")
    p.add_argument(
        "--precision",
        choices=PRECISIONS,
        default=d.precision,
        help="auto: bf16 autocast on CUDA or a CPU with bf16 units (AMX, AVX-512 BF16), else fp32; "
        "bf16-weights: bf16 forward/backward, fp32 master weights",
    )
    p.add_argument(
        "--compile", action=argparse.BooleanOptionalAction, default=d.compile, help="torch.compile the model"
    )
    p.add_argument(
        "--fused-adamw", action=argparse.BooleanOptionalAction, default=d.fused_adamw, help="AdamW's fused kernel"
    )
    return p


def _data_flags(p: argparse.ArgumentParser, d: TrainOptions) -> None:
    """What the run reads: the folders, their caps and suffixes, installed packages, functions."""
    p.add_argument("--data", nargs="+", default=d.data, help="folders of Python files (default: the stdlib)")
    p.add_argument(
        "--site-packages",
        action="store_true",
        help="take --data folders that are site-packages (only permissively licensed distributions' Python)",
    )
    p.add_argument(
        "--suffixes", default=d.suffixes, help="file suffixes to train on, comma-separated: .py,.js,.ts,.go,.rs"
    )
    p.add_argument(
        "--cap-mb", type=float, default=d.cap_mb, help="at most this many MB of files from each --data folder"
    )
    p.add_argument("--caps", default=d.caps, help="MB per --data folder, comma-separated, in order (0: no cap)")
    p.add_argument(
        "--functions",
        type=int,
        default=d.functions,
        help="add each documented top-level Python function as a file of its own, this many times (0: none)",
    )


def main(argv: list[str] | None = None) -> int:
    train(TrainOptions(**vars(parser().parse_args(argv))))
    return 0


if __name__ == "__main__":
    sys.exit(main())
