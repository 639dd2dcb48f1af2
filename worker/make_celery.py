"""The module the Celery command points at: ``celery -A worker.make_celery worker``.

It builds the Flask app from the environment (``GRADER_*``) and exposes its Celery app.
"""

from grader import create_app

flask_app = create_app()
celery_app = flask_app.extensions["celery"]
