"""A stand-in for a second device on a CPU-only machine: float64 plays the GPU.

After :func:`install`, every model that ``train_or_load`` returns (trained or loaded) and the data
object it returns are cast to float64, and so is every coherence classifier. A tensor that reaches
one of them without going through the device path (``PairedData.for_model``, or ``.to(device,
dtype)`` of the model's parameters) is still float32 and meets float64 weights, which raises a
dtype error exactly where CUDA would raise "expected all tensors to be on the same device".

Used by ``tests/test_device_path.py`` (every ``reproduce`` target) and, through an IPython startup
file (:func:`write_ipython_startup`), by the chapters under nbval in ``scripts/test.sh``.
"""
from __future__ import annotations

import sys
from pathlib import Path

import torch

STANDIN_DTYPE = torch.float64


def _replace_everywhere(original, replacement, setattr_) -> None:
    """Point every ``cmmd_lite`` module attribute that holds ``original`` at ``replacement``."""
    for name, module in list(sys.modules.items()):
        if name == "cmmd_lite" or name.startswith("cmmd_lite."):
            for attr, value in list(vars(module).items()):
                if value is original:
                    setattr_(module, attr, replacement)


def install(setattr_=setattr) -> None:
    """Cast what ``train_or_load`` and ``modality_classifier`` return to float64, everywhere they
    are imported. ``setattr_``: pytest's ``monkeypatch.setattr`` to undo it after a test."""
    import cmmd_lite  # noqa: F401 - imports every module that re-exports train_or_load
    import cmmd_lite.ablation  # noqa: F401
    import cmmd_lite.coherence as coherence
    import cmmd_lite.reproduce  # noqa: F401 - so that its imported names are patched too
    import cmmd_lite.sweeps  # noqa: F401
    import cmmd_lite.train as train

    original_train_or_load = getattr(train.train_or_load, "__wrapped_original__", train.train_or_load)
    original_classifier = getattr(coherence.modality_classifier, "__wrapped_original__",
                                  coherence.modality_classifier)

    def train_or_load(*args, **kwargs):
        result = original_train_or_load(*args, **kwargs)
        result.model = result.model.to(STANDIN_DTYPE)
        result.data = result.data.to(dtype=STANDIN_DTYPE)
        return result

    def modality_classifier(*args, **kwargs):
        return original_classifier(*args, **kwargs).to(STANDIN_DTYPE)

    train_or_load.__wrapped_original__ = original_train_or_load
    modality_classifier.__wrapped_original__ = original_classifier
    _replace_everywhere(train.train_or_load, train_or_load, setattr_)
    _replace_everywhere(coherence.modality_classifier, modality_classifier, setattr_)


def write_ipython_startup(ipython_dir: Path) -> Path:
    """An IPython profile whose kernels run :func:`install` at start (point IPYTHONDIR at it)."""
    startup = Path(ipython_dir) / "profile_default" / "startup"
    startup.mkdir(parents=True, exist_ok=True)
    script = startup / "00-cmmd-device-standin.py"
    script.write_text(f"import sys\nsys.path.insert(0, {str(Path(__file__).resolve().parent)!r})\n"
                      "import device_standin\ndevice_standin.install()\n")
    return script


if __name__ == "__main__":  # python tests/device_standin.py IPYTHONDIR
    print(write_ipython_startup(Path(sys.argv[1])))
