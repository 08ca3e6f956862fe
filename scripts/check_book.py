#!/usr/bin/env python3
"""Open every page of the built book in headless Chromium and check what a reader sees.

    .venv/bin/python scripts/check_book.py [--html _build/html] [--min-sliders 1] [--min-explorers 2]

The pages are served from a local http.server on 127.0.0.1, and every request that leaves it
is blocked, so the check shows what a reader without internet gets. Per page it checks:

* no JavaScript console errors, uncaught exceptions or failed requests;
* MathJax typeset every piece of math (an ``mjx-container`` inside each ``.math`` element) with
  no errors (``mjx-merror``) and no undefined macros (red text);
* every plotly figure is drawn (``.main-svg`` in each ``.plotly-graph-div``);
* every plotly slider is drawn, and clicking another of its steps changes the figure; an
  explorer has one slider each for omega, lambda and alpha, and each of the three is moved
  (``--min-explorers``: how many such figures the book must have);
* saved ipywidgets render, and no ipywidgets slider is left in the page (without a kernel it
  cannot change anything: build with scripts/book.sh, which makes plotly sliders instead);
* the Colab launch link points at a notebook that exists in the repository.

It also checks that the MathJax macros of _config.yml match the hidden macro cell of each
chapter. A screenshot of every page goes to _build/screenshots/. Exit code 0 when all is well,
1 when a check failed, 2 when Chromium or playwright is missing.

Chromium comes from the system (Debian: ``apt-get install -y chromium``) and is driven with the
``playwright`` Python package (``pip install playwright``); never ``playwright install``.
"""
from __future__ import annotations

import argparse
import functools
import http.server
import json
import re
import shutil
import sys
import tempfile
import threading
from pathlib import Path
from urllib.parse import urlparse

ROOT = Path(__file__).resolve().parent.parent
CHROMIUM_CANDIDATES = ("/usr/bin/chromium", "/usr/bin/chromium-browser", "/usr/bin/google-chrome")
CHROMIUM_FLAGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                  "--disable-sync", "--no-first-run"]
TIMEOUT_MS = 30_000
REDIRECT = re.compile(r'<meta http-equiv="Refresh" content="0; url=([^"]+)"', re.IGNORECASE)

# --- in-page probes (JavaScript) ------------------------------------------------------------------

WAIT_FOR_MATHJAX = """async () => {
  const math = document.querySelectorAll('.math');
  if (!math.length) return {math: 0};
  for (let i = 0; i < 300 && !(window.MathJax && MathJax.startup && MathJax.startup.promise); i++)
    await new Promise(r => setTimeout(r, 100));
  if (!(window.MathJax && MathJax.startup && MathJax.startup.promise)) return {math: math.length, loaded: false};
  await MathJax.startup.promise;
  const untypeset = [...math].filter(el => !el.querySelector('mjx-container')).map(el => el.textContent.slice(0, 60));
  const errors = [...document.querySelectorAll('mjx-merror')].map(el => el.textContent.slice(0, 80));
  // an undefined macro is shown as red text (MathJax's noundefined extension), not as an error
  document.querySelectorAll('mjx-container').forEach(box => {
    if (box.querySelector('mjx-mtext[style*="color: red"]')) {
      const red = box.querySelector('mjx-assistive-mml mtext[mathcolor="red"]');
      errors.push('undefined macro ' + (red ? red.textContent : '(red text)'));
    }
  });
  return {math: math.length, loaded: true, containers: document.querySelectorAll('mjx-container').length,
          untypeset, errors};
}"""

PLOTLY_STATE = """() => [...document.querySelectorAll('.plotly-graph-div')].map(gd => ({
  id: gd.id,
  drawn: !!gd.querySelector('.main-svg'),
  sliders: ((gd.layout || {}).sliders || []).length,
  drawnSliders: gd.querySelectorAll('.slider-group').length,  // one .slider-container holds them all
}))"""

# the traces' data, every attribute (a slider may change only colours, or an image's source), and the
# title, as a length and a hash of the whole text; not the SVG, which changes with the slider's own knob
FIGURE_SIGNATURE = """(id) => {
  const gd = document.getElementById(id);
  const digest = text => {
    let h = 0;
    for (let i = 0; i < text.length; i++) h = (Math.imul(h, 31) + text.charCodeAt(i)) | 0;
    return text.length + ':' + h;
  };
  const active = ((gd._fullLayout || {}).sliders || []).map(s => s.active);
  // the title too: a setting that a partial record lacks hides the traces and says so in the title
  const title = ((gd._fullLayout || {}).title || {}).text || '';
  const data = digest(JSON.stringify(gd.data || []) + title);
  return JSON.stringify({active, data});
}"""

WIDGET_STATE = """() => ({
  views: document.querySelectorAll('script[type="application/vnd.jupyter.widget-view+json"]').length,
  rendered: document.querySelectorAll('.jupyter-widgets, .widget-box, .widget-hprogress, .widget-inline-hbox').length,
  sliders: document.querySelectorAll('.widget-slider, .widget-hslider, .jupyter-widget-slider').length,
})"""


# --- helpers ----------------------------------------------------------------------------------------

class QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args) -> None:  # noqa: A002 - the base class's name
        pass


def serve(folder: Path) -> tuple[http.server.ThreadingHTTPServer, str]:
    handler = functools.partial(QuietHandler, directory=str(folder))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, f"http://127.0.0.1:{server.server_address[1]}"


def find_chromium(explicit: str | None) -> str | None:
    for candidate in ([explicit] if explicit else []) + list(CHROMIUM_CANDIDATES):
        if candidate and Path(candidate).exists():
            return candidate
    return shutil.which("chromium")


def pages_of(html: Path) -> list[Path]:
    skip = ("_static", "_sources", "_images", "_downloads")
    return sorted(p for p in html.rglob("*.html") if not p.relative_to(html).parts[0] in skip)


def check_macros(problems: list[str]) -> None:
    """The hidden macro cell of each chapter defines the macros of _config.yml, identically."""
    try:
        import yaml
    except ImportError:
        return
    config = yaml.safe_load((ROOT / "_config.yml").read_text())
    macros = config.get("sphinx", {}).get("config", {}).get("mathjax3_config", {}).get("tex", {}).get("macros", {})
    for notebook in sorted((ROOT / "book").glob("*.ipynb")):
        cells = json.loads(notebook.read_text())["cells"]
        text = "".join("".join(c["source"]) for c in cells if c["cell_type"] == "markdown"
                       and "remove-cell" in c.get("metadata", {}).get("tags", []))
        defined = dict(re.findall(r"\\newcommand\{\\(\w+)\}\{(.*?)\}\$", text))
        if defined != macros:
            missing = sorted(set(macros) - set(defined))
            differ = sorted(k for k in set(macros) & set(defined) if macros[k] != defined[k])
            problems.append(f"{notebook.relative_to(ROOT)}: its hidden macro cell does not match _config.yml "
                            f"(missing {missing}, different {differ}, extra {sorted(set(defined) - set(macros))})")


def check_colab_link(page, name: str, problems: list[str]) -> None:
    for href in page.eval_on_selector_all("a[href*='colab.research.google.com']", "els => els.map(e => e.href)"):
        match = re.search(r"/blob/[^/]+/(.+)$", href)
        if not match or not (ROOT / match.group(1)).is_file():
            problems.append(f"{name}: the Colab link {href} does not point at a file of this repository")


def check_page(page, url: str, name: str, shots: Path, report: dict) -> list[str]:
    problems: list[str] = []
    console: list[str] = []
    page.on("console", lambda msg: console.append(f"console.{msg.type}: {msg.text}") if msg.type == "error" else None)
    page.on("pageerror", lambda error: console.append(f"uncaught exception: {error}"))
    page.on("requestfailed", lambda req: console.append(f"request failed: {req.url} ({req.failure})"))
    page.on("response", lambda res: console.append(f"HTTP {res.status}: {res.url}") if res.status >= 400 else None)

    page.goto(url, wait_until="load", timeout=TIMEOUT_MS)

    math = page.evaluate(WAIT_FOR_MATHJAX)
    report["math"] = math.get("math", 0)
    if math.get("math"):
        if not math.get("loaded"):
            problems.append(f"{name}: the page has {math['math']} math elements but MathJax never started")
        else:
            for text in math["untypeset"][:5]:
                problems.append(f"{name}: math not typeset by MathJax: {text!r}")
            for text in math["errors"][:5]:
                problems.append(f"{name}: MathJax error: {text!r}")

    try:
        page.wait_for_function("() => [...document.querySelectorAll('.plotly-graph-div')]"
                               ".every(gd => gd.querySelector('.main-svg'))", timeout=TIMEOUT_MS)
    except Exception:  # noqa: BLE001 - reported below, figure by figure
        pass
    figures = page.evaluate(PLOTLY_STATE)
    report["plotly"] = len(figures)
    report["sliders"] = 0
    report["explorers"] = sum(1 for figure in figures if figure["sliders"] >= 3)  # omega, lambda, alpha
    for figure in figures:
        if not figure["drawn"]:
            problems.append(f"{name}: plotly figure {figure['id']} was not drawn (is plotly.js loaded?)")
            continue
        if figure["sliders"] and figure["drawnSliders"] < figure["sliders"]:
            problems.append(f"{name}: plotly figure {figure['id']} has {figure['sliders']} slider(s) but "
                            f"{figure['drawnSliders']} drawn")
            continue
        for index in range(figure["sliders"]):
            report["sliders"] += 1
            problem = move_slider(page, figure["id"], index)
            if problem:
                problems.append(f"{name}: {problem}")

    widgets = page.evaluate(WIDGET_STATE)
    report["widgets"] = widgets["views"]
    if widgets["views"] and not widgets["rendered"]:
        problems.append(f"{name}: {widgets['views']} saved ipywidget view(s) were not rendered "
                        "(require.js or the widget manager did not load)")
    if widgets["sliders"]:
        problems.append(f"{name}: {widgets['sliders']} ipywidgets slider(s) in a static page cannot change anything; "
                        "build with scripts/book.sh (CMMD_STATIC_FIGURES=1 makes plotly sliders instead)")

    check_colab_link(page, name, problems)
    shot = shots / (name.replace("/", "__").removesuffix(".html") + ".png")
    screenshot_whole_page(page, shot)
    report["screenshot"] = str(shot.relative_to(ROOT)) if shot.is_relative_to(ROOT) else str(shot)
    problems.extend(f"{name}: {line}" for line in console)
    return problems


def screenshot_whole_page(page, path: Path) -> None:
    """The whole page in one image. The viewport is made as tall as the page first: Playwright's
    ``full_page`` resizes it while capturing, which makes plotly re-layout mid-shot and the sticky
    header land in the middle of the image."""
    viewport = page.viewport_size
    page.evaluate("() => window.scrollTo(0, 0)")
    height = page.evaluate("() => document.documentElement.scrollHeight")
    page.set_viewport_size({"width": viewport["width"], "height": min(max(height, viewport["height"]), 20_000)})
    page.wait_for_timeout(800)  # plotly redraws responsive figures on resize
    page.screenshot(path=str(path))
    page.set_viewport_size(viewport)


def move_slider(page, figure_id: str, index: int) -> str | None:
    """Click a labelled step of slider ``index`` other than the active one; the figure must change.

    A dense slider labels only some of its steps, so the clicked label's text names the step."""
    before = page.evaluate(FIGURE_SIGNATURE, figure_id)
    slider = page.locator(f'[id="{figure_id}"] .slider-group').nth(index)
    labels = slider.locator(".slider-label-group")
    steps = page.evaluate("([id, i]) => document.getElementById(id)._fullLayout.sliders[i].steps.map(s => s.label)",
                          [figure_id, index])
    if labels.count() < 2 or len(steps) < 2:
        return f"plotly figure {figure_id}: slider {index} has {len(steps)} step(s)"
    active = json.loads(before)["active"][index] or 0
    choice = labels.count() - 1 if active != len(steps) - 1 else 0  # the last labelled step, or the first
    text = (labels.nth(choice).text_content() or "").strip()  # an SVG text: its lines run together
    plain = [re.sub(r"<[^>]+>", "", str(label)).strip() for label in steps]
    if text not in plain:
        return f"plotly figure {figure_id}: slider {index}: label {text!r} is none of its steps"
    target = plain.index(text)
    slider.scroll_into_view_if_needed()  # mouse clicks use viewport coordinates
    label_box = labels.nth(choice).bounding_box()
    rail_box = slider.locator(".slider-rail-touch-rect").bounding_box()
    if not label_box or not rail_box:
        return f"plotly figure {figure_id}: slider {index} has no clickable rail"
    page.mouse.click(label_box["x"] + label_box["width"] / 2, rail_box["y"] + rail_box["height"] / 2)
    page.wait_for_timeout(500)
    after = page.evaluate(FIGURE_SIGNATURE, figure_id)
    if json.loads(after)["active"][index] != target:
        return f"plotly figure {figure_id}: clicking step {target} ({text}) of slider {index} did not move it"
    if json.loads(after)["data"] == json.loads(before)["data"]:
        return f"plotly figure {figure_id}: moving slider {index} to step {target} did not change the figure"
    return None


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--html", type=Path, default=ROOT / "_build" / "html", help="the built HTML (default: %(default)s)")
    parser.add_argument("--screenshots", type=Path, default=ROOT / "_build" / "screenshots")
    parser.add_argument("--chromium", help="path to the Chromium executable (default: /usr/bin/chromium)")
    parser.add_argument("--min-sliders", type=int, default=1, help="fail unless the book has this many plotly sliders")
    parser.add_argument("--min-explorers", type=int, default=2,
                        help="fail unless the book has this many figures with three sliders (omega, lambda, alpha)")
    args = parser.parse_args(argv)

    chromium = find_chromium(args.chromium)
    if not chromium:
        print("Chromium was not found. Install the system package (never a downloaded browser):\n"
              "  Debian/Ubuntu: apt-get install -y chromium\n"
              "or name it with --chromium PATH.", file=sys.stderr)
        return 2
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        print("The playwright Python package is missing: .venv/bin/pip install playwright\n"
              "(it drives the system Chromium; do not run `playwright install`).", file=sys.stderr)
        return 2
    if not (args.html / "index.html").is_file():
        print(f"No built book in {args.html}: run  bash scripts/book.sh  first.", file=sys.stderr)
        return 1

    problems: list[str] = []
    check_macros(problems)
    shutil.rmtree(args.screenshots, ignore_errors=True)
    args.screenshots.mkdir(parents=True)
    server, base = serve(args.html)
    reports: dict[str, dict] = {}
    try:
        with tempfile.TemporaryDirectory(prefix="check-book-chromium-") as profile, sync_playwright() as playwright:
            context = playwright.chromium.launch_persistent_context(
                profile, executable_path=chromium, headless=True, args=CHROMIUM_FLAGS,
                viewport={"width": 1280, "height": 900})
            local = urlparse(base).netloc
            context.route("**/*", lambda route: route.continue_() if urlparse(route.request.url).netloc == local
                          or route.request.url.startswith(("data:", "blob:")) else route.abort("internetdisconnected"))
            for path in pages_of(args.html):
                name = path.relative_to(args.html).as_posix()
                redirect = REDIRECT.search(path.read_text(errors="replace"))
                if redirect:  # index.html: a redirect to the root page, which is checked on its own
                    reports[name] = {"redirect": redirect.group(1)}
                    if not (path.parent / redirect.group(1)).is_file():
                        problems.append(f"{name}: redirects to {redirect.group(1)}, which does not exist")
                    continue
                page = context.new_page()
                reports[name] = {}
                try:
                    problems += check_page(page, f"{base}/{name}", name, args.screenshots, reports[name])
                except Exception as error:  # noqa: BLE001 - a page that cannot be checked is a failure
                    problems.append(f"{name}: could not be checked: {type(error).__name__}: {error}")
                finally:
                    page.close()
            context.close()
    finally:
        server.shutdown()

    total_sliders = sum(r.get("sliders", 0) for r in reports.values())
    if total_sliders < args.min_sliders:
        problems.append(f"the book has {total_sliders} plotly slider(s); expected at least {args.min_sliders}")
    total_explorers = sum(r.get("explorers", 0) for r in reports.values())
    if total_explorers < args.min_explorers:
        problems.append(f"the book has {total_explorers} explorer(s) with three sliders; expected at least "
                        f"{args.min_explorers}")
    print(f"{'page':<42} {'math':>5} {'plotly':>6} {'sliders':>7} {'explorers':>9} {'widgets':>7}")
    for name, r in reports.items():
        if "redirect" in r:
            print(f"{name:<42} redirects to {r['redirect']}")
            continue
        print(f"{name:<42} {r.get('math', '-'):>5} {r.get('plotly', '-'):>6} {r.get('sliders', '-'):>7} "
              f"{r.get('explorers', '-'):>9} {r.get('widgets', '-'):>7}")
    print(f"screenshots: {args.screenshots}")
    if problems:
        print(f"\n{len(problems)} problem(s):", file=sys.stderr)
        for problem in problems:
            print(f"  - {problem}", file=sys.stderr)
        return 1
    print(f"\nAll {len(reports)} pages passed.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
