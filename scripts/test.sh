#!/usr/bin/env bash
# Set up, then run the whole test suite (unit tests, and the real-MNIST laptop run when the mirror exists).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
. .venv/bin/activate
# The read-only MNIST mirror beside the checkout, when present (CI and these machines).
if [ -z "${CMMD_DATA_DIR:-}" ] && [ -d ../shared/data ]; then
  export CMMD_DATA_DIR="$(cd ../shared/data && pwd)"
fi
python -m pytest -q -p no:cacheprovider "$@"
