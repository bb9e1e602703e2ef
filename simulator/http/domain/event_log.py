"""The simulator's event log (seed 004 Logs): the last SIZE records as SSE-ready dicts, fanned
out to live subscribers. One per simulator (`sim.events`): its events never reach another
simulator's log. While the app runs it also hears the process's `astrbot_sim` log records that
name no simulator (see `attach`)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import deque

SIZE = 500
log = logging.getLogger("astrbot_sim.system")


class EventLog(logging.Handler):
    def __init__(self, size: int = SIZE) -> None:
        super().__init__(logging.DEBUG)
        self.setFormatter(logging.Formatter("[%(asctime)s] [%(levelname)s] [%(name)s]: "
                                            "%(message)s"))
        self.size = size
        self.entries: deque[dict] = deque(maxlen=size)
        self.subscribers: set[tuple[asyncio.AbstractEventLoop, asyncio.Queue]] = set()
        self.seq = 0

    def attach(self) -> None:
        """Hear the `astrbot_sim` loggers (records of another simulator's log are skipped)."""
        logging.getLogger("astrbot_sim").addHandler(self)

    def detach(self) -> None:
        logging.getLogger("astrbot_sim").removeHandler(self)

    def event(self, level: int, msg: str, *args) -> None:
        """Log an event: always into this log, to the console as configured."""
        record = log.makeRecord(log.name, level, __file__, 0, msg, args, None)
        record.event_log = self
        self.handle(record)
        if log.isEnabledFor(level):
            record.ring_seen = True
            log.handle(record)

    def emit(self, record: logging.LogRecord) -> None:
        if getattr(record, "ring_seen", False) or getattr(record, "event_log", self) is not self:
            return
        try:
            self.seq += 1
            entry = {"seq": self.seq, "type": "log", "level": record.levelname,
                     "time": round(record.created, 3), "logger": record.name,
                     "data": self.format(record)}
            self.entries.append(entry)
            try:
                running = asyncio.get_running_loop()
            except RuntimeError:
                running = None
            for loop, queue in list(self.subscribers):
                if loop is running:
                    _offer(queue, entry)
                elif not loop.is_closed():
                    loop.call_soon_threadsafe(_offer, queue, entry)
        except Exception:  # a log handler never raises
            self.handleError(record)


def _offer(queue: asyncio.Queue, entry: dict) -> None:
    with contextlib.suppress(asyncio.QueueFull):  # a stalled reader loses entries, not memory
        queue.put_nowait(entry)
