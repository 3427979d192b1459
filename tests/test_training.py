"""The trainer: config checks, deterministic batches, bad data, resume, outputs."""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import numpy as np
import pytest
import torch

from falsr_ext.errors import DatasetError
from falsr_ext.training import TrainConfig, TrainConfigError, train, train_run
from falsr_ext.training.data import load_training_images, sample_batch
from falsr_ext.training.schedule import lr_factor
from tests.training_helpers import TINY_GENOTYPE, make_hr_folder, read_weights, state_max_diff

TINY = dict(scale=2, batch=4, patch=8, lr=2e-3, log_every=2, checkpoint_every=3, seed=3)


@pytest.fixture(autouse=True)
def _cache(tmp_path, monkeypatch):
    monkeypatch.setenv("FALSR_CACHE_DIR", str(tmp_path / "cache"))


@pytest.mark.parametrize("bad, message", [
    ({"steps": 0}, "steps"), ({"batch": -1}, "batch"), ({"scale": 5}, "scale"),
    ({"schedule": "linear"}, "schedule"), ({"dtype": "fp16"}, "dtype"),
    ({"lr": 0.0}, "lr"), ({"warmup": 10, "steps": 10}, "warmup"),
    ({"milestones": [1.5]}, "milestones"), ({"data": []}, "data"),
])
def test_config_rejects_bad_settings(bad, message):
    settings = {"genotype": TINY_GENOTYPE, "data": ["x"], **bad}
    with pytest.raises(TrainConfigError, match=message):
        TrainConfig(**settings)


def test_config_round_trips(tmp_path):
    config = TrainConfig(genotype=TINY_GENOTYPE, data=["a", "b"], steps=7, val="v")
    config.save(tmp_path / "c.json")
    assert TrainConfig.load(tmp_path / "c.json") == config
    with pytest.raises(TrainConfigError, match="unknown"):
        TrainConfig.from_dict({**config.to_dict(), "colour": "red"})


def test_schedules_are_pure_functions_of_the_step():
    cos = TrainConfig(genotype=TINY_GENOTYPE, data=["x"], steps=100, warmup=10, lr_min=1e-5)
    factors = [lr_factor(cos, s) for s in range(100)]
    assert factors[0] < factors[9] < factors[10] == pytest.approx(1.0)
    assert factors[-1] == pytest.approx(cos.lr_min / cos.lr)
    assert all(a >= b for a, b in zip(factors[10:], factors[11:], strict=False))
    step = TrainConfig(genotype=TINY_GENOTYPE, data=["x"], steps=100, schedule="step",
                       milestones=[0.5, 0.8])
    assert [lr_factor(step, s) for s in (0, 49, 50, 79, 80)] == [1, 1, 0.5, 0.5, 0.25]


def test_batches_are_deterministic_and_split_over_ranks(tmp_path):
    images = load_training_images([str(make_hr_folder(tmp_path / "hr"))], 2, 8)
    lr, hr = sample_batch(images, seed=1, step=5, batch=6, patch=8, scale=2)
    assert lr.shape == (6, 1, 8, 8) and hr.shape == (6, 1, 16, 16)
    again, _ = sample_batch(images, seed=1, step=5, batch=6, patch=8, scale=2)
    assert torch.equal(lr, again)
    other, _ = sample_batch(images, seed=1, step=6, batch=6, patch=8, scale=2)
    assert not torch.equal(lr, other)
    halves = [sample_batch(images, 1, 5, 6, 8, 2, rank=r, world=2)[0] for r in (0, 1)]
    assert torch.equal(torch.stack([halves[i % 2][i // 2] for i in range(6)]), lr)
    with pytest.raises(DatasetError, match="divide"):
        sample_batch(images, 1, 5, 5, 8, 2, rank=0, world=2)


def test_hr_and_lr_patches_are_aligned(tmp_path):
    """The LR patch is the MATLAB bicubic downscale of the HR patch's neighbourhood."""
    images = load_training_images([str(make_hr_folder(tmp_path / "hr"))], 2, 8)
    lr, hr = sample_batch(images, seed=0, step=0, batch=8, patch=8, scale=2)
    box = torch.nn.functional.avg_pool2d(hr, 2)  # ~ the bicubic downscale inside a patch
    err = (box - lr)[:, :, 1:-1, 1:-1].abs().mean()
    shifted = (box.roll(1, dims=3) - lr)[:, :, 1:-1, 1:-1].abs().mean()
    assert err < 0.02 and err < shifted / 2


def test_bad_images_are_skipped_with_one_warning(tmp_path):
    folder = make_hr_folder(tmp_path / "hr", count=2)
    (folder / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\nnot really")
    from PIL import Image

    Image.fromarray(np.full((6, 6, 3), 9, np.uint8)).save(folder / "tiny.png")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        images = load_training_images([str(folder)], 2, 8)
    assert len(images) == 2
    messages = [str(w.message) for w in caught]
    assert len(messages) == 1 and "broken.png" in messages[0] and "tiny.png" in messages[0]


def test_empty_or_missing_data_is_a_clear_error(tmp_path):
    (tmp_path / "empty").mkdir()
    with pytest.raises(DatasetError, match="no images"):
        load_training_images([str(tmp_path / "empty")], 2, 8)
    with pytest.raises(DatasetError, match="no such data folder"):
        load_training_images([str(tmp_path / "missing")], 2, 8)
    folder = tmp_path / "small"
    folder.mkdir()
    from PIL import Image

    Image.fromarray(np.full((6, 6, 3), 9, np.uint8)).save(folder / "tiny.png")
    with pytest.warns(UserWarning, match="tiny.png"), pytest.raises(DatasetError, match="usable"):
        load_training_images([str(folder)], 2, 8)


def test_training_learns_and_writes_its_run_folder(tmp_path, shared_dir):
    data = make_hr_folder(tmp_path / "hr", count=3, size=(48, 40))
    run = tmp_path / "run"
    result = train(TINY_GENOTYPE, str(data), run, steps=12, progress=False, threads=1,
                   val=str(shared_dir / "data" / "Set5"), val_every=12, **TINY)
    assert {p.name for p in run.iterdir()} >= {
        "config.json", "metrics.jsonl", "checkpoint.pt", "model.safetensors", "curves.png"}
    events = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    losses = [e["loss"] for e in events if "loss" in e]
    assert len(losses) == 6 and losses[-1] < losses[0]
    assert [e["step"] for e in events if "val_psnr" in e] == [12]
    assert 5 < result.val_psnr < 60
    from falsr_ext.models.loading import load_model

    model = load_model(run / "model.safetensors")
    assert model.genotype.to_string() == TINY_GENOTYPE
    assert state_max_diff(model.state_dict(), result.model.state_dict()) == 0.0


def test_resume_reaches_the_uninterrupted_weights(tmp_path):
    data = str(make_hr_folder(tmp_path / "hr"))
    config = TrainConfig(genotype=TINY_GENOTYPE, data=[data], steps=9, **TINY)
    full = train_run(config, tmp_path / "full", progress=False, threads=1)
    part = tmp_path / "part"

    class Stop(Exception):
        pass

    def stop_at_7(done: int) -> None:
        if done == 7:  # one step past the checkpoint of step 6: that step is lost
            raise Stop

    with pytest.raises(Stop):
        train_run(config, part, progress=False, threads=1, on_step=stop_at_7)
    assert torch.load(part / "checkpoint.pt", weights_only=True)["step"] == 6
    assert not (part / "model.safetensors").exists()
    with pytest.raises(TrainConfigError, match="resume"):
        train_run(config, part, progress=False, threads=1)
    changed = TrainConfig(**{**config.to_dict(), "lr": 1e-2})
    with pytest.raises(TrainConfigError, match="lr"):
        train_run(changed, part, resume=True, progress=False, threads=1)
    result = train_run(config, part, resume=True, progress=False, threads=1)
    assert state_max_diff(result.model.state_dict(), full.model.state_dict()) == 0.0
    steps = [json.loads(x)["step"] for x in (part / "metrics.jsonl").read_text().splitlines()]
    assert steps == sorted(steps) and len(steps) == len(set(steps))
    assert read_weights(part / "model.safetensors").keys() == full.model.state_dict().keys()


def test_a_run_without_artifacts_trains_the_same_weights(tmp_path):
    data = str(make_hr_folder(tmp_path / "hr"))
    config = TrainConfig(genotype=TINY_GENOTYPE, data=[data], steps=5, **TINY)
    kept = train_run(config, tmp_path / "kept", progress=False, threads=1)
    bare = train_run(config, tmp_path / "bare", progress=False, threads=1,
                     keep_artifacts=False)
    assert bare.weights is None and kept.weights is not None and kept.weights.is_file()
    assert sorted(p.name for p in (tmp_path / "bare").iterdir()) == ["config.json",
                                                                     "metrics.jsonl"]
    assert state_max_diff(bare.model.state_dict(), kept.model.state_dict()) == 0.0


def test_bf16_autocast_training_runs(tmp_path):
    data = str(make_hr_folder(tmp_path / "hr"))
    result = train(TINY_GENOTYPE, data, tmp_path / "run", steps=4, dtype="bfloat16",
                   progress=False, threads=1, **TINY)
    assert all(p.dtype == torch.float32 for p in result.model.parameters())
    assert result.last_loss is not None and np.isfinite(result.last_loss)


def test_cuda_request_without_a_gpu_is_a_clear_error(tmp_path):
    if torch.cuda.is_available():
        pytest.skip("a CUDA GPU is present")
    with pytest.raises(TrainConfigError, match="CUDA"):
        train(TINY_GENOTYPE, str(tmp_path), tmp_path / "run", steps=2, device="cuda")


def test_missing_data_folder_fails_before_writing_a_run(tmp_path):
    with pytest.raises(DatasetError):
        train(TINY_GENOTYPE, str(tmp_path / "nope"), tmp_path / "run", steps=2, progress=False)
    assert not Path(tmp_path / "run").exists()
