"""LPIPS (falsr_ext.metrics.lpips): official values, an independent hand computation,
metric properties, the weights lookup and its one-line errors."""

from __future__ import annotations

import json
import math
import threading
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from PIL import Image
from safetensors.torch import load_file, save_file

from falsr_ext.errors import FalsrError, ImageError, WeightsError
from falsr_ext.metrics import LPIPS, get_lpips, lpips_distance
from falsr_ext.metrics.lpips_weights import ENV_VAR

# ../shared/lpips/README.md, "Verification" (a): a plain-torch forward of the official code.
README_ALEX = {"I03.bmp": 0.723698, "I04.bmp": 0.257155, "I06.bmp": 0.050787,
               "I08.bmp": 0.052054, "I19.bmp": 0.425323}
README_VGG = {"I03.bmp": 0.761406, "I04.bmp": 0.209047, "I06.bmp": 0.054361,
              "I08.bmp": 0.047481, "I19.bmp": 0.597137}
SHIFT = [-0.030, -0.088, -0.188]
SCALE = [0.458, 0.448, 0.450]
# AlexNet taps: (features index, cout, cin, kernel, stride, padding, max-pool before)
ALEX = [(0, 64, 3, 11, 4, 2, False), (3, 192, 64, 5, 1, 2, True),
        (6, 384, 192, 3, 1, 1, True), (8, 256, 384, 3, 1, 1, False),
        (10, 256, 256, 3, 1, 1, False)]


@pytest.fixture(scope="module")
def lpips_dir(shared_dir: Path) -> Path:
    path = shared_dir / "lpips"
    if not (path / "alex.safetensors").is_file():
        pytest.skip(f"{path}/alex.safetensors absent")
    return path


def _rgb(path: Path) -> np.ndarray:
    return np.asarray(Image.open(path).convert("RGB"))


def _tid_pairs(lpips_dir: Path) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    pairs = json.loads((lpips_dir / "tid2013" / "expected.json").read_text())["pairs"]
    return {name: (_rgb(lpips_dir / "tid2013" / p["ref"]), _rgb(lpips_dir / "tid2013" / p["dist"]))
            for name, p in pairs.items()}


def test_tid2013_alex_matches_official(lpips_dir: Path) -> None:
    expected = json.loads((lpips_dir / "tid2013" / "expected.json").read_text())["pairs"]
    weights = lpips_dir / "alex.safetensors"
    got = {name: lpips_distance(ref, dist, "alex", weights)
           for name, (ref, dist) in _tid_pairs(lpips_dir).items()}
    assert set(got) == set(expected) == set(README_ALEX)
    for name, value in got.items():
        assert abs(value - expected[name]["lpips_alex_official"]) < 1e-4, name
        assert abs(value - README_ALEX[name]) < 2e-6, name


@pytest.mark.parametrize("name", sorted(README_VGG))
def test_tid2013_vgg_matches_reference(lpips_dir: Path, name: str) -> None:
    model = get_lpips("vgg", weights=lpips_dir)  # a folder: vgg16.safetensors is picked
    ref, dist = (_rgb(lpips_dir / "tid2013" / sub / name) for sub in ("ref_dir", "dist_dir"))
    x, y = (torch.from_numpy(a.copy()).permute(2, 0, 1)[None] / 127.5 - 1 for a in (ref, dist))
    with torch.inference_mode():
        assert abs(float(model(x, y)[0]) - README_VGG[name]) < 1e-5


def _random_alex(path: Path, gen: torch.Generator, scale: float) -> dict[str, torch.Tensor]:
    """An alex-shaped LPIPS file of random weights; every trunk tap is multiplied by
    ``scale`` (first conv and all biases scaled: ReLU and max-pool are homogeneous)."""
    sd = {"scaling_layer.shift": torch.tensor(SHIFT).view(1, 3, 1, 1),
          "scaling_layer.scale": torch.tensor(SCALE).view(1, 3, 1, 1)}
    for k, (idx, cout, cin, ks, _, _, _) in enumerate(ALEX):
        w = torch.randn(cout, cin, ks, ks, generator=gen) / math.sqrt(cin * ks * ks)
        b = 0.1 * torch.randn(cout, generator=gen)
        sd[f"net.slice{k + 1}.{idx}.weight"] = w * (scale if k == 0 else 1.0)
        sd[f"net.slice{k + 1}.{idx}.bias"] = b * scale
        sd[f"lin{k}.model.1.weight"] = torch.rand(1, cout, 1, 1, generator=gen)
    save_file(sd, str(path))
    return sd


def _hand_lpips(sd: dict[str, torch.Tensor], x: torch.Tensor, y: torch.Tensor) -> float:
    """LPIPS v0.1 of two 1x3xHxW images, written out step by step in float64: the trunk
    with F.conv2d, then per tap and pixel the unit normalisation f / (||f|| + 1e-10), the
    squared difference, the head's dot product, the spatial mean; summed over taps."""
    sd = {k: v.double() for k, v in sd.items()}
    taps = []
    for img in (x, y):
        h = (img.double() - sd["scaling_layer.shift"]) / sd["scaling_layer.scale"]
        feats = []
        for k, (idx, _, _, _, stride, pad, pool) in enumerate(ALEX):
            if pool:
                h = F.max_pool2d(h, 3, 2)
            w, b = sd[f"net.slice{k + 1}.{idx}.weight"], sd[f"net.slice{k + 1}.{idx}.bias"]
            h = F.relu(F.conv2d(h, w, b, stride=stride, padding=pad))
            feats.append(h[0].numpy())
        taps.append(feats)
    total = 0.0
    for k, (f0, f1) in enumerate(zip(*taps, strict=True)):
        w = sd[f"lin{k}.model.1.weight"].view(-1).numpy()
        _, height, width = f0.shape
        acc = 0.0
        for i in range(height):
            for j in range(width):
                u = f0[:, i, j] / (math.sqrt(float(np.sum(f0[:, i, j] ** 2))) + 1e-10)
                v = f1[:, i, j] / (math.sqrt(float(np.sum(f1[:, i, j] ** 2))) + 1e-10)
                acc += float(np.dot(w, (u - v) ** 2))
        total += acc / (height * width)
    return total


def test_matches_hand_computation(tmp_path: Path) -> None:
    gen = torch.Generator().manual_seed(14)
    x, y = (torch.rand(1, 3, 47, 63, generator=gen) * 2 - 1 for _ in range(2))
    results = {}
    for scale in (1.0, 1e-10):  # at 1e-10 the norms are ~1e-9, so where eps sits matters
        path = tmp_path / f"alex-{scale}.safetensors"
        sd = _random_alex(path, torch.Generator().manual_seed(5), scale)
        expected = _hand_lpips(sd, x, y)
        with torch.no_grad():
            got = float(LPIPS("alex", weights=path)(x, y)[0])
        assert got == pytest.approx(expected, rel=1e-5), scale
        results[scale] = expected
    # The check is sensitive: the eps term moves the tiny-feature result by over 1 %.
    assert abs(results[1e-10] - results[1.0]) > 0.01 * results[1.0]


def test_metric_properties(lpips_dir: Path) -> None:
    model = get_lpips("alex", lpips_dir / "alex.safetensors")
    gen = torch.Generator().manual_seed(0)
    x, y = (torch.rand(3, 3, 64, 80, generator=gen) * 2 - 1 for _ in range(2))
    with torch.inference_mode():
        assert torch.equal(model(x, x), torch.zeros(3))
        d_xy, d_yx = model(x, y), model(y, x)
        assert d_xy.shape == (3,) and bool((d_xy > 0).all())
        torch.testing.assert_close(d_xy, d_yx, rtol=1e-6, atol=1e-7)
        single = torch.cat([model(x[i:i + 1], y[i:i + 1]) for i in range(3)])
        torch.testing.assert_close(d_xy, single, rtol=1e-5, atol=1e-7)
        torch.testing.assert_close(model((x + 1) / 2, (y + 1) / 2, normalize=True), d_xy)
    # Frozen, but a usable loss: gradients reach the input.
    xg = x[:1].clone().requires_grad_(True)
    model(xg, y[:1]).sum().backward()
    assert xg.grad is not None and float(xg.grad.abs().sum()) > 0
    assert not any(p.requires_grad for p in model.parameters()) and not model.training


def test_cached_loader_builds_once(lpips_dir: Path, tmp_path: Path) -> None:
    path = tmp_path / "alex.safetensors"
    path.write_bytes((lpips_dir / "alex.safetensors").read_bytes())
    got: list[LPIPS] = []
    threads = [threading.Thread(target=lambda: got.append(get_lpips("alex", path)))
               for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(got) == 4 and all(m is got[0] for m in got)
    assert get_lpips("alex", tmp_path) is got[0]  # the folder names the same file


def test_weights_from_environment(lpips_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    img = np.random.default_rng(1).integers(0, 256, (40, 48, 3), dtype=np.uint8)
    ref = lpips_distance(img, img[::-1].copy(), "alex", lpips_dir / "alex.safetensors")
    for value in (lpips_dir, lpips_dir / "alex.safetensors"):
        monkeypatch.setenv(ENV_VAR, str(value))
        assert lpips_distance(img, img[::-1].copy()) == ref


def _one_line_error(exc_type: type[FalsrError], call, *match: str) -> str:
    with pytest.raises(exc_type) as info:
        call()
    text = str(info.value)
    assert "\n" not in text and all(m in text for m in match), text
    return text


def test_no_weights_configured(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(ENV_VAR, raising=False)
    img = np.zeros((32, 32, 3), np.uint8)
    for call in (lambda: LPIPS("alex"), lambda: lpips_distance(img, img, "vgg")):
        _one_line_error(WeightsError, call, "--lpips-weights", ENV_VAR, "download")
    monkeypatch.setenv(ENV_VAR, "/nonexistent/lpips")
    _one_line_error(WeightsError, lambda: LPIPS("alex"), "alex.safetensors", ENV_VAR)


def test_bad_weights_files(lpips_dir: Path, tmp_path: Path) -> None:
    good = load_file(str(lpips_dir / "alex.safetensors"))
    cases = {"garbage": None, "missing": dict(good), "shape": dict(good), "int": dict(good),
             "nan": dict(good)}
    del cases["missing"]["lin2.model.1.weight"]
    cases["shape"]["net.slice3.6.weight"] = torch.zeros(384, 192, 5, 5)
    cases["int"]["lin0.model.1.weight"] = torch.ones(1, 64, 1, 1, dtype=torch.int32)
    cases["nan"]["net.slice1.0.bias"] = torch.full((64,), float("nan"))
    (tmp_path / "garbage.safetensors").write_bytes(b"\x80\x04 a pickle, not safetensors")
    for name, sd in cases.items():
        if sd is not None:
            save_file(sd, str(tmp_path / f"{name}.safetensors"))
    expect = {"garbage": "not a readable safetensors", "missing": "1 missing (lin2.model.1",
              "shape": "wrong shape", "int": "not floating point", "nan": "NaN"}
    for name, text in expect.items():
        _one_line_error(WeightsError, lambda n=name: LPIPS("alex", tmp_path / f"{n}.safetensors"),
                        text)
    _one_line_error(WeightsError, lambda: LPIPS("alex", lpips_dir / "vgg16.safetensors"),
                    "LPIPS-vgg weights, not LPIPS-alex")
    _one_line_error(WeightsError, lambda: LPIPS("alex", tmp_path / "none.safetensors"),
                    "no such LPIPS-alex weights file")
    _one_line_error(WeightsError, lambda: LPIPS("squeeze", lpips_dir), "'alex' or 'vgg'")


def test_bad_inputs(lpips_dir: Path) -> None:
    weights = lpips_dir / "alex.safetensors"
    img = np.zeros((40, 40, 3), np.uint8)
    for a, b in [(img, img[:, :39]), (img.astype(np.float32), img), (img[..., 0], img[..., 0]),
                 (img[:30, :30], img[:30, :30])]:
        _one_line_error(ImageError, lambda a=a, b=b: lpips_distance(a, b, "alex", weights),
                        "LPIPS")
