"""The operator web console: pipeline health, dead letters with replay and purge, the trace search.

``auth`` (who may come in; CSRF tokens: pure), ``health`` (per-entity counts from PostgreSQL), ``app``
(routes, pages in ``templates/``, CSS and JS in ``static/``, served by the app itself: no CDN, no build).
It needs PostgreSQL only: replay goes back through the outbox.
"""

from .app import ConsoleConfig, create_app

__all__ = ["ConsoleConfig", "create_app"]
