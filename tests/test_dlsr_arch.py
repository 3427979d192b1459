"""DLSR architectures: compact string and JSON round trips, the space protocol, and
one-line errors naming the bad field."""

from __future__ import annotations

import json

import numpy as np
import pytest
from cli_helpers import assert_one_line_message as one_line

from falsr_ext.errors import GenotypeError
from falsr_ext.spaces import SearchSpace, create_model, get_space
from falsr_ext.spaces.dlsr import (
    OPS,
    SPACE,
    WIRING_A,
    WIRING_B,
    DlsrArch,
    DlsrNet,
    parse_arch,
    released_cards,
    sample_arch,
)

FULL = "nf48-conv_1x1+sep_conv_7x7+sep_conv_5x5-c3=1+2,c4=2+3,c5=2+4,c6=4+5"
PARA = "nf48-sep_conv_3x3+sep_conv_5x5+sep_conv_5x5-c3=2+1,c4=3+2,c5=4+3,c6=1+3"




def test_released_strings() -> None:
    cards = released_cards()
    assert cards["dlsr-full"].arch == FULL
    assert cards["dlsr-para"].arch == PARA
    assert cards["dlsr-tiny"].arch == FULL.replace("nf48", "nf18")
    assert parse_arch(FULL) == DlsrArch(48, ("conv_1x1", "sep_conv_7x7", "sep_conv_5x5"),
                                        WIRING_A)
    assert parse_arch(PARA).links == WIRING_B


def test_round_trips_of_random_archs() -> None:
    rng = np.random.default_rng(14)
    seen = set()
    for _ in range(300):
        arch = sample_arch(rng, nf=int(rng.choice([4, 18, 48, 64])))
        assert parse_arch(arch.to_string()) == arch
        assert parse_arch(arch.to_json()) == arch
        assert parse_arch(json.dumps(arch.to_dict(), indent=2)) == arch
        seen.update(arch.ops)
        for cell, (a, b) in zip((3, 4, 5, 6), arch.links, strict=True):
            assert a != b and 1 <= a < cell and 1 <= b < cell
    assert seen == set(OPS)  # every candidate gets sampled


def test_space_protocol_and_registry() -> None:
    assert isinstance(SPACE, SearchSpace)
    assert get_space("dlsr") is SPACE
    arch = SPACE.parse(f"  {FULL} ")
    assert SPACE.format(arch) == FULL and SPACE.parse(SPACE.to_json(arch)) == arch
    assert SPACE.parse("full") == SPACE.parse("dlsr-full") == arch  # released names
    assert SPACE.sample(np.random.default_rng(1)) == SPACE.sample(np.random.default_rng(1))
    net = create_model(f"dlsr:{PARA}", scale=3)
    assert isinstance(net, DlsrNet) and net.scale == 3 and net.arch == parse_arch(PARA)
    card = net.card
    assert (card.space, card.colour, card.input_range, card.tiling, card.min_size,
            card.protocol, card.scale) == ("dlsr", "rgb", 255.0, "approximate", 15,
                                           "y-float", 3)


@pytest.mark.parametrize(("text", "needles"), [
    ("nf48-conv_2x2+sep_conv_7x7+sep_conv_5x5-c3=1+2,c4=2+3,c5=2+4,c6=4+5",
     ["ops[0]", "unknown op 'conv_2x2'"]),
    ("nf48-conv_1x1+sep_conv_7x7-c3=1+2,c4=2+3,c5=2+4,c6=4+5", ["ops:", "3 op names"]),
    ("nf48-conv_1x1+sep_conv_7x7+skip_connect-c3=1+2,c4=2+3,c5=2+4,c6=4+5",
     ["ops[2]", "skip_connect"]),
    ("nf47-conv_1x1+sep_conv_7x7+sep_conv_5x5-c3=1+2,c4=2+3,c5=2+4,c6=4+5", ["nf: 47"]),
    ("nf2-conv_1x1+sep_conv_7x7+sep_conv_5x5-c3=1+2,c4=2+3,c5=2+4,c6=4+5", ["nf: 2"]),
    ("width48-conv_1x1+sep_conv_7x7+sep_conv_5x5-c3=1+2,c4=2+3,c5=2+4,c6=4+5", ["nf:"]),
    ("nf48-conv_1x1+sep_conv_7x7+sep_conv_5x5-c3=1+2,c4=5+3,c5=2+4,c6=4+5",
     ["links.c4", "cell 5 is not an earlier cell"]),
    ("nf48-conv_1x1+sep_conv_7x7+sep_conv_5x5-c3=1+2,c4=2+2,c5=2+4,c6=4+5",
     ["links.c4", "twice"]),
    ("nf48-conv_1x1+sep_conv_7x7+sep_conv_5x5-c3=1+2,c4=2+3,c5=2+4", ["links", "c6"]),
    ("nf48-conv_1x1+sep_conv_7x7+sep_conv_5x5-c3=1+2,c3=1+2,c5=2+4,c6=4+5", ["links", "c3"]),
    ("nf48-conv_1x1+sep_conv_7x7+sep_conv_5x5-c3=1+0,c4=2+3,c5=2+4,c6=4+5", ["links.c3"]),
    ("nf48-conv_1x1+sep_conv_7x7+sep_conv_5x5-c3=1,2", ["links:"]),
    ("nf48", ["expected 'nf<C>-"]),
    ("", ["expected 'nf<C>-"]),
    ("x" * 10_000, ["over the limit"]),
    ("nf48-conv_1x1\n+sep_conv_7x7+sep_conv_5x5-c3=1+2,c4=2+3,c5=2+4,c6=4+5", ["ops[0]"]),
])
def test_bad_strings_name_the_field(text: str, needles: list[str]) -> None:
    with pytest.raises(GenotypeError) as exc:
        SPACE.parse(text)
    one_line(exc, *needles)


@pytest.mark.parametrize(("text", "needles"), [
    ('{"nf": 48, "ops": [', ["bad JSON"]),
    ("[" * 3000, ["expected 'nf<C>-"]),
    ("{" * 3000, ["bad JSON"]),
    ('["nf48"]', ["expected 'nf<C>-"]),
    ('{"nf": 48, "ops": ["conv_1x1", "sep_conv_7x7", "sep_conv_5x5"]}', ["links: missing"]),
    ('{"nf": "48", "ops": ["conv_1x1", "sep_conv_7x7", "sep_conv_5x5"], "links": '
     '{"c3": [1, 2], "c4": [2, 3], "c5": [2, 4], "c6": [4, 5]}}', ["nf: expected an integer"]),
    ('{"nf": true, "ops": ["conv_1x1", "sep_conv_7x7", "sep_conv_5x5"], "links": '
     '{"c3": [1, 2], "c4": [2, 3], "c5": [2, 4], "c6": [4, 5]}}', ["nf: expected an integer"]),
    ('{"nf": 48, "ops": ["conv_1x1", "sep_conv_7x7", 5], "links": '
     '{"c3": [1, 2], "c4": [2, 3], "c5": [2, 4], "c6": [4, 5]}}', ["ops[2]"]),
    ('{"nf": 48, "ops": ["conv_1x1", "sep_conv_7x7", "sep_conv_5x5"], "links": '
     '{"c3": [1, 2], "c4": [2, 3], "c5": [2, 4], "c7": [4, 5]}}', ["unknown cell 'c7'"]),
    ('{"nf": 48, "ops": ["conv_1x1", "sep_conv_7x7", "sep_conv_5x5"], "links": '
     '{"c3": [1, 2], "c4": [2, 3.0], "c5": [2, 4], "c6": [4, 5]}}', ["links.c4"]),
    ('{"nf": 48, "ops": ["conv_1x1", "sep_conv_7x7", "sep_conv_5x5"], "links": '
     '{"c3": [1, 2, 3], "c4": [2, 3], "c5": [2, 4], "c6": [4, 5]}}', ["links.c3"]),
    ('{"format": "falsr-genotype/1", "nf": 48}', ["format:"]),
    ('{"nf": 48, "colour": "rgb"}', ["unknown JSON field 'colour'"]),
])
def test_bad_json_names_the_field(text: str, needles: list[str]) -> None:
    with pytest.raises(GenotypeError) as exc:
        parse_arch(text)
    one_line(exc, *needles)


def test_direct_construction_validates() -> None:
    with pytest.raises(GenotypeError) as exc:
        DlsrArch(48, ("conv_1x1", "conv_1x1", "conv_9x9"), WIRING_A)
    one_line(exc, "ops[2]")
    with pytest.raises(GenotypeError) as exc:
        DlsrArch(48, ("conv_1x1",) * 3, WIRING_A[:3])
    one_line(exc, "links")
    with pytest.raises(GenotypeError):
        parse_arch(48)  # type: ignore[arg-type]
