"""The marginal-generate Space (the Hub runs this file): every category's confidence from a guard model's own decoding.

    python spaces/app.py                       # the embedded tiny guard, offline, http://127.0.0.1:7860
    MODEL_ID=meta-llama/Llama-Guard-3-8B python spaces/app.py
    CALIBRATOR=calibrator.json python spaces/app.py

The environment variables (README.md beside this file) and the flags of ``marginal-generate space`` work here
alike; the page itself lives in the package, :mod:`marginal_generate.space`.
"""

import os
import sys

try:
    import marginal_generate  # noqa: F401
except ImportError:  # `python spaces/app.py` from a source checkout that is not installed
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from marginal_generate.space.command import main  # noqa: E402

if __name__ == "__main__":
    sys.exit(main())
