"""Rewrite committed sweep records with their t-SNE encoded (cmmd_lite.sweeps.compact_points), checking
that every entry decodes to the coordinates it held and that nothing else changed.

    python scripts/compact_sweep_records.py results/sweeps/*.json
"""
import copy
import json
import sys

import numpy as np

from cmmd_lite.sweeps import compact_points, decode_points, load_record
from cmmd_lite.store import write_json

for path in sys.argv[1:]:
    before = load_record(path)
    after = compact_points(copy.deepcopy(before))
    for key, entry in before["settings"].items():
        new = after["settings"][key]
        assert {k: v for k, v in entry.items() if k != "tsne"} == {k: v for k, v in new.items() if k != "tsne"}
        for side, points in entry.get("tsne", {}).items():
            assert np.array_equal(decode_points(points), decode_points(new["tsne"][side])), (path, key, side)
    assert {k: v for k, v in before.items() if k != "settings"} == {k: v for k, v in after.items() if k != "settings"}
    write_json(path, after, compact=True)
    load_record(path)
    print(path, len(json.dumps(before)), "->", len(json.dumps(after)))
