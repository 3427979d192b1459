// pybind11 binding of the analytic cost counter (csrc/core/counter.h) into falsr_ext._C:
//
//   _C.count_layers(row, h, w, scale, in_channels, dtype_bytes) -> dict
//       row: sequence of ints or 1-D integer numpy array (the encoding of counter.h).
//       {"params", "macs", "act_bytes": int,
//        "cells":  [ {"name", "params", "macs", "act_bytes"} ... ],
//        "layers": [ {"name", "cell", "c_in", "c_out", "kernel", "groups", "height",
//                     "width", "params", "macs", "act_bytes"} ... ]}
//       (the dicts' keys are exactly the fields of falsr_ext.counter.CellCount /
//       LayerCount, so the Python side can adopt them as instance dicts).
//   _C.count_batch(rows, h, w, scale, in_channels, dtype_bytes, per_cell) -> dict
//       rows: numpy int64 [N, 6*C+2], C-contiguous. {"params", "macs", "act_bytes": [N]}
//       plus {"cell_macs", "cell_params": [N, C+3]} when per_cell. Runs without the GIL,
//       on the calling thread only.
//
// Bad input raises ValueError (std::invalid_argument, translated by pybind11) whose
// message comes from the core (field names, cell index). Kept cheap: a single
// count_layers call costs a few microseconds (raw CPython dict building, interned keys).
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>

#include <array>
#include <cstdint>
#include <stdexcept>
#include <string>

#include "core/counter.h"

namespace py = pybind11;

namespace falsr {
namespace {

constexpr int64_t kMaxRowLen = core::kCellFields * core::kMaxCells + 2;

// Interned dict keys, created once at module init and never freed (module lifetime).
struct Keys {
  PyObject *name, *cell, *c_in, *c_out, *kernel, *groups, *height, *width, *params, *macs,
      *act_bytes, *cells, *layers;
};
Keys g_keys{};
// Dicts holding every key of a layer / cell record (values None), in field order: a new
// record is a PyDict_Copy of these (keys cloned in one go, no resizing while filled).
PyObject* g_layer_template = nullptr;
PyObject* g_cell_template = nullptr;

PyObject* intern(const char* s) {
  PyObject* o = PyUnicode_InternFromString(s);
  if (o == nullptr) {
    throw py::error_already_set();
  }
  return o;
}

void init_keys() {
  g_keys = Keys{intern("name"),   intern("cell"),   intern("c_in"),   intern("c_out"),
                intern("kernel"), intern("groups"), intern("height"), intern("width"),
                intern("params"), intern("macs"),   intern("act_bytes"), intern("cells"),
                intern("layers")};
  g_layer_template = PyDict_New();
  g_cell_template = PyDict_New();
  if (g_layer_template == nullptr || g_cell_template == nullptr) {
    throw py::error_already_set();
  }
  for (PyObject* k : {g_keys.name, g_keys.cell, g_keys.c_in, g_keys.c_out, g_keys.kernel,
                      g_keys.groups, g_keys.height, g_keys.width, g_keys.params, g_keys.macs,
                      g_keys.act_bytes}) {
    if (PyDict_SetItem(g_layer_template, k, Py_None) != 0) {
      throw py::error_already_set();
    }
  }
  for (PyObject* k : {g_keys.name, g_keys.params, g_keys.macs, g_keys.act_bytes}) {
    if (PyDict_SetItem(g_cell_template, k, Py_None) != 0) {
      throw py::error_already_set();
    }
  }
}

// d[key] = value (value: a new reference, stolen).
inline void set_steal(PyObject* d, PyObject* key, PyObject* value) {
  if (value == nullptr) {
    throw py::error_already_set();
  }
  const int rc = PyDict_SetItem(d, key, value);
  Py_DECREF(value);
  if (rc != 0) {
    throw py::error_already_set();
  }
}

inline void set_int(PyObject* d, PyObject* key, int64_t v) {
  set_steal(d, key, PyLong_FromLongLong(static_cast<long long>(v)));
}

inline void set_obj(PyObject* d, PyObject* key, PyObject* v) {
  if (PyDict_SetItem(d, key, v) != 0) {
    throw py::error_already_set();
  }
}

// Name of value k of a row of length n: "num_cells", "cells[i].<field>" or "fusion_mask".
std::string row_field(Py_ssize_t k, Py_ssize_t n) {
  static const char* fields[] = {"block", "kernel", "filters", "blocks", "skip", "input_mask"};
  if (k == 0) {
    return "num_cells";
  }
  if (k == n - 1) {
    return "fusion_mask";
  }
  return "cells[" + std::to_string((k - 1) / core::kCellFields) + "]." +
         fields[(k - 1) % core::kCellFields];
}

// Reads a genotype row from a sequence of ints or a 1-D integer array into buf.
int64_t read_row(py::handle obj, std::array<int64_t, kMaxRowLen>& buf) {
  if (py::isinstance<py::array>(obj)) {
    auto arr = py::reinterpret_borrow<py::array>(obj);
    const char kind = arr.dtype().kind();
    if (arr.ndim() != 1 || (kind != 'i' && kind != 'u')) {
      throw std::invalid_argument("row: expected a 1-D integer array, got ndim " +
                                  std::to_string(arr.ndim()) + " dtype kind '" +
                                  std::string(1, kind) + "'");
    }
    auto a64 = py::array_t<int64_t, py::array::c_style | py::array::forcecast>::ensure(arr);
    if (!a64) {
      throw py::error_already_set();
    }
    const int64_t n = static_cast<int64_t>(a64.size());
    if (n > kMaxRowLen) {
      throw std::invalid_argument("row length " + std::to_string(n) + " exceeds " +
                                  std::to_string(kMaxRowLen) + " (62 cells)");
    }
    const int64_t* p = a64.data();
    for (int64_t i = 0; i < n; ++i) {
      buf[static_cast<std::size_t>(i)] = p[i];
    }
    return n;
  }
  PyObject* seq = PySequence_Fast(obj.ptr(), "row: expected a sequence of ints or an int array");
  if (seq == nullptr) {
    PyErr_Clear();
    throw std::invalid_argument("row: expected a sequence of ints or a 1-D integer array, got " +
                                std::string(Py_TYPE(obj.ptr())->tp_name));
  }
  const py::object guard = py::reinterpret_steal<py::object>(seq);
  const Py_ssize_t n = PySequence_Fast_GET_SIZE(seq);
  if (n > kMaxRowLen) {
    throw std::invalid_argument("row length " + std::to_string(n) + " exceeds " +
                                std::to_string(kMaxRowLen) + " (62 cells)");
  }
  PyObject** items = PySequence_Fast_ITEMS(seq);
  for (Py_ssize_t i = 0; i < n; ++i) {
    const long long v = PyLong_AsLongLong(items[i]);
    if (v == -1 && PyErr_Occurred()) {
      PyErr_Clear();
      throw std::invalid_argument(row_field(i, n) + ": expected an int64, got " +
                                  std::string(Py_TYPE(items[i])->tp_name) + " " +
                                  py::repr(items[i]).cast<std::string>() + " (row[" +
                                  std::to_string(i) + "])");
    }
    buf[static_cast<std::size_t>(i)] = static_cast<int64_t>(v);
  }
  return static_cast<int64_t>(n);
}

py::dict count_layers_py(py::handle row_obj, int64_t h, int64_t w, int64_t scale,
                         int64_t in_channels, int64_t dtype_bytes) {
  std::array<int64_t, kMaxRowLen> buf;
  const int64_t len = read_row(row_obj, buf);
  const core::LayerCounts r =
      core::count_layers(buf.data(), len, h, w, scale, in_channels, dtype_bytes);

  py::dict out;
  PyObject* d = out.ptr();
  set_int(d, g_keys.params, r.params);
  set_int(d, g_keys.macs, r.macs);
  set_int(d, g_keys.act_bytes, r.act_bytes);

  const auto n_cells = static_cast<Py_ssize_t>(r.cells.size());
  py::list cells(n_cells);
  py::list cell_names(n_cells);
  for (Py_ssize_t i = 0; i < n_cells; ++i) {
    const core::CellTotal& t = r.cells[static_cast<std::size_t>(i)];
    PyObject* name = PyUnicode_FromStringAndSize(t.name.data(),
                                                 static_cast<Py_ssize_t>(t.name.size()));
    if (name == nullptr) {
      throw py::error_already_set();
    }
    PyList_SET_ITEM(cell_names.ptr(), i, name);  // steals
    PyObject* cd = PyDict_Copy(g_cell_template);
    if (cd == nullptr) {
      throw py::error_already_set();
    }
    PyList_SET_ITEM(cells.ptr(), i, cd);  // steals; the list owns it from here
    set_obj(cd, g_keys.name, name);
    set_int(cd, g_keys.params, t.params);
    set_int(cd, g_keys.macs, t.macs);
    set_int(cd, g_keys.act_bytes, t.act_bytes);
  }
  set_obj(d, g_keys.cells, cells.ptr());

  const auto n_layers = static_cast<Py_ssize_t>(r.layers.size());
  py::list layers(n_layers);
  for (Py_ssize_t i = 0; i < n_layers; ++i) {
    const core::LayerRecord& l = r.layers[static_cast<std::size_t>(i)];
    PyObject* ld = PyDict_Copy(g_layer_template);
    if (ld == nullptr) {
      throw py::error_already_set();
    }
    PyList_SET_ITEM(layers.ptr(), i, ld);
    set_steal(ld, g_keys.name,
              PyUnicode_FromStringAndSize(l.name.data(), static_cast<Py_ssize_t>(l.name.size())));
    set_obj(ld, g_keys.cell, PyList_GET_ITEM(cell_names.ptr(), l.entry));
    set_int(ld, g_keys.c_in, l.c_in);
    set_int(ld, g_keys.c_out, l.c_out);
    set_int(ld, g_keys.kernel, l.kernel);
    set_int(ld, g_keys.groups, l.groups);
    set_int(ld, g_keys.height, l.height);
    set_int(ld, g_keys.width, l.width);
    set_int(ld, g_keys.params, l.params);
    set_int(ld, g_keys.macs, l.macs);
    set_int(ld, g_keys.act_bytes, l.act_bytes);
  }
  set_obj(d, g_keys.layers, layers.ptr());
  return out;
}

py::dict count_batch_py(py::handle rows_obj, int64_t h, int64_t w, int64_t scale,
                        int64_t in_channels, int64_t dtype_bytes, bool per_cell) {
  if (!py::isinstance<py::array>(rows_obj)) {
    throw std::invalid_argument("rows: expected a numpy int64 array [N, 6*C+2], got " +
                                std::string(Py_TYPE(rows_obj.ptr())->tp_name));
  }
  auto arr = py::reinterpret_borrow<py::array>(rows_obj);
  if (arr.ndim() != 2) {
    throw std::invalid_argument("rows: expected a 2-D array [N, 6*C+2], got ndim " +
                                std::to_string(arr.ndim()));
  }
  if (!arr.dtype().equal(py::dtype::of<int64_t>())) {
    throw std::invalid_argument("rows: expected dtype int64, got " +
                                py::str(arr.dtype()).cast<std::string>());
  }
  if ((arr.flags() & py::array::c_style) == 0) {
    throw std::invalid_argument("rows: expected a C-contiguous array");
  }
  const auto n = static_cast<int64_t>(arr.shape(0));
  const auto row_len = static_cast<int64_t>(arr.shape(1));
  core::check_count_config(h, w, scale, in_channels, dtype_bytes);
  const int64_t num_cells = core::genotype_num_cells(row_len);
  const auto* rows = static_cast<const int64_t*>(arr.data());

  py::array_t<int64_t> params(n), macs(n), act(n);
  py::array_t<int64_t> cell_macs, cell_params;
  int64_t* cm = nullptr;
  int64_t* cp = nullptr;
  if (per_cell) {
    const std::array<py::ssize_t, 2> shape{static_cast<py::ssize_t>(n),
                                           static_cast<py::ssize_t>(num_cells + 3)};
    cell_macs = py::array_t<int64_t>(shape);
    cell_params = py::array_t<int64_t>(shape);
    cm = cell_macs.mutable_data();
    cp = cell_params.mutable_data();
  }
  int64_t* pp = params.mutable_data();
  int64_t* mp = macs.mutable_data();
  int64_t* ap = act.mutable_data();
  {
    py::gil_scoped_release release;
    core::count_batch(rows, n, row_len, h, w, scale, in_channels, dtype_bytes, pp, mp, ap, cm,
                      cp);
  }
  py::dict out;
  out["params"] = params;
  out["macs"] = macs;
  out["act_bytes"] = act;
  if (per_cell) {
    out["cell_macs"] = cell_macs;
    out["cell_params"] = cell_params;
  }
  return out;
}

}  // namespace

// Called from PYBIND11_MODULE in module.cpp.
void register_counter(py::module_& m) {
  init_keys();
  m.def("count_layers", &count_layers_py, py::arg("row"), py::arg("h"), py::arg("w"),
        py::arg("scale"), py::arg("in_channels"), py::arg("dtype_bytes"),
        "Params, conv MACs and activation bytes of one genotype row, per layer and per "
        "cell (see csrc/core/counter.h for the row encoding and the convention).");
  m.def("count_batch", &count_batch_py, py::arg("rows"), py::arg("h"), py::arg("w"),
        py::arg("scale"), py::arg("in_channels"), py::arg("dtype_bytes"),
        py::arg("per_cell") = false,
        "Totals of many genotype rows (numpy int64 [N, 6*C+2], C-contiguous) as int64 "
        "arrays; per_cell adds cell_macs / cell_params [N, C+3] (F, cells, fusion, "
        "upsample). Single-threaded, releases the GIL.");
}

}  // namespace falsr
