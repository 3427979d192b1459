"""Importers of the official FALSR release (TensorFlow frozen graphs, no TensorFlow needed)."""

from falsr_ext.convert.falsr_pb import convert_pb, import_pb, load_pb

__all__ = ["convert_pb", "import_pb", "load_pb"]
