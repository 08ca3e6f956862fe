#!/usr/bin/env bash
# Set up, then run every check: unit tests with a reduced real-MNIST run (when the mirror exists),
# the book's chapters under nbval, notebooks stored without outputs, and the built book in a browser.
# Chapters run in the smoke profile here; `bash scripts/book.sh` builds them in the laptop profile.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/env.sh
export CMMD_OFFLINE="${CMMD_OFFLINE:-1}"

echo "== notebooks are stored without outputs"
nbstripout --verify book/*.ipynb

echo "== unit tests and the real-MNIST run (each test session gets an empty cache: tests/conftest.py)"
CMMD_PROFILE=smoke python -m pytest -q -p no:cacheprovider tests "$@"

# The chapters train into one cache that the book build below reuses, so the build executes every
# notebook afresh but loads the checkpoints trained here instead of training them twice.
export CMMD_CACHE_DIR="${CMMD_CACHE_DIR:-$(pwd)/.cache/ci-smoke}"
# The kernels run with the device stand-in (tests/device_standin.py): every model and data object that
# train_or_load returns is float64, so a tensor that skips the device path fails as it would on a GPU.
# The book build below executes the same chapters again without it.
standin_ipython="$(mktemp -d)"
python tests/device_standin.py "$standin_ipython" >/dev/null
echo "== chapters under nbval (smoke profile, device stand-in, cache $CMMD_CACHE_DIR)"
timings=""
for notebook in book/*.ipynb; do
  started="$(date +%s)"
  IPYTHONDIR="$standin_ipython" CMMD_PROFILE=smoke python -m pytest -q -p no:cacheprovider --nbval-lax --nbval-current-env "$notebook" "$@"
  timings="$timings  $notebook: $(( $(date +%s) - started )) s\n"
done
printf "Chapter times under nbval (smoke profile):\n$timings"

echo "== the built book in headless Chromium (smoke profile)"
if ! command -v chromium >/dev/null 2>&1 && [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
  (apt-get update -qq && apt-get install -y -qq chromium >/dev/null) || echo "could not install chromium"
fi
if command -v chromium >/dev/null 2>&1; then
  CMMD_PROFILE=smoke bash scripts/book.sh >/tmp/cmmd-book-build.log 2>&1 || { tail -50 /tmp/cmmd-book-build.log; exit 1; }
  sed -n '/Notebook execution:/,/total/p' /tmp/cmmd-book-build.log
  python scripts/check_book.py
else
  echo "SKIPPED: chromium is not installed (apt-get install -y chromium), so the built book was not checked."
fi
