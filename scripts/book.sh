#!/usr/bin/env bash
# Build the book: set up .venv, vendor the JavaScript, execute every chapter afresh, write the HTML.
#   bash scripts/book.sh                         # laptop profile (the default)
#   CMMD_PROFILE=smoke bash scripts/book.sh      # seconds per chapter (CI)
#   CMMD_PROFILE=paper bash scripts/book.sh      # the paper's settings (meant for a GPU)
# Extra arguments go to `jupyter-book build`. Then: python scripts/check_book.py
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/env.sh
export CMMD_PROFILE="${CMMD_PROFILE:-laptop}"
# Plotly figures as HTML that draws them with the book's own plotly.js (book/_ext/static_pages.py
# strips the CDN tags plotly writes). Not "plotly_mimetype+...": myst-nb warns about the plotly JSON
# output it cannot show, which -W turns into an error. Explorers become plotly sliders over
# precomputed frames, which work in the static HTML (cmmd_lite.plotting.widget_or_static).
export PLOTLY_RENDERER="notebook_connected"
export CMMD_STATIC_FIGURES=1
unset MPLBACKEND  # a non-inline backend (e.g. Agg) makes matplotlib figures vanish from the outputs

bash scripts/vendor_js.sh

echo "Building the book with CMMD_PROFILE=$CMMD_PROFILE (every notebook is executed afresh)"
status=0
jupyter-book build --all -W --keep-going . "$@" || status=$?

# Per-notebook execution times, from myst-nb's record in the Sphinx environment.
python - <<'PY' || true
import pickle
from pathlib import Path

env_file = Path("_build/.doctrees/environment.pickle")
if env_file.is_file():
    env = pickle.loads(env_file.read_bytes())
    rows = sorted((doc, data["exec_data"]) for doc, data in getattr(env, "nb_metadata", {}).items()
                  if data.get("exec_data"))
    print("\nNotebook execution:")
    for doc, run in rows:
        state = "ok" if run.get("succeeded") else "FAILED"
        print(f"  {doc:<40} {run.get('runtime', float('nan')):7.1f} s  {state}")
    print(f"  {'total':<40} {sum(run.get('runtime', 0.0) for _, run in rows):7.1f} s")
PY

if [ "$status" -ne 0 ]; then
  echo "The book build failed (exit code $status); see the messages above." >&2
  exit "$status"
fi
echo
echo "HTML: $(pwd)/_build/html/index.html"
echo "Check it in a headless browser: .venv/bin/python scripts/check_book.py"
