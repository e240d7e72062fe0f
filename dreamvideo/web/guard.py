"""What stands between the studio and every other website, host name and user: an ASGI middleware that
checks each request, WebSockets included, before anything of it is read.

- **Host allow-list.** Only 127.0.0.1, localhost, [::1] (with any port) and the name the studio listens
  on; anything else is 403, which defeats DNS rebinding (a hostile name resolving to 127.0.0.1).
- **Token.** A random one by default. ``/?token=T`` swaps it for an HttpOnly, SameSite=Strict cookie and
  takes it out of the address bar; scripts send ``Authorization: Bearer T``. Compared in constant time.
  Without it: 401 (a wrong one: 403).
- **Same origin for unsafe methods.** Only GET, HEAD and OPTIONS are safe; anything else (and every
  WebSocket) needs the studio's own ``Origin``: a missing or wrong one, ``Origin: null`` or
  ``Sec-Fetch-Site: cross-site`` is 403, cookie or not. A request authenticated by its Bearer header cannot
  come from another page (no page can set that header without CORS, which the studio never grants), so it
  may come without an Origin, as curl sends it. The page's own requests carry ``X-Dreamvideo: 1`` as well.
- **Body size.** A ``Content-Length`` over the limit is 413 before the body is read; a chunked body is cut
  at the limit.
- **Headers.** Every response has ``X-Content-Type-Options: nosniff``, a Content-Security-Policy
  (``default-src 'self'``, ``frame-ancestors 'none'``) and no referrer.
"""

from __future__ import annotations

import hmac
import json
import socket
from collections.abc import Iterable
from urllib.parse import parse_qsl, urlencode

from starlette.datastructures import Headers
from starlette.types import ASGIApp, Message, Receive, Scope, Send

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
LOOPBACK = frozenset({"127.0.0.1", "localhost", "::1"})
WILDCARDS = frozenset({"0.0.0.0", "::", ""})
PAGE_HEADER = "x-dreamvideo"  # the page's own requests carry it
CSP = ("default-src 'self'; img-src 'self' blob: data:; media-src 'self' blob:; "
       "frame-ancestors 'none'; base-uri 'none'; form-action 'self'")
SECURITY_HEADERS = [(b"x-content-type-options", b"nosniff"), (b"content-security-policy", CSP.encode()),
                    (b"x-frame-options", b"DENY"), (b"referrer-policy", b"no-referrer"),
                    (b"cross-origin-opener-policy", b"same-origin"), (b"cross-origin-resource-policy", b"same-origin")]
MAX_BODY = 1024**2  # bytes of any request body but an upload's


def is_loopback(host: str) -> bool:
    return host.strip("[]").lower() in LOOPBACK or host.startswith("127.")


def allowed_hosts(host: str) -> frozenset[str]:
    """The host names a studio listening on ``host`` answers to: the loopback names, the name it listens on,
    and, listening on every interface, this machine's own names and addresses."""
    names = set(LOOPBACK)
    bare = host.strip("[]").lower()
    if bare in WILDCARDS:
        name = socket.gethostname()
        names |= {name.lower(), socket.getfqdn().lower()}
        try:
            names |= {str(info[4][0]).lower() for info in socket.getaddrinfo(name, None)}
        except OSError:
            pass
    else:
        names.add(bare)
    return frozenset(names)


def host_name(header: str | None) -> str | None:
    """The name of a Host header (``name``, ``name:port``, ``[v6]`` or ``[v6]:port``), lower case; None when
    it is not one."""
    if not header or any(c in header for c in " /@\\,"):
        return None
    if header.startswith("["):
        end = header.find("]")
        rest = header[end + 1:]
        if end < 0 or (rest and not (rest.startswith(":") and rest[1:].isdigit())):
            return None
        return header[1:end].lower()
    name, sep, port = header.partition(":")
    if sep and not port.isdigit():
        return None
    return name.lower() or None


class TooLarge(Exception):
    pass


class Guard:
    """The studio's guard, around its Starlette app (see the module's text)."""

    def __init__(self, app: ASGIApp, *, token: str | None, hosts: Iterable[str], port: int,
                 max_upload: int, upload_path: str = "/api/upload"):
        self.app, self.token, self.hosts = app, token, frozenset(hosts)
        self.cookie = f"dreamvideo_{port}"
        self.max_upload, self.upload_path = max_upload, upload_path

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        headers = Headers(scope=scope)
        method = scope.get("method", "GET") if scope["type"] == "http" else "WEBSOCKET"
        name = host_name(headers.get("host"))
        if name is None or name not in self.hosts:
            await self.refuse(scope, receive, send, 403, "this studio answers only to its own address "
                              f"(the Host {headers.get('host')!r} is not one of its names)")
            return
        query = dict(parse_qsl(scope.get("query_string", b"").decode("latin-1")))
        if self.token is not None and method == "GET" and "token" in query:
            await self.swap(scope, receive, send, query)
            return
        how = self.credentials(headers)
        if how is None:
            await self.refuse(scope, receive, send, 401, "open the address the studio printed (with its "
                              "?token=...), or send Authorization: Bearer TOKEN")
            return
        if how == "wrong":
            await self.refuse(scope, receive, send, 403, "wrong token; use the one the studio printed")
            return
        if method not in SAFE_METHODS:
            problem = self.cross_site(headers, how, websocket=scope["type"] == "websocket")
            if problem:
                await self.refuse(scope, receive, send, 403, problem)
                return
        if scope["type"] == "websocket":
            await self.app(scope, receive, send)
            return
        limit = self.max_upload if scope["path"] == self.upload_path else MAX_BODY
        length = headers.get("content-length")
        if length is not None and (not length.isdigit() or int(length) > limit):
            await self.refuse(scope, receive, send, 413, self.too_large(limit))
            return
        await self.forward(scope, receive, send, limit)

    def credentials(self, headers: Headers) -> str | None:
        """How a request is authenticated: "cookie", "bearer", "open" (no token), "wrong", or None."""
        if self.token is None:
            return "open"
        auth = headers.get("authorization", "")
        if auth.lower().startswith("bearer "):
            return "bearer" if self.matches(auth[7:].strip()) else "wrong"
        for part in headers.get("cookie", "").split(";"):
            key, _, value = part.strip().partition("=")
            if key == self.cookie:
                return "cookie" if self.matches(value) else "wrong"
        return None

    def matches(self, given: str) -> bool:
        return self.token is not None and hmac.compare_digest(given.encode(), self.token.encode())

    def cross_site(self, headers: Headers, how: str, websocket: bool = False) -> str | None:
        """Why an unsafe request (or a WebSocket, whose Origin a browser always sends and whose headers a
        page cannot add to) may not be the studio's own page's, or None."""
        site, origin = headers.get("sec-fetch-site"), headers.get("origin")
        if site is not None and site not in ("same-origin", "none"):
            return f"a request from another site ({site}) may not change anything here"
        if origin is None:
            return None if how == "bearer" else "a request without its Origin may not change anything here"
        if host_name(origin.removeprefix("http://")) is None or origin != f"http://{headers.get('host')}":
            return f"a request from {origin!r} may not change anything here; use the studio's own page"
        if how == "cookie" and not websocket and headers.get(PAGE_HEADER) != "1":
            return "a request without the page's header may not change anything here; use the studio's own page"
        return None

    @staticmethod
    def too_large(limit: int) -> str:
        return (f"the request is larger than the studio's limit of {limit / 1024**2:,.0f} MB; trim the file, "
                "or start the studio with a larger --max-upload")

    async def swap(self, scope: Scope, receive: Receive, send: Send, query: dict[str, str]) -> None:
        """``?token=T``: the token becomes a cookie and leaves the address bar."""
        if not self.matches(query.pop("token")):
            await self.refuse(scope, receive, send, 403, "wrong token; use the address the studio printed")
            return
        target = scope["path"] + (f"?{urlencode(query)}" if query else "")
        cookie = f"{self.cookie}={self.token}; HttpOnly; SameSite=Strict; Path=/"
        await send({"type": "http.response.start", "status": 303,
                    "headers": [(b"location", target.encode()), (b"set-cookie", cookie.encode()),
                                (b"cache-control", b"no-store"), *SECURITY_HEADERS]})
        await send({"type": "http.response.body", "body": b""})

    async def forward(self, scope: Scope, receive: Receive, send: Send, limit: int) -> None:
        """The request to the app, its body cut at ``limit`` bytes and the security headers on its answer."""
        seen, started = 0, False

        async def counted() -> Message:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > limit:
                    raise TooLarge
            return message

        async def guarded(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
                message = {**message, "headers": [*message.get("headers", []), *SECURITY_HEADERS]}
            await send(message)

        try:
            await self.app(scope, counted, guarded)
        except TooLarge:
            if not started:
                await self.refuse(scope, receive, send, 413, self.too_large(limit))

    async def refuse(self, scope: Scope, receive: Receive, send: Send, status: int, message: str) -> None:
        """One line, before anything of the request is read (a WebSocket is closed before it opens)."""
        if scope["type"] == "websocket":
            await send({"type": "websocket.close", "code": 4000 + status, "reason": message[:120]})
            return
        body = json.dumps({"error": message}).encode()
        await send({"type": "http.response.start", "status": status,
                    "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()),
                                (b"connection", b"close"), *SECURITY_HEADERS]})
        await send({"type": "http.response.body", "body": body})
