"""The search checkpoint, ``RUN/state.npz``: data only, so resuming never runs code.

One ``.npz`` read with ``allow_pickle=False``: the controller's population arrays plus a
``meta`` entry holding UTF-8 JSON for everything else (format, generation, per-generation
history, the random generator's ``bit_generator.state``, the mutation policy, pymoo's
generation counter). One file, replaced atomically, so a kill can never pair a new
population with an old generator. Pre-hardening runs pickled the controller into
``state.pkl``; that file is never opened (see :func:`legacy_state_error`).
"""

from __future__ import annotations

import io
import json
import zipfile
from pathlib import Path
from typing import Any

import numpy as np

from falsr_ext.files import atomic_write_bytes
from falsr_ext.nas import SearchError

STATE_NAME = "state.npz"
LEGACY_STATE_NAME = "state.pkl"
STATE_FORMAT = "falsr-search-state/1"
_META = "meta"


def save_state(path: Path, generation: int, history: list[dict[str, Any]],
               controller: Any) -> None:
    """Write the search state after ``generation`` finished generations (atomically)."""
    meta, arrays = controller.state_dict()
    doc = {"format": STATE_FORMAT, "generation": generation, "history": history,
           "controller": meta}
    if _META in arrays:
        raise ValueError(f"controller array name {_META!r} is reserved")
    buf = io.BytesIO()
    np.savez(buf, **{_META: np.frombuffer(json.dumps(doc).encode("utf-8"), np.uint8)},
             **arrays)
    atomic_write_bytes(path, buf.getvalue())


def read_state(path: Path) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    """The JSON part and the arrays of a state file; ``ValueError`` when it is not one."""
    try:
        loaded = np.load(path, allow_pickle=False)
        if not isinstance(loaded, np.lib.npyio.NpzFile):  # a bare .npy array
            raise ValueError("not a .npz archive")
        with loaded as npz:
            arrays = {name: npz[name] for name in npz.files}
    except (OSError, EOFError, zipfile.BadZipFile) as exc:
        raise ValueError(f"not a .npz file ({exc})") from None
    except ValueError as exc:  # numpy's text would suggest loading it unsafely
        if "pickle" in str(exc):
            raise ValueError("it holds pickled Python objects, which are never loaded "
                             "because they could run code") from None
        raise
    if _META not in arrays:
        raise ValueError("no meta entry")
    doc = json.loads(arrays.pop(_META).tobytes().decode("utf-8"))
    if not isinstance(doc, dict) or doc.get("format") != STATE_FORMAT:
        raise ValueError(f"format {doc.get('format') if isinstance(doc, dict) else doc!r}, "
                         f"expected {STATE_FORMAT}")
    if not isinstance(doc.get("generation"), int) or not isinstance(doc.get("history"), list):
        raise ValueError("no generation / history")
    return doc, arrays


def _replay_advice(path: Path, log: Path) -> str:
    return (f"the finished evaluations are kept in {log}: delete {path.name} and run again "
            f"with --resume to replay the search from generation 1 with them (none is trained "
            f"again) and continue")


def unreadable_state_error(path: Path, log: Path, why: str) -> SearchError:
    """The one-line error for a state file that cannot be used."""
    return SearchError(f"{path}: cannot read the search state ({why}); "
                       f"{_replay_advice(path, log)}")


def legacy_state_error(path: Path, log: Path) -> SearchError:
    """The one-line error for a pre-hardening ``state.pkl`` (never unpickled)."""
    return SearchError(f"{path}: a search state from an older falsr version, not loaded "
                       f"because unpickling a file can run code; {_replay_advice(path, log)}")
