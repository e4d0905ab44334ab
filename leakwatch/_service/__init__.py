"""leakwatch in a running service: leaks per request, and debug pages.

The shell that brings leakwatch to a server that keeps running:

* :mod:`~leakwatch._service.middleware` -- ASGI and WSGI middleware that tags
  a sample of requests (``tags.request_tag``) and hands each, once its
  response is done, to the judge;
* :mod:`~leakwatch._service.routes` -- the route a request matched, as its
  framework names it;
* :mod:`~leakwatch._service.judge` -- a background thread that, after a short
  settle, looks for what each judged request made and left alive;
* :mod:`~leakwatch._service.ledger` -- what was found, per route and creating
  line, in bounded tables (``requests.json``, metrics, the log);
* :mod:`~leakwatch._service.pages` and :mod:`~leakwatch._service.html` -- the
  debug pages' data (any probe ``all_probes()`` has) and their HTML;
* :mod:`~leakwatch._service.app` and :mod:`~leakwatch._service.server` --
  the pages as an ASGI or WSGI app, and on their own port;
* :mod:`~leakwatch._service.diff` -- what one snapshot has that another has not.

Nothing here changes what the service returns.
"""
