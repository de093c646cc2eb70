"""What the server commands (``serve``, ``space``) share: argparse types, the extra's check, the one-line error.

Each command's problem (a missing extra, a bad flag, a model that cannot be loaded, a port in use) is one line on
stderr, ``marginal-generate: error: ...``, and exit status 2.

>>> port("0"), port("8000")
(0, 8000)
>>> names(" any_place, greedy ,")
['any_place', 'greedy']
>>> at_least_one = number(int, 1, "a whole number of at least 1")
>>> at_least_one("16")
16
>>> at_least_one("0")
Traceback (most recent call last):
argparse.ArgumentTypeError: '0' is not a whole number of at least 1
"""

from __future__ import annotations

import argparse
import errno
import socket
import sys
from collections.abc import Callable, Sequence
from typing import Any

__all__ = [
    "port",
    "number",
    "search_budget_gb",
    "names",
    "free_port",
    "missing_modules",
    "cannot_serve",
    "fail",
    "add_subcommand",
    "standalone_parser",
]


def port(text: str) -> int:
    """An argparse type: a TCP port, 0 to 65535 (0: a free one).

    >>> port("65536")
    Traceback (most recent call last):
    argparse.ArgumentTypeError: '65536' is not a port; give 0 to 65535 (0: a free one)
    """
    try:
        value = int(text)
    except ValueError:
        value = -1
    if not 0 <= value <= 65535:
        raise argparse.ArgumentTypeError(f"{text!r} is not a port; give 0 to 65535 (0: a free one)")
    return value


def number(kind: type, least: float, what: str) -> Callable[[str], Any]:
    """An argparse type: ``kind`` (int or float) of at least ``least``, finite, else the message ``'TEXT' is not WHAT``.

    >>> number(float, 0, "a wait in milliseconds; give 0 or more")("inf")
    Traceback (most recent call last):
    argparse.ArgumentTypeError: 'inf' is not a wait in milliseconds; give 0 or more
    """

    def parse(text: str) -> Any:
        try:
            value = kind(text)
        except ValueError:
            value = None
        if value is None or not least <= value < float("inf"):
            raise argparse.ArgumentTypeError(f"{text!r} is not {what}")
        return value

    return parse


def search_budget_gb(text: str | None) -> float | None:
    """``--search-budget-gb``: the tree search's memory budget in GB (``inf``: no limit), or None when the flag is
    absent (the memory free on the model's device); a ``ValueError`` of one line otherwise. Not an argparse type,
    so that the CLI says it in one line, exit status 2, without the usage.

    >>> search_budget_gb("2.5"), search_budget_gb("inf"), search_budget_gb(None)
    (2.5, inf, None)
    >>> search_budget_gb("0")
    Traceback (most recent call last):
    ValueError: --search-budget-gb '0' is not a number of GB above 0; give e.g. 4, inf for no limit, or leave it out for the memory free on the model's device.
    """  # noqa: E501
    if text is None:
        return None
    try:
        value = float(text)
    except ValueError:
        value = float("nan")
    if not value > 0:
        raise ValueError(
            f"--search-budget-gb {text!r} is not a number of GB above 0; give e.g. 4, inf for no limit, or leave it "
            "out for the memory free on the model's device."
        )
    return value


def names(text: str) -> list[str]:
    """An argparse type: comma-separated names, stripped, the empty ones dropped."""
    return [t.strip() for t in text.split(",") if t.strip()]


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port that is free on ``host`` now (the system's pick for port 0), for a server or a test's rendezvous.

    Another process may take it before the caller binds it: callers retry on "address already in use".

    >>> 0 < free_port() < 65536
    True
    """
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


def missing_modules(modules: Sequence[str], what: str, install_hint: str) -> str | None:
    """``None`` when every module imports, else the one-line reason (``WHAT needs MODULE``) and the install command.

    >>> missing_modules(["json"], "serve", "pip install x") is None
    True
    >>> missing_modules(["json", "no_such_module_here"], "serve", 'pip install "marginal-generate[serve]"')
    'serve needs no_such_module_here, which is not installed: pip install "marginal-generate[serve]"'
    """
    for module in modules:
        try:
            __import__(module)
        except ImportError:
            return f"{what} needs {module}, which is not installed: {install_hint}"
    return None


def cannot_serve(host: str, port: int | None, err: OSError) -> str:
    """The one line for a server that cannot bind: the port is taken, or the host is not this machine's; it ends
    with what to do.

    >>> cannot_serve("127.0.0.1", 80, PermissionError(errno.EACCES, "Permission denied"))  # doctest: +ELLIPSIS
    'cannot serve on --host 127.0.0.1 --port 80: [Errno 13] Permission denied; pass a --port from 1024 up, ...'
    >>> cannot_serve("127.0.0.1", 8000, OSError(errno.EADDRINUSE, "Address already in use"))  # doctest: +ELLIPSIS
    '... [Errno 98] Address already in use; stop what listens there, or pass another --port (0: a free one).'
    """
    fixes = {
        errno.EADDRINUSE: "stop what listens there, or pass another --port (0: a free one)",
        errno.EACCES: "pass a --port from 1024 up, or 0 for a free one (lower ports need privileges)",
        errno.EADDRNOTAVAIL: "pass an address of this machine as --host (127.0.0.1, or 0.0.0.0 for every one)",
    }
    fix = fixes.get(err.errno, "pass another --host or --port")
    return f"cannot serve on --host {host} --port {port}: {err}; {fix}."


def fail(problem: str) -> int:
    """Print ``marginal-generate: error: PROBLEM`` on stderr; returns the exit status, 2."""
    print(f"marginal-generate: error: {problem}", file=sys.stderr)
    return 2


def add_subcommand(
    sub: Any, name: str, help: str, install_hint: str, add_arguments: Callable[[argparse.ArgumentParser], None]
) -> None:
    """Register command ``name`` on the CLI's subparsers, its description saying what to install first."""
    add_arguments(sub.add_parser(name, help=help, description=f"{help}; {install_hint} first."))


def standalone_parser(
    prog: str, help: str, add_arguments: Callable[[argparse.ArgumentParser], None]
) -> argparse.ArgumentParser:
    """A command's parser on its own (``marginal-generate serve`` run as its own program)."""
    parser = argparse.ArgumentParser(prog=prog, description=help)
    add_arguments(parser)
    return parser
