"""Genotype -> nn.Module: params, shapes, cell semantics, weights files."""

from __future__ import annotations

import json
import random
import re
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from falsr_ext.errors import FalsrError, WeightsError
from falsr_ext.models import build_model, load_model, load_weights, save_weights
from falsr_ext.models.layers import depth_to_space
from falsr_ext.models.loading import resolve_genotype
from falsr_ext.models.zoo import ZOO_GENOTYPES
from falsr_ext.space import MAX_SPEC_CHARS, Genotype, sample_genotype

EXPECTED_PARAMS = {"FALSR-A": 1_021_401, "FALSR-B": 324_745, "FALSR-C": 426_569}


@pytest.mark.parametrize("name", sorted(ZOO_GENOTYPES))
def test_zoo_params_exact(name: str) -> None:
    assert build_model(ZOO_GENOTYPES[name]).num_params() == EXPECTED_PARAMS[name]


@settings(max_examples=25, deadline=None)
@given(st.integers(0, 2**32 - 1), st.sampled_from([2, 3, 4]), st.sampled_from(["tf", "torch"]))
def test_random_genotype_forward_shape(seed: int, scale: int, order: str) -> None:
    g = sample_genotype(random.Random(seed))
    model = build_model(g, scale=scale, shuffle_order=order)
    h, w = 5 + seed % 4, 7 + seed % 3
    with torch.inference_mode():
        out = model(torch.rand(1, 1, h, w))
    assert out.shape == (1, 1, h * scale, w * scale)
    assert torch.isfinite(out).all()


def test_rgb_model_shape_and_gradients() -> None:
    model = build_model(ZOO_GENOTYPES["FALSR-B"], scale=3, in_channels=3)
    out = model(torch.rand(2, 3, 6, 5))
    assert out.shape == (2, 3, 18, 15)
    out.square().mean().backward()
    assert all(p.grad is not None for p in model.parameters())


def test_tf_order_matches_formula() -> None:
    # TF depth_to_space: out[2h+i, 2w+j, c] = in[h, w, (2i+j)*C/4 + c]
    x = torch.randn(1, 12, 3, 4)
    y = depth_to_space(x, 2, "tf")
    c_out = 3
    for c in range(c_out):
        for i in range(2):
            for j in range(2):
                assert torch.equal(y[0, c, i::2, j::2], x[0, (2 * i + j) * c_out + c])


def _cell_output(genotype_text: str, x: torch.Tensor) -> tuple[torch.Tensor, torch.nn.Module]:
    model = build_model(Genotype.from_string(genotype_text))
    return model.cells[0](x), model.cells[0]


def test_conv_cell_skip_adds_first_and_last() -> None:
    x = torch.randn(1, 32, 6, 6)
    out, cell = _cell_output("conv-k3-f16-b2-skip@F/fuse@c0", x)
    first = torch.relu(cell.layers[0](x))
    last = torch.relu(cell.layers[1](first))
    torch.testing.assert_close(out, first + last)
    out, cell = _cell_output("conv-k3-f16-b2-noskip@F/fuse@c0", x)
    torch.testing.assert_close(out, torch.relu(cell.layers[1](torch.relu(cell.layers[0](x)))))


def test_inverted_bottleneck_residuals() -> None:
    x = torch.randn(1, 32, 6, 6)
    for flag in ("skip", "noskip"):
        out, cell = _cell_output(f"ib-k1-f16-b2-{flag}@F/fuse@c0", x)
        s = z = cell.reduce(x)
        for block in cell.blocks:  # per-block residual exists in noskip cells too
            h = torch.relu(block.depthwise(torch.relu(block.expand(z))))
            z = z + block.project(h)
        torch.testing.assert_close(out, s + z if flag == "skip" else z)
        assert cell.blocks[0].depthwise.kernel_size == (3, 3)  # always 3x3, even at k1


def test_weights_round_trip(tmp_path) -> None:
    torch.manual_seed(0)
    model = build_model(ZOO_GENOTYPES["FALSR-C"], shuffle_order="tf").eval()
    path = save_weights(model, tmp_path / "c.safetensors")
    loaded = load_weights(path)
    assert loaded.genotype == model.genotype and loaded.shuffle_order == "tf"
    x = torch.rand(1, 1, 9, 11)
    with torch.inference_mode():
        torch.testing.assert_close(loaded(x), model(x), rtol=0, atol=0)
    assert load_model("FALSR-C", weights=path).genotype == model.genotype
    with pytest.raises(WeightsError, match="genotype is not FALSR-A"):
        load_model("FALSR-A", weights=path)


def test_weights_errors(tmp_path, monkeypatch) -> None:
    monkeypatch.delenv("FALSR_WEIGHTS_DIR", raising=False)
    with pytest.raises(WeightsError, match="no such weights file"):
        load_weights(tmp_path / "missing.safetensors")
    junk = tmp_path / "junk.safetensors"
    junk.write_bytes(b"\x10\x00\x00\x00\x00\x00\x00\x00{not a header")
    with pytest.raises(WeightsError, match="junk.safetensors"):
        load_weights(junk)
    with pytest.raises(WeightsError, match="not bundled"):
        load_model("FALSR-A")


# -------------------------------------------- hostile specs and files (issue 13)
def _one_line(exc: pytest.ExceptionInfo[BaseException]) -> str:
    text = str(exc.value)
    assert "\n" not in text and len(text) < 600, text
    return text


@pytest.mark.parametrize(
    ("spec", "needle"),
    [
        ("a" * 5000, "neither a weights file nor a zoo model"),  # was OSError: name too long
        ("x\0y", "neither a weights file"),  # was ValueError: embedded null byte
        ("c" * 70000, "over the limit"),
        (json.dumps({"cells": [{"block": "conv"}] * 40}, indent=2), "a genotype has no weights"),
        ("{bad json\n" * 40, "a genotype has no weights"),
        ("conv-k3-f16-b1-skip@F/fuse@c0", "a genotype has no weights"),
    ],
)
def test_load_model_hostile_specs(spec: str, needle: str) -> None:
    with pytest.raises(FalsrError) as info:
        load_model(spec)
    assert needle in _one_line(info)


def test_resolve_genotype_hostile_specs_and_files(tmp_path) -> None:
    with pytest.raises(FalsrError) as info:
        resolve_genotype("a" * 5000)
    assert "fuse@" in _one_line(info)
    text = ZOO_GENOTYPES["FALSR-B"].to_json(indent=2)
    (tmp_path / "b.json").write_text(text)
    assert resolve_genotype(tmp_path / "b.json") == (ZOO_GENOTYPES["FALSR-B"], None)
    (tmp_path / "bad.txt").write_text("conv-k5-f16-b1-skip@F/fuse@c0")
    with pytest.raises(FalsrError) as info:
        resolve_genotype(tmp_path / "bad.txt")
    assert _one_line(info).startswith(f"{tmp_path / 'bad.txt'}: cells[0].kernel")
    (tmp_path / "big.json").write_text("{" + " " * (MAX_SPEC_CHARS + 1) + "}")
    with pytest.raises(FalsrError, match="too big for a genotype file"):
        resolve_genotype(tmp_path / "big.json")


@pytest.mark.parametrize(
    "argv",
    [
        ["upscale", "{img}", "-o", "{out}", "--model", "{spec}"],
        ["eval", "--model", "{spec}", "--data", "{dir}"],
        ["count", "{spec}"],
    ],
)
def test_cli_bad_json_model_is_one_line(argv: list[str], tmp_path, capsys) -> None:
    from falsr_ext.cli import main
    from falsr_ext.data.image_io import write_image

    write_image(tmp_path / "x.png", np.zeros((8, 8, 3), np.uint8))
    spec = json.dumps({"cells": [{"block": "conv", "kernel": [1] * 30}]}, indent=2)[:-3]
    subs = {"{img}": str(tmp_path / "x.png"), "{out}": str(tmp_path / "y.png"),
            "{spec}": spec, "{dir}": str(tmp_path)}
    assert main([subs.get(a, a) for a in argv]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("falsr: error: ") and len(err) < 400, err


def _rewrite(path, tensors: dict[str, torch.Tensor], **meta: str) -> None:
    """Rewrite weights file ``path`` with other tensors and/or metadata."""
    from safetensors import safe_open
    from safetensors.torch import save_file

    with safe_open(str(path), framework="pt") as f:
        metadata = {**f.metadata(), **meta}
    save_file(tensors, str(path), metadata=metadata)


def test_state_dict_mismatch_is_one_actionable_line(tmp_path) -> None:
    path = save_weights(build_model(ZOO_GENOTYPES["FALSR-C"]), tmp_path / "c.safetensors")
    state = load_weights(path).state_dict()
    # FALSR-B's genotype over FALSR-C's tensors: missing, unexpected and reshaped keys
    _rewrite(path, state, genotype=ZOO_GENOTYPES["FALSR-B"].to_string())
    with pytest.raises(WeightsError) as info:
        load_weights(path)
    text = _one_line(info)
    assert "weights do not match the architecture" in text
    assert re.search(r"\d+ tensors in the file, \d+ in the model", text), text
    assert re.search(r"\d+ missing \(cells\.0\.", text), text
    assert re.search(r"\d+ unexpected \(cells\.", text), text
    assert re.search(r"\d+ of the wrong shape \(file vs model: \S+ \d+x\d+x\d+x\d+ vs ", text)
    # one tensor of each kind: the message names exactly it
    small = build_model(Genotype.from_string("conv-k3-f16-b1-skip@F/fuse@c0"))
    path = save_weights(small, tmp_path / "s.safetensors")
    state = dict(small.state_dict())
    state["extra.weight"] = state.pop("tail.bias")
    state["fusion.weight"] = state["fusion.weight"][:, :8].contiguous()
    _rewrite(path, state)
    with pytest.raises(WeightsError) as info:
        load_weights(path)
    text = _one_line(info)
    assert "1 missing (tail.bias)" in text and "1 unexpected (extra.weight)" in text
    assert "1 of the wrong shape (file vs model: fusion.weight 32x8x3x3 vs 32x16x3x3)" in text


def test_corrupt_tensor_values_are_weights_errors(tmp_path) -> None:
    small = build_model(Genotype.from_string("conv-k3-f16-b1-skip@F/fuse@c0"))
    path = save_weights(small, tmp_path / "s.safetensors")
    for key, value in (("head.bias", torch.full((32,), float("nan"))),
                       ("head.bias", torch.zeros(32, dtype=torch.int32))):
        _rewrite(path, {**small.state_dict(), key: value})
        with pytest.raises(WeightsError) as info:
            load_weights(path)
        assert "head.bias" in _one_line(info)
    _rewrite(path, dict(small.state_dict()), scale="9" * 5000)
    with pytest.raises(WeightsError, match="bad (genotype|architecture) metadata"):
        load_weights(path)
    with pytest.raises(WeightsError, match="bad (genotype|architecture) metadata"):
        resolve_genotype(path)


def test_save_weights_is_atomic(tmp_path, monkeypatch) -> None:
    from falsr_ext.models import weights as weights_module

    small = build_model(Genotype.from_string("conv-k3-f16-b1-skip@F/fuse@c0"))
    target = tmp_path / "w.safetensors"
    # concurrent writers of one path: each write is whole, no temporary file is left
    with ThreadPoolExecutor(4) as pool:
        list(pool.map(lambda _: save_weights(small, target), range(8)))
    assert load_weights(target).genotype == small.genotype
    assert sorted(p.name for p in tmp_path.iterdir()) == ["w.safetensors"]
    # a write that fails midway keeps the old file and leaves nothing behind
    before = target.read_bytes()

    def broken_save_file(tensors, filename, metadata=None) -> None:  # noqa: ANN001
        Path(filename).write_bytes(b"half a file")
        raise OSError(28, "No space left on device")

    import safetensors.torch

    monkeypatch.setattr(safetensors.torch, "save_file", broken_save_file)
    with pytest.raises(WeightsError) as info:
        weights_module.save_weights(small, target)
    assert "No space left on device" in _one_line(info)
    assert target.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["w.safetensors"]
