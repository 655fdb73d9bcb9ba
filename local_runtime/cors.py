"""CORS as API Gateway's HTTP API applies the template's CorsConfiguration.

A preflight (OPTIONS with ``Origin`` and ``Access-Control-Request-Method``) is answered here,
before routing and the authorizer, whether or not a route exists for its path. Every other
answer to an allowed origin gets ``Access-Control-Allow-Origin`` (and the exposed headers),
errors and the authorizer's 401 included. Any other origin gets no CORS headers, and CORS
headers a function returns are dropped, as API Gateway ignores its integrations' own.
"""

from __future__ import annotations

from werkzeug.wrappers import Request, Response

from local_runtime.template import CorsConfiguration

ANY = "*"
CORS_HEADER_PREFIX = "access-control-"


class Cors:
    def __init__(self, config: CorsConfiguration) -> None:
        self.config = config
        self._origins = {origin.lower() for origin in config.allow_origins}
        self._methods = {method.upper() for method in config.allow_methods}

    def allows_origin(self, origin: str | None) -> bool:
        return origin is not None and (ANY in self._origins or origin.lower() in self._origins)

    def allows_method(self, method: str) -> bool:
        return ANY in self._methods or method.upper() in self._methods

    @staticmethod
    def is_preflight(request: Request) -> bool:
        return (
            request.method == "OPTIONS"
            and "Origin" in request.headers
            and "Access-Control-Request-Method" in request.headers
        )

    def preflight(self, request: Request) -> Response:
        """204 with the configuration's headers; without any for an origin or method it refuses
        (the browser then refuses the request itself)."""
        response = Response(status=204)
        del response.headers["Content-Type"]  # no body, so no type
        origin = request.headers.get("Origin")
        if not (self.allows_origin(origin) and self.allows_method(request.headers["Access-Control-Request-Method"])):
            return response
        self._allow(response, str(origin))
        config = self.config
        response.headers["Access-Control-Allow-Methods"] = ",".join(config.allow_methods)
        if config.allow_headers:
            response.headers["Access-Control-Allow-Headers"] = ",".join(config.allow_headers)
        if config.max_age is not None:
            response.headers["Access-Control-Max-Age"] = str(config.max_age)
        return response

    def answer(self, request: Request, response: Response) -> Response:
        """``response`` with the CORS headers ``request``'s origin is due, and only those."""
        for name in {name for name, _ in response.headers if name.lower().startswith(CORS_HEADER_PREFIX)}:
            del response.headers[name]
        origin = request.headers.get("Origin")
        if self.allows_origin(origin):
            self._allow(response, str(origin))
            if self.config.expose_headers:
                response.headers["Access-Control-Expose-Headers"] = ",".join(self.config.expose_headers)
        return response

    def _allow(self, response: Response, origin: str) -> None:
        wildcard = ANY in self._origins and not self.config.allow_credentials
        response.headers["Access-Control-Allow-Origin"] = ANY if wildcard else origin
        if self.config.allow_credentials:
            response.headers["Access-Control-Allow-Credentials"] = "true"
        if not wildcard:
            # The answer differs by Origin, so a cache must key on it (Fetch standard, "CORS
            # protocol and HTTP caches").
            response.vary.add("Origin")
