"""Sphinx extension: pages that work offline and log no JavaScript errors.

1. Notebook outputs must not load JavaScript off the internet.

plotly's notebook renderers (``notebook``, ``notebook_connected``) write, into every figure's
HTML, a ``<script src=...>`` for MathJax from cdnjs and (when connected) one for plotly.js from
cdn.plot.ly, and, once per notebook, an ``import`` of plotly.js from its CDN. The book already
serves both libraries from its own ``_static/js`` (``mathjax_path`` and ``html_js_files`` in
``_config.yml``), so these tags only add failing requests offline, a second MathJax online, and
a clash with require.js on pages that show widgets. This extension removes them from each page
body and warns (an error under ``-W``) when any other external script is left in a body.

2. Each inline script is written once. sphinx-thebe registers its inline configuration
(``const THEBE_JS_URL = ...``) with ``app.add_js_file(None, body=...)``; Sphinx 7.4 then lists
it twice (once as ``None``, once as ``''``), and the second ``const`` is a SyntaxError on every
page. Identical script entries are dropped here.
"""
from __future__ import annotations

import re
from typing import Any

from sphinx.application import Sphinx
from sphinx.util import logging

logger = logging.getLogger(__name__)

# <script src="https://cdnjs.cloudflare.com/ajax/libs/mathjax/3.2.2/es5/tex-svg.min.js"></script>
# <script charset="utf-8" src="https://cdn.plot.ly/plotly-4.1.1.min.js" integrity="..." crossorigin="anonymous"></script>
# <script type="module">import "https://cdn.plot.ly/plotly-4.1.1.min"</script>
CDN_SCRIPTS = re.compile(
    r'<script\b[^>]*\bsrc="https://(?:cdn\.plot\.ly/|cdnjs\.cloudflare\.com/ajax/libs/mathjax/)[^"]*"[^>]*>\s*</script>'
    r'|<script type="module">\s*import\s+"https://cdn\.plot\.ly/[^"]*"\s*;?\s*</script>')
EXTERNAL_SCRIPT = re.compile(r'<script\b[^>]*\bsrc="(https?:)?//[^"]*"|import\s+"https?://[^"]*"')


def strip_cdn_scripts(app: Sphinx, pagename: str, templatename: str, context: dict[str, Any], doctree: Any) -> None:
    body = context.get("body")
    if not body:
        return
    body, removed = CDN_SCRIPTS.subn("", body)
    if removed:
        logger.verbose("%s: removed %d CDN script tag(s) written by plotly's renderer", pagename, removed)
        context["body"] = body
    leftover = EXTERNAL_SCRIPT.search(body)
    if leftover:
        logger.warning("%s: a notebook output still loads a script from the internet (%s); "
                       "vendor it (scripts/vendor_js.sh) and strip it in book/_ext/static_pages.py",
                       pagename, leftover.group(0)[:120], type="cmmd", subtype="external_script")


def drop_duplicate_scripts(app: Sphinx, pagename: str, templatename: str, context: dict[str, Any],
                           doctree: Any) -> None:
    scripts = context.get("script_files")
    if not scripts:
        return
    seen, unique = set(), []
    for script in scripts:
        key = (getattr(script, "filename", script) or "", getattr(script, "priority", 0),
               tuple(sorted(getattr(script, "attributes", {}).items())))
        if key not in seen:
            seen.add(key)
            unique.append(script)
    if len(unique) < len(scripts):
        context["script_files"] = unique  # a new list: the builder's own is restored after each page


def setup(app: Sphinx) -> dict[str, Any]:
    app.connect("html-page-context", strip_cdn_scripts)
    # late, after myst-nb has added its per-page scripts (require.js, the widget manager)
    app.connect("html-page-context", drop_duplicate_scripts, priority=900)
    return {"version": "1.0", "parallel_read_safe": True, "parallel_write_safe": True}
