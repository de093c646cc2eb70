"""Starting the page: offline launch settings, a free port, a background start (tests) and a blocking one."""

from __future__ import annotations

from typing import Any

from ..commands import free_port
from ..serving.server import bind
from .layout import CSS, theme

__all__ = ["launch_kwargs", "free_port", "launch_local", "serve"]


def launch_kwargs() -> dict[str, Any]:
    """``launch`` arguments that keep the page offline: no share link, no analytics, no remote fonts, no SSR node.

    >>> kwargs = launch_kwargs()
    >>> kwargs["share"], kwargs["ssr_mode"], kwargs["mcp_server"]
    (False, False, False)
    """
    return {"share": False, "theme": theme(), "css": CSS, "ssr_mode": False, "show_error": False, "mcp_server": False}


def launch_local(demo: Any, port: int | None = None, attempts: int = 3, host: str = "127.0.0.1") -> str:
    """Start ``demo`` on ``host`` (a free port unless ``port``) in a background thread; returns its URL.

    ``demo.close()`` stops it. Tests and notebooks use this; :func:`serve` blocks instead.
    """
    for attempt in range(attempts):
        try:
            _, url, _ = demo.launch(
                server_name=host,
                server_port=port or free_port(host),
                prevent_thread_lock=True,
                quiet=True,
                **launch_kwargs(),
            )
            return url
        except OSError:  # the free port was taken between the probe and the bind
            if port or attempt == attempts - 1:
                raise
    raise AssertionError("unreachable")


def serve(demo: Any, host: str, port: int | None) -> None:
    """Serve ``demo`` on ``host``:``port`` until Ctrl+C (``port`` 0: a free one; None: Gradio's choice,
    ``GRADIO_SERVER_PORT`` or 7860). Prints the URL on a line of its own once the page answers."""
    if port:  # the operator's port: taken, it is an OSError with its errno here, not Gradio's "empty port" search
        bind(host, port).close()
    if port is None:
        _, url, _ = demo.launch(server_name=host, prevent_thread_lock=True, quiet=True, **launch_kwargs())
    else:
        url = launch_local(demo, port or None, host=host)
    print(f"marginal-generate: the Space is at {url} (Ctrl+C stops it)", flush=True)
    demo.block_thread()  # returns after Ctrl+C, the server closed
