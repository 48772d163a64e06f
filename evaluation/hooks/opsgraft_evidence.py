"""What every sandbox hook shares: writing an evidence line, and turning values into JSON.

The hooks (``hook_*.py``) import this module by name: the sandbox puts this folder first on
``PYTHONPATH``. Evidence goes to ``$OPSGRAFT_EVIDENCE_DIR``, a folder the sandbox makes outside
the program's workdir (``<root>/.sandbox/evidence``), so no file the candidate ships can land
there. :func:`save_rows` keeps a few rows of what the program trained on, as ``rows-<name>.npy``.
While :func:`emit` or :func:`save_rows` writes, ``writing.active`` is set: the write audit of
``sitecustomize.py`` reports any other write into the sandbox's own folder as a write outside the
workdir, so a program that writes "evidence" itself fails. Never raises into the program.
"""

from __future__ import annotations

import json
import os
import threading
import time
from typing import Any

# Set while a hook writes evidence; read by sitecustomize's write audit.
writing = threading.local()


def emit(filename: str, record: dict[str, Any]) -> None:
    """Append ``record`` as one JSON line to ``$OPSGRAFT_EVIDENCE_DIR/filename``.

    Adds ``t`` (``time.monotonic_ns()``, for ordering within a machine), ``wall`` (Unix time in
    seconds, comparable with MLflow's and W&B's timestamps) and ``pid`` unless the record has them.
    """
    folder = os.environ.get("OPSGRAFT_EVIDENCE_DIR")
    if not folder:
        return
    writing.active = True
    try:
        record.setdefault("t", time.monotonic_ns())
        record.setdefault("wall", time.time())
        record.setdefault("pid", os.getpid())
        line = json.dumps(record, default=repr) + "\n"
        os.makedirs(folder, exist_ok=True)
        with open(os.path.join(folder, filename), "a", encoding="utf-8") as fh:
            fh.write(line)
    except Exception:
        pass
    finally:
        writing.active = False


def jsonable(value: Any) -> Any:
    """A JSON scalar for ``value``: numbers, strings, bools and None as they are, numpy/torch 0-d
    values as Python numbers, anything else as a short ``repr``."""
    scalar_value = scalar(value)
    if scalar_value is not None or value is None:
        return scalar_value
    return repr(value)[:200]


def scalar(value: Any) -> Any:
    """``value`` as a JSON scalar (numpy/torch 0-d values unwrapped), or None when it is not one."""
    if value is None or isinstance(value, bool | int | float | str):
        return value
    item = getattr(value, "item", None)
    if callable(item) and getattr(value, "ndim", None) == 0:
        try:
            return scalar(item())
        except Exception:
            return None
    return None


ROWS = 5  # rows of a program's own input kept for mlflow-registration to predict on
_rows_saved: set[str] = set()


def save_rows(name: str, array: Any, rows: int = ROWS) -> None:
    """Save the first ``rows`` rows of ``array`` as ``$OPSGRAFT_EVIDENCE_DIR/rows-<name>.npy``, once.

    What the program trained on, for the registration checker to predict on with the registered
    model. Takes numpy arrays, torch tensors, pandas frames (as a record array, which keeps the
    column names), sparse matrices and lists. The first call for a name wins, across processes too.
    """
    folder = os.environ.get("OPSGRAFT_EVIDENCE_DIR")
    if not folder or name in _rows_saved or array is None:
        return
    writing.active = True
    try:
        path = os.path.join(folder, f"rows-{name}.npy")
        if os.path.exists(path):
            _rows_saved.add(name)
            return
        data = _first_rows(array, rows)
        if data is not None:
            import numpy

            os.makedirs(folder, exist_ok=True)
            with open(path, "xb") as fh:  # exclusive: another process of the program may race
                _rows_saved.add(name)
                numpy.save(fh, data)
    except Exception:
        pass  # rows it cannot take (a generator, a dict): a later call may bring usable ones
    finally:
        writing.active = False


def _first_rows(array: Any, rows: int) -> Any:
    """The first ``rows`` rows of ``array`` as a numpy array, or None when it has no rows."""
    import numpy

    if not isinstance(array, list | tuple) and not (
        hasattr(array, "shape") and (hasattr(array, "dtype") or hasattr(array, "dtypes"))
    ):
        return None  # a dataset, a loader, a generator: slicing would run the program's code
    head = array.iloc[:rows] if hasattr(array, "iloc") else array[:rows]
    if hasattr(head, "to_records"):  # a pandas DataFrame: the columns' names may matter
        return head.to_records(index=False)
    if callable(getattr(head, "detach", None)):  # a torch tensor
        head = head.detach().cpu()
        try:
            return head.numpy()
        except TypeError:  # bfloat16 and other dtypes numpy lacks
            return head.float().numpy()
    if callable(getattr(head, "toarray", None)):  # scipy.sparse
        head = head.toarray()
    out = numpy.asarray(head)
    return out if out.ndim >= 1 and out.shape[0] else None
