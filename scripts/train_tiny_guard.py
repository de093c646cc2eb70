#!/usr/bin/env python
"""Rebuild the embedded tiny guard model: the entry point of the ``training`` package, with its flags and defaults.

    python scripts/train_tiny_guard.py            # the same as: python -m training
    python scripts/train_tiny_guard.py --help     # the recipe's options

The pipeline (data, encoding, model, loop, evaluation, card) is ``training/``; its data files and their card are in
``training/data/``.
"""

import os
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

import training  # noqa: E402

training.use_shipped_kernels()  # before torch loads

from training.cli import main  # noqa: E402

if __name__ == "__main__":  # spawned data-parallel ranks import this file without running it
    os.chdir(REPO)
    main()
