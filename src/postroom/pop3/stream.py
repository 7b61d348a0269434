"""The POP3 connection's byte stream: an asyncio Protocol that splits input into lines and can
answer a line on the spot, inside ``data_received``, without waking the connection's task.

Why not asyncio's StreamReader/StreamWriter: a client downloading its maildrop sends RETR 1,
waits for the message, sends RETR 2 ... With streams, every command costs a future, a task
wake-up and a timeout context before the session even sees the line; here a command whose
answer is ready (LIST, UIDL, STAT, NOOP, DELE, and RETR of a body already read ahead) is
answered in the callback that received it. Everything that needs to wait (a login, a store
read, STLS, QUIT's deletions) is handed to the connection's task, which reads the following
lines itself until it waits for input again.

    data_received --LineBuffer--> line --answer(line)--> answered here
                                                     \\--> (line, effect) for the task
"""

from __future__ import annotations

import asyncio
from typing import Any, Callable

from postroom.pop3.protocol import LineBuffer

# Input held while the task is busy, past which the socket stops being read (a client that
# pipelines without end cannot make the server buffer without limit).
PAUSE_READING_AT = 256 * 1024

# What ``answer`` returns when it answered the line itself.
ANSWERED: Any = object()
# What the task gets instead of a line when the client went away, or was quiet too long.
EOF: Any = object()
TIMEOUT: Any = object()


class LineStream(asyncio.Protocol):
    def __init__(self, max_line_length: int, start: Callable[["LineStream"], None]) -> None:
        self.lines = LineBuffer(max_line_length)
        self.transport: asyncio.Transport | None = None
        self._start = start
        self._waiter: asyncio.Future | None = None
        self._answer_here: Callable[[bytes], Any] | None = None
        self._eof = False
        self._reading_paused = False
        self._writing_paused = False
        self._drained: asyncio.Future | None = None
        self._idle: asyncio.TimerHandle | None = None
        self.last_input = 0.0

    # -- asyncio.Protocol

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]
        self.last_input = asyncio.get_running_loop().time()
        self._start(self)

    def data_received(self, data: bytes) -> None:
        self.last_input = asyncio.get_running_loop().time()
        self.lines.feed(data)
        if len(self.lines) > PAUSE_READING_AT and not self._reading_paused:
            self._reading_paused = True
            self.transport.pause_reading()
        self._dispatch()

    def eof_received(self) -> bool:
        # Lines already received are still answered; the task ends at the end of them. Over
        # TLS the transport closes itself (keeping it half-open is not supported there).
        self._eof = True
        self._dispatch()
        return self.transport.get_extra_info("sslcontext") is None

    def connection_lost(self, exc: Exception | None) -> None:
        self._eof = True
        self._wake(EOF)
        if self._drained is not None and not self._drained.done():
            self._drained.set_result(None)

    def pause_writing(self) -> None:
        self._writing_paused = True

    def resume_writing(self) -> None:
        self._writing_paused = False
        if self._drained is not None and not self._drained.done():
            self._drained.set_result(None)

    # -- for the connection's task

    def write(self, *pieces: bytes) -> None:
        if self.transport is None or self.transport.is_closing():
            return
        if len(pieces) == 1:
            self.transport.write(pieces[0])
        else:
            self.transport.writelines(pieces)

    async def drain(self) -> None:
        """Returns once the transport is below its high-water mark (at once if it is)."""
        if self._writing_paused and not self._eof:
            self._drained = asyncio.get_running_loop().create_future()
            await self._drained

    async def next_line(self, answer_here: Callable[[bytes], Any] | None = None,
                        timeout: float | None = None) -> Any:
        """The next line, EOF, or TIMEOUT after ``timeout`` seconds without input (input
        answered by ``answer_here`` counts). LineTooLong is raised as the buffer raises it.

        With ``answer_here``, lines that arrive while the task waits go to it first, in
        ``data_received``: it returns ANSWERED, or what the task is to get instead (it is
        then called no more until the task waits again). Nothing here cancels the waiting
        future, so a line handed over is never lost to a timeout."""
        line = self.lines.next_line()
        if self._reading_paused and len(self.lines) < PAUSE_READING_AT // 2:
            self._reading_paused = False
            self.transport.resume_reading()
        if line is not None:
            return line
        if self._eof:
            return EOF
        if self._reading_paused:        # waiting for input: it must be read
            self._reading_paused = False
            self.transport.resume_reading()
        loop = asyncio.get_running_loop()
        self._waiter = loop.create_future()
        self._answer_here = answer_here
        if timeout is not None:
            self._idle = loop.call_later(timeout, self._on_idle, timeout)
        try:
            return await self._waiter
        finally:
            self._waiter = None
            self._answer_here = None
            if self._idle is not None:
                self._idle.cancel()
                self._idle = None

    def _on_idle(self, timeout: float) -> None:
        loop = asyncio.get_running_loop()
        quiet = loop.time() - self.last_input
        if quiet < timeout:         # lines were answered meanwhile: wait out the rest
            self._idle = loop.call_later(timeout - quiet, self._on_idle, timeout)
        else:
            self._idle = None
            self._wake(TIMEOUT)

    def _dispatch(self) -> None:
        waiter = self._waiter
        if waiter is None or waiter.done():
            return
        while True:
            # A line too long goes to the task, which answers it (LineTooLong raised there).
            try:
                line = self.lines.next_line()
            except Exception as e:
                waiter.set_exception(e)
                return
            if line is None:
                if self._eof:
                    waiter.set_result(EOF)
                return
            try:
                outcome = self._answer_here(line) if self._answer_here is not None else line
            except Exception as e:      # a bug: the task reports it and ends the session
                waiter.set_exception(e)
                return
            if outcome is ANSWERED:
                if self._writing_paused or self.transport.is_closing():
                    # The client is not reading: the task waits for it (with its timeout).
                    waiter.set_result(ANSWERED)
                    return
                continue
            waiter.set_result(outcome)
            return

    def _wake(self, value: Any) -> None:
        if self._waiter is not None and not self._waiter.done():
            self._waiter.set_result(value)

    def close(self) -> None:
        if self.transport is not None and not self.transport.is_closing():
            self.transport.close()
