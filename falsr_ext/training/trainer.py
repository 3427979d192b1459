"""The training loop: L1 on patches, Adam, a step-wise schedule, validation, checkpoints.

One loop serves users (``falsr train``) and the NAS evaluator (incomplete training: a
small budget). A run directory holds ``config.json``, ``metrics.jsonl`` (one JSON object
per log / validation event), ``checkpoint.pt``, ``model.safetensors`` (final weights, our
format) and ``curves.png``. Under ``torchrun`` (``WORLD_SIZE`` > 1) the loop runs as
DistributedDataParallel (gloo on CPU, nccl on CUDA); rank 0 writes the run directory.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F  # noqa: N812

from falsr_ext.models.falsr_net import FalsrNet, build_model
from falsr_ext.space import Genotype, parse_genotype
from falsr_ext.training.checkpoint import (
    CheckpointError,
    load_checkpoint,
    rng_state,
    save_checkpoint,
    set_rng_state,
)
from falsr_ext.training.config import TrainConfig, TrainConfigError
from falsr_ext.training.data import TrainImage, load_training_images, sample_batch
from falsr_ext.training.schedule import lr_factor

METRICS_NAME = "metrics.jsonl"
WEIGHTS_NAME = "model.safetensors"
CONFIG_NAME = "config.json"
PLOT_NAME = "curves.png"
# Settings that do not change the weights a run reaches: a resumed run may change them.
_FREE_ON_RESUME = {"val", "val_every", "checkpoint_every", "log_every"}


@dataclass
class TrainResult:
    """What a finished run left: its directory, weights file and last figures."""

    run_dir: Path
    weights: Path | None  # None: the run kept no artifacts
    model: FalsrNet
    steps: int
    last_loss: float | None
    val_psnr: float | None


def _dist_info() -> tuple[int, int]:
    world = int(os.environ.get("WORLD_SIZE", "1"))
    rank = int(os.environ.get("RANK", "0"))
    return rank, world


def _resolve_device(device: str | torch.device | None) -> torch.device:
    if device is None:
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    dev = torch.device(device)
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise TrainConfigError("device 'cuda' asked for, but this torch sees no CUDA GPU")
    return dev


def _check_resume(run_dir: Path, config: TrainConfig, resume: bool) -> None:
    saved_path = run_dir / CONFIG_NAME
    if not saved_path.is_file():
        return
    if not resume:
        raise TrainConfigError(
            f"{run_dir} already holds a training run; pass resume=True (--resume) to "
            f"continue it, or choose another output folder")
    saved = TrainConfig.load(saved_path).to_dict()
    now = config.to_dict()
    changed = [k for k in now if k not in _FREE_ON_RESUME and now[k] != saved.get(k)]
    if changed:
        diffs = ", ".join(f"{k}: {saved.get(k)!r} -> {now[k]!r}" for k in changed)
        raise TrainConfigError(f"cannot resume {run_dir} with other settings ({diffs})")


def _truncate_metrics(path: Path, step: int) -> None:
    """Drop events after ``step`` (they are re-made, identically, by the resumed run)."""
    if not path.is_file():
        return
    keep = []
    for line in path.read_text().splitlines():
        try:
            if json.loads(line)["step"] <= step:
                keep.append(line)
        except (json.JSONDecodeError, KeyError, TypeError):
            continue  # a line cut short by a kill
    path.write_text("".join(k + "\n" for k in keep))


class _MetricsLog:
    def __init__(self, path: Path | None) -> None:
        self.path = path

    def write(self, event: dict[str, Any]) -> None:
        if self.path is not None:
            with self.path.open("a") as f:
                f.write(json.dumps(event) + "\n")


def _validate(model: FalsrNet, folder: str) -> dict[str, float]:
    from falsr_ext.evaluation import evaluate

    was_training = model.training
    model.eval()
    try:
        result = evaluate(model, folder)
    finally:
        model.train(was_training)
    return {"val_psnr": result.psnr, "val_ssim": result.ssim, "val_dataset": result.dataset}


def train_run(
    config: TrainConfig,
    out: str | os.PathLike[str],
    resume: bool = False,
    progress: bool = True,
    device: str | torch.device | None = None,
    threads: int | None = None,
    images: list[TrainImage] | None = None,
    on_step: Callable[[int], None] | None = None,
    keep_artifacts: bool = True,
) -> TrainResult:
    """Train ``config`` into the run directory ``out`` (see the module docstring).

    ``resume`` continues from ``out``'s checkpoint (the settings must match, bar the
    logging ones), reaching the weights an uninterrupted run reaches for the same seed.
    ``images`` lets a caller (the NAS evaluator) reuse images already loaded;
    ``on_step(done)`` is called after every optimiser step (and its checkpoint).
    ``keep_artifacts=False`` writes no checkpoint, weights file or plot, only the metrics
    (the NAS evaluator, whose run folder is thrown away); such a run cannot be resumed.
    """
    run_dir = Path(out)
    rank, world = _dist_info()
    dev = _resolve_device(device)
    if threads is not None:
        torch.set_num_threads(threads)
    genotype = parse_genotype(config.genotype)
    _check_resume(run_dir, config, resume)
    if world > 1:
        import torch.distributed as dist

        if not dist.is_initialized():
            dist.init_process_group("nccl" if dev.type == "cuda" else "gloo")
        if dev.type == "cuda":
            dev = torch.device("cuda", int(os.environ.get("LOCAL_RANK", "0")))
    lead = rank == 0
    if images is None:  # before the run folder exists: bad data leaves nothing behind
        images = load_training_images(config.data, config.scale, config.patch,
                                      config.in_channels, progress=progress and lead)
    if lead:
        run_dir.mkdir(parents=True, exist_ok=True)
        config.save(run_dir / CONFIG_NAME)

    torch.manual_seed(config.seed)  # same initial weights on every rank and every rerun
    model = build_model(genotype, config.scale, config.in_channels).to(dev)
    model = model.to(memory_format=torch.channels_last)
    optimizer = torch.optim.Adam(model.parameters(), lr=config.lr)
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda s: lr_factor(config, s))
    start = 0
    state = load_checkpoint(run_dir) if resume else None
    if state is not None:
        try:
            model.load_state_dict(state["model"])
            optimizer.load_state_dict(state["optimizer"])
            scheduler.load_state_dict(state["scheduler"])
            set_rng_state(state["rng"])
            start = int(state["step"])
        except (KeyError, RuntimeError, ValueError) as exc:
            raise CheckpointError(f"{run_dir}: checkpoint does not fit this run ({exc})") from None
    metrics = _MetricsLog(run_dir / METRICS_NAME if lead else None)
    if lead:
        _truncate_metrics(run_dir / METRICS_NAME, start)
    net: torch.nn.Module = model
    if world > 1:
        net = torch.nn.parallel.DistributedDataParallel(model)

    bar = None
    if progress and lead:
        from tqdm import tqdm

        bar = tqdm(total=config.steps, initial=start, desc=f"train {genotype.name or 'net'}",
                   unit="step", disable=None)
    last_loss = val_psnr = None
    window_loss, window_n, window_t = 0.0, 0, 0.0  # window_t: training time only
    amp = config.dtype == "bfloat16"
    net.train()
    for step in range(start, config.steps):
        tick = time.perf_counter()
        lr_img, hr_img = sample_batch(images, config.seed, step, config.batch, config.patch,
                                      config.scale, rank, world)
        lr_img = lr_img.to(dev).contiguous(memory_format=torch.channels_last)
        hr_img = hr_img.to(dev)
        with torch.autocast(dev.type, dtype=torch.bfloat16, enabled=amp):
            sr = net(lr_img)
        loss = F.l1_loss(sr.float(), hr_img)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        scheduler.step()
        done = step + 1
        window_loss += float(loss.detach())
        window_n += 1
        window_t += time.perf_counter() - tick
        if done % config.log_every == 0 or done == config.steps:
            loss_avg = _mean_over_ranks(window_loss / window_n, world)
            rate = window_n * config.batch / max(window_t, 1e-9)
            last_loss = loss_avg
            metrics.write({"step": done, "loss": loss_avg, "lr": optimizer.param_groups[0]["lr"],
                           "images_per_s": rate})
            if bar is not None:
                bar.set_postfix(loss=f"{loss_avg:.4f}", img_s=f"{rate:.1f}",
                                psnr="-" if val_psnr is None else f"{val_psnr:.2f}")
            window_loss, window_n, window_t = 0.0, 0, 0.0
        if config.val and lead and (done % config.val_every == 0 or done == config.steps):
            figures = _validate(model, config.val)
            val_psnr = figures["val_psnr"]
            metrics.write({"step": done, **figures})
        if keep_artifacts and (done % config.checkpoint_every == 0 or done == config.steps):
            if lead:
                save_checkpoint(run_dir, {
                    "step": done, "model": model.state_dict(),
                    "optimizer": optimizer.state_dict(), "scheduler": scheduler.state_dict(),
                    "rng": rng_state(), "config": config.to_dict(),
                })
            _barrier(world)
        if bar is not None:
            bar.update(1)
        if on_step is not None:
            on_step(done)
    if bar is not None:
        bar.close()

    model.eval()
    weights = run_dir / WEIGHTS_NAME if keep_artifacts else None
    if lead and weights is not None:
        from falsr_ext.models.weights import save_weights
        from falsr_ext.training.plot import plot_metrics

        save_weights(model.to("cpu", memory_format=torch.contiguous_format), weights,
                     source=f"falsr train ({config.steps} steps, seed {config.seed})")
        plot_metrics(run_dir / METRICS_NAME, run_dir / PLOT_NAME)
    _barrier(world)
    return TrainResult(run_dir, weights, model, config.steps, last_loss, val_psnr)


def _mean_over_ranks(value: float, world: int) -> float:
    if world == 1:
        return value
    import torch.distributed as dist

    t = torch.tensor([value], dtype=torch.float64)
    dist.all_reduce(t)
    return float(t.item()) / world


def _barrier(world: int) -> None:
    if world > 1:
        import torch.distributed as dist

        dist.barrier()


def train(
    genotype: str | Genotype,
    data: str | os.PathLike[str] | list[str],
    out: str | os.PathLike[str],
    *,
    resume: bool = False,
    progress: bool = True,
    device: str | torch.device | None = None,
    threads: int | None = None,
    **settings: Any,
) -> TrainResult:
    """Train a network of ``genotype`` on the HR images of ``data`` into run folder ``out``.

    ``settings`` are the fields of :class:`TrainConfig` (``scale``, ``steps``, ``batch``,
    ``patch``, ``lr``, ``schedule``, ``val``, ``seed``, ``dtype``, ...). Returns a
    :class:`TrainResult`; the weights load with :func:`falsr_ext.load_model`.

    Example::

        falsr_ext.train("FALSR-B", ["T91", "BSD200"], "runs/b", steps=20000, val="Set5")
    """
    g = parse_genotype(genotype)  # also validates a Genotype
    folders = [str(data)] if isinstance(data, (str, os.PathLike)) else [str(d) for d in data]
    config = TrainConfig(genotype=g.to_string(), data=folders, **settings)
    return train_run(config, out, resume=resume, progress=progress, device=device,
                     threads=threads)
