"""The execution side: the grading engine, the checks, the sandbox (and later the Celery tasks)."""

__version__ = "0.1.0"
