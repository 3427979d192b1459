"""The training loop: L1 on patches, Adam, a step-wise schedule, validation, checkpoints.

One loop serves users (``falsr train``) and the NAS evaluator (incomplete training: a
small budget), for a network of any space (:mod:`falsr_ext.spaces`): a FALSR genotype
(luma, or RGB with ``in_channels=3``) or another space's ``"dlsr:..."`` / ``"tpsr:..."``
architecture (RGB). Patches are on the network's input range (the model card's
``input_range``: [0, 1] for FALSR, [0, 255] for DLSR and TPSR) and the L1 loss is taken
on that range, as the DLSR and TPSR releases trained (Adam is invariant to the loss's
scale but for its epsilon); the logged ``loss`` is divided by the range, i.e. the mean
absolute error on [0, 1], so that curves of every space compare. Validation uses the
card's evaluation protocol.

A run directory holds ``config.json``, ``metrics.jsonl`` (one JSON object per log /
validation event), ``checkpoint.pt``, ``model.safetensors`` (final weights, our format,
any space: ``falsr eval`` reads its protocol from it) and ``curves.png``. Under
``torchrun`` (``WORLD_SIZE`` > 1) the loop runs as DistributedDataParallel (gloo on CPU,
nccl on CUDA); rank 0 writes the run directory.

A run holds its directory's lock from start to end (one process per run folder; under
``torchrun`` rank 0 holds it). Every file but the append-only ``metrics.jsonl`` is written
atomically (unique temporary name, fsync, rename), and the checkpoint holds only tensors
and plain data, so resuming never unpickles code.
"""

from __future__ import annotations

import contextlib
import json
import os
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F  # noqa: N812
from torch import nn

from falsr_ext.files import FolderBusyError, atomic_write_text
from falsr_ext.space import Genotype
from falsr_ext.training.checkpoint import (
    CheckpointError,
    load_checkpoint,
    rng_state,
    save_checkpoint,
    set_rng_state,
)
from falsr_ext.training.config import TrainConfig, TrainConfigError
from falsr_ext.training.data import TrainImage, load_training_images, sample_batch
from falsr_ext.training.runlock import locked_run_folder
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
    model: nn.Module
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


def build_network(config: TrainConfig) -> nn.Module:
    """The freshly initialised network of ``config`` (seeded: the same weights on every
    rank and rerun), checked against the settings: its colour, and ``patch`` against the
    smallest LR input the network takes (the card's ``min_size``)."""
    torch.manual_seed(config.seed)
    if config.space == "falsr":
        from falsr_ext.models.falsr_net import build_model
        from falsr_ext.space import parse_genotype

        return build_model(parse_genotype(config.arch), config.scale, config.in_channels)
    from falsr_ext.spaces import get_space

    space = get_space(config.space)
    model = space.build(space.parse(config.arch), config.scale)
    channels = getattr(model, "in_channels", 3)
    if channels != config.in_channels:
        raise TrainConfigError(f"{config.space} networks take {channels} channels; "
                               f"in_channels {config.in_channels} does not fit")
    card = model.card
    if config.patch < card.min_size:
        raise TrainConfigError(
            f"patch {config.patch} is too small: {config.space} networks need LR inputs of at "
            f"least {card.min_size}x{card.min_size} px (model card min_size); use --patch "
            f"{card.min_size} or more")
    return model


def _input_range(model: nn.Module) -> float:
    """White at the network's input and output (FALSR: 1.0, DLSR/TPSR: 255.0)."""
    card = getattr(model, "card", None)
    return float(card.input_range) if card is not None else 1.0


def _network_name(model: nn.Module) -> str:
    genotype = getattr(model, "genotype", None)
    if genotype is not None:
        return genotype.name or "net"
    return str(getattr(model, "space", "net"))


def _check_images(images: list[TrainImage], config: TrainConfig) -> None:
    """Images a caller passed must be in the network's colour."""
    channels = images[0].lr.shape[0] if images else config.in_channels
    if channels != config.in_channels:
        raise TrainConfigError(f"the given training images have {channels} channel(s), the "
                               f"network takes {config.in_channels}")


def _check_resume(run_dir: Path, config: TrainConfig, resume: bool) -> TrainConfig | None:
    """The saved settings of the run in ``run_dir`` (None: a fresh folder), checked."""
    saved_path = run_dir / CONFIG_NAME
    if not saved_path.is_file():
        return None
    if not resume:
        raise TrainConfigError(
            f"{run_dir} already holds a training run; pass resume=True (--resume) to "
            f"continue it, or choose another output folder")
    saved = TrainConfig.load(saved_path)
    before, now = saved.to_dict(), config.to_dict()
    free = _FREE_ON_RESUME | {"steps"}  # a new total is checked against the checkpoint
    changed = [k for k in now if k not in free and now[k] != before.get(k)]
    if changed:
        diffs = ", ".join(f"{k}: {before.get(k)!r} -> {now[k]!r}" for k in changed)
        raise TrainConfigError(f"cannot resume {run_dir} with other settings ({diffs})")
    return saved


def _checkpoint_step(run_dir: Path, state: dict[str, Any] | None) -> int:
    if state is None:
        return 0
    try:
        return int(state["step"])
    except (KeyError, TypeError, ValueError) as exc:
        raise CheckpointError(f"{run_dir}: checkpoint does not fit this run (no step: "
                              f"{exc})") from None


def _check_new_total(run_dir: Path, config: TrainConfig, start: int) -> None:
    if config.steps < start:
        raise TrainConfigError(f"{run_dir} is already at step {start} (its checkpoint); "
                               f"steps must be at least {start}, got {config.steps}")


def steps_change_notice(run_dir: Path, saved: TrainConfig, config: TrainConfig,
                        start: int) -> str:
    """What a resume with a new ``steps`` total does to the run (one line).

    The schedule is a function of the total, so a cosine or step schedule is recomputed
    for the new total: the learning rate of the remaining steps changes (it jumps at
    ``start``), and the weights differ from a run started with the new total.
    """
    head = f"{run_dir}: steps {saved.steps} -> {config.steps}, continuing from step {start}"
    if config.schedule == "constant":
        return (f"{head} (constant learning rate: the schedule is unchanged, so the weights "
                f"are those of a run started with {config.steps} steps)")
    old = config.lr * lr_factor(saved, start)
    new = config.lr * lr_factor(config, start)
    return (f"{head}; the {config.schedule} schedule is recomputed for {config.steps} steps, "
            f"so the learning rate at step {start} is {new:.3g} instead of {old:.3g} and the "
            f"weights will differ from a run started with {config.steps} steps")


def _retarget_schedule(optimizer: torch.optim.Optimizer, scheduler: Any, config: TrainConfig,
                       start: int) -> None:
    """After a change of ``steps``: step ``start`` uses the new schedule's rate (the
    restored optimiser holds the rate the old schedule set for it)."""
    rates = [base * lr_factor(config, start) for base in scheduler.base_lrs]
    for group, rate in zip(optimizer.param_groups, rates, strict=True):
        group["lr"] = rate
    scheduler._last_lr = rates


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
    atomic_write_text(path, "".join(k + "\n" for k in keep))


def _last_logged(path: Path, key: str, step: int) -> float | None:
    """The last ``key`` value logged at or before ``step`` (a resume that trains no
    further still reports the run's figures)."""
    from falsr_ext.training.plot import read_metrics

    values = [e[key] for e in read_metrics(path) if isinstance(e, dict) and key in e
              and isinstance(e.get("step"), int) and e["step"] <= step]
    return values[-1] if values else None


class _MetricsLog:
    def __init__(self, path: Path | None) -> None:
        self.path = path

    def write(self, event: dict[str, Any]) -> None:
        if self.path is not None:
            with self.path.open("a") as f:
                f.write(json.dumps(event) + "\n")


def _validate(model: nn.Module, folder: str) -> dict[str, float]:
    from falsr_ext.evaluation import evaluate

    was_training = model.training
    model.eval()
    try:
        result = evaluate(model, folder)
    finally:
        model.train(was_training)
    return {"val_psnr": result.psnr, "val_ssim": result.ssim, "val_dataset": result.dataset}


def _init_distributed(dev: torch.device) -> torch.device:
    import torch.distributed as dist

    if not dist.is_initialized():
        dist.init_process_group("nccl" if dev.type == "cuda" else "gloo")
    if dev.type == "cuda":
        dev = torch.device("cuda", int(os.environ.get("LOCAL_RANK", "0")))
    return dev


def _lock_run_folder(stack: contextlib.ExitStack, run_dir: Path, rank: int, world: int,
                     dev: torch.device) -> None:
    """Rank 0 holds the run folder's lock until ``stack`` closes; when it cannot take it,
    every rank fails (no rank is left waiting for the others)."""
    error: FolderBusyError | None = None
    if rank == 0:
        try:
            stack.enter_context(locked_run_folder(run_dir, "falsr train"))
        except FolderBusyError as exc:
            error = exc
    failed = error is not None
    if world > 1:
        failed = _max_over_ranks(float(failed), world, dev) > 0
    if failed:
        raise error or FolderBusyError(f"{run_dir}: rank 0 could not lock the run folder")


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
    notify: Callable[[str], None] | None = None,
) -> TrainResult:
    """Train ``config`` into the run directory ``out`` (see the module docstring).

    ``resume`` continues from ``out``'s checkpoint (the settings must match, bar the
    logging ones), reaching the weights an uninterrupted run reaches for the same seed.
    A resume may change ``steps`` (to at least the checkpoint's step): the run continues
    to the new total, and a cosine / step schedule is recomputed for it (see
    :func:`steps_change_notice`, which is passed to ``notify``, by default a warning).
    ``images`` lets a caller (the NAS evaluator) reuse images already loaded;
    ``on_step(done)`` is called after every optimiser step (and its checkpoint).
    ``keep_artifacts=False`` writes no checkpoint, weights file or plot, only the metrics
    (the NAS evaluator, whose run folder is thrown away); such a run cannot be resumed.
    The run holds ``out``'s lock throughout: a second run on it fails with
    :class:`falsr_ext.files.FolderBusyError` naming the first one's pid.
    """
    run_dir = Path(out)
    rank, world = _dist_info()
    dev = _resolve_device(device)
    if threads is not None:
        torch.set_num_threads(threads)
    # Built first: a setting the network refuses fails before the folder or the data is
    # touched. (Nothing below draws from torch's RNG before training starts.)
    model = build_network(config)
    value_range = _input_range(model)
    if world > 1:
        dev = _init_distributed(dev)
    with contextlib.ExitStack() as stack:
        _lock_run_folder(stack, run_dir, rank, world, dev)
        saved = _check_resume(run_dir, config, resume)
        state = load_checkpoint(run_dir) if resume else None
        start = _checkpoint_step(run_dir, state)
        changed = saved is not None and saved.steps != config.steps
        if changed:
            _check_new_total(run_dir, config, start)
        _barrier(world)  # every rank has read the folder before rank 0 writes to it
        if images is None:  # before the run folder is written: bad data leaves nothing
            images = load_training_images(config.data, config.scale, config.patch,
                                          config.in_channels, progress=progress and rank == 0,
                                          value_range=value_range)
        _check_images(images, config)
        run = _Run(config, run_dir, model, dev, rank, world, images)
        run.restore(state, start)
        if changed:
            _retarget_schedule(run.optimizer, run.scheduler, config, start)
            if rank == 0:
                note = steps_change_notice(run_dir, saved, config, start)
                (notify or _warn)(note)
                run.metrics.write({"step": start, "event": "steps_changed",
                                   "from": saved.steps, "to": config.steps})
        return run.train(progress, on_step, keep_artifacts)


def _warn(message: str) -> None:
    warnings.warn(message, stacklevel=3)


class _Run:
    """One run's model, optimiser, schedule and metrics (built once the folder is locked)."""

    def __init__(self, config: TrainConfig, run_dir: Path, model: nn.Module,
                 dev: torch.device, rank: int, world: int, images: list[TrainImage]) -> None:
        self.config, self.run_dir = config, run_dir
        self.dev, self.rank, self.world, self.images = dev, rank, world, images
        self.lead = rank == 0
        self.name = _network_name(model)
        self.loss_unit = _input_range(model)  # logged losses are on [0, 1]
        if self.lead:
            run_dir.mkdir(parents=True, exist_ok=True)
            config.save(run_dir / CONFIG_NAME)
        self.model = model.to(dev).to(memory_format=torch.channels_last)
        self.optimizer = torch.optim.Adam(self.model.parameters(), lr=config.lr)
        self.scheduler = torch.optim.lr_scheduler.LambdaLR(
            self.optimizer, lambda s: lr_factor(config, s))
        self.metrics = _MetricsLog(run_dir / METRICS_NAME if self.lead else None)
        self.start = 0
        self.last_loss: float | None = None
        self.val_psnr: float | None = None

    def restore(self, state: dict[str, Any] | None, start: int) -> None:
        """Load a checkpoint (None: start afresh) and drop the metrics logged after it."""
        if state is not None:
            try:
                self.model.load_state_dict(state["model"])
                self.optimizer.load_state_dict(state["optimizer"])
                self.scheduler.load_state_dict(state["scheduler"])
                set_rng_state(state["rng"])
            except (KeyError, RuntimeError, ValueError, TypeError, AttributeError) as exc:
                why = str(exc).strip().splitlines()[0] if str(exc).strip() else repr(exc)
                raise CheckpointError(
                    f"{self.run_dir}: checkpoint does not fit this run ({why})") from None
        self.start = start
        path = self.run_dir / METRICS_NAME
        if self.lead:
            _truncate_metrics(path, start)
        if start:  # what the run had logged, reported even if no step is left to train
            self.last_loss = _last_logged(path, "loss", start)
            self.val_psnr = _last_logged(path, "val_psnr", start)

    def train(self, progress: bool, on_step: Callable[[int], None] | None,
              keep_artifacts: bool) -> TrainResult:
        """Run the remaining steps, then write the weights and the plot."""
        config, model, optimizer = self.config, self.model, self.optimizer
        net: torch.nn.Module = model
        if self.world > 1:
            net = torch.nn.parallel.DistributedDataParallel(model)
        bar = None
        if progress and self.lead:
            from tqdm import tqdm

            bar = tqdm(total=config.steps, initial=self.start,
                       desc=f"train {self.name}", unit="step", disable=None)
        window_loss, window_n, window_t = 0.0, 0, 0.0  # window_t: training time only
        amp = config.dtype == "bfloat16"
        dev = self.dev
        net.train()
        for step in range(self.start, config.steps):
            tick = time.perf_counter()
            lr_img, hr_img = sample_batch(self.images, config.seed, step, config.batch,
                                          config.patch, config.scale, self.rank, self.world)
            lr_img = lr_img.to(dev).contiguous(memory_format=torch.channels_last)
            hr_img = hr_img.to(dev)
            with torch.autocast(dev.type, dtype=torch.bfloat16, enabled=amp):
                sr = net(lr_img)
            loss = F.l1_loss(sr.float(), hr_img)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            self.scheduler.step()
            done = step + 1
            window_loss += float(loss.detach())
            window_n += 1
            window_t += time.perf_counter() - tick
            if done % config.log_every == 0 or done == config.steps:
                loss_avg = _mean_over_ranks(window_loss / window_n, self.world, dev)
                loss_avg /= self.loss_unit
                rate = window_n * config.batch / max(window_t, 1e-9)
                self.last_loss = loss_avg
                self.metrics.write({"step": done, "loss": loss_avg,
                                    "lr": optimizer.param_groups[0]["lr"], "images_per_s": rate})
                if bar is not None:
                    psnr = "-" if self.val_psnr is None else f"{self.val_psnr:.2f}"
                    bar.set_postfix(loss=f"{loss_avg:.4f}", img_s=f"{rate:.1f}", psnr=psnr)
                window_loss, window_n, window_t = 0.0, 0, 0.0
            if config.val and self.lead and (done % config.val_every == 0
                                             or done == config.steps):
                figures = _validate(model, config.val)
                self.val_psnr = figures["val_psnr"]
                self.metrics.write({"step": done, **figures})
            if keep_artifacts and (done % config.checkpoint_every == 0 or done == config.steps):
                if self.lead:
                    self._checkpoint(done)
                _barrier(self.world)
            if bar is not None:
                bar.update(1)
            if on_step is not None:
                on_step(done)
        if bar is not None:
            bar.close()
        return self._finish(keep_artifacts)

    def _checkpoint(self, done: int) -> None:
        save_checkpoint(self.run_dir, {
            "step": done, "model": self.model.state_dict(),
            "optimizer": self.optimizer.state_dict(), "scheduler": self.scheduler.state_dict(),
            "rng": rng_state(), "config": self.config.to_dict(),
        })

    def _finish(self, keep_artifacts: bool) -> TrainResult:
        config, model = self.config, self.model
        model.eval()
        weights = self.run_dir / WEIGHTS_NAME if keep_artifacts else None
        if self.lead and weights is not None:
            from falsr_ext.models.weights import save_weights
            from falsr_ext.training.plot import plot_metrics

            # save_weights writes atomically (falsr_ext.files.atomic_path)
            save_weights(model.to("cpu", memory_format=torch.contiguous_format), weights,
                         source=f"falsr train ({config.steps} steps, seed {config.seed})")
            plot_metrics(self.run_dir / METRICS_NAME, self.run_dir / PLOT_NAME)
        _barrier(self.world)
        return TrainResult(self.run_dir, weights, model, config.steps, self.last_loss,
                           self.val_psnr)


def _mean_over_ranks(value: float, world: int, dev: torch.device) -> float:
    if world == 1:
        return value
    import torch.distributed as dist

    t = torch.tensor([value], dtype=torch.float64, device=dev)  # nccl reduces GPU tensors
    dist.all_reduce(t)
    return float(t.item()) / world


def _max_over_ranks(value: float, world: int, dev: torch.device) -> float:
    import torch.distributed as dist

    t = torch.tensor([value], dtype=torch.float64, device=dev)
    dist.all_reduce(t, op=dist.ReduceOp.MAX)
    return float(t.item())


def _barrier(world: int) -> None:
    if world > 1:
        import torch.distributed as dist

        dist.barrier()


def train(
    genotype: str | Genotype | dict[str, Any],
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

    ``genotype``: a FALSR genotype (a :class:`Genotype`, compact string, JSON or zoo name)
    or another space's ``"dlsr:..."`` / ``"tpsr:..."`` architecture (RGB on 0..255).

    ``settings`` are the fields of :class:`TrainConfig` (``scale``, ``steps``, ``batch``,
    ``patch``, ``lr``, ``schedule``, ``val``, ``seed``, ``dtype``, ...). Returns a
    :class:`TrainResult`; the weights load with :func:`falsr_ext.load_model`.

    Example::

        falsr_ext.train("FALSR-B", ["T91", "BSD200"], "runs/b", steps=20000, val="Set5")
        falsr_ext.train("tpsr:tpsr-d2", "DIV2K", "runs/t", scale=4, val="Set5")
    """
    from falsr_ext.space import parse_genotype
    from falsr_ext.training.config import split_genotype

    if isinstance(genotype, (Genotype, dict)):
        text = parse_genotype(genotype).to_string()  # also validates it
    else:
        space, text = split_genotype(str(genotype))
        if space == "falsr":
            text = parse_genotype(text).to_string()  # a zoo name or JSON: the compact form
        else:
            text = str(genotype)  # TrainConfig stores the space's compact form
    folders = [str(data)] if isinstance(data, (str, os.PathLike)) else [str(d) for d in data]
    config = TrainConfig(genotype=text, data=folders, **settings)
    return train_run(config, out, resume=resume, progress=progress, device=device,
                     threads=threads)
