"""The optional libraries the integrations need, imported only when used, with an error that names the extra.

>>> require("json", "guardbench", "the GuardBench report").__name__
'json'
>>> require("no_such_module_here", "guardbench", "the GuardBench report")  # doctest: +ELLIPSIS
Traceback (most recent call last):
...
ImportError: the GuardBench report needs the no_such_module_here package: pip install 'marginal-generate[guardbench]'...
"""

from __future__ import annotations

import importlib
import importlib.util
from types import ModuleType

__all__ = ["missing_extra", "require", "check_installed"]


def missing_extra(module: str, extra: str, what: str, cause: BaseException | None = None) -> ImportError:
    """The one error for a missing optional library: what needs it, the package, and the extra that installs it."""
    reason = f" ({type(cause).__name__}: {cause})" if cause is not None else ""
    return ImportError(f"{what} needs the {module} package: pip install 'marginal-generate[{extra}]'{reason}.")


def require(module: str, extra: str, what: str) -> ModuleType:
    """``import module``, or :func:`missing_extra`'s ``ImportError`` when it cannot be imported."""
    try:
        return importlib.import_module(module)
    except ImportError as err:
        raise missing_extra(module, extra, what, err) from None


def check_installed(module: str, extra: str, what: str) -> None:
    """:func:`missing_extra`'s ``ImportError`` unless ``module`` can be found; it is not imported (GuardBench's import
    adds a log handler and sets environment variables, which a caller that only builds the callable does not need)."""
    if importlib.util.find_spec(module) is None:
        raise missing_extra(module, extra, what)
