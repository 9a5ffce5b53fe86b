"""Visibility pages over HTTP from one thread that asks for the next page as soon as it
has read the last one.

Before, each page was fetched by its own ``asyncio.to_thread`` call started from the
event loop: the next request went out only once the loop ran again, i.e. after the
caller had converted the page just handed over (8-10 ms per 1,000-row page measured,
~80 ms of a 10,000-row list on a server answering in ~30 ms). The thread never waits
for the caller, only for room: at most ``AHEAD`` pages are fetched and not yet taken,
and none past ``want`` rows.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import AsyncIterator
from typing import Any

from adapters.temporal_http import HttpVisibility

Row = dict[str, Any]
AHEAD = 2
_ROOM_POLL_SECONDS = 0.5  # how often a thread waiting for room checks it was stopped


async def http_pages(
    http: HttpVisibility, query: str, page_size: int, want: int | None
) -> AsyncIterator[list[Row]]:
    loop = asyncio.get_running_loop()
    arrived: asyncio.Queue[tuple[list[Row], bool, BaseException | None]] = asyncio.Queue()
    stopped = threading.Event()
    room = threading.Semaphore(AHEAD)

    def hand_over(item: tuple[list[Row], bool, BaseException | None]) -> None:
        with contextlib.suppress(RuntimeError):  # the loop is gone: nobody is reading
            loop.call_soon_threadsafe(arrived.put_nowait, item)

    def fetch_all() -> None:
        token: str | None = None
        fetched = 0
        try:
            while True:
                while not room.acquire(timeout=_ROOM_POLL_SECONDS):
                    if stopped.is_set():
                        return
                if stopped.is_set():
                    return
                rows, token = http.list_page(query, page_size, token)
                fetched += len(rows)
                more = bool(token) and (want is None or fetched < want)
                hand_over((rows, more, None))
                if not more:
                    return
        except BaseException as error:  # handed to the reader, raised there
            hand_over(([], False, error))

    threading.Thread(target=fetch_all, name="opsdeck-pages", daemon=True).start()
    try:
        while True:
            rows, more, error = await arrived.get()
            room.release()
            if error is not None:
                raise error
            if rows:
                yield rows
            if not more:
                return
    finally:
        stopped.set()  # a caller that stops early: the thread asks for nothing more
