"""leakwatch in a running service: leaks per request, and debug pages.

::

    from leakwatch.service import ASGIMiddleware, WSGIMiddleware, debug_app, serve

    app = ASGIMiddleware(app, sample=0.01)   # or WSGIMiddleware(wsgi_app, sample=0.01)
    server = serve(host="127.0.0.1", port=0) # the debug pages on their own port
    server.url                               # "http://127.0.0.1:PORT/"; server.close()
    app.mount("/debug/leakwatch", debug_app())  # or mount them in the service itself

Re-exports only: the implementation lives in ``leakwatch._service``.
"""

from leakwatch._service.middleware import ASGIMiddleware, WSGIMiddleware
from leakwatch._service.server import Server, debug_app, serve

__all__ = ["ASGIMiddleware", "Server", "WSGIMiddleware", "debug_app", "serve"]
