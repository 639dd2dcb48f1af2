"""The server-side key that hidden tests draw their inputs from, besides the report's seed.

A student sees the seed of their report and can install this package, so
inputs derived from the seed alone could be rebuilt at home: a hidden test
would not stay hidden. The inputs of every test that is not ``visible``
(``hidden``, ``after_due_date``) therefore also depend on
``HMAC-SHA256(key, seed, test id)``, with a key students never see. Visible
tests depend on the seed only, so ``grader check --seed N`` on a student's
machine draws exactly what the server drew.

The key, in order:

1. ``GRADER_HIDDEN_KEY``;
2. else derived from ``GRADER_SECRET_KEY`` when it is set to a real secret
   (production requires one), so every worker of a deployment agrees;
3. else (development, ``grader grade`` on an instructor's machine) a random
   key generated once in ``<instance>/hidden-test-key`` (mode 0600).

Instructors reproduce a report exactly with ``grader grade --seed N`` run with
the same key (the same environment as the workers); regrades use it as well.
Changing the key changes the hidden inputs of future gradings only. The
sandboxed child never sees it: its environment is cleared and the instance
folder is covered in every job.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import os
import secrets
from functools import lru_cache
from pathlib import Path

log = logging.getLogger(__name__)

KEY_FILE = "hidden-test-key"
_DEFAULT_SECRET = "dev-only-insecure-secret-key"  # grader.config.DEFAULT_SECRET_KEY (the engine needs no Flask)


def _instance_path() -> Path:
    env = os.environ.get("GRADER_INSTANCE_PATH")
    if env:
        return Path(env).expanduser()
    from grader.config import default_instance_path

    return default_instance_path()


@lru_cache(maxsize=8)
def _key(explicit: str, secret: str, instance: str) -> bytes:
    if explicit:
        return hashlib.sha256(b"grader hidden key\0" + explicit.encode()).digest()
    if secret and secret != _DEFAULT_SECRET and len(secret) >= 16:
        return hmac.new(secret.encode(), b"grader hidden test inputs", hashlib.sha256).digest()
    path = Path(instance) / KEY_FILE
    try:
        return bytes.fromhex(path.read_text().strip())
    except (OSError, ValueError):
        pass
    key = secrets.token_bytes(32)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write(key.hex() + "\n")
    except FileExistsError:  # another process made it first: use theirs
        return bytes.fromhex(path.read_text().strip())
    except OSError as exc:
        log.warning("cannot store the hidden-test key in %s (%s): hidden tests of this process use a "
                    "one-off key and cannot be reproduced; set GRADER_HIDDEN_KEY", path, exc)
    return key


def hidden_key() -> bytes:
    """The key of this process's configuration (see the module's docstring)."""
    return _key(os.environ.get("GRADER_HIDDEN_KEY", ""), os.environ.get("GRADER_SECRET_KEY", ""),
                str(_instance_path()))


def hidden_entropy(seed: int, test_id: str) -> list[int]:
    """Four 64-bit words for the generator of a non-visible test: unknowable without the key."""
    digest = hmac.new(hidden_key(), f"{int(seed)}\0{test_id}".encode(), hashlib.sha256).digest()
    return [int.from_bytes(digest[i:i + 8], "big") for i in range(0, 32, 8)]
