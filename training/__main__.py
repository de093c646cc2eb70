"""``python -m training``: rebuild the embedded tiny guard (see :mod:`training.cli`)."""

import os

import training

training.use_shipped_kernels()  # before torch loads

from training.cli import REPO, main  # noqa: E402

if __name__ == "__main__":  # spawned data-parallel ranks import this file without running it
    os.chdir(REPO)
    main()
