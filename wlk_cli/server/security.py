"""Who may use a server: the API token (Bearer header or ``?token=``, compared in constant time) and,
for WebSockets, the page's Origin (same origin, no Origin at all, or one of ``--allowed-origins``)."""

from __future__ import annotations

import hmac
from collections.abc import Mapping
from dataclasses import dataclass
from urllib.parse import urlsplit


@dataclass(frozen=True)
class Access:
    token: str | None = None
    allowed_origins: tuple[str, ...] = ()

    def token_error(self, headers: Mapping[str, str], query: Mapping[str, str]) -> str | None:
        """None when the request may go on, else why not."""
        if not self.token:
            return None
        given = query.get("token")
        auth = headers.get("authorization", "")
        if auth.lower().startswith("bearer "):
            given = auth[7:].strip()
        if not given:
            return "an API token is required (Authorization: Bearer TOKEN, or ?token=TOKEN)"
        if not hmac.compare_digest(given.encode(), self.token.encode()):
            return "the API token is wrong"
        return None

    def origin_error(self, headers: Mapping[str, str]) -> str | None:
        """A browser page on another site may not use this server unless its origin is allowed
        (clients that are not browsers send no Origin)."""
        origin = headers.get("origin")
        if not origin or "*" in self.allowed_origins or origin.rstrip("/") in self.allowed_origins:
            return None
        host = headers.get("host", "")
        if urlsplit(origin).netloc.lower() == host.lower():
            return None
        return f"origin {origin} is not allowed (start the server with --allowed-origins {origin})"
