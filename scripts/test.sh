#!/usr/bin/env bash
# Set up, then run every check: unit tests, the real-MNIST laptop run (when the mirror exists),
# the book's chapters under nbval, notebooks stored without outputs, and the built book in a browser.
# Chapters run in the smoke profile here; `bash scripts/book.sh` builds them in the laptop profile.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/env.sh
export CMMD_OFFLINE="${CMMD_OFFLINE:-1}"

echo "== notebooks are stored without outputs"
nbstripout --verify book/*.ipynb

echo "== unit tests, real-MNIST run, chapters (nbval, smoke profile)"
CMMD_PROFILE=smoke python -m pytest -q -p no:cacheprovider --nbval-lax --nbval-current-env tests book "$@"

echo "== the built book in headless Chromium (smoke profile)"
if ! command -v chromium >/dev/null 2>&1 && [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
  (apt-get update -qq && apt-get install -y -qq chromium >/dev/null) || echo "could not install chromium"
fi
if command -v chromium >/dev/null 2>&1; then
  CMMD_PROFILE=smoke bash scripts/book.sh >/tmp/cmmd-book-build.log 2>&1 || { tail -50 /tmp/cmmd-book-build.log; exit 1; }
  python scripts/check_book.py
else
  echo "SKIPPED: chromium is not installed (apt-get install -y chromium), so the built book was not checked."
fi
