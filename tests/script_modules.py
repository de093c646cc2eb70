"""The repository's scripts (``scripts/*.py``), loaded as modules by path for their tests (the training pipeline,
``training/``, is a package that tests import)."""

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

SCRIPTS = Path(__file__).resolve().parents[1] / "scripts"


def load_script(name: str) -> ModuleType:
    """``scripts/<name>.py`` as a fresh module named after the file, registered in ``sys.modules`` under that name
    (``doctest`` finds a module's tests through it: a copy imported earlier under that name would hide them)."""
    path = SCRIPTS / f"{name}.py"
    name = path.stem
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module
