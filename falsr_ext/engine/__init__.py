"""The fused CPU inference engine: a FALSR network compiled into a plan of fused ops
(``falsr::cell_conv``, ``falsr::inverted_bottleneck``, ``falsr::subpixel_conv``) on reused
NHWC buffers, with no concat materialised. See :func:`compile_engine`."""

from falsr_ext.engine.engine import Engine, assign_slots, compile_engine
from falsr_ext.engine.plan import Plan, build_plan

__all__ = ["Engine", "Plan", "assign_slots", "build_plan", "compile_engine"]
