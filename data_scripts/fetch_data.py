"""Find, download and verify the datasets cmmd_lite uses; build the SVHN stand-in.

    python data_scripts/fetch_data.py status           # where each file is found (or not)
    python data_scripts/fetch_data.py download mnist svhn   # into the cache, md5-checked
    python data_scripts/fetch_data.py standin          # build the synthetic SVHN stand-in

Sources, in order: folders in CMMD_DATA_DIR (read-only), the cache (CMMD_CACHE_DIR), then
the official mirrors (unless CMMD_OFFLINE=1). Every file is checked against its official md5.
"""
from __future__ import annotations

import argparse
import sys

from cmmd_lite import paths
from cmmd_lite.data.files import DataFileError, RemoteFile, locate
from cmmd_lite.data.mnist import MNIST_FILES
from cmmd_lite.data.svhn import SVHN_FILES

DATASETS: dict[str, list[RemoteFile]] = {
    "mnist": [remote for pair in MNIST_FILES.values() for remote in pair],
    "svhn": list(SVHN_FILES.values()),
}


def status() -> int:
    print(f"data dirs (CMMD_DATA_DIR): {[str(p) for p in paths.data_dirs()] or 'none'}")
    print(f"cache (CMMD_CACHE_DIR):     {paths.cache_dir('data')}")
    print(f"downloads:                  {'off (CMMD_OFFLINE)' if paths.offline() else 'on'}")
    missing = 0
    for name, remotes in DATASETS.items():
        for remote in remotes:
            try:
                print(f"  ok       {name:5s} {locate(remote, download=False)}")
            except DataFileError as error:
                missing += 1
                print(f"  MISSING  {name:5s} {remote.name}: {str(error).splitlines()[0]}")
    if missing:
        print("Missing SVHN files mean the MNIST-SVHN chapters use the clearly labelled synthetic stand-in.")
    return 0


def download(names: list[str]) -> int:
    failed = 0
    for name in names:
        for remote in DATASETS[name]:
            try:
                print(f"ok: {locate(remote)}")
            except DataFileError as error:
                failed += 1
                print(f"FAILED: {error}", file=sys.stderr)
    return 1 if failed else 0


def standin() -> int:
    from cmmd_lite.data.svhn_standin import load_svhn_standin, standin_path
    for split in ("train", "test"):
        images, _ = load_svhn_standin(split)
        print(f"stand-in {split}: {len(images):,} images at {standin_path(split)}")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("status", help="where each dataset file is found")
    fetch = commands.add_parser("download", help="download and verify into the cache")
    fetch.add_argument("datasets", nargs="+", choices=sorted(DATASETS))
    commands.add_parser("standin", help="build the synthetic SVHN stand-in in the cache")
    args = parser.parse_args(argv)
    if args.command == "status":
        return status()
    if args.command == "download":
        return download(args.datasets)
    return standin()


if __name__ == "__main__":
    sys.exit(main())
