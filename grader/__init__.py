"""The service: the Flask app factory, the JSON API, the models and the submission service layer."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Mapping

if TYPE_CHECKING:  # importing the package (e.g. for `grader check`) does not load Flask
    from flask import Flask

__all__ = ["create_app"]

MAX_ID = 2**31 - 1  # the ids are 32-bit integer columns


def _bounded_int() -> Any:
    from werkzeug.routing import IntegerConverter

    class BoundedInt(IntegerConverter):
        """``<int:...>`` in every route: at most :data:`MAX_ID`, so a huge number never reaches the database."""

        def __init__(self, map: Any, *args: Any, **kwargs: Any) -> None:
            kwargs.setdefault("max", MAX_ID)
            super().__init__(map, *args, **kwargs)

    return BoundedInt


def create_app(test_config: Mapping[str, Any] | None = None) -> Flask:
    """Build the web app from ``GRADER_*`` variables; ``test_config`` overrides them (same names, no prefix).

    Keys of ``test_config`` that are not grader settings (``TESTING``, ...) go to ``app.config`` as given.
    """
    from flask import Flask, jsonify

    from grader import api, context
    from grader.config import Settings
    from grader.db import Database
    from worker.celery_app import celery_init_app

    BoundedInt = _bounded_int()

    settings = Settings.from_env(overrides=test_config)
    settings.check_production()
    app = Flask(__name__, instance_path=str(settings.instance_path.resolve()))
    app.url_map.converters["int"] = BoundedInt  # /submissions/99999999999999999999 is a 404, not a 500
    app.config.from_mapping({name.upper(): value for name, value in vars(settings).items()})
    app.config.update(SECRET_KEY=settings.secret_key, MAX_CONTENT_LENGTH=settings.max_request_bytes)
    known = {name.upper() for name in vars(settings)}
    for key, value in (test_config or {}).items():
        if key.upper() not in known and not key.upper().startswith("GRADER_"):
            app.config[key] = value
    settings.instance_path.mkdir(parents=True, exist_ok=True)
    app.extensions["grader"] = context.GraderState(settings=settings, db=Database(settings.database_uri))
    context.init_app(app)
    app.extensions["grader"].celery = celery_init_app(app)
    app.register_blueprint(api.bp)
    api.register_error_handlers(app)
    from grader import dashboard  # the web pages (registered first, "/" is theirs; the API stays CSRF-exempt)
    dashboard.init_app(app)
    from grader import lti_views  # LTI 1.3: /lti/login, /lti/launch, /lti/jwks (CSRF-exempt: the LMS posts them)
    lti_views.init_app(app)

    if settings.proxy_count:
        from werkzeug.middleware.proxy_fix import ProxyFix

        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=settings.proxy_count,  # type: ignore[method-assign]
                                x_proto=settings.proxy_count, x_host=settings.proxy_count)

    @app.get("/healthz")
    def healthz() -> Any:
        """Liveness for load balancers and docker: the app answers and reaches the database."""
        try:
            app.extensions["grader"].db.ping()
        except Exception as exc:  # noqa: BLE001
            return jsonify(status="unavailable", error=f"database: {type(exc).__name__}"), 503
        return jsonify(status="ok")

    return app
