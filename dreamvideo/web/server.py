"""Serving a guarded app: the token policy, a socket that listens before the address is printed, the
address to open, and uvicorn run in the foreground (the studio) or on a thread (the live page)."""

from __future__ import annotations

import secrets
import socket
import threading
import time
from typing import Any, Literal

from dreamvideo.errors import ConfigError
from dreamvideo.web.guard import is_loopback


def new_token() -> str:
    return secrets.token_urlsafe(24)


def token_for(host: str, token: str | None = None, no_token: bool = False) -> str | None:
    """The token a page on ``host`` asks for: ``token``, a new random one, or none with ``no_token``, which
    only a loopback host allows."""
    if token is not None and no_token:
        raise ConfigError("--token and --no-token exclude each other; give one")
    if token is not None and len(token) < 8:
        raise ConfigError("--token needs at least 8 characters")
    if no_token and not is_loopback(host):
        raise ConfigError(f"--no-token is allowed only on a loopback host (127.0.0.1, ::1), not --host {host}; "
                          "keep the token")
    return None if no_token else token or new_token()


def listen(host: str, port: int = 0) -> socket.socket:
    """A socket listening on ``host``:``port`` (0: a free port)."""
    sock = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        raise ConfigError(f"cannot listen on {host}:{port} ({exc.strerror}); pick another --port or --host") from None
    sock.listen(128)
    return sock


def exposed(host: str) -> str | None:
    """The warning for a page listening beyond this machine (None on a loopback host)."""
    if is_loopback(host):
        return None
    return f"warning: listening on {host}: anyone on the network who has the token can reach the page"


def address(host: str, port: int, token: str | None) -> str:
    """The address to open: the page, with its token."""
    shown = "127.0.0.1" if host in ("0.0.0.0", "") else "[::1]" if host == "::" else \
        f"[{host}]" if ":" in host else host
    return f"http://{shown}:{port}/" + (f"?token={token}" if token else "")


class Server:
    """An app on ``host``:``port`` (0: a free one), listening from the start: ``address`` can be printed and
    opened at once. ``run()`` serves in the foreground until interrupted; ``start()`` on a thread, until
    ``stop()``. ``make_app(port)`` builds the app once the port is known (the guard checks it)."""

    def __init__(self, make_app: Any, host: str = "127.0.0.1", port: int = 0, token: str | None = None,
                 lifespan: Literal["on", "off"] = "off"):
        import uvicorn

        self.socket = listen(host, port)
        self.port = self.socket.getsockname()[1]
        self.address = address(host, self.port, token)
        config = uvicorn.Config(make_app(self.port), log_level="warning", access_log=False, lifespan=lifespan)
        self.server = uvicorn.Server(config)
        self.thread: threading.Thread | None = None

    def run(self) -> None:
        self.server.run(sockets=[self.socket])

    def start(self, timeout: float = 10.0) -> Server:
        self.thread = threading.Thread(target=self.run, name="dreamvideo-web", daemon=True)
        self.thread.start()
        deadline = time.monotonic() + timeout  # it already listens: this only waits for uvicorn's loop
        while not self.server.started and self.thread.is_alive() and time.monotonic() < deadline:
            time.sleep(0.01)
        return self

    def stop(self) -> None:
        self.server.should_exit = True
        if self.thread is not None:
            self.thread.join(timeout=5)
        self.socket.close()
