"""One WSGI application for every community of a street deployment (bot/street.py).

/wechat and /wechat/<first slug> are the first community's webhook, /wechat/<slug> another's; /c/<slug>/...
is that community's console and Open311 (its pages know the prefix, as WSGI's SCRIPT_NAME); everything
else is the first community's app, as in a single-community deployment.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from _typeshed.wsgi import StartResponse, WSGIApplication, WSGIEnvironment

WEBHOOK = "/wechat"
MOUNTS = "/c/"


class StreetApp:
    """Sends each request to its community's app by the path it came to."""

    def __init__(self, home_slug: str, apps: Mapping[str, WSGIApplication]) -> None:
        self.home_slug, self.apps = home_slug, dict(apps)
        self.home = self.apps[home_slug]

    def add(self, slug: str, app: WSGIApplication) -> None:
        """Serve one more community; requests in flight keep the mapping they read (it is replaced whole)."""
        self.apps = {**self.apps, slug: app}

    def __call__(self, environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        path = environ.get("PATH_INFO", "")
        if path.startswith(WEBHOOK + "/"):
            return self._webhook(path[len(WEBHOOK) + 1 :], environ, start_response)
        if path.startswith(MOUNTS):
            slug, _, rest = path[len(MOUNTS) :].partition("/")
            app = self.apps.get(slug)
            if app is None or slug == self.home_slug:
                return _not_found(start_response)
            environ["SCRIPT_NAME"] = environ.get("SCRIPT_NAME", "") + MOUNTS + slug
            environ["PATH_INFO"] = "/" + rest
            return app(environ, start_response)
        return self.home(environ, start_response)

    def _webhook(self, slug: str, environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        app = self.apps.get(slug.rstrip("/"))
        if app is None:
            return _not_found(start_response)
        environ["PATH_INFO"] = WEBHOOK
        return app(environ, start_response)


def _not_found(start_response: Any) -> list[bytes]:
    """A path naming no community: one line of plain text, as the webhook's other errors."""
    body = b"404 no such community\n"
    start_response(
        "404 NOT FOUND", [("Content-Type", "text/plain; charset=utf-8"), ("Content-Length", str(len(body)))]
    )
    return [body]
