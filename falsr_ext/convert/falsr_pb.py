"""Import the official FALSR frozen graphs (``FALSR-{A,B,C}.pb``) without TensorFlow.

The genotype is recovered from the graph itself, not from the zoo:

- cell types from the scope names ``<PREFIX>/cell<i>/<type>_f<f>_k<k>_b<b>_<isskip|noskip>``;
- every layer of a cell is located by name, then each edge (Conv2D -> BiasAdd -> Relu,
  Split / Conv2D / ConcatV2 of grouped convs, the residual Adds) is checked on the op
  graph, so a graph whose names lie about its structure is rejected;
- the inputs of each cell and of the fusion conv are found by following ConcatV2 /
  Identity back to F or to earlier cell outputs (concat order must be node order).

Every node the raw luma output depends on must be explained by that structure, every
weight constant is mapped to exactly one tensor of our state_dict, and the state_dict
built from the recovered genotype must be filled exactly (names and shapes). Anything
else raises :class:`~falsr_ext.errors.ConvertError` with one line naming the file.

Weight layouts: conv kernels HWIO -> OIHW; depthwise (kh, kw, C, 1) -> (C, 1, kh, kw).
Grouped convs are ``Split(x, G)`` + ``Split(W, G)`` on the output-channel axis + G
Conv2D + ``ConcatV2``: chunk ``g`` of the input meets chunk ``g`` of ``W``
(k, k, Cin/G, f) and lands at output block ``g``, which is exactly torch ``groups=G``
with weight ``W.transpose(3, 2, 0, 1)`` (checked per group, not assumed).
"""

from __future__ import annotations

import hashlib
import re
import stat
from dataclasses import replace
from pathlib import Path

import numpy as np
import torch

from falsr_ext.convert.graphdef import DT_FLOAT, Graph, Node, parse_graphdef
from falsr_ext.convert.protobuf_wire import WireError
from falsr_ext.errors import ConvertError, GenotypeError
from falsr_ext.models.falsr_net import FalsrNet, build_model
from falsr_ext.models.weights import save_weights
from falsr_ext.space import OFFICIAL_BLOCK_NAMES, Cell, Genotype, shown

PREFIX = "test_sr_evaluator_i1_b0_g"
INPUT_Y = "input_image_evaluate_y"
INPUT_PBPR = "input_image_evaluate_pbpr"
OUTPUT_RGB = f"{PREFIX}/target"
RAW_LUMA = f"{PREFIX}/yout/BiasAdd"
_HEAD = f"{PREFIX}/n32s1/c"
_FUSION = f"{PREFIX}/n32s1/2/0"

_BLOCK_OF = {official: ours for ours, official in OFFICIAL_BLOCK_NAMES.items()}
_CELL_RE = re.compile(
    rf"^{re.escape(PREFIX)}/cell(\d+)/(conv|invertBotConE2|groupConG2|groupConG4)"
    r"_f(\d+)_k(\d+)_b(\d+)_(isskip|noskip)"
)
_ADD_OPS = ("Add", "AddV2")
# Ops of the colour-conversion tail (target = RGB from y_hr and the Pb/Pr placeholder).
_POST_OPS = {
    "Placeholder", "Const", "Identity", "Add", "AddV2", "Mul", "ConcatV2", "Conv2D",
    "BiasAdd", "Shape", "Fill", "Maximum", "Minimum", "RealDiv",
}


class _Mismatch(Exception):
    """The graph is well-formed protobuf but not the FALSR structure we know."""


# ---------------------------------------------------------------------- public API
def import_pb(path: str | Path) -> tuple[Genotype, dict[str, torch.Tensor]]:
    """Read an official FALSR ``.pb``; return its genotype and our state_dict.

    The genotype is recovered from the graph (named after the file stem); the state_dict
    matches :class:`~falsr_ext.models.falsr_net.FalsrNet` built with scale 2, one input
    channel and ``shuffle_order="tf"``. Raises ConvertError on any problem.
    """
    path = Path(path)
    data = _read(path)
    try:
        graph = parse_graphdef(data)
    except WireError as exc:
        hint = "; truncated file?" if "past the end" in str(exc) or "truncated" in str(exc) else ""
        raise ConvertError(
            f"{shown(str(path))}: not a valid TensorFlow GraphDef ({exc}{hint})") from None
    try:
        genotype, weights = _Importer(graph, path.stem).run()
    except _Mismatch as exc:
        raise ConvertError(f"{shown(str(path))}: not an official FALSR graph ({exc})") from None
    return genotype, weights


def load_pb(path: str | Path) -> FalsrNet:
    """Build a FalsrNet (eval mode, scale 2, luma, TF shuffle order) from an official .pb."""
    genotype, weights = import_pb(path)
    model = build_model(genotype, scale=2, in_channels=1, shuffle_order="tf")
    model.load_state_dict(weights, strict=True)  # exact key/shape match checked in import_pb
    return model.eval()


def convert_pb(pb_path: str | Path, out_path: str | Path) -> Path:
    """Convert an official ``.pb`` to our safetensors format; return the written path.

    The metadata ``source`` is ``"official FALSR .pb <sha256 prefix>"`` of the input file.
    """
    pb_path = Path(pb_path)
    model = load_pb(pb_path)
    digest = hashlib.sha256(_read(pb_path)).hexdigest()[:12]
    return save_weights(model, out_path, source=f"official FALSR .pb {digest}")


def _read(path: Path) -> bytes:
    name = shown(str(path))
    try:
        mode = path.stat().st_mode
    except FileNotFoundError:
        raise ConvertError(f"{name}: no such file") from None
    except (OSError, ValueError) as exc:  # a name no file can have: too long, NUL byte
        why = getattr(exc, "strerror", None) or exc
        raise ConvertError(f"{name}: cannot read ({why})") from None
    if not stat.S_ISREG(mode):
        raise ConvertError(f"{name}: not a regular file")
    try:
        return path.read_bytes()
    except OSError as exc:
        raise ConvertError(f"{name}: cannot read ({exc.strerror or exc})") from None


# ----------------------------------------------------------------------- importer
class _Importer:
    """Match one parsed GraphDef against the FALSR structure and collect its weights."""

    def __init__(self, graph: Graph, name: str) -> None:
        self.graph = graph
        self.name = name
        self.used: set[str] = set()  # nodes explained by the matcher
        self.weights: dict[str, np.ndarray] = {}  # our key -> torch-layout array
        self.weight_const: dict[str, str] = {}  # graph const -> our key (use-once check)
        self.outputs: dict[str, int] = {}  # node name -> wiring node (0 = F, i+1 = cell i)
        self.adds = [n for n in graph.nodes.values() if n.op in _ADD_OPS]

    # --------------------------------------------------------------------- driver
    def run(self) -> tuple[Genotype, dict[str, torch.Tensor]]:
        if not self.graph.nodes:
            raise _Mismatch("the GraphDef has no nodes")
        for name in (INPUT_Y, INPUT_PBPR, RAW_LUMA, OUTPUT_RGB):
            if name not in self.graph:
                raise _Mismatch(f"node {name!r} is missing")
        specs = self._cell_specs()

        f_out = self._head()
        self.outputs[f_out] = 0
        cells = []
        for i, spec in enumerate(specs):
            matcher = self._ib_cell if spec.block == "ib" else self._conv_cell
            x_ref, out = matcher(i, spec)
            inputs = self._sources(x_ref, f"cell{i} input", limit=i + 1)
            cells.append(replace(spec, inputs=inputs))
            self.outputs[out] = i + 1
        fusion = self._tail(f_out, len(cells))

        try:
            genotype = Genotype(tuple(cells), fusion, name=self.name).validate()
        except GenotypeError as exc:
            raise _Mismatch(f"recovered genotype is invalid: {exc}") from None
        self._check_coverage()
        return genotype, self._state_dict(genotype)

    def _cell_specs(self) -> list[Cell]:
        """Cell i's type from the scope names (one per index); inputs still unknown."""
        found: dict[int, set[Cell]] = {}
        cell_scope = f"{PREFIX}/cell"
        for name in self.graph.nodes:
            if not name.startswith(cell_scope):
                continue
            m = _CELL_RE.match(name)
            if not m:
                raise _Mismatch(f"unrecognised cell scope in node {name!r}")
            idx, typ, f, k, b, flag = m.groups()
            spec = Cell(_BLOCK_OF[typ], int(k), int(f), int(b), flag == "isskip", inputs=())
            found.setdefault(int(idx), set()).add(spec)
        if not found:
            raise _Mismatch(f"no cells under {cell_scope}<i>/")
        if sorted(found) != list(range(len(found))):
            raise _Mismatch(f"cell indices {sorted(found)} are not 0..{len(found) - 1}")
        specs = []
        for i in range(len(found)):
            if len(found[i]) != 1:
                kinds = sorted(c.official_name() for c in found[i])
                raise _Mismatch(f"cell{i} has several type names {kinds}")
            specs.append(next(iter(found[i])))
        return specs

    # -------------------------------------------------------------- graph helpers
    def _node(self, name: str) -> Node:
        node = self.graph.nodes.get(name)
        if node is None:
            raise _Mismatch(f"node {name!r} is missing")
        return node

    def _follow(self, ref: str, mark: bool = True) -> tuple[Node, int]:
        """Resolve an input reference (``name[:k]``) through Identity nodes (marked used)."""
        if ref.startswith("^"):
            raise _Mismatch(f"unexpected control input {ref!r}")
        name, _, idx = ref.partition(":")
        node = self._node(name)
        seen = 0
        while node.op == "Identity":
            if mark:
                self.used.add(node.name)
            ins = node.data_inputs()
            if len(ins) != 1 or seen > 100:
                raise _Mismatch(f"Identity {node.name!r} has {len(ins)} inputs")
            name, _, idx = node.inputs[0].partition(":")
            node = self._node(name)
            seen += 1
        return node, int(idx) if idx.isdigit() else 0

    def _expect(self, node: Node, ops: str | tuple[str, ...], nin: int) -> list[str]:
        """Check op and data-input count; mark the node used; return its data inputs."""
        ops = (ops,) if isinstance(ops, str) else ops
        if node.op not in ops:
            raise _Mismatch(f"node {node.name!r} is {node.op}, expected {'/'.join(ops)}")
        ins = [i for i in node.inputs if not i.startswith("^")]
        if len(ins) != nin or len(ins) != len(node.inputs):
            raise _Mismatch(f"node {node.name!r} has inputs {node.inputs}, expected {nin}")
        self.used.add(node.name)
        return ins

    def _is(self, ref: str, name: str) -> bool:
        node, idx = self._follow(ref)
        return node.name == name and idx == 0

    def _const(self, ref: str) -> np.ndarray:
        node, idx = self._follow(ref)
        self._expect(node, "Const", 0)
        tensor = node.attrs.get("value")
        if idx != 0 or tensor is None or getattr(tensor, "value", None) is None:
            raise _Mismatch(f"constant {node.name!r} has no numeric value")
        return tensor.value

    def _int_const(self, ref: str) -> int:
        value = self._const(ref)
        if value.size != 1 or value.dtype.kind != "i":
            raise _Mismatch(f"{ref!r} is not an integer scalar")
        return int(value.reshape(()))

    def _weight(self, ref: str, key: str) -> np.ndarray:
        """A float weight constant, recorded as used by ``key`` (each const used once)."""
        node, _ = self._follow(ref)
        value = self._const(ref)
        tensor = node.attrs["value"]
        if tensor.dtype != DT_FLOAT:
            raise _Mismatch(f"weight {node.name!r} has dtype {tensor.dtype}, expected float")
        if node.name in self.weight_const:
            raise _Mismatch(
                f"weight {node.name!r} used twice ({self.weight_const[node.name]}, {key})"
            )
        self.weight_const[node.name] = key
        return value

    def _store(self, key: str, array: np.ndarray) -> None:
        if key in self.weights:
            raise _Mismatch(f"tensor {key} filled twice")
        self.weights[key] = np.ascontiguousarray(array, dtype=np.float32)

    def _check_conv_attrs(self, node: Node) -> None:
        a = node.attrs
        ok = (
            list(a.get("strides", [1, 1, 1, 1])) == [1, 1, 1, 1]
            and list(a.get("dilations", [1, 1, 1, 1])) == [1, 1, 1, 1]
            and a.get("padding") == b"SAME"
            and a.get("data_format", b"NHWC") == b"NHWC"
        )
        if not ok:
            raise _Mismatch(f"{node.op} {node.name!r} is not stride 1, SAME, NHWC, dilation 1")

    def _concat(self, node: Node) -> list[str]:
        """Check a channel ConcatV2 (axis 3 or -1, N consistent); return its value inputs."""
        ins = self._expect(node, "ConcatV2", len(node.inputs))
        if len(ins) < 2 or node.attrs.get("N", len(ins) - 1) != len(ins) - 1:
            raise _Mismatch(f"ConcatV2 {node.name!r} has N={node.attrs.get('N')} "
                            f"but {len(ins) - 1} values")
        if self._int_const(ins[-1]) not in (3, -1):
            raise _Mismatch(f"{node.name!r} does not concat channels")
        return ins[:-1]

    def _find_add(self, a: str, b: str) -> str:
        """The unique Add whose two inputs are the outputs of nodes ``a`` and ``b``."""
        hits = []
        for add in self.adds:
            ins = add.data_inputs()
            if len(ins) == 2 and {self._follow(r, mark=False)[0].name for r in ins} == {a, b}:
                hits.append(add)
        if len(hits) != 1:
            raise _Mismatch(f"expected one Add of {a!r} and {b!r}, found {len(hits)}")
        self._expect(hits[0], _ADD_OPS, 2)
        return hits[0].name

    # ------------------------------------------------------------- layer matchers
    def _conv_layer(self, out: str, key: str, relu: bool, depthwise: bool = False) -> str:
        """Match ``[Relu](BiasAdd(Conv2D(x, W), b))`` ending at node ``out``; return x."""
        node = self._node(out)
        if relu:
            (ref,) = self._expect(node, "Relu", 1)
            node, _ = self._follow(ref)
        conv_ref, bias_ref = self._expect(node, "BiasAdd", 2)
        conv, _ = self._follow(conv_ref)
        op = "DepthwiseConv2dNative" if depthwise else "Conv2D"
        x_ref, w_ref = self._expect(conv, op, 2)
        self._check_conv_attrs(conv)
        w = self._weight(w_ref, f"{key}.weight")
        if w.ndim != 4:
            raise _Mismatch(f"kernel of {conv.name!r} has shape {w.shape}")
        if depthwise:
            if w.shape[3] != 1:
                raise _Mismatch(f"depthwise {conv.name!r} has channel multiplier {w.shape[3]}")
            self._store(f"{key}.weight", w.transpose(2, 3, 0, 1))  # (kh,kw,C,1)->(C,1,kh,kw)
        else:
            self._store(f"{key}.weight", w.transpose(3, 2, 0, 1))  # HWIO -> OIHW
        self._store(f"{key}.bias", self._weight(bias_ref, f"{key}.bias"))
        return x_ref

    def _group_layer(self, out: str, key: str, groups: int) -> str:
        """Match ``Relu(BiasAdd(ConcatV2_g(Conv2D(Split(x)[g], Split(W)[w_g])), b))``."""
        (ref,) = self._expect(self._node(out), "Relu", 1)
        bias_add, _ = self._follow(ref)
        concat_ref, bias_ref = self._expect(bias_add, "BiasAdd", 2)
        concat, _ = self._follow(concat_ref)
        ins = self._concat(concat)
        if len(ins) != groups:
            raise _Mismatch(f"{concat.name!r} joins {len(ins)} parts, expected {groups}")
        x_split = w_split = None
        kernel_chunk = []
        for g, conv_ref in enumerate(ins):
            conv, _ = self._follow(conv_ref)
            a_ref, k_ref = self._expect(conv, "Conv2D", 2)
            self._check_conv_attrs(conv)
            a_node, a_idx = self._follow(a_ref)
            k_node, k_idx = self._follow(k_ref)
            if x_split is None:
                x_split, w_split = a_node, k_node
            # Input chunk g must feed output block g, or torch groups cannot express it.
            if a_node is not x_split or k_node is not w_split or a_idx != g:
                raise _Mismatch(f"{conv.name!r}: group {g} is not wired as a grouped conv")
            kernel_chunk.append(k_idx)
        assert x_split is not None and w_split is not None
        if sorted(kernel_chunk) != list(range(groups)):
            raise _Mismatch(f"{concat.name!r}: kernel chunks {kernel_chunk} are not a permutation")
        x_dim, x_ref = self._expect(x_split, "Split", 2)
        w_dim, w_ref = self._expect(w_split, "Split", 2)
        for split in (x_split, w_split):
            if split.attrs.get("num_split") != groups:
                raise _Mismatch(f"{split.name!r} does not split into {groups}")
        if self._int_const(x_dim) not in (3, -1) or self._int_const(w_dim) not in (3, -1):
            raise _Mismatch(f"{x_split.name!r}/{w_split.name!r} do not split channels")
        w = self._weight(w_ref, f"{key}.weight")
        if w.ndim != 4 or w.shape[3] % groups:
            raise _Mismatch(f"grouped kernel {w_split.name!r} has shape {w.shape}")
        chunks = np.split(w, groups, axis=3)  # what TF's Split(W) yields, in order
        # torch groups layout: output block g (= concat position g) reads input chunk g.
        torch_w = np.concatenate([chunks[c].transpose(3, 2, 0, 1) for c in kernel_chunk])
        self._store(f"{key}.weight", torch_w)
        self._store(f"{key}.bias", self._weight(bias_ref, f"{key}.bias"))
        return x_ref

    # -------------------------------------------------------------- cell matchers
    def _conv_cell(self, i: int, cell: Cell) -> tuple[str, str]:
        """conv / g2 / g4 cell: b chained ReLU layers, isskip adds first + last.

        Returns the cell's input reference and its output node.
        """
        scope = f"{PREFIX}/cell{i}/{cell.official_name()}"
        groups = cell.groups
        relus = [f"{scope}_b{j}/Relu" for j in range(cell.blocks)]
        cell_input = ""
        for j, relu in enumerate(relus):
            key = f"cells.{i}.layers.{j}"
            if groups == 1:
                x_ref = self._conv_layer(relu, key, relu=True)
            else:
                x_ref = self._group_layer(relu, key, groups)
            if j == 0:
                cell_input = x_ref
            elif not self._is(x_ref, relus[j - 1]):
                raise _Mismatch(f"{relu!r} does not follow {relus[j - 1]!r}")
        out = relus[-1]
        if cell.skip and cell.blocks > 1:
            out = self._find_add(relus[0], relus[-1])
        return cell_input, out

    def _ib_cell(self, i: int, cell: Cell) -> tuple[str, str]:
        """Inverted bottleneck: s = 1x1 reduce; z += project(dw(expand(z))); isskip s + z."""
        scope = f"{PREFIX}/cell{i}/{cell.official_name()}"
        s = f"{scope}_conv_supple/BiasAdd"
        cell_input = self._conv_layer(s, f"cells.{i}.reduce", relu=False)
        z = s
        for j in range(cell.blocks):
            key = f"cells.{i}.blocks.{j}"
            expand = f"{scope}_b{j}_conv_1/Relu"
            dw = f"{scope}_b{j}depth_wise/Relu"
            project = f"{scope}_b{j}_conv_2/BiasAdd"
            links = (
                (self._conv_layer(expand, f"{key}.expand", relu=True), z),
                (self._conv_layer(dw, f"{key}.depthwise", relu=True, depthwise=True), expand),
                (self._conv_layer(project, f"{key}.project", relu=False), dw),
            )
            for x_ref, want in links:
                if not self._is(x_ref, want):
                    raise _Mismatch(f"cell{i} block {j}: {x_ref!r} should be {want!r}")
            z = self._find_add(project, z)  # per-block residual, in noskip cells too
        if cell.skip and cell.blocks > 1:
            z = self._find_add(s, z)
        return cell_input, z

    # --------------------------------------------------------------- fixed frame
    def _head(self) -> str:
        out = f"{_HEAD}/Relu"
        x_ref = self._conv_layer(out, "head", relu=True)
        if not self._is(x_ref, INPUT_Y):
            raise _Mismatch(f"the feature extractor does not read {INPUT_Y!r}")
        self._expect(self._node(INPUT_Y), "Placeholder", 0)
        return out

    def _tail(self, f_out: str, num_cells: int) -> tuple[int, ...]:
        """Fusion conv (+ F), depth_to_space x2, output conv; return the fusion nodes."""
        fused = f"{_FUSION}/Relu"
        x_ref = self._conv_layer(fused, "fusion", relu=True)
        fusion = self._sources(x_ref, "fusion input", limit=num_cells + 1)
        residual = self._find_add(fused, f_out)
        shuffle_ref = self._conv_layer(RAW_LUMA, "tail", relu=False)
        shuffle, _ = self._follow(shuffle_ref)
        (ref,) = self._expect(shuffle, "DepthToSpace", 1)
        if shuffle.attrs.get("block_size") != 2 or shuffle.attrs.get(
            "data_format", b"NHWC"
        ) != b"NHWC":
            raise _Mismatch(f"{shuffle.name!r} is not an NHWC depth_to_space x2")
        if not self._is(ref, residual):
            raise _Mismatch(f"{shuffle.name!r} does not read the global residual")
        return fusion

    def _sources(self, ref: str, where: str, limit: int) -> tuple[int, ...]:
        """Wiring nodes behind a cell/fusion input (a node output or a concat of them)."""
        found = self._source_list(ref, where)
        if any(n >= limit for n in found):
            raise _Mismatch(f"{where} reads a later cell")
        if found != sorted(set(found)):
            # Our model concatenates in node order; another order would permute channels.
            raise _Mismatch(f"{where} concatenates nodes in order {found}, not F, c0, c1, ...")
        return tuple(found)

    def _source_list(self, ref: str, where: str) -> list[int]:
        node, idx = self._follow(ref)
        if node.name in self.outputs and idx == 0:
            return [self.outputs[node.name]]
        if node.op != "ConcatV2":
            raise _Mismatch(f"{where}: {node.name!r} ({node.op}) is not F, a cell or a concat")
        ins = self._concat(node)
        return [n for r in ins for n in self._source_list(r, where)]

    # ------------------------------------------------------------------- checks
    def _ancestors(self, name: str) -> set[str]:
        seen = {name}
        stack = [name]
        while stack:
            for ref in self.graph.nodes[stack.pop()].inputs:
                parent = ref.lstrip("^").partition(":")[0]
                if parent not in seen and parent in self.graph.nodes:
                    seen.add(parent)
                    stack.append(parent)
        return seen

    def _check_coverage(self) -> None:
        """Every node of the network must be explained; nothing else may dangle."""
        net = self._ancestors(RAW_LUMA)
        unexplained = sorted(net - self.used)
        if unexplained:
            node = self.graph.nodes[unexplained[0]]
            raise _Mismatch(
                f"{len(unexplained)} node(s) outside the recognised structure, "
                f"e.g. {node.name!r} ({node.op})"
            )
        post = self._ancestors(OUTPUT_RGB)
        if RAW_LUMA not in post:
            raise _Mismatch(f"{OUTPUT_RGB!r} does not depend on {RAW_LUMA!r}")
        for name in sorted(post - net):
            if self.graph.nodes[name].op not in _POST_OPS:
                raise _Mismatch(f"unexpected {self.graph.nodes[name].op} node {name!r}")
        stray = sorted(set(self.graph.nodes) - self.used - post)
        if stray:
            node = self.graph.nodes[stray[0]]
            raise _Mismatch(f"{len(stray)} unused node(s), e.g. {node.name!r} ({node.op})")

    def _state_dict(self, genotype: Genotype) -> dict[str, torch.Tensor]:
        """Check the collected weights fill the model of ``genotype`` exactly."""
        want = build_model(genotype, scale=2, in_channels=1, shuffle_order="tf").state_dict()
        missing = sorted(set(want) - set(self.weights))
        extra = sorted(set(self.weights) - set(want))
        if missing or extra:
            raise _Mismatch(f"weights do not fit the genotype (missing {missing}, extra {extra})")
        out = {}
        for key, ref in want.items():
            array = self.weights[key]
            if tuple(array.shape) != tuple(ref.shape):
                raise _Mismatch(
                    f"{key}: graph weight has shape {tuple(array.shape)}, the recovered "
                    f"genotype needs {tuple(ref.shape)}"
                )
            out[key] = torch.from_numpy(array)
        return out
