"""The owner's portal (``web/``) served on its own origin, as CloudFront serves it in AWS.

A static file server on a thread: the files as they are (no build step), and ``/config.json``
answered from what the runtime started (the API, the identity provider, the payment
stand-in), which in AWS is a file the deployment writes from the stack's outputs
(template.yaml's ``PortalConfig`` output). The portal's origin is another port than the API's,
so every call it makes is a cross-origin one, as in AWS.
"""

from __future__ import annotations

import functools
import json
import threading
from dataclasses import dataclass
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from local_runtime.identity import LocalIdentity
from local_runtime.template import ROOT

WEB_DIR = ROOT / "web"
DEFAULT_PORT = 5173
CONFIG_PATH = "/config.json"
# The Terms' original text, shipped with the portal (web/terms/).
TERMS_PATH = "terms/terms-of-service.bg.txt"
# API.md "Payment tokens": what the local payment provider does with each test token.
STANDIN_CARDS = (
    {"token": "tok_visa", "outcome": "succeeds"},
    {"token": "tok_threeDSecure2Required", "outcome": "authentication"},
    {"token": "tok_chargeDeclined", "outcome": "declined"},
)
# Module scripts need a JavaScript MIME type; text needs its charset (the Terms are Cyrillic).
_TYPES = {
    ".js": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".html": "text/html; charset=utf-8",
    ".txt": "text/plain; charset=utf-8",
    ".json": "application/json",
    ".png": "image/png",
    ".svg": "image/svg+xml",
}


@dataclass(frozen=True)
class PortalConfig:
    """What the portal reads at run time: where the API and the identity provider are."""

    api: str
    identity: LocalIdentity
    payment_mode: str = "standin"

    def as_json(self) -> dict[str, Any]:
        return {
            "api": self.api,
            "identity": {
                "endpoint": self.identity.endpoint,
                "region": self.identity.region,
                "client_id": self.identity.client_id,
            },
            "payment": {"mode": self.payment_mode, "test_cards": list(STANDIN_CARDS)},
            "terms_url": TERMS_PATH,
            # API.md "Human check": the local verifier's passing token (a CAPTCHA's in AWS).
            "human_check": {"provider": "local", "token": "human"},
        }

    def content_security_policy(self) -> str:
        """The template's policy (``PortalSecurityHeaders``) with this runtime's addresses: the
        pages load only their own files and call only the API and the identity provider."""
        return (
            "default-src 'self'; script-src 'self'; "
            f"connect-src 'self' {self.api} {self.identity.endpoint}; img-src 'self' data:; style-src 'self'; "
            "form-action 'self'; base-uri 'none'; object-src 'none'; frame-ancestors 'none'"
        )


class _PortalHandler(SimpleHTTPRequestHandler):
    extensions_map = _TYPES

    def __init__(self, *args: Any, config: PortalConfig, **kwargs: Any) -> None:
        self._config = config
        super().__init__(*args, **kwargs)

    def do_GET(self) -> None:
        if self.path.split("?", 1)[0] == CONFIG_PATH:
            body = json.dumps(self._config.as_json()).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Cache-Control", "no-store")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
            return
        if _is_page(self.path) and not Path(self.translate_path(self.path)).exists():
            # A link to a page of the app (a notice's ``/accounts/{id}/billing``): the app's
            # router reads the path, as CloudFront's error response gives it index.html.
            self.path = "/index.html"
        super().do_GET()

    def end_headers(self) -> None:
        # A page never cached across restarts (the config and the app change together).
        if not self.path.startswith(CONFIG_PATH):
            self.send_header("Cache-Control", "no-cache")
        self.send_header("Content-Security-Policy", self._config.content_security_policy())
        self.send_header("X-Content-Type-Options", "nosniff")
        super().end_headers()

    def log_message(self, format: str, *args: Any) -> None:
        pass  # the API's request log is the one a developer reads


class Portal:
    """``web/`` at ``http://{host}:{port}`` on a thread (``start``/``stop``)."""

    def __init__(self, config: PortalConfig) -> None:
        self.config = config
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    def start(self, host: str, port: int) -> str:
        """Binds (an ``OSError`` if the port is taken) and serves; returns the portal's URL."""
        handler = functools.partial(_PortalHandler, directory=str(WEB_DIR), config=self.config)
        server = ThreadingHTTPServer((host, port), handler)
        server.daemon_threads = True
        self._server = server
        self._thread = threading.Thread(target=server.serve_forever, name="portal", daemon=True)
        self._thread.start()
        return url(server.server_address[1])

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
        if self._thread is not None:
            self._thread.join()
            self._thread = None


def _is_page(path: str) -> bool:
    last = path.split("?", 1)[0].rstrip("/").rsplit("/", 1)[-1]
    return "." not in last


def url(port: int) -> str:
    """The portal's address as printed and linked: ``localhost`` (API.md's local origin)."""
    return f"http://localhost:{port}"


def origins(port: int) -> list[str]:
    """Both names a browser may open the portal by (API.md "Browsers")."""
    return [f"http://localhost:{port}", f"http://127.0.0.1:{port}"]
