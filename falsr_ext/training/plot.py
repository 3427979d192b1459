"""The loss / validation-PSNR curves of a run, as a PNG."""

from __future__ import annotations

import json
from pathlib import Path

from falsr_ext.files import atomic_path


def read_metrics(path: Path) -> list[dict]:
    """The events of a ``metrics.jsonl`` (lines cut short by a kill are skipped)."""
    events = []
    if path.is_file():
        for line in path.read_text().splitlines():
            try:
                events.append(json.loads(line))
            except json.JSONDecodeError:
                continue
    return events


def plot_metrics(metrics: Path, target: Path) -> Path | None:
    """Draw training loss (left axis) and validation PSNR (right axis) against the step.

    Returns the PNG's path, or None when there is nothing to draw yet.
    """
    events = read_metrics(metrics)
    loss = [(e["step"], e["loss"]) for e in events if "loss" in e]
    psnr = [(e["step"], e["val_psnr"]) for e in events if "val_psnr" in e]
    if not loss and not psnr:
        return None
    import matplotlib

    matplotlib.use("Agg")  # no display needed: the plot only goes to a file
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4), dpi=100)
    if loss:
        ax.plot(*zip(*loss, strict=True), color="tab:blue", lw=1, label="L1 loss")
        ax.set_yscale("log")
    ax.set_xlabel("step")
    ax.set_ylabel("training L1 loss", color="tab:blue")
    if psnr:
        ax2 = ax.twinx()
        ax2.plot(*zip(*psnr, strict=True), color="tab:red", marker="o", ms=3, lw=1)
        dataset = next((e.get("val_dataset") for e in events if "val_psnr" in e), "val")
        ax2.set_ylabel(f"{dataset} PSNR (dB)", color="tab:red")
    ax.grid(alpha=0.3)
    fig.tight_layout()
    try:
        with atomic_path(target) as tmp:
            fig.savefig(tmp, format="png")
    finally:
        plt.close(fig)
    return target
