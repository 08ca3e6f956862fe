"""Write the first code cell of every chapter (the Colab setup cell) from one template.

    python scripts/sync_chapter_setup.py           # rewrite the cell in every book/NN_*.ipynb
    python scripts/sync_chapter_setup.py --check   # exit 1, naming the chapters whose cell differs

The cell is the same in every chapter but for a comment block saying what the chapter downloads
and trains and how long it takes (:data:`CHAPTERS`). On Colab it installs the package when it is
missing, from ``cmmd-lite @ git+<url>@<PIN>``: the repository url of ``_config.yml``
(``repository: url:``) and the tag :data:`PIN`. To publish elsewhere, change the url in
``_config.yml`` (and PIN here), then rerun this script. Anywhere else the cell changes nothing.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CHAPTER_GLOB = "book/[0-9][0-9]_*.ipynb"

#: The tag that Colab installs (the project is not published yet: see the README's Colab section).
PIN = "v0.1.0"

_MNIST = "MNIST (about 11 MB)"
_SVHN = ("SVHN (about 245 MB, from ufldl.stanford.edu; where that fails a synthetic stand-in is "
         "generated instead)")

#: chapter -> (what it downloads and trains, laptop-profile seconds of the whole chapter on the
#: project's 2-core CPU, from the table "execution time per chapter" of benchmarks/RESULTS.md).
CHAPTERS: dict[str, tuple[str, int]] = {
    "01_missing_modalities": (f"downloads {_MNIST} and trains nothing.", 14),
    "02_elbo_conditional_prior": (
        f"downloads {_MNIST} and trains one model (the ELBO, omega = 1; 8 epochs).", 101),
    "03_information_and_collapse": (
        f"downloads {_MNIST} and trains CMMD at omega = 0, 0.5 and 1 (8 epochs each); the omega = 1 "
        "model is chapter 2's, loaded when the cache holds it (as when the time was measured).", 178),
    "04_mmd_objective": (
        f"downloads {_MNIST} and trains five settings of (omega, lambda, alpha), 8 epochs each; three "
        "are chapter 3's, loaded when the cache holds them (as when the time was measured).", 191),
    "05_mnist_to_svhn": (
        f"downloads {_MNIST} and {_SVHN}, and trains five MNIST-to-SVHN models (10,000 pairs, 5 epochs "
        "each). The time was measured with the stand-in.", 213),
    "06_collapse_across_models": (
        f"downloads {_MNIST} and trains CMMD, VCCA, MVAE, MMVAE and M-x_o (20,000 pairs, 3 epochs "
        "each).", 118),
    "07_three_modalities": (
        f"downloads {_MNIST} and {_SVHN}, and trains CMMD and M-x_o for each of two observed sets "
        "(10,000 triples, 3 epochs each). The time was measured with the stand-in.", 91),
    "08_paper_vs_reference_code": (
        f"downloads {_MNIST} and trains six variants of CMMD (the paper's text, the reference code and "
        "four one-switch changes; 2 epochs each).", 113),
}

TEMPLATE = '''\
# Colab setup. On Colab: install cmmd_lite when it is missing and, if you switch it on, keep the
# cache on Google Drive. Anywhere else this cell changes nothing (`bash scripts/setup.sh`
# installs cmmd_lite into .venv). Written by scripts/sync_chapter_setup.py: edit it there.
#
{about}
USE_DRIVE_CACHE = False  # True: keep downloads and trained models on Google Drive between sessions

import importlib.util
import os
import subprocess
import sys

if "google.colab" in sys.modules:
    if importlib.util.find_spec("cmmd_lite") is None:
        url, pin = "{url}", "{pin}"
        spec = f"cmmd-lite @ git+{{url}}@{{pin}}"
        try:
            subprocess.run([sys.executable, "-m", "pip", "install", "-q", spec], check=True)
        except subprocess.CalledProcessError as error:
            raise RuntimeError(
                f"The install of {{spec!r}} failed. The project must be published at {{url}} with the "
                f"tag {{pin}} (see the README's Colab section). To install from a local clone instead, "
                "copy the clone to Google Drive, run `!pip install /content/drive/MyDrive/cmmd_lite` "
                "(its path there) and rerun this cell.") from error
    if USE_DRIVE_CACHE:
        from google.colab import drive
        drive.mount("/content/drive")
        os.environ.setdefault("CMMD_CACHE_DIR", "/content/drive/MyDrive/cmmd_lite_cache")'''


BOOK_TAG = "hide-input"


def repository_url(config: Path = ROOT / "_config.yml") -> str:
    """``repository: url:`` of the Jupyter Book config (a two-level YAML key, read line by line)."""
    in_repository = False
    for line in config.read_text().splitlines():
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        if not line[0].isspace():
            in_repository = line.split("#", 1)[0].strip() == "repository:"
        elif in_repository and line.strip().startswith("url:"):
            return line.split("url:", 1)[1].split(" #", 1)[0].strip().strip("\"'").rstrip("/")
    raise SystemExit(f"{config} has no `repository: url:`")


def install_spec(url: str | None = None, pin: str = PIN) -> str:
    """What the cell gives pip on Colab: ``cmmd-lite @ git+<url>@<pin>``."""
    return f"cmmd-lite @ git+{url or repository_url()}@{pin}"


def _wrap(text: str, width: int = 96) -> list[str]:
    lines, line = [], "#"
    for word in text.split():
        if len(line) + 1 + len(word) > width and line != "#":
            lines.append(line)
            line = "#"
        line += " " + word
    return [*lines, line]


def cell_source(chapter: str, url: str | None = None) -> str:
    """The first code cell of ``chapter`` (a notebook's name without ``.ipynb``)."""
    if chapter not in CHAPTERS:
        raise SystemExit(f"scripts/sync_chapter_setup.py: add {chapter!r} to CHAPTERS")
    what, seconds = CHAPTERS[chapter]
    about = _wrap(f"This chapter {what} Epochs and sizes are the laptop profile's (the default); "
                  f"it took about {seconds} s on a 2-core CPU (benchmarks/RESULTS.md), not yet measured "
                  "on a GPU.")
    return TEMPLATE.format(about="\n".join(about), url=url or repository_url(), pin=PIN)


def chapters(root: Path = ROOT) -> list[Path]:
    return sorted(root.glob(CHAPTER_GLOB))


def _first_code_cell(notebook: dict, path: Path) -> dict:
    for cell in notebook["cells"]:
        if cell["cell_type"] == "code":
            return cell
    raise SystemExit(f"{path} has no code cell")


def sync(check: bool = False, root: Path = ROOT) -> list[Path]:
    """Rewrite (or, with ``check``, only compare) the first code cell; returns the differing chapters."""
    url = repository_url(root / "_config.yml")
    differing = []
    for path in chapters(root):
        notebook = json.loads(path.read_text())
        cell = _first_code_cell(notebook, path)
        source = cell_source(path.stem, url)
        tags = cell.get("metadata", {}).get("tags", [])
        if "".join(cell["source"]) == source and BOOK_TAG in tags:
            continue
        differing.append(path)
        if not check:
            cell["source"] = source.splitlines(keepends=True)
            # collapsed behind "Show code" in the rendered book; Colab shows every cell as it is
            cell.setdefault("metadata", {})["tags"] = [BOOK_TAG] + [t for t in tags if t != BOOK_TAG]
            # nbformat's own layout, so nbstripout leaves the file as it is
            path.write_text(json.dumps(notebook, sort_keys=True, indent=1, ensure_ascii=False) + "\n")
    return differing


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--check", action="store_true", help="change nothing; exit 1 if a chapter's cell differs")
    args = parser.parse_args(argv)
    differing = sync(check=args.check)
    names = ", ".join(path.name for path in differing)
    if args.check:
        if differing:
            print(f"first code cell differs from scripts/sync_chapter_setup.py in: {names}\n"
                  "run: python scripts/sync_chapter_setup.py", file=sys.stderr)
            return 1
        print(f"all {len(chapters())} chapters have the current setup cell")
        return 0
    print(f"rewrote the setup cell of: {names}" if differing else "every chapter was up to date")
    return 0


if __name__ == "__main__":
    sys.exit(main())
