"""Genotype: string / JSON round trips, validation errors, zoo wiring."""

from __future__ import annotations

import json
import random
from dataclasses import replace

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from falsr_ext.errors import GenotypeError
from falsr_ext.models.zoo import ZOO_GENOTYPES
from falsr_ext.space import Genotype, parse_genotype, sample_genotype

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
