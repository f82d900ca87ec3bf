"""The inbox's ``READY`` flag as an asset-watcher trigger, for an inbox in a bucket.

A local inbox uses the standard provider's ``DirectoryFileDeleteTrigger``. A bucket has no such
trigger in the providers (S3 event notifications through SQS are the production alternative, see
docs/production.md), so this one polls for the flag object and deletes it only while it is the
object seen (``If-Match``): two triggerers never both fire for one flag. The store calls block, so
they run in a thread, off the triggerer's event loop.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

from airflow.triggers.base import BaseEventTrigger, TriggerEvent


class BucketFlagTrigger(BaseEventTrigger):
    """Fire once when the object ``url`` exists, after deleting it."""

    def __init__(self, *, url: str, poke_interval: float = 30.0) -> None:
        super().__init__()
        self.url = url
        self.poke_interval = poke_interval

    def serialize(self) -> tuple[str, dict[str, Any]]:
        return (
            "imdb_airflow.triggers.BucketFlagTrigger",
            {"url": self.url, "poke_interval": self.poke_interval},
        )

    async def run(self) -> AsyncIterator[TriggerEvent]:
        while True:
            try:
                taken = await asyncio.to_thread(self._take_flag)
            except OSError:  # a network blip: look again at the next poke
                self.log.warning("could not look for %s; trying again in %ss", self.url, self.poke_interval)
                taken = False
            if taken:
                self.log.info("flag %s taken", self.url)
                yield TriggerEvent({"flag": self.url})
                return
            await asyncio.sleep(self.poke_interval)

    def _take_flag(self) -> bool:
        from imdb_airflow.storage import use_artifact_connection
        from imdb_pipeline.store import object_store

        use_artifact_connection()
        flag = object_store.parse(self.url)
        store = flag.store
        etag = store.etag(flag)
        if etag is None:
            return False
        try:
            store.delete_if(flag, etag)
        except object_store.PreconditionFailed:
            return False  # replaced or taken meanwhile: the next poke decides
        except FileNotFoundError:
            return False
        return True
