"""The Llama Guard calibration study's table (Magazzù) (raw, +CC, +BC, +TS) from a `marginal-generate evaluate` output
directory.

    marginal-generate evaluate --strategies first_token --calibrate ts,cc,bc --output-dir out
    python scripts/seed2_table.py out            # p(unsafe) of first_token; --strategy to pick another

Reads the per-sample scores (`scores.jsonl`, with each sample's validation/test split) and the
content-free scores (`content_free.json`), then calls `marginal_generate.calibration_table`.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

import marginal_generate as mg


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("output_dir")
    parser.add_argument("--strategy", default="first_token")
    args = parser.parse_args()
    out = Path(args.output_dir)
    rows = [json.loads(line) for line in (out / "scores.jsonl").read_text().splitlines() if line.strip()]
    split = {name: [r for r in rows if r["split"] == name] for name in ("validation", "test")}
    p = {name: np.array([r["scores"][args.strategy][0] for r in rs]) for name, rs in split.items()}
    y = {name: np.array([r["unsafe"] for r in rs]) for name, rs in split.items()}
    content_free = np.array([row[0] for row in json.loads((out / "content_free.json").read_text())[args.strategy]])
    table = mg.calibration_table(
        p["validation"], y["validation"], p["test"], y["test"], content_free_scores=content_free, percent=True
    )
    print(f"{args.strategy} p(unsafe): {len(p['validation'])} validation, {len(p['test'])} test samples")
    print(table.to_string())
    print("fitted:", table.attrs.get("params"))


if __name__ == "__main__":
    main()
