"""The health service: grpcio's, minus what any caller could make it hold.

Health needs no token (supervisors probe without the secret), and grpcio's servicer keeps an entry for every
service name ever watched: forty 8 MB names kept 343 MB for good. Here a name past ``MAX_SERVICE_NAME_CHARS``
is INVALID_ARGUMENT, and a name the server does not serve is answered SERVICE_UNKNOWN and its stream ends:
the server sets every name it will ever serve before it starts (``names``), so an unknown one stays unknown
and nothing needs to be kept for it. How many Watch streams one address may hold: ``server.limits``.
"""
from __future__ import annotations

import grpc
from grpc_health.v1 import health, health_pb2

from .wire import abort

MAX_SERVICE_NAME_CHARS = 256  # service names are a few dozen characters ("nst.v1.StyleService/idle")


class HealthServicer(health.HealthServicer):
    def __init__(self, names: tuple[str, ...]):
        super().__init__()
        self._names = frozenset(names)
        for name in names:
            self.set(name, health_pb2.HealthCheckResponse.NOT_SERVING)

    def Check(self, request, context):
        _check_name(request.service, context)
        return super().Check(request, context)

    def Watch(self, request, context, send_response_callback=None):
        _check_name(request.service, context)
        if request.service not in self._names:
            return iter([health_pb2.HealthCheckResponse(status=health_pb2.HealthCheckResponse.SERVICE_UNKNOWN)])
        return super().Watch(request, context, send_response_callback)


def _check_name(name: str, context) -> None:
    if len(name) > MAX_SERVICE_NAME_CHARS:
        abort(context, grpc.StatusCode.INVALID_ARGUMENT,
              f"service: a service name has at most {MAX_SERVICE_NAME_CHARS} characters, got {len(name)}", "service")
