"""The training loop of `fillgap train`, in its steps: build, resume, step, evaluate, save.

`train` reads top to bottom as those steps. Runs are resumable: the model, optimizer state and
step are written every few minutes and at the end, and a run started again with the same --out
picks up where it stopped. A fine-tune (--init) starts from a base checkpoint's weights and
tokenizer with a fresh optimizer. The objective itself is model.train.objective.
"""

from __future__ import annotations

import json
import math
import random
import shutil
import time
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import IO, Any

import torch

from model.checkpoint import load_state, read_config, save_checkpoint
from model.families import our_config
from model.tokenizer import CodeTokenizer, SpecialIds, train_tokenizer
from model.train import precision
from model.train.corpus import SourceFile, split
from model.train.dataset import corpus_record, run_files
from model.train.functions import function_files
from model.train.grow import grow_state
from model.train.objective import (
    TokenStream,
    TrainConfig,
    ar_batch,
    ar_loss,
    diffusion_loss,
    make_batch,
    weighted_loss,
)
from model.train.options import TrainOptions
from model.train.plot import plot_losses
from model.train.state_files import load_sharded, save_sharded
from model.transformer import DiffusionLM, ModelConfig

STATE = "train_state.json"  # step and seconds trained; its presence means "resume from here"
LOG = "train_log.jsonl"


@dataclass
class Run:
    """What `build` makes and the other steps work on."""

    out: Path
    device: torch.device
    cfg: TrainConfig
    tok: CodeTokenizer
    model: DiffusionLM
    opt: torch.optim.Optimizer
    train_stream: TokenStream
    held_stream: TokenStream
    corpus: dict[str, Any]  # the data's record, printed and kept in the checkpoint's config
    precision: str = "fp32"  # a resolved model.train.precision choice (never "auto")


@dataclass
class Clock:
    """This process's share of a run: when it started stepping, when it last saved, tokens seen."""

    before_s: float  # seconds earlier processes of a resumed run trained
    start: float = field(default_factory=time.time)
    last_save: float = 0.0
    tokens: int = 0

    def __post_init__(self) -> None:
        self.last_save = self.start

    def tok_s(self, now: float) -> float:
        return self.tokens / (now - self.start)

    def train_seconds(self, now: float) -> float:
        return self.before_s + now - self.start


def train(opts: TrainOptions) -> None:
    """Build, resume, then step to `opts.steps`: log every `log_every` steps (with the held-out loss
    every tenth log line), save every `save_minutes` and at the end, stop early after `max_minutes`."""
    run = build(opts)
    step, before_s = resume(run, opts.init)
    print(json.dumps({"params": run.model.num_parameters(), "resume_step": step}), flush=True)
    rng = random.Random(opts.seed * 1_000_003 + step)  # a resumed run draws batches afresh
    torch.manual_seed(opts.seed + step)
    cfg, clock = run.cfg, Clock(before_s)
    bar = progress_bar(cfg.steps, step)
    run.model.train()
    with (run.out / LOG).open("a") as log:
        while step < cfg.steps:
            loss, tokens = optimisation_step(run, step, rng)
            step += 1
            clock.tokens += tokens
            now = time.time()
            if bar is not None:
                bar.update(1)
                bar.set_postfix(loss=f"{float(loss):.3f}", tok_s=f"{clock.tok_s(now):.0f}", refresh=False)
            if step % opts.log_every == 0 or step == cfg.steps:
                evaluate = step % (opts.log_every * 10) == 0 or step == cfg.steps
                write_log(log, log_record(run, step, loss, clock, now, evaluate))
            done = step == cfg.steps or bool(opts.max_minutes and now - clock.start > opts.max_minutes * 60)
            if done or now - clock.last_save > opts.save_minutes * 60:
                save(run, step, clock.train_seconds(now))
                clock.last_save = now
            if done:
                break
    if bar is not None:
        bar.close()
    plot_losses(run.out / LOG, run.out / "loss.png")


# --- build ---------------------------------------------------------------------------------------


def build(opts: TrainOptions) -> Run:
    """The corpus, its tokenizer and token streams, the model and its optimizer."""
    torch.manual_seed(opts.seed)  # the model's initial weights
    torch.set_num_threads(opts.threads)
    out = Path(opts.out)
    train_files, held_files = split(run_files(opts))
    functions = function_files(train_files, opts.functions)  # more of the stream, not more files
    if opts.init:
        _start_from(Path(opts.init), out)
    tok = build_tokenizer(train_files + functions, opts.vocab_size, out)
    cfg, mcfg = train_config(opts), model_config(opts, tok.vocab_size)
    t0 = time.time()
    train_stream, held_stream = TokenStream(train_files + functions, tok), TokenStream(held_files, tok)
    corpus = corpus_record(opts, train_files, functions, held_files, train_stream, held_stream)
    print(json.dumps({"corpus": corpus, "tokenize_s": round(time.time() - t0, 1)}), flush=True)
    device = torch.device(opts.device)
    model = DiffusionLM(mcfg).to(device)
    opt = build_optimizer(model, cfg, opts.fused_adamw)
    return set_speed(Run(out, device, cfg, tok, model, opt, train_stream, held_stream, corpus), opts)


def _start_from(init: Path, out: Path) -> None:
    """A fine-tune keeps its base's tokenizer (the embeddings are indexed by it)."""
    out.mkdir(parents=True, exist_ok=True)
    if not (out / "tokenizer.json").is_file():
        shutil.copyfile(init / "tokenizer.json", out / "tokenizer.json")


def build_tokenizer(files: list[SourceFile], vocab_size: int, out: Path) -> CodeTokenizer:
    """The run's tokenizer: the one in `out` (a resumed run or a fine-tune), else trained on `files`."""
    path = out / "tokenizer.json"
    if path.is_file():
        return CodeTokenizer.from_file(path)
    out.mkdir(parents=True, exist_ok=True)
    tok = train_tokenizer((f.text for f in files), vocab_size)
    tok.save(str(path))
    return CodeTokenizer.from_file(path)


def train_config(opts: TrainOptions) -> TrainConfig:
    """The TrainConfig fields the options name (the same names); the others keep their defaults."""
    given = {f.name for f in fields(TrainOptions)}
    return TrainConfig(**{f.name: getattr(opts, f.name) for f in fields(TrainConfig) if f.name in given})


def model_config(opts: TrainOptions, vocab_size: int) -> ModelConfig:
    if opts.init:  # the architecture is the base's, whatever the size flags say, deepened by --grow-layers
        base = ModelConfig.from_dict(our_config(read_config(Path(opts.init))))
        return replace(base, num_hidden_layers=opts.grow_layers) if opts.grow_layers else base
    return ModelConfig(
        vocab_size=vocab_size,
        hidden_size=opts.hidden,
        intermediate_size=opts.ffn,
        num_hidden_layers=opts.layers,
        num_attention_heads=opts.heads,
        num_key_value_heads=opts.kv_heads,
        max_position_embeddings=opts.seq_len * 2,
        shift_logits=opts.ar_fraction > 0,  # the AR phase leaves the model predicting i from i-1
    )


def build_optimizer(model: DiffusionLM, cfg: TrainConfig, fused: bool = False) -> torch.optim.Optimizer:
    """AdamW over the fp32 parameters (with bf16 weights too: they are the masters); weight decay
    on the matrices only, not on biases and norm gains; `fused`: one kernel for the update."""
    decay = [p for p in model.parameters() if p.dim() >= 2]
    no_decay = [p for p in model.parameters() if p.dim() < 2]
    return torch.optim.AdamW(
        [{"params": decay, "weight_decay": cfg.weight_decay}, {"params": no_decay, "weight_decay": 0.0}],
        lr=cfg.lr,
        betas=(0.9, 0.95),
        **precision.adamw_kwargs(fused),
    )


def set_speed(run: Run, opts: TrainOptions) -> Run:
    """The run with its step's precision resolved and, with --compile, the model compiled in place
    (nn.Module.compile keeps the parameters' names, so checkpoints and resumes are unchanged)."""
    run.precision = precision.resolve(opts.precision, run.device)
    if opts.compile:
        run.model.compile()
    return run


# --- resume --------------------------------------------------------------------------------------


def resume(run: Run, init: str | None) -> tuple[int, float]:
    """(step, seconds trained) from the state saved in --out; a run with none starts at step 0,
    from the base's weights when it is a fine-tune."""
    if (run.out / STATE).is_file():
        return _load_train_state(run.out, run.model, run.opt)
    if init:
        state = _weights(Path(init), run.model)
        base_layers = int(our_config(read_config(Path(init)))["num_hidden_layers"])
        layers = run.model.config.num_hidden_layers
        if layers != base_layers:
            state = grow_state(state, base_layers, layers)
        run.model.load_state_dict(state, strict=True)
    return 0, 0.0


def _weights(folder: Path, model: DiffusionLM) -> dict[str, torch.Tensor]:
    state = load_state(folder)
    if model.config.tie_word_embeddings:  # a checkpoint stores the tied matrix once
        state["lm_head.weight"] = state["model.embed_tokens.weight"]
    return state


def _load_train_state(out: Path, model: DiffusionLM, opt: torch.optim.Optimizer) -> tuple[int, float]:
    model.load_state_dict(_weights(out, model), strict=True)
    flat = load_sharded(out)
    sd = opt.state_dict()
    for key, val in flat.items():
        pid, name = key.split(".", 1)
        sd["state"].setdefault(int(pid), {})[name] = val
    opt.load_state_dict(sd)
    info = json.loads((out / STATE).read_text())
    return int(info["step"]), float(info["elapsed_s"])


# --- step ----------------------------------------------------------------------------------------


def lr_at(step: int, cfg: TrainConfig) -> float:
    """Linear warm-up, then cosine decay to a tenth of the peak."""
    if step < cfg.warmup:
        return cfg.lr * (step + 1) / cfg.warmup
    progress = (step - cfg.warmup) / max(1, cfg.steps - cfg.warmup)
    return cfg.lr * (0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * min(1.0, progress))))


def autocast(device: torch.device, choice: str | None = None) -> Any:
    """The forward's context for a resolved precision (model.train.precision); without one, as
    the held-out loss has always run: bf16 autocast on CUDA, plain fp32 on CPU."""
    if choice is None:
        choice = "bf16-autocast" if device.type == "cuda" else "fp32"
    return precision.autocast(device, choice)


def optimisation_step(run: Run, step: int, rng: random.Random) -> tuple[torch.Tensor, int]:
    """One AdamW step numbered `step` (from 0); returns the batch's loss and its token count."""
    cfg = run.cfg
    for g in run.opt.param_groups:
        g["lr"] = lr_at(step, cfg)
    run.opt.zero_grad(set_to_none=True)
    with precision.bf16_weights(run.model, run.precision == "bf16-weights"):  # grads come out fp32
        with autocast(run.device, run.precision):
            if step < cfg.ar_fraction * cfg.steps:
                ids = ar_batch(run.train_stream, cfg, rng).to(run.device)
                loss = ar_loss(run.model, ids)
            else:
                batch = make_batch(run.train_stream, cfg, run.tok.specials, rng)
                ids, clean, weight, _ = (t.to(run.device) for t in batch)
                loss = diffusion_loss(run.model, ids, clean, weight)
        loss.backward()
    torch.nn.utils.clip_grad_norm_(run.model.parameters(), 1.0)
    run.opt.step()
    return loss.detach(), ids.numel()


def progress_bar(total: int, initial: int) -> Any:
    """A tqdm bar on stderr when tqdm is installed (it is optional: a GPU box may have only torch)."""
    try:
        from tqdm import tqdm
    except ImportError:
        return None
    return tqdm(total=total, initial=initial, unit="step", dynamic_ncols=True)


# --- evaluate ------------------------------------------------------------------------------------


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
        total += float(weighted_loss(logits, clean, weight))
        pred = logits.argmax(-1)
        correct += int((pred[masked] == clean[masked]).sum())
        count += int(masked.sum())
    torch.random.set_rng_state(torch_state)
    model.train()
    return {"loss": total / batches, "masked_acc": correct / max(count, 1)}


def log_record(run: Run, step: int, loss: torch.Tensor, clock: Clock, now: float, evaluate: bool) -> dict[str, Any]:
    """One line of train_log.jsonl; with `evaluate`, the held-out loss too."""
    rec: dict[str, Any] = {
        "step": step,
        "loss": round(float(loss), 4),
        "lr": lr_at(step, run.cfg),
        "tok_s": round(clock.tok_s(now)),
        "elapsed_s": round(clock.train_seconds(now)),
    }
    if evaluate:
        rec["held_out"] = held_out_loss(run.model, run.held_stream, run.cfg, run.tok.specials)
    return rec


def write_log(log: IO[str], rec: dict[str, Any]) -> None:
    """On stdout and in the log file, flushed: a run may be stopped at any moment."""
    print(json.dumps(rec), flush=True)
    log.write(json.dumps(rec) + "\n")
    log.flush()


# --- save ----------------------------------------------------------------------------------------


def save(run: Run, step: int, train_seconds: float) -> None:
    """The checkpoint (what the worker loads) and the optimizer state and step a resume needs."""
    cfg = run.cfg
    extra = {
        "fillgap_training": {
            "steps": step,
            "train_seconds": round(train_seconds),
            "seq_len": cfg.seq_len,
            "batch_size": cfg.batch_size,
            "ar_fraction": cfg.ar_fraction,
            "precision": run.precision,
            "corpus": run.corpus,
        }
    }
    save_checkpoint(run.model, run.tok, run.out, extra)
    _save_train_state(run.out, run.opt, step, train_seconds)


def _save_train_state(out: Path, opt: torch.optim.Optimizer, step: int, elapsed: float) -> None:
    tensors = {}
    for pid, st in opt.state_dict()["state"].items():
        for key, val in st.items():
            if torch.is_tensor(val):
                tensors[f"{pid}.{key}"] = val.detach().cpu().contiguous()
    save_sharded(tensors, out)
    (out / STATE).write_text(json.dumps({"step": step, "elapsed_s": elapsed}))
