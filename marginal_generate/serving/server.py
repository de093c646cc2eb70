"""Serving the app with uvicorn: a socket bound before the model serves (``port`` 0: a free one, printed once the
server answers), and a graceful stop. SIGTERM or Ctrl+C stops accepting connections, tells the batcher to score
what is queued at once instead of waiting for batches to fill, and returns after every request in flight has
its answer.
"""

from __future__ import annotations

import asyncio
import signal
import socket
import threading
from collections.abc import Callable
from typing import Any

__all__ = ["bind", "serve"]


def bind(host: str, port: int) -> socket.socket:
    """A listening TCP socket on ``host``:``port`` (0: a port the system picks); ``OSError`` when it cannot be.

    >>> sock = bind("127.0.0.1", 0)
    >>> sock.getsockname()[1] > 0
    True
    >>> sock.close()
    """
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, port))
        sock.listen(2048)
    except OSError:
        sock.close()
        raise
    return sock


def serve(app: Any, sock: socket.socket, on_ready: Callable[[str], None], on_stop: Callable[[], None]) -> None:
    """Serve ``app`` on ``sock`` until SIGTERM or Ctrl+C; ``on_ready(url)`` once it answers, ``on_stop()`` (in the
    event loop) as soon as a stop is asked for, before the requests in flight are finished."""
    import uvicorn

    class Server(uvicorn.Server):
        loop: asyncio.AbstractEventLoop | None = None

        async def startup(self, sockets: Any = None) -> None:
            self.loop = asyncio.get_running_loop()
            await super().startup(sockets=sockets)
            if not self.should_exit:
                host, port = sock.getsockname()[:2]
                on_ready(f"http://{f'[{host}]' if ':' in host else host}:{port}")

        def handle_exit(self, sig: int, frame: Any) -> None:
            super().handle_exit(sig, frame)
            if self.loop is not None:
                self.loop.call_soon_threadsafe(on_stop)

    config = uvicorn.Config(app, log_level="info", access_log=False, timeout_graceful_shutdown=None)
    server = Server(config)
    # uvicorn raises the signal again once it has stopped; with these no-op handlers that ends nothing, and the
    # command returns its exit status itself
    main = threading.current_thread() is threading.main_thread()
    previous = {s: signal.signal(s, lambda *_: None) for s in (signal.SIGTERM, signal.SIGINT)} if main else {}
    try:
        server.run(sockets=[sock])
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler)
