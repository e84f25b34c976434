"""Server addresses for clients: one server, or a fleet of several behind one name (standard library only).

A fleet is written as a list (``host:port,host:port``) or as a gRPC name that may resolve to several servers
(``dns:///name:port``, ``ipv4:a:p,b:p``, ``ipv6:[a]:p,[b]:p``). gRPC itself balances over it: round_robin
with client-side health checking (``healthCheckConfig`` in the channel's service config, which watches each
server's ``Health/Watch``) and a retry policy. Everything else (``host:port``, ``unix:/path``) is one server,
reached exactly as before.
"""
from __future__ import annotations

import ipaddress
import json
import socket
from dataclasses import dataclass

_FLEET_SCHEMES = ("dns:", "ipv4:", "ipv6:")
# Every Stylize attempt of a fleet's client asks for an idle server; a busy one refuses at once (UNAVAILABLE)
# and gRPC retries on another ready (idle) server, waiting for one if none is (waitForReady). gRPC allows
# at most 5 attempts; a call refused every time is sent again by the client library.
STYLIZE_ATTEMPTS = 5
# Large requests must stay retryable: gRPC commits a call whose request outgrows the retry buffer.
_RETRY_BUFFER_BYTES = 2**31 - 1
# A server that stops, crashes or restarts is reconnected within a second or so (gRPC's default backoff
# grows to two minutes), so a restarted server gets jobs again soon after its health turns SERVING.
_RECONNECT_OPTIONS = [("grpc.initial_reconnect_backoff_ms", 250), ("grpc.max_reconnect_backoff_ms", 1000)]
# A server machine that vanishes without closing its connections is noticed by pings within ~15 s.
_KEEPALIVE_OPTIONS = [("grpc.keepalive_time_ms", 10_000), ("grpc.keepalive_timeout_ms", 5_000)]


class AddressError(ValueError):
    """An address or address list that cannot work; the message names the entry."""


@dataclass(frozen=True)
class Target:
    """Where a client connects. ``target`` is what gRPC's channel gets; ``servers`` the fleet's servers as
    ``host:port`` (resolved once, for calls that must reach one server: a job's GetJob and CancelJob)."""

    address: str  # as given
    target: str
    fleet: bool
    servers: tuple[str, ...] = ()

    def __str__(self) -> str:
        return self.address


def parse(address: str) -> Target:
    """Check ``address`` and say how to reach it; AddressError naming the bad entry."""
    text = address.strip()
    if not text.replace(",", "").strip():
        raise AddressError(f"the server address list {address!r} is empty: give host:port, several "
                           "separated by commas, or a name such as dns:///host:port")
    if text.startswith(_FLEET_SCHEMES):
        return _scheme(text)
    if "," not in text:
        return Target(text, text, fleet=False)
    entries = [entry.strip() for entry in text.split(",")]
    seen: dict[tuple[int, str, int], str] = {}
    family = None
    resolved = []
    for index, entry in enumerate(entries, 1):
        if not entry:
            raise AddressError(f"the server address list {address!r} has an empty entry (number {index})")
        host, port = _host_port(entry, f"entry {index} of the server address list")
        options = _resolve(host, port, entry)
        resolved.append((entry, options))
    # gRPC's address lists hold one family: IPv4 when every entry has an IPv4 address, else IPv6.
    for candidate in (socket.AF_INET, socket.AF_INET6):
        if all(candidate in options for _, options in resolved):
            family = candidate
            break
    if family is None:
        missing = next(entry for entry, options in resolved if socket.AF_INET not in options)
        raise AddressError(f"server address {missing!r} has no IPv4 address while others have no IPv6 one; "
                           "use addresses of one family")
    servers = []
    for entry, options in resolved:
        ip, port = options[family]
        key = (family, ip, port)
        if key in seen:
            same = "appears twice" if seen[key] == entry else f"is the same server as {seen[key]!r}"
            raise AddressError(f"server address {entry!r} {same} in the list {address!r}")
        seen[key] = entry
        servers.append(f"[{ip}]:{port}" if family == socket.AF_INET6 else f"{ip}:{port}")
    scheme = "ipv6:" if family == socket.AF_INET6 else "ipv4:"
    return Target(address, scheme + ",".join(servers), fleet=True, servers=tuple(servers))


def _scheme(text: str) -> Target:
    scheme, _, rest = text.partition(":")
    if scheme == "dns":
        # dns:///name:port or dns://resolver/name:port: the servers are what the name resolves to now.
        name = rest[2:].partition("/")[2] if rest.startswith("//") else rest
        host, port = _host_port(name, f"the name {text!r}")
        options = _resolve(host, port, text, every=True)
        servers = tuple(f"[{ip}]:{p}" if ":" in ip else f"{ip}:{p}" for ip, p in options)
        return Target(text, text, fleet=True, servers=servers)
    if not rest:
        raise AddressError(f"the server address list {text!r} is empty")
    servers, seen = [], set()
    for index, entry in enumerate(rest.split(","), 1):
        host, port = _host_port(entry.strip(), f"entry {index} of {text!r}")
        try:
            ip = ipaddress.ip_address(host)
        except ValueError:
            raise AddressError(f"entry {index} of {text!r}, {entry!r}: {host!r} is not an {scheme} address") from None
        if (scheme == "ipv4") != (ip.version == 4):
            raise AddressError(f"entry {index} of {text!r}, {entry!r}: {host!r} is not an {scheme} address")
        if (ip, port) in seen:
            raise AddressError(f"server address {entry!r} appears twice in {text!r}")
        seen.add((ip, port))
        servers.append(f"[{ip}]:{port}" if ip.version == 6 else f"{ip}:{port}")
    return Target(text, text, fleet=True, servers=tuple(servers))


def _host_port(entry: str, where: str) -> tuple[str, int]:
    if entry.startswith("unix:"):
        raise AddressError(f"{where}, {entry!r}: a unix socket cannot be part of a fleet; use host:port")
    host, sep, port = entry.rpartition(":")
    host = host[1:-1] if host.startswith("[") and host.endswith("]") else host
    if not sep or not host or not (port.isascii() and port.isdigit()) or not 0 < int(port) <= 65535:
        raise AddressError(f"{where}, {entry!r}, is not HOST:PORT with a port from 1 to 65535")
    return host, int(port)


def _resolve(host: str, port: int, entry: str, every: bool = False):
    """{family: (ip, port)} (first address of each family), or every (ip, port) when ``every``."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError) as exc:
        raise AddressError(f"server address {entry!r}: cannot resolve {host!r} "
                           f"({getattr(exc, 'strerror', None) or exc})") from None
    if every:
        found = []
        for family, _, _, _, sockaddr in infos:
            if family in (socket.AF_INET, socket.AF_INET6) and sockaddr[:2] not in found:
                found.append(sockaddr[:2])
        return found
    options = {}
    for family, _, _, _, sockaddr in infos:
        if family in (socket.AF_INET, socket.AF_INET6):
            options.setdefault(family, sockaddr[:2])
    return options


def service_config(health_name: str, stylize_method) -> str:
    """round_robin over the servers whose health under ``health_name`` is SERVING; Stylize retried on
    UNAVAILABLE (a busy or stopping server's refusal, before any response) and waiting for a ready server."""
    return json.dumps({
        "loadBalancingConfig": [{"round_robin": {}}],
        "healthCheckConfig": {"serviceName": health_name},
        "methodConfig": [{
            "name": stylize_method if isinstance(stylize_method, list) else [stylize_method],
            "waitForReady": True,
            "retryPolicy": {"maxAttempts": STYLIZE_ATTEMPTS, "initialBackoff": "0.01s", "maxBackoff": "0.2s",
                            "backoffMultiplier": 2, "retryableStatusCodes": ["UNAVAILABLE"]},
        }],
    })


def channel_options(health_name: str, stylize_method) -> list[tuple[str, object]]:
    return [("grpc.service_config", service_config(health_name, stylize_method)), ("grpc.enable_retries", 1),
            ("grpc.per_rpc_retry_buffer_size", _RETRY_BUFFER_BYTES), ("grpc.retry_buffer_size", _RETRY_BUFFER_BYTES),
            ] + _RECONNECT_OPTIONS + _KEEPALIVE_OPTIONS
