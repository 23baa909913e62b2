"""Train a masked-diffusion code model from scratch: `fillgap train`.

Objective (LLaDA / MDLM style): pick a mask ratio t ~ U(0, 1), mask each token with probability t,
and minimise cross-entropy on the masked tokens weighted by 1/t. Half the examples are span
infills instead: a run of lines is cut out, padded with a random number of null tokens, and only
that region is masked, so the model learns both to write a gap and to say where it ends.

A masked-LM objective gives a gradient only at masked positions and must first learn to attend
before it beats unigram statistics; on a CPU budget of ~10M tokens that plateau eats the run.
So the first `ar_fraction` of the steps train the same weights autoregressively (causal mask,
every position a target), then switch to the diffusion objective with shifted logits: position
i is predicted from the hidden state at i-1, the adaptation Dream and DiffuCoder use to start a
diffusion model from an autoregressive one.

Runs are resumable: the model, optimizer state and step are written every few minutes, and a
run started again with the same --out picks up where it stopped.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import math
import random
import shutil
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from safetensors.torch import load_file, save_file

from model.checkpoint import load_state, read_config, save_checkpoint
from model.train.corpus import SourceFile, collect_all, split, stdlib_dir
from model.train.decontaminate import check as humaneval_leaks
from model.families import our_config
from model.tokenizer import CodeTokenizer, SpecialIds, train_tokenizer
from model.transformer import DiffusionLM, ModelConfig

MIN_T = 0.02


@dataclass
class TrainConfig:
    seq_len: int = 256
    batch_size: int = 16
    steps: int = 2000
    lr: float = 3e-3
    warmup: int = 100
    weight_decay: float = 0.1
    span_fraction: float = 0.5
    ar_fraction: float = 0.3
    max_span_tokens: int = 64
    max_nulls: int = 32
    seed: int = 0


class TokenStream:
    """All documents of a split as one int32 array, EOS between files."""

    def __init__(self, files: list[SourceFile], tok: CodeTokenizer) -> None:
        eos = tok.specials.eos
        assert eos is not None
        pieces = []
        for ids in tok.encode_batch([f.text for f in files]):
            pieces.append(np.asarray(ids + [eos], dtype=np.int32))
        self.ids = np.concatenate(pieces)
        self.newline = tok.tok.token_to_id("Ċ")
        vocab = tok.tok.get_vocab()
        indent = np.zeros(tok.vocab_size, dtype=bool)
        for piece, tid in vocab.items():
            indent[tid] = len(piece) > 0 and set(piece) <= {"Ġ", "ĉ"}  # byte-level space / tab
        self.is_indent = indent


def _span_example(
    window: np.ndarray, stream: TokenStream, cfg: TrainConfig, rng: random.Random, null_id: int
) -> tuple[np.ndarray, int, int] | None:
    """Cut a line-aligned span out of the window and pad it with nulls; returns (ids, start, end)."""
    L = cfg.seq_len
    starts = np.nonzero(window[: L - 8] == stream.newline)[0] + 1
    if len(starts) == 0:
        return None
    s = int(rng.choice(starts))
    if rng.random() < 0.8 and s < L and stream.is_indent[window[s]]:
        s += 1
    if rng.random() < 0.2:  # finish-the-line gaps start mid-line
        s = min(s + rng.randint(1, 6), L - 4)
    n_lines = min(1 + int(rng.expovariate(1 / 2.5)), 16)
    ends = np.nonzero(window[s:] == stream.newline)[0]
    if len(ends) == 0:
        return None
    e = s + int(ends[min(n_lines, len(ends)) - 1])
    e = min(e, s + cfg.max_span_tokens)
    nulls = rng.randint(0, cfg.max_nulls)
    if e + nulls <= s or s >= L:
        return None
    ids = np.concatenate([window[:e], np.full(nulls, null_id, dtype=np.int32), window[e:]])[:L]
    return ids, s, min(e + nulls, L)


def make_batch(
    stream: TokenStream,
    cfg: TrainConfig,
    specials: SpecialIds,
    rng: random.Random,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """(noisy ids, clean ids, loss weights, masked) for one batch."""
    L = cfg.seq_len
    clean, noisy, weight = [], [], []
    u = rng.random()
    for i in range(cfg.batch_size):
        off = rng.randrange(0, len(stream.ids) - L - 1)
        window = stream.ids[off : off + L]
        region = (0, L)
        if rng.random() < cfg.span_fraction and specials.null is not None:
            made = _span_example(window, stream, cfg, rng, specials.null)
            if made is not None:
                window, *region = made
                region = tuple(region)
        t = MIN_T + (1 - MIN_T) * ((i + u) / cfg.batch_size)  # stratified over the batch: lower variance
        x = torch.from_numpy(window.astype(np.int64))
        in_region = torch.zeros(L, dtype=torch.bool)
        in_region[region[0] : region[1]] = True
        masked = (torch.rand(L) < t) & in_region
        if not masked.any():
            masked[rng.randrange(region[0], region[1])] = True
        n_region = max(1, int(in_region.sum()))
        clean.append(x)
        noisy.append(torch.where(masked, torch.full_like(x, specials.mask), x))
        weight.append(masked.float() / (t * n_region))
    return torch.stack(noisy), torch.stack(clean), torch.stack(weight), torch.stack(weight) > 0


def ar_batch(stream: TokenStream, cfg: TrainConfig, rng: random.Random) -> torch.Tensor:
    offs = [rng.randrange(0, len(stream.ids) - cfg.seq_len - 1) for _ in range(cfg.batch_size)]
    return torch.from_numpy(np.stack([stream.ids[o : o + cfg.seq_len] for o in offs]).astype(np.int64))


def ar_loss(model: DiffusionLM, ids: torch.Tensor) -> torch.Tensor:
    """Next-token loss with a causal mask: the raw logits at i score token i+1."""
    logits = model(ids, causal=True)
    return F.cross_entropy(logits[:, :-1].flatten(0, 1).float(), ids[:, 1:].flatten())


def diffusion_loss(model: DiffusionLM, noisy: torch.Tensor, clean: torch.Tensor, weight: torch.Tensor) -> torch.Tensor:
    logits = model.token_logits(noisy)
    ce = F.cross_entropy(logits.flatten(0, 1).float(), clean.flatten(), reduction="none")
    return (ce * weight.flatten()).sum() / noisy.shape[0]


@torch.no_grad()
def held_out_loss(
    model: DiffusionLM, stream: TokenStream, cfg: TrainConfig, specials: SpecialIds, batches: int = 8
) -> dict:
    """Mean diffusion loss and masked-token accuracy on a fixed sample of held-out examples."""
    model.eval()
    rng = random.Random(1234)
    torch_state = torch.random.get_rng_state()
    torch.manual_seed(1234)
    total, correct, count = 0.0, 0, 0
    for _ in range(batches):
        device = next(model.parameters()).device
        noisy, clean, weight, masked = (t.to(device) for t in make_batch(stream, cfg, specials, rng))
        with autocast(device):
            logits = model.token_logits(noisy).float()
        ce = F.cross_entropy(logits.flatten(0, 1), clean.flatten(), reduction="none")
        total += float((ce * weight.flatten()).sum() / noisy.shape[0])
        pred = logits.argmax(-1)
        correct += int((pred[masked] == clean[masked]).sum())
        count += int(masked.sum())
    torch.random.set_rng_state(torch_state)
    model.train()
    return {"loss": total / batches, "masked_acc": correct / max(count, 1)}


def lr_at(step: int, cfg: TrainConfig) -> float:
    if step < cfg.warmup:
        return cfg.lr * (step + 1) / cfg.warmup
    progress = (step - cfg.warmup) / max(1, cfg.steps - cfg.warmup)
    return cfg.lr * (0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * min(1.0, progress))))


def _save_train_state(out: Path, opt: torch.optim.Optimizer, step: int, elapsed: float) -> None:
    tensors = {}
    for pid, st in opt.state_dict()["state"].items():
        for key, val in st.items():
            if torch.is_tensor(val):
                tensors[f"{pid}.{key}"] = val.detach().cpu().contiguous()
    save_file(tensors, str(out / "optimizer.safetensors.tmp"))
    (out / "optimizer.safetensors.tmp").replace(out / "optimizer.safetensors")
    (out / "train_state.json").write_text(json.dumps({"step": step, "elapsed_s": elapsed}))


def _load_train_state(out: Path, model: DiffusionLM, opt: torch.optim.Optimizer) -> tuple[int, float]:
    state_file = out / "train_state.json"
    if not state_file.is_file():
        return 0, 0.0
    state = load_state(out)
    if model.config.tie_word_embeddings:
        state["lm_head.weight"] = state["model.embed_tokens.weight"]
    model.load_state_dict(state, strict=True)
    flat = load_file(str(out / "optimizer.safetensors"))
    sd = opt.state_dict()
    for key, val in flat.items():
        pid, name = key.split(".", 1)
        sd["state"].setdefault(int(pid), {})[name] = val
    opt.load_state_dict(sd)
    info = json.loads(state_file.read_text())
    return int(info["step"]), float(info["elapsed_s"])


def autocast(device: torch.device) -> Any:
    """bf16 autocast on CUDA (weights and optimizer stay fp32); plain fp32 on CPU."""
    if device.type == "cuda":
        return torch.autocast("cuda", dtype=torch.bfloat16)
    return contextlib.nullcontext()


def progress_bar(total: int, initial: int) -> Any:
    """A tqdm bar on stderr when tqdm is installed (it is optional: a GPU box may have only torch)."""
    try:
        from tqdm import tqdm
    except ImportError:
        return None
    return tqdm(total=total, initial=initial, unit="step", dynamic_ncols=True)


def plot_losses(log_path: Path, png: Path) -> None:
    """Training and held-out loss against step, when matplotlib is installed."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return
    rows = [json.loads(line) for line in log_path.read_text().splitlines() if line.strip()]
    fig, ax = plt.subplots(figsize=(8, 4.5))
    ax.plot([r["step"] for r in rows], [r["loss"] for r in rows], lw=0.6, alpha=0.6, label="training batch")
    held = [r for r in rows if "held_out" in r]
    ax.plot([r["step"] for r in held], [r["held_out"]["loss"] for r in held], "o-", label="held-out")
    ax.set_xlabel("step")
    ax.set_ylabel("loss (AR phase: next-token; then 1/t-weighted masked)")
    ax.set_ylim(0, min(10.0, max(r["loss"] for r in rows)))
    ax.legend()
    fig.tight_layout()
    fig.savefig(png, dpi=100)
    plt.close(fig)


def _start_from(init: Path, out: Path) -> None:
    """A fine-tune keeps its base's tokenizer (the embeddings are indexed by it)."""
    out.mkdir(parents=True, exist_ok=True)
    if not (out / "tokenizer.json").is_file():
        shutil.copyfile(init / "tokenizer.json", out / "tokenizer.json")


def _init_state(init: Path, model: DiffusionLM) -> dict[str, torch.Tensor]:
    state = load_state(init)
    if model.config.tie_word_embeddings:
        state["lm_head.weight"] = state["model.embed_tokens.weight"]
    return state


def build_tokenizer(files: list[SourceFile], vocab_size: int, out: Path) -> CodeTokenizer:
    path = out / "tokenizer.json"
    if path.is_file():
        return CodeTokenizer.from_file(path)
    out.mkdir(parents=True, exist_ok=True)
    tok = train_tokenizer((f.text for f in files), vocab_size)
    tok.save(str(path))
    return CodeTokenizer.from_file(path)


def train(args: argparse.Namespace) -> None:
    torch.manual_seed(args.seed)
    torch.set_num_threads(args.threads)
    out = Path(args.out)
    device = torch.device(args.device)
    roots = [Path(d) for d in args.data]
    suffixes = tuple(args.suffixes.split(","))
    files = collect_all(roots, installed=args.site_packages, suffixes=suffixes, cap_bytes=int(args.cap_mb * 1e6))
    train_files, held_files = split(files)
    if args.init:
        _start_from(Path(args.init), out)
    tok = build_tokenizer(train_files, args.vocab_size, out)
    cfg = TrainConfig(
        seq_len=args.seq_len,
        batch_size=args.batch_size,
        steps=args.steps,
        lr=args.lr,
        seed=args.seed,
        ar_fraction=args.ar_fraction,
    )
    mcfg = ModelConfig(
        vocab_size=tok.vocab_size,
        hidden_size=args.hidden,
        intermediate_size=args.ffn,
        num_hidden_layers=args.layers,
        num_attention_heads=args.heads,
        num_key_value_heads=args.kv_heads,
        max_position_embeddings=args.seq_len * 2,
        shift_logits=args.ar_fraction > 0,
    )
    if args.init:  # the architecture is the base's, whatever the size flags say
        mcfg = ModelConfig.from_dict(our_config(read_config(Path(args.init))))
    t0 = time.time()
    train_stream, held_stream = TokenStream(train_files, tok), TokenStream(held_files, tok)
    corpus = {
        "roots": [str(r) for r in roots],
        "site_packages": bool(args.site_packages),
        "suffixes": list(suffixes),
        "cap_mb_per_root": args.cap_mb,
        "init": args.init,
        "files_by_suffix": dict(Counter(Path(f.rel).suffix for f in train_files)),
        "files_train": len(train_files),
        "files_held_out": len(held_files),
        "tokens_train": int(len(train_stream.ids)),
        "tokens_held_out": int(len(held_stream.ids)),
        "bytes_train": sum(len(f.text.encode()) for f in train_files),
        "license": "PSF-2.0 (CPython standard library)" if roots == [stdlib_dir()] else "see the model card",
        "humaneval_leak_check": humaneval_leaks(train_files),
    }
    print(json.dumps({"corpus": corpus, "tokenize_s": round(time.time() - t0, 1)}), flush=True)
    model = DiffusionLM(mcfg).to(device)
    decay = [p for n, p in model.named_parameters() if p.dim() >= 2]
    no_decay = [p for n, p in model.named_parameters() if p.dim() < 2]
    opt = torch.optim.AdamW(
        [{"params": decay, "weight_decay": cfg.weight_decay}, {"params": no_decay, "weight_decay": 0.0}],
        lr=cfg.lr,
        betas=(0.9, 0.95),
    )
    if args.init and not (out / "train_state.json").is_file():
        model.load_state_dict(_init_state(Path(args.init), model), strict=True)
    step, elapsed = _load_train_state(out, model, opt)
    print(json.dumps({"params": model.num_parameters(), "resume_step": step}), flush=True)
    rng = random.Random(args.seed * 1_000_003 + step)
    torch.manual_seed(args.seed + step)
    log = (out / "train_log.jsonl").open("a")
    start, last_save, tokens = time.time(), time.time(), 0
    bar = progress_bar(cfg.steps, step)
    model.train()
    while step < cfg.steps:
        for g in opt.param_groups:
            g["lr"] = lr_at(step, cfg)
        with autocast(device):
            if step < cfg.ar_fraction * cfg.steps:
                noisy = ar_batch(train_stream, cfg, rng).to(device)
                loss = ar_loss(model, noisy)
            else:
                noisy, clean, weight, _ = (t.to(device) for t in make_batch(train_stream, cfg, tok.specials, rng))
                loss = diffusion_loss(model, noisy, clean, weight)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        step += 1
        tokens += noisy.numel()
        now = time.time()
        if bar is not None:
            bar.update(1)
            bar.set_postfix(loss=f"{float(loss.detach()):.3f}", tok_s=f"{tokens / (now - start):.0f}", refresh=False)
        if step % args.log_every == 0 or step == cfg.steps:
            rec = {
                "step": step,
                "loss": round(float(loss.detach()), 4),
                "lr": lr_at(step, cfg),
                "tok_s": round(tokens / (now - start)),
                "elapsed_s": round(elapsed + now - start),
            }
            if step % (args.log_every * 10) == 0 or step == cfg.steps:
                rec["held_out"] = held_out_loss(model, held_stream, cfg, tok.specials)
            print(json.dumps(rec), flush=True)
            log.write(json.dumps(rec) + "\n")
            log.flush()
        done = step == cfg.steps or (args.max_minutes and now - start > args.max_minutes * 60)
        if done or now - last_save > args.save_minutes * 60:
            extra = {
                "fillgap_training": {
                    "steps": step,
                    "train_seconds": round(elapsed + now - start),
                    "seq_len": cfg.seq_len,
                    "batch_size": cfg.batch_size,
                    "ar_fraction": cfg.ar_fraction,
                    "corpus": corpus,
                }
            }
            save_checkpoint(model, tok, out, extra)
            _save_train_state(out, opt, step, elapsed + now - start)
            last_save = now
        if done:
            break
    if bar is not None:
        bar.close()
    plot_losses(out / "train_log.jsonl", out / "loss.png")


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--data", nargs="+", default=[str(stdlib_dir())], help="folders of Python files (default: the stdlib)"
    )
    p.add_argument("--site-packages", action="store_true", help="include installed packages under those folders")
    p.add_argument("--suffixes", default=".py", help="file suffixes to train on, comma-separated: .py,.js,.ts,.go,.rs")
    p.add_argument("--cap-mb", type=float, default=0.0, help="at most this many MB of files from each --data folder")
    p.add_argument("--init", help="start from this checkpoint's weights and tokenizer (a fine-tune; fresh optimizer)")
    p.add_argument("--device", default="cpu", help="cpu or cuda (bf16 autocast on CUDA)")
    p.add_argument("--out", required=True, help="checkpoint folder to write (resumed if it holds a run)")
    p.add_argument("--vocab-size", type=int, default=8192)
    p.add_argument("--hidden", type=int, default=256)
    p.add_argument("--ffn", type=int, default=688)
    p.add_argument("--layers", type=int, default=4)
    p.add_argument("--heads", type=int, default=4)
    p.add_argument("--kv-heads", type=int, default=2)
    p.add_argument("--seq-len", type=int, default=256)
    p.add_argument("--batch-size", type=int, default=16)
    p.add_argument("--steps", type=int, default=2000)
    p.add_argument("--lr", type=float, default=3e-3)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--ar-fraction", type=float, default=0.3, help="share of steps trained autoregressively first")
    p.add_argument("--threads", type=int, default=max(1, torch.get_num_threads()))
    p.add_argument("--log-every", type=int, default=10)
    p.add_argument("--save-minutes", type=float, default=5.0)
    p.add_argument("--max-minutes", type=float, default=0.0, help="stop (resumably) after this long")


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(prog="fillgap train", description=__doc__.splitlines()[0])
    add_arguments(p)
    train(p.parse_args(argv))


if __name__ == "__main__":
    main()
