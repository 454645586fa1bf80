"""The server's front door, as ASGI middleware: the bearer token and the body's size are checked before a byte of
the body is read, and the size limit is enforced while the body streams in, so no temporary file grows past it."""

from __future__ import annotations

import hmac
from typing import Any, Callable

from ..errors import client_message
from ..files import json_text

PUBLIC_PATHS = ("/", "/openapi.json", "/docs", "/docs/oauth2-redirect", "/redoc")  # readable without a token
OPENAI_PREFIX = "/v1/"  # OpenAI's routes: errors in OpenAI's shape
OPENAI_ERROR_TYPES = {400: "invalid_request_error", 401: "authentication_error", 404: "not_found_error",
                      405: "invalid_request_error", 409: "invalid_request_error", 413: "invalid_request_error",
                      429: "rate_limit_error"}
OPENAI_ERROR_CODES = {401: "invalid_api_key", 404: "not_found", 413: "request_too_large", 429: "rate_limit_exceeded"}


def openai_error(status: int, message: str, param: str | None = None) -> dict[str, Any]:
    """OpenAI's error body, so its clients raise their usual exceptions (400 is BadRequestError, and so on)."""
    return {"error": {"message": message, "type": OPENAI_ERROR_TYPES.get(status, "server_error"), "param": param,
                      "code": OPENAI_ERROR_CODES.get(status)}}
PUBLIC_PREFIXES = ("/static/",)
MULTIPART_OVERHEAD = 16 * 1024  # form fields and part headers around an uploaded file
SMALL_BODY_BYTES = 64 * 1024  # every other request: JSON, or nothing


def bearer_matches(header: str | None, token: str) -> bool:
    """Whether an Authorization header carries ``token`` (the scheme is case-insensitive, RFC 7235)."""
    scheme, _, credentials = (header or "").strip().partition(" ")
    return scheme.lower() == "bearer" and hmac.compare_digest(credentials.strip().encode(), token.encode())


def loopback_only(host: str) -> bool:
    """Whether every address ``host`` resolves to is a loopback address (a name like ``127.evil.test`` is not:
    it binds wherever it resolves). An unresolvable host is a ``UserError``."""
    import ipaddress
    import socket

    from ..errors import UserError

    try:
        addresses = {info[4][0] for info in socket.getaddrinfo(host, None, proto=socket.IPPROTO_TCP)}
    except (socket.gaierror, UnicodeError) as error:
        raise UserError(f"--host {host}: cannot be resolved ({error})") from None
    return bool(addresses) and all(ipaddress.ip_address(address.split("%")[0]).is_loopback for address in addresses)


def is_public(path: str) -> bool:
    return path in PUBLIC_PATHS or path.startswith(PUBLIC_PREFIXES)


class BodyTooLarge(Exception):
    """The client sent more than the route takes; the guard answers 413."""


class RequestGuard:
    """Wraps the application: 401 without the token, 413 for a declared or streamed body over the route's limit.

    ``body_limit(method, path)`` gives each route's limit in bytes.
    """

    def __init__(self, app, token: str | None, body_limit: Callable[[str, str], int]) -> None:
        self.app, self.token, self.body_limit = app, token, body_limit

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = {key.decode("latin-1").lower(): value.decode("latin-1") for key, value in scope["headers"]}
        if self.token is not None and not is_public(scope["path"]) and not bearer_matches(
                headers.get("authorization"), self.token):
            await reply(send, 401, "missing or wrong bearer token (send Authorization: Bearer TOKEN)",
                        {"www-authenticate": "Bearer"}, scope["path"])
            return
        limit = self.body_limit(scope["method"], scope["path"])
        declared = headers.get("content-length", "")
        if declared and (not declared.isdigit() or int(declared) > limit):
            await reply(send, 413, f"the request body is larger than this server takes ({limit // 1024} KB)",
                        path=scope["path"])
            return
        await self.guarded(scope, receive, send, limit)

    async def guarded(self, scope, receive, send, limit: int) -> None:
        """Run the app with a ``receive`` that stops the body at ``limit`` bytes; answer 413 if it got there."""
        state = {"received": 0, "over": False, "started": False}

        async def limited_receive() -> dict[str, Any]:
            message = await receive()
            if message["type"] == "http.request":
                state["received"] += len(message.get("body", b""))
                if state["received"] > limit:
                    state["over"] = True
                    raise BodyTooLarge
            return message

        async def tracked_send(message: dict[str, Any]) -> None:
            if state["over"]:
                return  # the app's own answer to a cut-off body is replaced by the 413 below
            state["started"] = True
            await send(message)

        try:
            await self.app(scope, limited_receive, tracked_send)
        except BodyTooLarge:
            pass
        except Exception:
            if not state["over"]:
                raise
        if state["over"] and not state["started"]:
            await reply(send, 413, f"the request body is larger than this server takes ({limit // 1024} KB)",
                        path=scope["path"])


async def reply(send, status: int, message: str, headers: dict[str, str] | None = None, path: str = "") -> None:
    """A JSON error response, {"error": message} like every other error of the API (OpenAI's shape on its routes)."""
    message = client_message(message)
    document = openai_error(status, message) if path.startswith(OPENAI_PREFIX) else {"error": message}
    body = json_text(document, indent=None).encode("utf-8")
    raw = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    raw += [(key.encode(), value.encode()) for key, value in (headers or {}).items()]
    await send({"type": "http.response.start", "status": status, "headers": raw})
    await send({"type": "http.response.body", "body": body})
