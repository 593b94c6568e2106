"""``wsgi.input``: the request body, read from the web server as it arrives.

The application can start reading before the whole body has come.  What
has arrived is kept, so the input can be rewound with ``seek``: in memory up
to a threshold, in a temporary file past it, so a large upload costs disk,
not memory.  With ``spool_body`` false nothing goes to disk: the first
``spool_threshold`` bytes are kept (a seek back to them works while the
body has not gone past them), and past the threshold each piece is handed
over as it is read and let go.
"""

import io
from typing import Any, Callable, List, Optional

from .errors import GatewayError

__all__ = ["ClientDisconnected", "Input", "RequestTooLarge"]

_EMPTY = b""


class ClientDisconnected(GatewayError, OSError):
    """The web server aborted the request, or went away, before the body
    ended: what was read of it is not the whole body."""


class RequestTooLarge(GatewayError, ValueError):
    """The request body is over the configured maximum."""

    def __init__(self, limit: int) -> None:
        ValueError.__init__(
            self, "the request body is over the %d byte maximum" % limit)
        self.limit = limit


class Input(io.RawIOBase):
    """A readable, seekable body that pulls more from the web server on
    demand.

    ``pull()`` returns the next piece of the body, or ``b""`` at its end.
    Up to ``spool_threshold`` bytes are kept in memory; past that they go to
    a temporary file in ``spool_dir``.  More than ``max_size`` bytes raise
    :class:`RequestTooLarge` (None: no limit).  ``pull()`` raises
    :class:`ClientDisconnected` when the body will never end; reads then
    keep raising it.
    """

    def __init__(self, pull: Optional[Callable[[], bytes]],
                 spool_threshold: int = 1 << 20,
                 max_size: Optional[int] = None,
                 spool_dir: Optional[str] = None,
                 spool_body: bool = True) -> None:
        # io.RawIOBase's __init__ is object's, which does nothing: not
        # called, one call fewer per request.
        self._pull = pull
        self._threshold = spool_threshold
        self._max_size = max_size
        self._spool_dir = spool_dir
        self._memory = bytearray()
        self._file = None
        self._size = 0
        self._pos = 0
        self._complete = pull is None
        self._too_large = False
        self._disconnected = None
        #: spool_body false: past the threshold nothing more is kept but
        #: the last piece, which starts at _piece_start.
        self._stream = not spool_body

    #: The last piece pulled (see _fill), and where the spool file's own
    #: position is (a seek is made only when it is elsewhere).
    _piece = _EMPTY
    _file_pos = 0
    _piece_start = 0
    #: Whether a piece was let go past the threshold (spool_body false):
    #: from then on only the last piece can be read again.
    _dropped = False

    # -- filling -----------------------------------------------------------

    @property
    def complete(self) -> bool:
        """True once the whole body has arrived."""
        return self._complete

    @property
    def received(self) -> int:
        """How many bytes of the body have arrived so far."""
        return self._size

    @property
    def spooled(self) -> bool:
        """True once the body went to a temporary file."""
        return self._file is not None

    def _fill(self):
        """Pull one more piece; False at the end of the body.  The piece
        is kept in ``_piece`` until the next one comes: a read at the end
        of what has arrived (the application reading the body as it
        comes) is served from it, not read back."""
        if self._too_large:
            raise RequestTooLarge(self._max_size)
        if self._disconnected is not None:
            raise ClientDisconnected(*self._disconnected.args)
        if self._complete:
            return False
        try:
            data = self._pull()
        except ClientDisconnected as error:
            self._disconnected = error
            raise
        if not data:
            self._complete = True
            self._piece = _EMPTY
            return False
        size = self._size + len(data)
        if self._max_size is not None and size > self._max_size:
            self._too_large = True
            raise RequestTooLarge(self._max_size)
        if self._stream:
            # Kept in memory while the body is within the threshold;
            # past it only the last piece is held.
            if self._size == len(self._memory) and size <= self._threshold:
                self._memory += data
            elif self._size > len(self._memory):
                self._dropped = True     # the previous piece is let go
            self._piece_start = self._size
            self._piece = data
            self._size = size
            return True
        if self._file is None and size > self._threshold:
            # Imported here: most bodies never spool, and tempfile
            # (shutil, random, lzma...) would slow every start.
            import tempfile
            self._file = tempfile.TemporaryFile(
                prefix="iiswsgi-body-", dir=self._spool_dir)
            self._file.write(self._memory)
            self._file_pos = self._size
            self._memory = None
        if self._file is None:
            self._memory += data
        else:
            if self._file_pos != self._size:
                self._file.seek(self._size)
            self._file.write(data)
            self._file_pos = size
        self._piece = data
        self._size = size
        return True

    # -- reading -----------------------------------------------------------

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def _segment(self):
        """spool_body false: (buffer, offset, end) of the bytes kept from
        the position on: the memory's, or the last piece's."""
        kept = len(self._memory)
        if self._pos < kept:
            return self._memory, self._pos, kept
        return (self._piece, self._pos - self._piece_start,
                self._size - self._piece_start)

    def _take(self, size):
        """Up to ``size`` bytes already received, from the position."""
        if self._stream:
            buffer, offset, end = self._segment()
            end = min(end, offset + size)
            if end <= offset:
                return _EMPTY
            self._pos += end - offset
            with memoryview(buffer) as view:
                return view[offset:end].tobytes()
        start = self._pos
        end = min(self._size, start + size)
        if end <= start:
            return _EMPTY
        self._pos = end
        if self._file is None:
            # Through a view: one copy (a bytearray slice is one more).
            with memoryview(self._memory) as view:
                return view[start:end].tobytes()
        if self._file_pos != start:
            self._file.seek(start)
        data = self._file.read(end - start)
        self._file_pos = end
        return data

    def read(self, size: Optional[int] = -1) -> bytes:
        if (size is None or size < 0) and self._stream:
            parts = []
            while True:
                part = self.read(1 << 16)
                if not part:
                    return _EMPTY.join(parts)
                parts.append(part)
        if size is None or size < 0:
            while self._fill():
                pass
            return self._take(self._size)
        if size == 0:
            return _EMPTY
        if self._pos >= self._size:
            if not self._fill():
                return _EMPTY
            piece = self._piece
            if (len(piece) <= size and type(piece) is bytes
                    and self._pos + len(piece) == self._size):
                # All of what just came: handed over as it is, without
                # a copy (or a read back from the file).
                self._pos = self._size
                return piece
        return self._take(size)

    def readall(self) -> bytes:
        return self.read()

    def readinto(self, buffer: Any) -> int:  # any writable buffer
        data = self.read(len(buffer))
        buffer[:len(data)] = data
        return len(data)

    def _find_newline(self, limit):
        """Index just past the next newline, filling as needed, or the end
        of what the body or ``limit`` allow."""
        start = self._pos
        searched = start
        while True:
            end = self._size if limit < 0 else min(self._size, start + limit)
            if self._file is None:
                found = self._memory.find(b"\n", searched, end)
            else:
                self._file.seek(searched)
                self._file_pos = -1     # somewhere past searched
                found = self._file.read(end - searched).find(b"\n")
                if found >= 0:
                    found += searched
            if found >= 0:
                return found + 1
            if (limit >= 0 and end - start >= limit) or not self._fill():
                return end
            searched = end

    def readline(self, size: Optional[int] = -1) -> bytes:
        if size is None:
            size = -1
        if self._stream:
            return self._stream_line(size)
        return self._take(self._find_newline(size) - self._pos)

    def _stream_line(self, size):
        parts = []
        total = 0
        while size < 0 or total < size:
            if self._pos >= self._size and not self._fill():
                break
            buffer, offset, end = self._segment()
            if size >= 0:
                end = min(end, offset + size - total)
            newline = buffer.find(b"\n", offset, end)
            stop = newline + 1 if newline >= 0 else end
            parts.append(bytes(buffer[offset:stop]))
            self._pos += stop - offset
            total += stop - offset
            if newline >= 0:
                break
        return _EMPTY.join(parts)

    def __iter__(self) -> "Input":
        return self

    def __next__(self) -> bytes:
        line = self.readline()
        if not line:
            raise StopIteration
        return line

    def readlines(self, hint: int = -1) -> List[bytes]:
        lines = []
        total = 0
        for line in self:
            lines.append(line)
            total += len(line)
            if 0 < hint <= total:
                break
        return lines

    def tell(self) -> int:
        return self._pos

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        if whence == io.SEEK_SET:
            target = offset
        elif whence == io.SEEK_CUR:
            target = self._pos + offset
        elif whence == io.SEEK_END:
            while self._fill():
                pass
            target = self._size + offset
        else:
            raise ValueError("invalid whence %r" % (whence,))
        if target < 0:
            raise ValueError("negative seek position %d" % target)
        while target > self._size and self._fill():
            pass
        target = min(target, self._size)
        if self._stream and self._dropped and target < self._piece_start:
            raise io.UnsupportedOperation(
                "cannot seek wsgi.input back to byte %d: with spool_body"
                " false, once a body is past spool_threshold (%d bytes)"
                " only its last piece (from byte %d on) is kept; set"
                " spool_body true (WSGI_SPOOL_BODY=true in the environment"
                " or appSettings) for a body that can be read again from"
                " anywhere" % (target, self._threshold, self._piece_start))
        self._pos = target
        return self._pos

    def close(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None
        self._memory = bytearray()
        io.RawIOBase.close(self)
