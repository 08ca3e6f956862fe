#!/usr/bin/env bash
# Vendor the JavaScript the built book needs, so that its pages work offline:
#   MathJax 3 (equations), require.js + @jupyter-widgets/html-manager (saved ipywidgets state),
#   plotly.min.js (copied from the installed plotly package, so it matches the Python side).
# Everything goes into book/_assets/js/ (git-ignored; _config.yml serves book/_assets as static
# files, so the pages load them from _static/js/). npm's own files stay in the dot folder
# book/_assets/js/.npm/, which Sphinx never copies. Idempotent: a stamp file records what is
# there, and a second run with the same versions returns at once.
set -euo pipefail
cd "$(dirname "$0")/.."

MATHJAX_VERSION=3.2.2
REQUIREJS_VERSION=2.3.8
HTML_MANAGER_VERSION=1.0.15   # the 1.x line renders the widget state of ipywidgets 8
PYTHON=${PYTHON:-.venv/bin/python}
[ -x "$PYTHON" ] || PYTHON=python3

DEST=book/_assets/js
NPM_PREFIX=$DEST/.npm
STAMP=$DEST/VERSIONS

plotly_js=$("$PYTHON" -c "import plotly, pathlib; print(pathlib.Path(plotly.__file__).parent / 'package_data' / 'plotly.min.js')")
plotly_version=$("$PYTHON" -c "import plotly; print(plotly.__version__)")
want="mathjax=$MATHJAX_VERSION requirejs=$REQUIREJS_VERSION html-manager=$HTML_MANAGER_VERSION plotly.py=$plotly_version"

if [ -f "$STAMP" ] && [ "$(cat "$STAMP")" = "$want" ] && [ -f "$DEST/mathjax/tex-chtml.js" ] \
   && [ -f "$DEST/require.js" ] && [ -f "$DEST/html-manager/embed-amd.js" ] && [ -f "$DEST/plotly.min.js" ]; then
  echo "vendor_js: $DEST is up to date ($want)"
  exit 0
fi

if ! command -v npm >/dev/null 2>&1; then
  echo "vendor_js: npm is needed to fetch MathJax, require.js and the widget manager." >&2
  echo "  Debian/Ubuntu: apt-get install -y npm   (or install Node.js from nodejs.org)" >&2
  exit 1
fi
[ -f "$plotly_js" ] || { echo "vendor_js: $plotly_js is missing; is plotly installed?" >&2; exit 1; }

echo "vendor_js: fetching $want into $DEST"
mkdir -p "$NPM_PREFIX"
[ -f "$NPM_PREFIX/package.json" ] || echo '{"private": true}' > "$NPM_PREFIX/package.json"
npm install --prefix "$NPM_PREFIX" --no-audit --no-fund --loglevel=error --save-exact \
  "mathjax@$MATHJAX_VERSION" "requirejs@$REQUIREJS_VERSION" "@jupyter-widgets/html-manager@$HTML_MANAGER_VERSION"
modules=$NPM_PREFIX/node_modules

# MathJax: the tex-chtml component plus what it loads on demand (TeX extensions, fonts, menu,
# accessibility); the other combined components are left out.
rm -rf "$DEST/mathjax"
mkdir -p "$DEST/mathjax"
cp "$modules/mathjax/es5/tex-chtml.js" "$DEST/mathjax/"
for part in input output ui a11y sre adaptors; do
  cp -r "$modules/mathjax/es5/$part" "$DEST/mathjax/"
done
cp "$modules/mathjax/LICENSE" "$DEST/mathjax/LICENSE"

cp "$modules/requirejs/require.js" "$DEST/require.js"

# The widget manager: the AMD bundles and the font files they reference (no source maps).
rm -rf "$DEST/html-manager"
mkdir -p "$DEST/html-manager"
find "$modules/@jupyter-widgets/html-manager/dist" -maxdepth 1 -type f ! -name '*.map' ! -name 'embed.js*' \
  -exec cp {} "$DEST/html-manager/" \;

cp "$plotly_js" "$DEST/plotly.min.js"

echo "$want" > "$STAMP"
echo "vendor_js: done ($(du -sh "$DEST" --exclude=.npm | cut -f1) served from $DEST)"
