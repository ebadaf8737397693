"""Several notifiers behind one: every notice goes to each sink, in parallel.

A sink that already took a notice (same `notice_id`) is not asked again when the notice is retried
in this process, so a retry after one sink failed does not repeat the others. Across processes the
sinks' own idempotency applies (the Event Grid sink's stable CloudEvents id); a Teams card can then
repeat once, the at-least-once window the webhook's lack of an idempotency key leaves anyway.
"""

from __future__ import annotations

import asyncio
from collections import OrderedDict
from collections.abc import Sequence

from shared.notify.notice import Notice
from shared.ports import Notifier, SinkError

REMEMBERED_NOTICES = 10_000  # delivered (sink, notice id) pairs kept per process


class FanOutNotifier:
    def __init__(self, notifiers: Sequence[Notifier]) -> None:
        if not notifiers:
            raise ValueError("FanOutNotifier needs at least one notifier")
        self.notifiers = tuple(notifiers)
        self._delivered: OrderedDict[tuple[str, str], None] = OrderedDict()

    @property
    def name(self) -> str:
        return "+".join(n.name for n in self.notifiers)

    async def notify(self, notice: Notice) -> None:
        todo = [n for n in self.notifiers if (n.name, notice.notice_id) not in self._delivered]
        results = await asyncio.gather(*(n.notify(notice) for n in todo), return_exceptions=True)
        failed: list[str] = []
        for n, result in zip(todo, results, strict=True):
            if isinstance(result, BaseException):
                if not isinstance(result, Exception):
                    raise result  # cancellation / interpreter exit: not a sink failure
                failed.append(f"{n.name}: {type(result).__name__}: {str(result)[:200]}")
                continue
            self._delivered[(n.name, notice.notice_id)] = None
            while len(self._delivered) > REMEMBERED_NOTICES:
                self._delivered.popitem(last=False)
        if failed:
            raise SinkError("; ".join(failed), retryable=True)
