"""DiffusionGemma decoder rows batched: rows of fills with different prompt lengths share one pass and
each gets the logits it gets alone (model/block_batch.py); the step loop's group path runs one call
per step for every fill that posted to it, counted as one pass of all their rows."""

from __future__ import annotations

import threading
from collections.abc import Callable

import pytest
import torch

from model.block_batch import DecodeItem, GroupDecoder, decode_alone, decode_group, merge_caches
from model.serve.steploop import StepLoop

transformers = pytest.importorskip("transformers")

CANVAS, WINDOW, VOCAB = 16, 8, 256
LENGTHS = (5, 23, 13, 9)  # 23 > the sliding window: its sliding layers keep only the last WINDOW - 1 keys


def tiny_model(seed: int = 0) -> torch.nn.Module:
    """A tiny random DiffusionGemma built in memory: sliding and full layers, 4 experts (top 2)."""
    torch.manual_seed(seed)
    text = {
        "vocab_size": VOCAB,
        "hidden_size": 64,
        "intermediate_size": 64,
        "num_hidden_layers": 3,
        "num_attention_heads": 2,
        "num_key_value_heads": 1,
        "head_dim": 16,
        "global_head_dim": 32,
        "sliding_window": WINDOW,
        "layer_types": ["sliding_attention", "sliding_attention", "full_attention"],
        "num_experts": 4,
        "top_k_experts": 2,
        "moe_intermediate_size": 32,
        "max_position_embeddings": 512,
    }
    vision = {
        "model_type": "gemma4_vision",
        "hidden_size": 32,
        "intermediate_size": 64,
        "num_hidden_layers": 1,
        "num_attention_heads": 2,
        "num_key_value_heads": 2,
        "head_dim": 16,
    }
    cfg = transformers.DiffusionGemmaConfig(text_config=text, vision_config=vision, canvas_length=CANVAS)
    cfg._attn_implementation = "sdpa"
    model = transformers.DiffusionGemmaForBlockDiffusion(cfg).eval()
    with torch.no_grad():  # larger weights than the default init, so the logits differ from row to row
        for p in model.parameters():
            if p.dim() >= 2:
                p.mul_(4.0)
    return model


@pytest.fixture(scope="module")
def model() -> torch.nn.Module:
    return tiny_model()


def _items(
    model: torch.nn.Module, lengths: tuple[int, ...] = LENGTHS, canvas: int = CANVAS, vocab: int = VOCAB
) -> list[DecodeItem]:
    """One fill per prompt length, each with its own encoded cache, a fixed canvas and (but for the
    third, on its first step) fixed self-conditioning logits over the model's vocabulary; ids below
    `vocab`."""
    gen = torch.Generator(device="cpu").manual_seed(1)
    items = []
    with torch.no_grad():
        for i, n in enumerate(lengths):
            cache = transformers.DynamicCache(config=model.config.text_config)
            model.model.encoder(input_ids=torch.randint(3, vocab, (1, n), generator=gen, device="cpu"), cache=cache)
            ids = torch.randint(3, vocab, (1, canvas), generator=gen, device="cpu")
            width = model.config.text_config.vocab_size
            sc = None if i == 2 else 4 * torch.randn(1, canvas, width, generator=gen, device="cpu")
            items.append(DecodeItem(ids, sc, cache))
    return items


def _worst(model: torch.nn.Module, items: list[DecodeItem]) -> tuple[float, float]:
    """The largest difference of a row's logits batched from its logits alone, and their spread."""
    with torch.no_grad():
        alone = [decode_alone(model, it) for it in items]
        together = decode_group(model, items)
    worst = max(float((a - t).abs().max()) for a, t in zip(alone, together, strict=True))
    return worst, float(torch.stack(alone).std())


def test_diffusion_gemma_batched_rows_match_each_row_alone(model: torch.nn.Module) -> None:
    items = _items(model)
    assert items[1].cache.layers[0].keys.shape[-2] == WINDOW - 1 < LENGTHS[1]  # the window did cut that one
    worst, spread = _worst(model, items)
    assert worst < 1e-4 and spread > 0.1, (worst, spread)


def test_diffusion_gemma_batched_rows_match_alone_at_the_published_config_keys() -> None:
    """The same on tests/model/gemma/folders.py's tiny model: the published config.json keys, the
    real 262,144-id head, a 16-token sliding window and a 32-token canvas."""
    from tests.model.gemma.folders import CANVAS as PUBLISHED_CANVAS
    from tests.model.gemma.folders import TEXT_SIZES
    from tests.model.gemma.folders import tiny_model as published_tiny

    model = published_tiny(scale=4.0)
    window = TEXT_SIZES["sliding_window"]
    items = _items(model, (5, 2 * window + 7, window + 3, 9), canvas=PUBLISHED_CANVAS, vocab=32000)
    assert items[1].cache.layers[0].keys.shape[-2] == window - 1
    worst, spread = _worst(model, items)
    assert worst < 1e-4 and spread > 0.1, (worst, spread)


def test_diffusion_gemma_batched_canvases_of_other_widths_match_alone(model: torch.nn.Module) -> None:
    items = _items(model, (5, 23))
    short = DecodeItem(items[0].canvas[:, :10], items[0].self_cond[:, :10], items[0].cache)  # type: ignore[index]
    with torch.no_grad():
        alone = [decode_alone(model, short), decode_alone(model, items[1])]
        together = decode_group(model, [short, items[1]])
    assert together[0].shape == (1, 10, VOCAB)
    for a, t in zip(alone, together, strict=True):
        torch.testing.assert_close(t, a, atol=1e-4, rtol=0)


def test_diffusion_gemma_padding_unmasked_would_change_the_logits(model: torch.nn.Module) -> None:
    """The check above can fail: the same merged pass with the key mask dropped moves the short rows."""
    items = _items(model)
    widths = [CANVAS] * len(items)
    cache, masks = merge_caches(items, widths, CANVAS)
    open_masks = {k: torch.ones_like(v) for k, v in masks.items()}
    canvas = torch.cat([it.canvas for it in items])
    sc = torch.cat([it.self_cond if it.self_cond is not None else torch.zeros(1, CANVAS, VOCAB) for it in items])
    has = torch.tensor([it.self_cond is not None for it in items], device="cpu")
    starts = torch.tensor([it.cache.get_seq_length() for it in items], device="cpu")
    pos = starts[:, None] + torch.arange(CANVAS, device="cpu")
    with torch.no_grad():
        alone = decode_alone(model, items[0])
        wrong = model(
            cache=cache,
            decoder_input_ids=canvas,
            self_conditioning_logits=sc,
            self_conditioning_mask=has,
            decoder_attention_mask=open_masks,
            decoder_position_ids=pos,
        ).logits
    assert float((wrong[0] - alone[0]).abs().max()) > 1e-3


class _Fill:
    def __init__(self) -> None:
        self.stopped = False

    def should_stop(self) -> bool:
        return self.stopped


def _posting(loop: StepLoop, fills: list[_Fill], work: Callable[[int], object]) -> list[object]:
    out: list[object] = [None] * len(fills)

    def run(i: int) -> None:
        loop.join(fills[i])
        try:
            out[i] = work(i)
        except Exception as exc:
            out[i] = exc
        finally:
            loop.leave(fills[i])

    threads = [threading.Thread(target=run, args=(i,)) for i in range(len(fills))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    return out


def test_diffusion_gemma_group_path_runs_one_call_per_step_for_every_fill(model: torch.nn.Module) -> None:
    items = _items(model)
    calls: list[int] = []
    everyone_there = threading.Barrier(len(items) + 1)

    def group(batch: list[DecodeItem]) -> list[torch.Tensor]:
        calls.append(len(batch))
        return decode_group(model, batch)

    loop = StepLoop(lambda *a: torch.zeros(0), pad_id=0, gather_s=0.5)
    fills = [_Fill() for _ in items]

    def work(i: int) -> object:
        everyone_there.wait(30)
        return [loop.group(group, items[i], rows=1) for _ in range(3)]

    threading.Thread(target=everyone_there.wait, args=(30,)).start()
    got = _posting(loop, fills, work)
    with torch.no_grad():
        alone = [decode_alone(model, it) for it in items]
    for steps, a in zip(got, alone, strict=True):
        assert isinstance(steps, list) and len(steps) == 3
        for logits in steps:
            torch.testing.assert_close(logits, a, atol=1e-4, rtol=0)
    assert sum(calls) == 3 * len(items) and len(calls) < 3 * len(items)  # fills shared calls
    assert loop.forward_passes == len(calls) and loop.rows_run == 3 * len(items)


def test_diffusion_gemma_group_out_of_memory_is_split_in_halves(model: torch.nn.Module) -> None:
    items = _items(model)

    def group(batch: list[DecodeItem]) -> list[torch.Tensor]:
        if len(batch) > 1:
            raise torch.cuda.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB")
        return decode_group(model, batch)

    loop = StepLoop(lambda *a: torch.zeros(0), pad_id=0, gather_s=0.5)
    fills = [_Fill() for _ in items]
    got = _posting(loop, fills, lambda i: loop.group(group, items[i]))
    assert all(isinstance(g, torch.Tensor) for g in got)
    assert loop.rows_run == len(items) and loop.forward_passes == len(items)


def test_diffusion_gemma_a_stopped_fill_leaves_the_group_at_the_step_boundary(model: torch.nn.Module) -> None:
    from model.engine import Stopped

    items = _items(model, (5, 9))
    fills = [_Fill(), _Fill()]
    loop = StepLoop(lambda *a: torch.zeros(0), pad_id=0, gather_s=0.1)

    def work(i: int) -> object:
        for step in range(4):
            if i == 0 and step == 2:
                fills[0].stopped = True
            loop.group(lambda b: decode_group(model, b), items[i])
        return "done"

    got = _posting(loop, fills, work)
    assert isinstance(got[0], Stopped) and got[1] == "done"


def test_diffusion_gemma_steps_over_unchanged_caches_merge_them_once(model: torch.nn.Module) -> None:
    items = _items(model, (5, 23))
    group = GroupDecoder(model)
    with torch.no_grad():
        first = group(items)
        again = group([DecodeItem(torch.flip(it.canvas, (1,)), it.self_cond, it.cache) for it in items])
        assert group.merges == 1  # the next step of the same fills: the same merged keys
        model.model.encoder(input_ids=torch.tensor([[7, 8, 9]], device="cpu"), cache=items[0].cache)
        grown = group(items)  # a cache that grew (its canvas was encoded) is merged anew
        alone = decode_alone(model, items[0])
    assert group.merges == 2
    torch.testing.assert_close(grown[0], alone, atol=1e-4, rtol=0)
    assert not torch.equal(first[0], again[0]) and not torch.equal(first[0], grown[0])
