"""What keeps the local web page to its folder and its user: paths under the root, names, token, host.

The page binds 127.0.0.1 by default. Bound to any other host it requires a random token, printed
at start, as ``?token=`` once (then a cookie) or an ``X-Opsgraft-Token`` header. On loopback without
a token the Host header must still name a loopback host, so a web page that rebinds its own DNS
name to 127.0.0.1 cannot talk to the server, and a POST whose Origin is another site is refused
(a cross-site form needs no preflight). Every path the page reads or writes must resolve, links
followed, under the root folder the server was started in.
"""

from __future__ import annotations

import hmac
import re
import secrets
import socket
from pathlib import Path
from urllib.parse import urlsplit

from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from opsgraft.errors import ConfigError, OpsgraftError

COOKIE = "opsgraft_token"
HEADER = "x-opsgraft-token"
LOOPBACK = frozenset({"127.0.0.1", "localhost", "::1", "[::1]"})
_NAME_BAD = re.compile(r"[^A-Za-z0-9._-]+")


class PathOutsideRootError(ConfigError):
    """A path the page was given resolves outside the folder the server serves."""


class PortBusyError(OpsgraftError):
    """The port asked for is taken by another process."""

    exit_code = 2


def new_token() -> str:
    """A random token for a server bound beyond loopback."""
    return secrets.token_urlsafe(24)


def is_loopback(host: str) -> bool:
    """True for the hosts only this machine can reach."""
    return host in LOOPBACK or host.startswith("127.")


def resolve_under(root: Path, rel: str | Path) -> Path:
    """``rel`` (relative to ``root``, or absolute) as a real path inside ``root``; symlinks followed.

    Raises:
        PathOutsideRootError: the path is empty, or it (or a link on its way) leads outside ``root``.
    """
    text = str(rel).strip()
    if not text or "\x00" in text:
        raise PathOutsideRootError(f"path {text!r} is empty or invalid")
    base = Path(root).resolve()
    candidate = Path(text)
    full = (candidate if candidate.is_absolute() else base / candidate).resolve()
    if full != base and not full.is_relative_to(base):
        raise PathOutsideRootError(f"path outside the root: {text} (the page serves {base} only)")
    return full


def relative(root: Path, path: Path) -> str:
    """``path`` as a POSIX path relative to ``root`` (it must be under it)."""
    return Path(path).resolve().relative_to(Path(root).resolve()).as_posix()


def safe_name(name: str, default: str = "file") -> str:
    """A file name made safe: last path component, only ``A-Za-z0-9._-``, no leading dot."""
    base = re.split(r"[\\/]", name.strip())[-1]
    clean = _NAME_BAD.sub("_", base).lstrip(".")
    return clean[:120] or default


def unique_path(path: Path) -> Path:
    """``path`` itself if free, else ``stem_2.ext``, ``stem_3.ext``...: never an existing file."""
    if not path.exists():
        return path
    stem, suffix = path.stem, path.suffix
    n = 2
    while True:
        candidate = path.with_name(f"{stem}_{n}{suffix}")
        if not candidate.exists():
            return candidate
        n += 1


def check_port(host: str, port: int) -> None:
    """Bind ``host:port`` once and let go, so that a busy port is a one-line error before uvicorn starts.

    Raises:
        PortBusyError: something else listens there (or the address cannot be bound).
    """
    family = socket.AF_INET6 if ":" in host.strip("[]") else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host.strip("[]"), port))
        except OSError as exc:
            raise PortBusyError(f"cannot listen on {host}:{port}: {exc.strerror or exc}; pick another --port") from None


def token_ok(request: Request, token: str) -> bool:
    """True when the request carries ``token`` as a query parameter, cookie or header."""
    given = request.query_params.get("token") or request.cookies.get(COOKIE) or request.headers.get(HEADER) or ""
    return hmac.compare_digest(given.encode(), token.encode())


class GuardMiddleware:
    """Refuses requests without the token (when set), with a foreign Host on loopback, or cross-site POSTs."""

    def __init__(self, app: ASGIApp, token: str | None) -> None:
        self.app = app
        self.token = token

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request = Request(scope)
        refusal = self.refusal(request)
        if refusal is not None:
            await PlainTextResponse(refusal, status_code=403)(scope, receive, send)
            return
        if self.token and request.query_params.get("token") and request.cookies.get(COOKIE) != self.token:
            # First visit through the printed URL: keep the token in a cookie for the page's requests.
            async def send_with_cookie(message: Message) -> None:
                if message["type"] == "http.response.start":
                    cookie = Response()
                    cookie.set_cookie(COOKIE, self.token or "", httponly=True, samesite="strict")
                    message.setdefault("headers", [])
                    message["headers"] = [*message["headers"], *cookie.raw_headers]
                await send(message)

            await self.app(scope, receive, send_with_cookie)
            return
        await self.app(scope, receive, send)

    def refusal(self, request: Request) -> str | None:
        """Why ``request`` is refused, or None."""
        host = (request.headers.get("host") or "").rsplit(":", 1)[0] if request.headers.get("host") else ""
        if self.token:
            if not token_ok(request, self.token):
                return "forbidden: open the URL with the token printed when 'opsgraft ui' started"
        elif host and not is_loopback(host):
            return f"forbidden: host {host!r} is not this machine (start with --host to serve others)"
        if request.method not in ("GET", "HEAD", "OPTIONS"):
            origin = request.headers.get("origin")
            if origin and origin != "null" and urlsplit(origin).netloc != request.headers.get("host"):
                return "forbidden: cross-site request"
        return None
