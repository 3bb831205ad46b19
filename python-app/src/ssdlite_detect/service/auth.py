"""Who may use the HTTP API.

On 127.0.0.1 (the default) only local processes can connect, so no token is needed. On any other
address a token is required: API clients send `Authorization: Bearer TOKEN`; the browser page
logs in once at /login, which sets the token as an HttpOnly, SameSite=Strict cookie (an <img> or
an EventSource cannot send headers). Only the operator's explicit --http-unauthenticated lifts
the requirement. /healthz and /login stay open: a health probe carries no credentials and
/healthz tells nothing but "ok" or "unhealthy".
"""
from __future__ import annotations

import hmac
import ipaddress
import re
from typing import Optional

from ..errors import DetectError
from ..files import UserFileError, read_small_text
from ..urls import redact_url

COOKIE = "ssdlite_token"
OPEN_PATHS = frozenset({"/healthz", "/login"})
MIN_TOKEN_LENGTH = 16
# What a Bearer token and a cookie value can carry unquoted (RFC 6750's b64token, without the
# characters a cookie may not hold): `openssl rand -hex 24` or base64 output qualifies.
_TOKEN = re.compile(r"[A-Za-z0-9._~+/=-]+")


class AuthConfigError(DetectError):
    """Listening beyond loopback without a token, or an unusable token file."""

    exit_code = 2


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False  # a host name: it may resolve to anything


def read_token_file(path: str) -> str:
    try:
        lines = read_small_text(path, limit=64 * 1024).splitlines()
    except UserFileError as error:
        raise AuthConfigError(f"--http-token-file {path}: {error}") from None
    token = lines[0].strip() if lines else ""
    if len(token) < MIN_TOKEN_LENGTH or not _TOKEN.fullmatch(token):
        raise AuthConfigError(f"--http-token-file {path}: the token must be at least {MIN_TOKEN_LENGTH} "
                              "characters of A-Z a-z 0-9 - . _ ~ + / = on the first line (e.g. `openssl rand -hex 24`)")
    return token


def required_token(host: str, token: Optional[str], unauthenticated: bool) -> Optional[str]:
    """The token clients must present, or None when none is needed; raises AuthConfigError for a
    non-loopback address with neither a token nor the explicit opt-out."""
    if token:
        return token
    if is_loopback(host) or unauthenticated:
        return None
    raise AuthConfigError(
        f"--http {redact_url(host)}: listening beyond 127.0.0.1 needs --http-token-file FILE (clients send "
        "`Authorization: Bearer TOKEN`, the browser logs in at /login), or --http-unauthenticated "
        "to serve anyone who can reach it"
    )


def presented_token(headers, cookies) -> Optional[str]:
    authorization = headers.get("Authorization", "")
    scheme, _, value = authorization.partition(" ")
    if scheme.lower() == "bearer" and value.strip():
        return value.strip()
    return cookies.get(COOKIE)


def token_matches(expected: str, presented: Optional[str]) -> bool:
    """Constant-time comparison. aiohttp decodes header bytes that are not UTF-8 to surrogates:
    they are encoded back as they came, so any bytes compare (and differ) instead of raising."""
    if presented is None:
        return False
    try:
        presented_bytes = presented.encode("utf-8", "surrogateescape")
    except UnicodeEncodeError:  # a surrogate no byte decodes to: not the token either
        return False
    return hmac.compare_digest(expected.encode(), presented_bytes)
