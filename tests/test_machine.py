"""falsr_ext.machine: the machine record every result file carries."""

from __future__ import annotations

import json

from isa_helpers import ISA_LEVELS

from falsr_ext.machine import ISA_FLAGS, describe_cpu, machine_info


def test_machine_info_names_the_cpu_and_the_kernels_isa() -> None:
    info = machine_info()
    assert json.loads(json.dumps(info)) == info  # JSON-ready
    assert info["cpu"] and info["logical_cpus"] >= 1
    assert info["kernel_isa"] in ISA_LEVELS and info["kernel_isa_available"] in ISA_LEVELS
    assert ISA_LEVELS.index(info["kernel_isa"]) <= ISA_LEVELS.index(info["kernel_isa_available"])
    assert set(info["isa_flags"]) <= set(ISA_FLAGS)
    assert describe_cpu().startswith(info["cpu"])
