"""The ``falsr train`` and ``falsr export`` subcommands (wired into :mod:`falsr_ext.cli`)."""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
from pathlib import Path

from falsr_ext.cli_args import check_output_path
from falsr_ext.errors import FalsrError

DEFAULT_TRAIN_STEPS = 10000


def _train_genotype(spec: str) -> tuple[str, int | None]:
    """The ``genotype`` setting for ``--genotype`` (a FALSR genotype's compact string, or
    ``"space:compact"``) and the scale the spec records (a weights file's), if any."""
    from falsr_ext.models.loading import DEFAULT_SCALES, resolve_arch
    from falsr_ext.spaces import get_space

    space, arch, file_scale = resolve_arch(spec)
    if space == "falsr":
        return arch.to_string(), file_scale
    return f"{space}:{get_space(space).format(arch)}", file_scale or DEFAULT_SCALES.get(space)


def _cmd_train(args: argparse.Namespace) -> int:
    from falsr_ext.training import TrainConfig, train_run

    run = Path(args.out)
    saved = run / "config.json"
    resuming = args.resume and saved.is_file()
    if resuming and args.genotype is None:
        config = TrainConfig.load(saved)  # resume with the saved settings
        if args.rgb and config.in_channels != 3:
            raise FalsrError(f"--rgb contradicts the run in {run} (a luma network); resume "
                             f"it without --rgb")
        if args.steps is not None and args.steps != config.steps:
            config = dataclasses.replace(config, steps=args.steps)  # a new total
    else:
        if args.genotype is None or args.data is None:
            raise FalsrError("--genotype and --data are required (unless --resume of a run)")
        genotype, arch_scale = _train_genotype(args.genotype)
        # --scale, else a weights file's or the space's release scale (TPSR x4), else 2
        scale = args.scale if args.scale is not None else arch_scale or 2
        steps = args.steps  # not given: the resumed run's total, else the default
        if steps is None:
            steps = TrainConfig.load(saved).steps if resuming else DEFAULT_TRAIN_STEPS
        config = TrainConfig(
            genotype=genotype, data=args.data.split(","), scale=scale,
            steps=steps, batch=args.batch, patch=args.patch, lr=args.lr,
            lr_min=args.lr_min, schedule=args.schedule, warmup=args.warmup,
            in_channels=3 if args.rgb else None, val=args.val, val_every=args.val_every,
            checkpoint_every=args.checkpoint_every, log_every=args.log_every, seed=args.seed,
            dtype="bfloat16" if args.dtype in ("bf16", "bfloat16") else "float32",
        )
    result = train_run(config, run, resume=args.resume, progress=not args.no_progress,
                       device=args.device, threads=args.threads or None,
                       notify=lambda note: print(f"falsr: note: {note}", file=sys.stderr))
    summary = {"run": str(result.run_dir), "weights": str(result.weights),
               "steps": result.steps, "loss": result.last_loss, "val_psnr": result.val_psnr}
    print(json.dumps(summary))
    return 0


def _cmd_export(args: argparse.Namespace) -> int:
    import torch

    from falsr_ext.models.loading import load_model
    from falsr_ext.onnx_export import export_onnx, onnx_max_abs_error

    if not args.onnx:
        raise FalsrError("say what to export: --onnx OUT.onnx")
    sources = [Path(p) for p in (args.model, args.weights, args.check_image) if p]
    check_output_path(Path(args.onnx), sources, force=args.force)
    model = load_model(args.model, weights=args.weights)
    # The network's own range (1 for FALSR, 255 for DLSR / TPSR): inputs and the error
    # limit are on it, so the check means the same for every space.
    white = float(getattr(model, "input_range", 1.0))
    if args.check_image:  # read first: a bad image fails before anything is written
        x, what = _network_input(args.check_image, model.in_channels), args.check_image
    else:
        torch.manual_seed(0)
        x, what = torch.rand(1, model.in_channels, 64, 48), "a random 64x48 input"
    x = x * white
    path = export_onnx(model, args.onnx)
    print(f"wrote {path}")
    if not args.no_check:
        err = onnx_max_abs_error(model, path, x) / white
        print(f"onnxruntime vs PyTorch on {what}: max abs error {err:.3g} "
              f"(of the range of white)")
        if err > 1e-4:
            raise FalsrError(f"{path}: ONNX output differs from PyTorch by {err:.3g} of the "
                             f"range of white (> 1e-4)")
    return 0


def _network_input(image: str, in_channels: int):
    """An image file as the network sees it: [1, 1, H, W] luma or [1, 3, H, W] RGB in [0, 1]."""
    import torch

    from falsr_ext.data.image_io import read_image, to_rgb
    from falsr_ext.image_ops import rgb_to_luma

    rgb = torch.from_numpy(to_rgb(read_image(image)).copy())
    if in_channels == 1:
        return rgb_to_luma(rgb)[None, None]
    scale = 65535.0 if rgb.dtype == torch.uint16 else 255.0
    return (rgb.permute(2, 0, 1)[None].to(torch.float32) / scale).contiguous()


def add_train_parser(sub: argparse._SubParsersAction) -> None:
    """Add ``falsr train``."""
    tr = sub.add_parser("train", help="train a genotype on folders of HR images (resumable)")
    tr.add_argument("--genotype",
                    help="the architecture: a FALSR zoo name or genotype string/JSON, another "
                    "space's SPACE:ARCH (dlsr:nf18-..., tpsr:f16/..., tpsr:tpsr-d2), or a "
                    "weights file (its architecture; training starts afresh)")
    tr.add_argument("--data", help="HR image folder(s), comma-separated (DIR or DIR/HR)")
    tr.add_argument("--out", required=True, help="run folder (config, metrics, checkpoints)")
    tr.add_argument("--scale", type=int, default=None,
                    help="upscaling factor 2, 3 or 4 (default: a weights file's, else the "
                    "space's released one: 2, TPSR 4)")
    tr.add_argument("--steps", type=int, default=None,
                    help=f"optimiser steps in all (default {DEFAULT_TRAIN_STEPS}); with --resume, "
                    "a new total continues the run to it, and a cosine/step schedule is then "
                    "recomputed for the new total (the remaining steps' learning rate changes, "
                    "so the weights differ from a run started with that total)")
    tr.add_argument("--batch", type=int, default=16, help="global batch (split over ranks)")
    tr.add_argument("--patch", type=int, default=48,
                    help="LR patch side (HR = patch*scale); DLSR needs 15 or more")
    tr.add_argument("--lr", type=float, default=1e-3)
    tr.add_argument("--lr-min", type=float, default=1e-5)
    tr.add_argument("--schedule", choices=("cosine", "step", "constant"), default="cosine")
    tr.add_argument("--warmup", type=int, default=0, help="linear warmup steps")
    tr.add_argument("--rgb", action="store_true",
                    help="train an RGB FALSR network (default: luma; implied for DLSR, TPSR)")
    tr.add_argument("--val", help="benchmark folder scored with the standard protocol")
    tr.add_argument("--val-every", type=int, default=1000)
    tr.add_argument("--checkpoint-every", type=int, default=200)
    tr.add_argument("--log-every", type=int, default=20)
    tr.add_argument("--seed", type=int, default=0)
    tr.add_argument("--dtype", choices=("float32", "bf16", "bfloat16"), default="float32",
                    help="bf16: autocast with fp32 master weights")
    tr.add_argument("--device", default=None, help="cpu or cuda (default: cuda if present)")
    tr.add_argument("--threads", type=int, default=0, help="torch threads (default: all)")
    tr.add_argument("--resume", action="store_true",
                    help="continue the run in --out from its last checkpoint")
    tr.add_argument("--no-progress", action="store_true", help="no progress bar on stderr")
    tr.set_defaults(func=_cmd_train)


def add_export_parser(sub: argparse._SubParsersAction) -> None:
    """Add ``falsr export``."""
    ex = sub.add_parser("export", help="export a model for deployment (ONNX)")
    ex.add_argument("--model", required=True,
                    help="our .safetensors file, 'default', an official .pb, or a zoo name")
    ex.add_argument("--weights", help="weights file for a zoo name")
    ex.add_argument("--onnx", metavar="OUT", help="write an ONNX graph (dynamic N, H, W)")
    ex.add_argument("--check-image", metavar="IMG",
                    help="check on this image (as the network sees it) instead of random data")
    ex.add_argument("--no-check", action="store_true",
                    help="skip the onnxruntime-vs-PyTorch check (1e-4 max abs)")
    ex.add_argument("--force", action="store_true", help="overwrite an existing output file")
    ex.set_defaults(func=_cmd_export)
