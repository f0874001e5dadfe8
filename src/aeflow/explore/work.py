"""Long requests (sampling) in a worker thread, stopped once the client has gone."""

import contextvars
import threading
from collections.abc import Callable
from typing import Any

import anyio
from fastapi import Request

from aeflow.progress import cancel_on


async def while_wanted(request: Request, compute: Callable[[], Any]) -> Any:
    """`compute()` in a worker thread, stopped at its next sampler step once the client has gone (a dropped
    request costs at most one step, not the whole of it)."""
    wanted_no_more = threading.Event()
    context = contextvars.copy_context()
    context.run(cancel_on, wanted_no_more)   # the worker's context, cancelled by the event

    async def watch() -> None:
        while not wanted_no_more.is_set():
            if await request.is_disconnected():
                wanted_no_more.set()
            await anyio.sleep(0.1)

    outcome: dict[str, Any] = {}

    async def work() -> None:   # its error is raised after the group, as itself (a group would wrap it)
        try:
            outcome["response"] = await anyio.to_thread.run_sync(context.run, compute)
        except Exception as error:  # noqa: BLE001 - re-raised below, to the app's handlers
            outcome["error"] = error
        finally:
            wanted_no_more.set()   # the watcher ends with the work

    async with anyio.create_task_group() as group:
        group.start_soon(watch)
        group.start_soon(work)
    if "error" in outcome:
        raise outcome["error"]
    return outcome["response"]
