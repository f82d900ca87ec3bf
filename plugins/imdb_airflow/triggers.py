"""The inbox's ``READY`` flag as an asset-watcher trigger, for an inbox folder and for a bucket.

A local inbox uses the standard provider's ``DirectoryFileDeleteTrigger``, which also creates the
folder when it starts watching (``InboxFlagTrigger``): the inbox exists as soon as ``imdb_score``
does, so the first file a user drops has somewhere to go. A bucket has no such
trigger in the providers (S3 event notifications through SQS are the production alternative, see
docs/production.md), so this one polls for the flag object and deletes it only while it is the
object seen (``If-Match``): two triggerers never both fire for one flag. The store calls block, so
they run in a thread, off the triggerer's event loop.
"""

from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import AsyncIterator
from typing import Any

from airflow.providers.standard.triggers.file import DirectoryFileDeleteTrigger
from airflow.triggers.base import BaseEventTrigger, TriggerEvent

log = logging.getLogger(__name__)


class InboxFlagTrigger(DirectoryFileDeleteTrigger):
    """``DirectoryFileDeleteTrigger`` that first creates the folder it watches (with its parents)."""

    def serialize(self) -> tuple[str, dict[str, Any]]:
        return ("imdb_airflow.triggers.InboxFlagTrigger", super().serialize()[1])

    @classmethod
    async def open_shared_stream(cls, kwargs: dict[str, Any]) -> AsyncIterator[Any]:
        try:
            await asyncio.to_thread(os.makedirs, kwargs["directory"], exist_ok=True)
        except OSError as error:  # the scan below says the same, as the provider reports it
            log.warning("cannot create the inbox %s: %s", kwargs["directory"], error)
        async for snapshot in super().open_shared_stream(kwargs):
            yield snapshot


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
