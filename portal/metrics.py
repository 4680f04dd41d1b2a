"""The portal's Prometheus metrics: requests by route and status, their latency, and the
problems answered, by type.

They are served on a bind of their own (`CLAIMS_PORTAL_METRICS_BIND`, e.g.
`127.0.0.1:9465`), never by the API's app: no API key, a partner's least of all,
reaches them, and the operators' scraper needs none. Routes are counted by their
template (`/api/v1/claims/{engagement_id}`), so an engagement id never becomes a
label.
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from collections.abc import Iterator
from dataclasses import dataclass
from dataclasses import field
from typing import Any

from opentelemetry import trace
from prometheus_client import CollectorRegistry
from prometheus_client import Counter
from prometheus_client import Histogram
from prometheus_client import start_http_server
from starlette.routing import BaseRoute
from starlette.routing import Match
from starlette.routing import Router
from starlette.types import ASGIApp
from starlette.types import Message
from starlette.types import Receive
from starlette.types import Scope
from starlette.types import Send

from starter.telemetry import current_route
from starter.telemetry import tracer

UNMATCHED = "unmatched"
"""The route label of a request no route took (a 404 of the router)."""


@dataclass
class PortalMetrics:
    """The portal's metrics, in a registry of their own (one per app)."""

    registry: CollectorRegistry = field(default_factory=CollectorRegistry)

    def __post_init__(self) -> None:
        self.requests = Counter(
            "portal_requests",
            "HTTP requests answered, by route template, method and status",
            ["route", "method", "status"],
            registry=self.registry,
        )
        self.latency = Histogram(
            "portal_request_seconds",
            "seconds from a request's arrival to its answer's start, by route template",
            ["route", "method"],
            registry=self.registry,
        )
        self.problems = Counter(
            "portal_problems",
            "problem documents answered (refusals and errors), by problem type",
            ["type"],
            registry=self.registry,
        )

    def serve(self, bind: str) -> Any:
        """Serve the metrics at http://<bind>/metrics; returns the server (`shutdown()`)."""
        host, _, port = bind.rpartition(":")
        server, _thread = start_http_server(int(port), addr=host, registry=self.registry)
        return server


def _routes(routes: Iterable[BaseRoute], prefix: str = "") -> Iterator[tuple[str, BaseRoute]]:
    """Every route with its whole path template, included routers opened up."""
    for route in routes:
        included = getattr(route, "original_router", None)
        if included is not None:
            context_prefix = getattr(getattr(route, "include_context", None), "prefix", "")
            yield from _routes(included.routes, prefix + str(context_prefix))
        elif hasattr(route, "path"):
            yield prefix + str(route.path), route


def route_template(router: Router, scope: Scope) -> str:
    """The template of the route a request goes to (`/api/v1/claims/{engagement_id}`), or
    UNMATCHED: a label never carries the ids in a path."""
    partial = UNMATCHED
    for path, route in _routes(router.routes):
        match, _ = route.matches(scope)
        if match == Match.FULL:
            return path
        if match == Match.PARTIAL and partial == UNMATCHED:
            partial = path  # the path exists, not the method
    return partial


class RequestMetrics:
    """ASGI middleware: counts every HTTP request by its route template and status, and
    traces it as a server span (a no-op until tracing is on, see starter/telemetry.py)."""

    def __init__(self, app: ASGIApp, metrics: PortalMetrics, router: Router) -> None:
        self.app = app
        self.metrics = metrics
        self.router = router

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        began = time.perf_counter()
        status = 500
        route = route_template(self.router, scope)

        async def send_noting_status(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
                self.metrics.latency.labels(route, scope["method"]).observe(
                    time.perf_counter() - began
                )
            await send(message)

        route_token = current_route.set(route)
        name = f"{scope['method']} {route}"
        with tracer().start_as_current_span(name, kind=trace.SpanKind.SERVER) as span:
            span.set_attribute("http.request.method", scope["method"])
            span.set_attribute("http.route", route)
            try:
                await self.app(scope, receive, send_noting_status)
            finally:
                span.set_attribute("http.response.status_code", status)
                self.metrics.requests.labels(route, scope["method"], str(status)).inc()
                current_route.reset(route_token)
