"""Where the trained models live and how their arrays are stored.

The repository's `models/` folder is the package `monitor.models` (pyproject maps it), so an
editable checkout, `pip install .` and a wheel all find the same files;
`$MONITOR_MODELS` points elsewhere (tests, a model trained apart). A model is a skops file
holding only a dict of numpy arrays, read without skops when it is exactly that (skops
itself takes ~1.5 s to import) and otherwise loaded against a list of trusted types, never
unpickled. A missing model is an error that names the file: never a silent fallback.
"""

from __future__ import annotations

import io
import json
import os
import zipfile
from pathlib import Path

import numpy as np

# Types a model file may contain; anything else makes loading fail (skops' safety net).
TRUSTED_TYPES = ["numpy.ndarray", "numpy.dtype", "numpy.float64", "numpy.int64"]


class MissingModelError(RuntimeError):
    """A trained model the analysis needs is not installed."""


def models_dir() -> Path:
    """$MONITOR_MODELS, else the installed `monitor.models` package (the repo's models/)."""
    env = os.environ.get("MONITOR_MODELS")
    if env:
        return Path(env)
    from importlib import resources

    return Path(str(resources.files("monitor.models")))


def training_data_dir() -> Path:
    """The labelled data the models are trained on (`models/data/`, in the repository only:
    a wheel ships the models, not their training data)."""
    path = models_dir() / "data"
    if not path.is_dir():
        raise MissingModelError(
            f"{path} not found: training needs a checkout of the repository (models/data/)")
    return path


def required(path: Path, what: str) -> Path:
    """`path`, or a MissingModelError saying what is missing and how to get it."""
    if not path.exists():
        raise MissingModelError(
            f"{what} not found: {path} (install monitor with its models, set "
            f"MONITOR_MODELS to a folder holding them, or train one with `monitor train`)")
    return path


def write_arrays(path: Path, arrays: dict[str, np.ndarray]) -> None:
    import skops.io as sio

    path.parent.mkdir(parents=True, exist_ok=True)
    # deflated: the vocabularies are fixed-width unicode arrays, mostly padding
    sio.dump(arrays, path, compression=zipfile.ZIP_DEFLATED, compresslevel=9)


def read_arrays(path: Path, expected: set[str]) -> dict[str, np.ndarray]:
    """The arrays of a model file; ValueError when it holds anything but `expected`."""
    parts = _plain_arrays(path)
    if parts is None:
        import skops.io as sio

        unknown = [t for t in sio.get_untrusted_types(file=path) if t not in TRUSTED_TYPES]
        if unknown:
            raise ValueError(f"{path}: refusing to load unexpected types {unknown}")
        parts = sio.load(path, trusted=TRUSTED_TYPES)
    if not isinstance(parts, dict) or set(parts) != expected:
        raise ValueError(f"{path}: not the expected model (parts {sorted(expected)})")
    return parts


def _plain_arrays(path: Path) -> dict | None:
    """The file's arrays read with numpy (allow_pickle=False) when it holds nothing but a
    dict of numpy arrays; None otherwise."""
    with zipfile.ZipFile(path) as archive:
        schema = json.loads(archive.read("schema.json"))
        content = schema.get("content") if schema.get("__loader__") == "DictNode" else None
        if not isinstance(content, dict) or not all(
                node.get("__loader__") == "NdArrayNode" and node.get("type") == "numpy"
                for node in content.values()):
            return None
        return {key: np.load(io.BytesIO(archive.read(node["file"])), allow_pickle=False)
                for key, node in content.items()}
