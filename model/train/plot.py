"""The loss curve of a run: train_log.jsonl drawn as loss.png."""

from __future__ import annotations

import json
from pathlib import Path


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
