"""The embedded broker: kombu's filesystem transport, with atomic publishing.

kombu's filesystem channel creates the message file under its final name and
then writes it, so a consumer listing the folder in between can take an empty
file. Here the message is written under a hidden temporary name in the same
folder and renamed into place (a rename is atomic within a file system).
"""

from __future__ import annotations

import os
import uuid
from time import monotonic
from typing import Any

from kombu.transport import filesystem
from kombu.utils.encoding import str_to_bytes
from kombu.utils.json import dumps


class Channel(filesystem.Channel):
    def _put(self, queue: Any, payload: Any, **kwargs: Any) -> None:  # type: ignore[override]
        name = f"{int(round(monotonic() * 1000))}_{uuid.uuid4()}.{queue}.msg"
        final = os.path.join(self.data_folder_out, name)
        # Starts with a dot: the consumer only takes names that end in ".<queue>.msg" after the first dot.
        temporary = os.path.join(self.data_folder_out, f".tmp-{uuid.uuid4().hex}")
        try:
            with open(temporary, "wb") as f:
                f.write(str_to_bytes(dumps(payload)))
            os.replace(temporary, final)
        except OSError as exc:
            try:
                os.unlink(temporary)
            except OSError:
                pass
            raise filesystem.ChannelError(f"cannot add a message to {self.data_folder_out}: {exc}") from exc


class Transport(filesystem.Transport):
    Channel = Channel
