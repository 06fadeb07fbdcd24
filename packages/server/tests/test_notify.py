"""The in-process wake-up signal."""

from __future__ import annotations

import asyncio
from typing import Any

from sference_server.notify import Signal


def test_a_task_woken_by_one_event_sees_the_others_of_its_loop_set() -> None:
    """The worker waits on one event and then reads another (was new work queued?). Set from
    another thread in separate callbacks, the woken task could run between them and miss the
    second: an interactive request then waited a whole poll interval to be claimed."""

    async def main() -> tuple[bool, int]:
        signal = Signal()
        wake, new_work = asyncio.Event(), asyncio.Event()
        signal.subscribe(wake)
        signal.subscribe(new_work)
        loop = asyncio.get_running_loop()
        scheduled: list[Any] = []
        original = loop.call_soon_threadsafe

        def counting(callback: Any, *args: Any, **kwargs: Any) -> Any:
            if getattr(callback, "__module__", "") == "sference_server.notify" or callback in (wake.set, new_work.set):
                scheduled.append(callback)  # not asyncio's own (to_thread hands its result back this way)
            return original(callback, *args, **kwargs)

        loop.call_soon_threadsafe = counting  # type: ignore[method-assign]
        await asyncio.to_thread(signal.fire)
        await wake.wait()
        return new_work.is_set(), len(scheduled)

    seen, callbacks = asyncio.run(main())
    assert seen and callbacks == 1


def test_unsubscribed_events_are_not_set() -> None:
    async def main() -> bool:
        signal = Signal()
        kept, dropped = asyncio.Event(), asyncio.Event()
        signal.subscribe(kept)
        signal.subscribe(dropped)
        signal.unsubscribe(dropped)
        signal.fire()
        await kept.wait()
        return dropped.is_set()

    assert asyncio.run(main()) is False
