"""URLs a user gives (RTSP sources, the MQTT broker): hosts checked, and secrets out of messages.

Users put credentials in URLs (`rtsp://admin:pw@cam/`, `mqtt://bob:pw@broker/`, an RTSP server's
`?password=` or `&token=`). Every place that shows such a URL shows `redact_url(url)` instead. It
works on text, not on a parsed URL: it is also what error messages about an *invalid* URL (a bad
port, no scheme, brackets that do not close) show, so it can never raise, and when in doubt it
hides more rather than less (`rtsp://host:554/a@b` becomes `rtsp://host:***@b`), and the result
is one line (control characters escaped: a URL with a newline cannot forge a second log line).
"""
from __future__ import annotations

import ipaddress
import re

from .textout import one_line

MASK = "***"
# Query parameters whose value is a credential (matched anywhere in the name, any case):
# password, passwd, pwd, pass, token, access_token, secret, apikey, api_key, auth, signature...
_SECRET_QUERY_VALUE = re.compile(
    r"([?&;#][^=&;#]*(?:pass|pwd|token|secret|key|auth|sig|credential|session)[^=&;#]*=)[^&;#]*",
    re.IGNORECASE,
)
_HOST_NAME = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,252}$")  # DNS names (ASCII; IDNs as punycode)


def has_control_characters(text: str) -> bool:
    """Whether a URL holds a C0 control character or DEL: urlsplit drops tabs and line breaks
    without a word (a password would silently become another one), the rest no server takes."""
    return any(ord(char) < 0x20 or ord(char) == 0x7F for char in text)


def is_host(text: str) -> bool:
    """Whether `text` is a host a URL may name: an IP address or an ASCII DNS name."""
    try:
        ipaddress.ip_address(text)
        return True
    except ValueError:
        return bool(_HOST_NAME.match(text))


def redact_url(text: str) -> str:
    """`text` with the password of its user info and the values of its credential-carrying query
    parameters replaced by ***; the scheme, user name, host, port and path stay readable."""
    scheme, separator, rest = text.partition("://")
    prefix = scheme + separator if separator else ""
    if not separator:
        rest = text
    # The query's secrets first: a query password with an "@" in it (?password=p@ss) must not be
    # taken for the end of the user info, which would leave its tail readable.
    rest = _SECRET_QUERY_VALUE.sub(lambda match: match.group(1) + MASK, rest)
    # The user info ends at the last "@": a password may itself contain "@" (or "/", or "?") when
    # the user did not percent-encode it, so anything up to there that has a ":" is hidden.
    at = rest.rfind("@")
    if at >= 0 and ":" in rest[:at]:
        user = rest[:at].split(":", 1)[0]
        rest = f"{user}:{MASK}@{rest[at + 1:]}"
    return one_line(prefix + rest)
