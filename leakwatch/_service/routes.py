"""The route a request matched, as the framework names it, else its path.

Starlette and FastAPI put the matched route in the ASGI scope
(``scope["route"].path``); Flask keeps its URL rule on the request in the
WSGI environ.  An ASGI request's parts are read as its response ends and
named in the judge's thread.  Must not hold a request's data past naming it.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any


def asgi_route_parts(scope: Mapping[str, Any]) -> tuple[Any, Any, Any]:
    """What :func:`route_of` names a request's route from, read as its
    response ends: the matched route object (the application's, long-lived),
    the root path and the path.  Named later, in the judge's thread."""
    return scope.get("route"), scope.get("root_path"), scope.get("path")


def route_of(parts: tuple[Any, Any, Any]) -> str:
    """The route a request matched, where the framework says (Starlette,
    FastAPI: ``scope["route"].path``), from :func:`asgi_route_parts`; else
    its path."""
    route, root, full = parts
    path = getattr(route, "path", None) or getattr(route, "path_format", None)
    root = str(root or "")
    full = str(full or "")
    if isinstance(path, str) and path:
        template = root + path
        if not full.startswith(template.split("{", 1)[0]) and root.endswith(path):
            template = root  # a mount: the root path names it already
        return template
    return full if full.startswith(root) else root + full


def wsgi_route(environ: Mapping[str, Any]) -> str:
    """The route a request matched, where the framework says (Flask's
    ``url_rule``), else its path."""
    request = environ.get("werkzeug.request")
    rule = getattr(getattr(request, "url_rule", None), "rule", None)
    root = str(environ.get("SCRIPT_NAME", "") or "")
    if isinstance(rule, str) and rule:
        return root + rule
    return root + str(environ.get("PATH_INFO", "") or "")
