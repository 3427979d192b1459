"""Genotype: string / JSON round trips, validation errors, zoo wiring."""

from __future__ import annotations

import json
import random
from collections.abc import Callable
from dataclasses import replace

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from falsr_ext.errors import GenotypeError
from falsr_ext.models.zoo import ZOO_GENOTYPES
from falsr_ext.space import (
    MAX_CELLS,
    MAX_JSON_DEPTH,
    MAX_SPEC_CHARS,
    Genotype,
    json_depth_ok,
    parse_genotype,
    quote_spec,
    sample_genotype,
    shown,
)

seeds = st.integers(min_value=0, max_value=2**32 - 1)


@pytest.mark.parametrize("name", sorted(ZOO_GENOTYPES))
def test_zoo_round_trips(name: str) -> None:
    g = ZOO_GENOTYPES[name]
    assert Genotype.from_string(g.to_string()) == g
    assert Genotype.from_json(g.to_json()) == g
    assert parse_genotype(name.lower()) == g
    assert parse_genotype(g.to_json()) == g


def test_zoo_channel_counts_match_reference() -> None:
    # Concat widths from falsr-reference.md's wiring table.
    a, b, c = (ZOO_GENOTYPES[k] for k in ("FALSR-A", "FALSR-B", "FALSR-C"))
    assert [a.cell_in_channels(i) for i in (3, 4, 6)] == [112, 144, 208]
    assert [b.cell_in_channels(i) for i in (1, 2, 4, 5, 6)] == [48, 96, 96, 144, 112]
    assert [c.cell_in_channels(i) for i in (1, 3, 4, 5, 6)] == [64, 80, 64, 64, 80]
    assert (a.fusion_in_channels, b.fusion_in_channels, c.fusion_in_channels) == (464, 80, 160)


def test_official_names() -> None:
    cell = ZOO_GENOTYPES["FALSR-B"].cells[1]
    assert cell.official_name() == "invertBotConE2_f48_k1_b2_isskip"


@settings(max_examples=200, deadline=None)
@given(seeds)
def test_random_genotypes_round_trip(seed: int) -> None:
    g = sample_genotype(random.Random(seed))
    assert Genotype.from_string(g.to_string()) == g
    assert Genotype.from_json(g.to_json()) == g
    assert Genotype.from_dict(json.loads(json.dumps(g.to_dict()))) == g
    assert g.digest() == Genotype.from_string(g.to_string()).digest()


def test_missing_inputs_mean_previous_node() -> None:
    g = Genotype.from_string("conv-k3-f16-b1-skip/conv-k1-f32-b2-noskip/fuse@c1")
    assert g.cells[0].inputs == (0,) and g.cells[1].inputs == (1,)


@pytest.mark.parametrize(
    ("text", "field"),
    [
        ("conv-k5-f16-b1-skip@F/fuse@c0", "cells[0].kernel"),
        ("conv-k3-f17-b1-skip@F/fuse@c0", "cells[0].filters"),
        ("conv-k3-f16-b3-skip@F/fuse@c0", "cells[0].blocks"),
        ("sep-k3-f16-b1-skip@F/fuse@c0", "cells[0].block"),
        ("conv-k3-f16-b1-maybe@F/fuse@c0", "cells[0].skip"),
        ("conv-k3-f16-b1-skip@c0/fuse@c0", "cells[0].inputs"),
        ("conv-k3-f16-b1-skip@F/fuse@c3", "fusion"),
        ("conv-k3-f16-b1-skip@F+F/fuse@c0", "cells[0].inputs"),
        ("conv-k3-f16-b1-skip@F/fuse@", "fusion"),
        ("conv-k3-f16-b1-skip@F", "last part"),
        ("conv-k3-f16-skip@F/fuse@c0", "cells[0]"),
        ("conv-k3-f16-b1-skip@X/fuse@c0", "cells[0].inputs"),
    ],
)
def test_validation_names_the_field(text: str, field: str) -> None:
    with pytest.raises(GenotypeError, match=field.replace("[", r"\[").replace("]", r"\]")):
        Genotype.from_string(text)


def test_validate_catches_objects_built_by_hand() -> None:
    g = ZOO_GENOTYPES["FALSR-A"]
    bad = replace(g, cells=(replace(g.cells[0], kernel=5), *g.cells[1:]))
    with pytest.raises(GenotypeError, match=r"cells\[0\]\.kernel: 5"):
        bad.validate()
    bad = replace(g, cells=(g.cells[0], replace(g.cells[1], inputs=(0, 5)), *g.cells[2:]))
    with pytest.raises(GenotypeError, match=r"cells\[1\]\.inputs"):
        bad.validate()


def test_json_errors_name_the_field() -> None:
    data = ZOO_GENOTYPES["FALSR-C"].to_dict()
    data["cells"][2]["filters"] = 40
    with pytest.raises(GenotypeError, match=r"cells\[2\]\.filters: 40"):
        Genotype.from_dict(data)
    del data["cells"][2]["filters"]
    with pytest.raises(GenotypeError, match=r"cells\[2\]: missing field"):
        Genotype.from_dict(data)
    with pytest.raises(GenotypeError, match="format"):
        Genotype.from_dict({"format": "other/9", "cells": [], "fusion": []})
    with pytest.raises(GenotypeError, match="genotype JSON"):
        Genotype.from_json("{not json")


# ------------------------------------------------- hostile specifications (issue 13)
def _one_line_error(fn: Callable[..., object], *args: object) -> str:
    """The GenotypeError of ``fn(*args)``, checked to be one short line."""
    with pytest.raises(GenotypeError) as info:
        fn(*args)
    text = str(info.value)
    assert "\n" not in text and len(text) < 400, text
    return text


def test_long_spec_is_one_short_line() -> None:
    text = _one_line_error(parse_genotype, "a" * 5000)
    assert "fuse@" in text and "5,000 chars" in text
    text = _one_line_error(parse_genotype, "conv-k3-f16-b1-skip@F/" * 4000 + "fuse@c0")
    assert f"limit of {MAX_SPEC_CHARS:,}" in text
    _one_line_error(Genotype.from_json, "[" * (MAX_SPEC_CHARS + 1))


def test_deep_json_is_refused_before_parsing() -> None:
    text = _one_line_error(parse_genotype, '{"cells":' + "[" * 30000)
    assert f"nested more than {MAX_JSON_DEPTH}" in text
    assert json_depth_ok('{"a": "[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[\\"[[[[[["}', limit=2)
    assert not json_depth_ok("[[[]]]", limit=2)
    # brackets inside strings do not count, so a deep-looking name is just a bad name
    data = ZOO_GENOTYPES["FALSR-B"].to_dict()
    data["name"] = "[" * 100
    assert Genotype.from_json(json.dumps(data)).name == "[" * 100


def test_messages_quote_user_text_on_one_line() -> None:
    pretty = json.dumps({"cells": [{"block": "conv\nx" * 30}], "fusion": ["c0"]}, indent=2)
    text = _one_line_error(parse_genotype, pretty)
    assert "cells[0]" in text
    assert quote_spec("a\nb") == "'a\\nb'"
    assert quote_spec("x" * 500).endswith("(500 chars)") and len(quote_spec("x" * 500)) < 100
    assert shown("FALSR-A") == "FALSR-A" and shown("a\nb") == "'a\\nb'"


@pytest.mark.parametrize(
    ("value", "field"),
    [(3.0, "kernel"), (True, "kernel"), ("3", "kernel"), (16.0, "filters"), (1, "block")],
)
def test_json_fields_need_their_exact_type(value: object, field: str) -> None:
    data = ZOO_GENOTYPES["FALSR-C"].to_dict()
    data["cells"][0][field] = value
    _one_line_error(Genotype.from_dict, data)


@pytest.mark.parametrize(
    "text",
    [
        "conv-k\u00b3-f16-b1-skip@F/fuse@c0",  # superscript: isdigit() but not int()
        "conv-k3-f16-b1-skip@c\u0663/fuse@c0",  # Arabic-Indic digit
        "conv-k3-f16-b1-skip@F/fuse@c" + "9" * 5000,  # beyond int()'s 4300 digits
        "conv-k" + "3" * 5000 + "-f16-b1-skip@F/fuse@c0",
    ],
)
def test_odd_numbers_are_genotype_errors(text: str) -> None:
    _one_line_error(Genotype.from_string, text)


def test_cell_and_name_limits() -> None:
    many = "/".join(["conv-k1-f16-b1-skip"] * (MAX_CELLS + 1)) + "/fuse@c0"
    assert f"limit of {MAX_CELLS}" in _one_line_error(Genotype.from_string, many)
    data = ZOO_GENOTYPES["FALSR-C"].to_dict()
    data["name"] = ["not", "a", "string"]
    assert "name" in _one_line_error(Genotype.from_dict, data)
    huge_int = json.dumps(data).replace('"kernel": 1', '"kernel": 1' + "0" * 5000, 1)
    assert "unreadable" in _one_line_error(Genotype.from_json, huge_int)


@pytest.mark.parametrize("command", ["genotype", "count"])
@pytest.mark.parametrize(
    "spec", ["a" * 5000, "b" * 70000, '{"cells":' + "[" * 30000, "{\n" * 60 + "}"]
)
def test_cli_hostile_specs_give_one_error_line(
    command: str, spec: str, capsys: pytest.CaptureFixture[str]
) -> None:
    from falsr_ext.cli import main

    assert main([command, "--", spec]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("falsr: error: ") and len(err) < 400, err
