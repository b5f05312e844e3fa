"""Outbound HTTP to URLs staff type in (webhook endpoints, chat alerts), kept off internal networks.

A URL is checked when it is entered (a model validator) and again at every send, after DNS
resolution: every address the name resolves to must be public (not loopback, private,
link-local, multicast, reserved or unspecified), and the connection goes to the very address
that was checked, so a name that resolves differently a second later (DNS rebinding) gains
nothing. Redirects are never followed. Hosts named in WEBHOOK_ALLOWED_HOSTS (an intranet
receiver, the test suite) skip the address check.

Only the status code or a short error class is kept from a send, never the reply's body: a
reply is the receiver's text, not ours to show to staff.
"""

from __future__ import annotations

import ipaddress
import socket
from dataclasses import dataclass
from urllib.parse import unquote, urlsplit

import certifi
import urllib3
from django.conf import settings
from django.core.exceptions import ValidationError
from django.utils.translation import gettext_lazy as _

USER_AGENT = "npsapp-webhooks/1.0"
# Names that resolve to the machine itself or to cloud metadata services where they resolve.
INTERNAL_NAMES = {"localhost", "metadata", "metadata.google.internal", "instance-data"}
INTERNAL_SUFFIXES = (".localhost", ".internal", ".local")


class UnsafeURL(ValueError):
    """The URL points at this machine, a private network or a reserved address."""


@dataclass(frozen=True)
class PostResult:
    status_code: int | None
    error: str

    @property
    def ok(self) -> bool:
        return self.status_code is not None and 200 <= self.status_code < 300


def is_allowed_host(host: str) -> bool:
    allowed = {name.strip().lower().rstrip(".") for name in settings.WEBHOOK_ALLOWED_HOSTS}
    return host.lower().rstrip(".") in allowed


def is_public_address(address: ipaddress.IPv4Address | ipaddress.IPv6Address) -> bool:
    """Globally routable unicast only; IPv4 carried in IPv6 (mapped, 6to4, Teredo) is judged
    by the IPv4 address it carries."""
    if isinstance(address, ipaddress.IPv6Address):
        embedded = address.ipv4_mapped or address.sixtofour
        if embedded is None and address.teredo:
            embedded = address.teredo[1]
        if embedded is not None:
            return is_public_address(embedded)
    return address.is_global and not (
        address.is_multicast
        or address.is_private
        or address.is_loopback
        or address.is_link_local
        or address.is_reserved
        or address.is_unspecified
    )


def _host_of(url: str) -> str:
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise UnsafeURL(_("Use an http:// or https:// URL with a host name."))
    return parts.hostname


def _check_name(host: str) -> None:
    """Refuse an address literal that is not public and names that mean "this network"."""
    try:
        literal = ipaddress.ip_address(host)
    except ValueError:
        literal = None
    if literal is not None:
        if not is_public_address(literal):
            raise UnsafeURL(_("This address is on a private or reserved network."))
        return
    name = host.lower().rstrip(".")
    if name in INTERNAL_NAMES or name.endswith(INTERNAL_SUFFIXES) or "." not in name:
        raise UnsafeURL(_("This host name is internal to a network."))


def resolve(url: str) -> str:
    """The address to connect to for `url`: its host's first address, after checking that every
    address it resolves to is public (unless the host is allowed). Raises UnsafeURL, or OSError
    when the name does not resolve."""
    host = _host_of(url)
    allowed = is_allowed_host(host)
    if not allowed:
        _check_name(host)
    port = urlsplit(url).port or (443 if url.lower().startswith("https") else 80)
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    addresses = [ipaddress.ip_address(info[4][0].split("%", 1)[0]) for info in infos]
    if not addresses:
        raise OSError("no address")
    if not allowed and not all(is_public_address(a) for a in addresses):
        raise UnsafeURL(_("This host name resolves to a private or reserved address."))
    return str(addresses[0])


def validate_public_url(url: str) -> None:
    """Model validator: refuse URLs to this machine or internal networks when entered. A name
    that does not resolve now is accepted; the check after resolution runs at every send."""
    try:
        resolve(url)
    except UnsafeURL as exc:
        raise ValidationError(str(exc), code="unsafe_url") from None
    except (OSError, UnicodeError):
        pass


def redact_url(url: str) -> str:
    """A URL as read-only roles may see it: scheme and host only. The path, query and user info
    of a webhook or chat URL are often its credential (Slack's secret is in the path)."""
    parts = urlsplit(url or "")
    if not parts.hostname:
        return "…" if url else ""
    host = f"[{parts.hostname}]" if ":" in parts.hostname else parts.hostname
    port = f":{parts.port}" if parts.port else ""
    return f"{parts.scheme}://{host}{port}/…"


def post(url: str, body: bytes, headers: dict[str, str]) -> PostResult:
    """POST once to the checked address. Redirects are not followed: a receiver must answer 2xx
    at the URL given. The error is a status or a short error class, never text from the reply."""
    try:
        address = resolve(url)
    except UnsafeURL:
        return PostResult(None, "Refused: private or reserved address")
    except (OSError, UnicodeError):
        return PostResult(None, "DNS lookup failed")
    parts = urlsplit(url)
    secure = parts.scheme == "https"
    port = parts.port or (443 if secure else 80)
    host_header = parts.netloc.rsplit("@", 1)[-1]
    sent_headers = {
        "Host": host_header,
        "Content-Type": "application/json",
        "User-Agent": USER_AGENT,
        **headers,
    }
    if parts.username is not None:
        credentials = f"{unquote(parts.username)}:{unquote(parts.password or '')}"
        sent_headers.update(urllib3.util.make_headers(basic_auth=credentials))
    pool = _pool(address, port, parts, secure=secure)
    path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    try:
        with pool:
            reply = pool.urlopen(
                "POST",
                path,
                body=body,
                headers=sent_headers,
                redirect=False,
                retries=False,
                preload_content=False,
            )
            status = reply.status
            reply.release_conn()
    except urllib3.exceptions.HTTPError as exc:
        return PostResult(None, type(exc).__name__)
    except OSError as exc:
        return PostResult(None, type(exc).__name__)
    return PostResult(status, "" if 200 <= status < 300 else f"HTTP {status}")


def _pool(address: str, port: int, parts, *, secure: bool) -> urllib3.HTTPConnectionPool:
    """A connection pool to the checked address, no retries, WEBHOOK_TIMEOUT in all. With TLS,
    the certificate is checked against the URL's host name while the socket goes to the
    address."""
    timeout = urllib3.Timeout(total=settings.WEBHOOK_TIMEOUT)
    if not secure:
        return urllib3.HTTPConnectionPool(address, port, timeout=timeout, retries=False)
    return urllib3.HTTPSConnectionPool(
        address,
        port,
        timeout=timeout,
        retries=False,
        server_hostname=parts.hostname,
        assert_hostname=parts.hostname,
        cert_reqs="CERT_REQUIRED",
        ca_certs=certifi.where(),
    )


def fetch(url: str, *, max_bytes: int) -> tuple[bytes, str]:
    """GET `url` once from its checked address: (body, content type). Redirects are not
    followed. Raises UnsafeURL for an internal address, OSError on any other failure,
    including a body over `max_bytes`."""
    try:
        address = resolve(url)
    except UnicodeError as exc:
        raise OSError("bad host name") from exc
    parts = urlsplit(url)
    secure = parts.scheme == "https"
    port = parts.port or (443 if secure else 80)
    pool = _pool(address, port, parts, secure=secure)
    path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    headers = {"Host": parts.netloc.rsplit("@", 1)[-1], "User-Agent": USER_AGENT}
    try:
        with pool:
            reply = pool.urlopen(
                "GET", path, headers=headers, redirect=False, retries=False, preload_content=False
            )
            try:
                if reply.status != 200:
                    raise OSError(f"HTTP {reply.status}")
                body = reply.read(max_bytes + 1)
                if len(body) > max_bytes:
                    raise OSError("too large")
                return body, reply.headers.get("Content-Type", "")
            finally:
                reply.release_conn()
    except urllib3.exceptions.HTTPError as exc:
        raise OSError(type(exc).__name__) from exc
