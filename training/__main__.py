"""``python -m training``: rebuild the embedded tiny guard (see :mod:`training.cli`)."""

import os

from training.cli import REPO, main

if __name__ == "__main__":  # spawned data-parallel ranks import this file without running it
    os.chdir(REPO)
    main()
