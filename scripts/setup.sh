#!/usr/bin/env bash
# Create (or reuse) the virtual environment .venv and install cmmd_lite with its test and book extras.
# torch is installed first, alone, from requirements-dev.txt (see ../shared/notes/toolchain.md).
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
  "$PYTHON" -m venv .venv
fi
. .venv/bin/activate
export PIP_DISABLE_PIP_VERSION_CHECK=1
if ! python -c "import torch" 2>/dev/null; then
  python -m pip install -q -r requirements-dev.txt
fi
python -m pip install -q -e ".[test,book]"
python -c "import cmmd_lite, torch; print(f'cmmd_lite {cmmd_lite.__version__}, torch {torch.__version__}, python', __import__('sys').version.split()[0])"
