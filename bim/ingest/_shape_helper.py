"""The geometry iterator in a helper process, so that the parse's Python work runs beside it.

ifcopenshell's iterator holds the GIL while it triangulates, so in one process the Python side of
a parse (attributes, footprints, volumes, the GLB) can only run between shapes.  The parse child
therefore forks a helper once the file is open (the parsed model is shared copy-on-write): the
helper runs the iterator with the same settings and threads as everywhere else and writes each
shape, as raw arrays, to a pipe; the child reads them as they come while it computes the
attributes, then the footprints.  On two cores the iterator and the Python work overlap instead
of adding up.

Failures keep their meaning: the helper reports an exception (a ``MemoryError`` or
``bad_alloc`` at the memory ceiling included) as a record, which the child raises again; a helper
killed by a signal makes the child die of the same signal, so the parent reports the same crash
as when the iterator ran in the child.  The helper dies with the child (``PR_SET_PDEATHSIG``),
so a timed-out parse leaves nothing running.
"""

from __future__ import annotations

import ctypes
import os
import signal
import struct
import threading
from collections.abc import Iterator, Sequence
from pathlib import Path

import ifcopenshell
import numpy as np

from bim import geometry

__all__ = ["ShapeHelper"]

# One record: kind (S shape, E end, X error), then per kind:
#   S: step id, vertex count, face count, GlobalId (22 ASCII bytes), vertices f8, faces i4
#   E: the helper's peak private memory growth (MiB, f8)
#   X: memory flag, text length, the exception's text (UTF-8)
_KIND = struct.Struct("<c")
_SHAPE = struct.Struct("<qii22s")
_END = struct.Struct("<d")
_ERROR = struct.Struct("<?i")
_PR_SET_PDEATHSIG = 1
_PIPE_BYTES = 1 << 20


def _private_mb() -> tuple[float, float]:
    """(peak private, current private) memory in MiB: VmHWM and RssAnon less file/shared pages."""
    fields: dict[str, float] = {}
    for line in Path("/proc/self/status").read_text().splitlines():
        key, _, value = line.partition(":")
        if key in ("VmHWM", "RssAnon", "RssFile", "RssShmem"):
            fields[key] = int(value.split()[0]) / 1024
    return (fields.get("VmHWM", 0.0) - fields.get("RssFile", 0.0) - fields.get("RssShmem", 0.0),
            fields.get("RssAnon", 0.0))


def _die_with_parent() -> None:
    try:
        ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
    except (OSError, AttributeError):  # not Linux: the broken pipe still stops the helper
        pass


def _produce(fd: int, model: ifcopenshell.file, elements: Sequence[ifcopenshell.entity_instance],
             threads: int | None, library: geometry.GeometryLibrary) -> None:
    """The helper's whole life: shapes to ``fd``, then the end (or error) record."""
    _, at_start = _private_mb()
    peak = at_start
    out = os.fdopen(fd, "wb", buffering=1 << 16)
    try:
        for n, shape in enumerate(geometry.iterate_shapes(model, elements=elements,
                                                          threads=threads, library=library)):
            if n % 64 == 0:       # a forked child inherits its parent's high-water mark: sample
                peak = max(peak, _private_mb()[1])
            v, f = shape.vertices, shape.faces
            out.write(_KIND.pack(b"S") + _SHAPE.pack(shape.step_id, len(v), len(f),
                                                     shape.global_id.encode("ascii", "replace")))
            out.write(np.ascontiguousarray(v, dtype=np.float64).data)
            out.write(np.ascontiguousarray(f, dtype=np.int32).data)
        peak = max(peak, _private_mb()[1])
        out.write(_KIND.pack(b"E") + _END.pack(max(peak - at_start, 0.0)))
    except BrokenPipeError:
        return
    except BaseException as exc:  # the child raises it again
        text = f"{type(exc).__name__}: {exc}".encode("utf-8", "replace")[:4000]
        memory = isinstance(exc, MemoryError) or "bad_alloc" in str(exc)
        out.write(_KIND.pack(b"X") + _ERROR.pack(memory, len(text)) + text)
    out.flush()


class ShapeHelper:
    """Shapes of ``elements`` from a forked helper process; iterate once, then :meth:`close`.

    ``memory_mb`` is the helper's peak private memory growth once the iteration has ended.
    """

    def __init__(self, model: ifcopenshell.file, elements: Sequence[ifcopenshell.entity_instance],
                 *, threads: int | None = None,
                 library: geometry.GeometryLibrary = geometry.LIBRARY) -> None:
        self.memory_mb = 0.0
        self._buffer = bytearray()
        self._pos = 0
        self._eof = False
        self._ready = threading.Condition()
        read, write = os.pipe()
        try:
            import fcntl

            fcntl.fcntl(write, fcntl.F_SETPIPE_SZ, _PIPE_BYTES)
        except (ImportError, AttributeError, OSError):
            pass  # the default pipe size works too, with more wake-ups
        try:
            pid = os.fork()
        except OSError:
            os.close(read)
            os.close(write)
            raise
        if pid == 0:  # the helper: never returns into the caller's code
            code = 0
            try:
                os.close(read)
                _die_with_parent()
                _produce(write, model, elements, threads, library)
            except BaseException:
                code = 1
            os._exit(code)
        os.close(write)
        self.pid = pid
        self._status: int | None = None
        self._fd = read
        try:  # a handle that cannot hit another process once this one is reaped
            self._pidfd: int | None = os.pidfd_open(pid)
        except (AttributeError, OSError):
            self._pidfd = None
        self._reader = threading.Thread(target=self._read, name="ifc-shape-reader", daemon=True)
        self._reader.start()

    def _read(self) -> None:
        """Drain the pipe into the buffer, then reap the helper (off the parse's path)."""
        # Big reads and one lock per read: this thread needs the GIL only once per chunk.
        while True:
            try:
                chunk = os.read(self._fd, _PIPE_BYTES)
            except InterruptedError:
                continue
            except OSError:
                chunk = b""
            with self._ready:
                if chunk:
                    self._buffer += chunk
                else:
                    self._eof = True
                self._ready.notify()
            if not chunk:
                break
        os.close(self._fd)
        try:
            self._status = os.waitpid(self.pid, 0)[1]
        except ChildProcessError:
            pass

    def _take(self, n: int) -> bytes | None:
        """The next ``n`` bytes of the stream, or None when it ended before them."""
        with self._ready:
            while len(self._buffer) - self._pos < n and not self._eof:
                self._ready.wait()
            if len(self._buffer) - self._pos < n:
                return None
            data = bytes(self._buffer[self._pos:self._pos + n])
            self._pos += n
            if self._pos > _PIPE_BYTES:  # drop what has been read
                del self._buffer[:self._pos]
                self._pos = 0
            return data

    def __iter__(self) -> Iterator[geometry.Shape]:
        while True:
            kind = self._take(_KIND.size)
            if kind == b"S":
                head = self._take(_SHAPE.size)
                if head is None:
                    break
                step_id, nv, nf, guid = _SHAPE.unpack(head)
                body = self._take(nv * 24 + nf * 12)
                if body is None:
                    break
                vertices = np.frombuffer(body, dtype=np.float64, count=nv * 3).reshape(-1, 3)
                faces = np.frombuffer(body, dtype=np.int32, offset=nv * 24).reshape(-1, 3)
                yield geometry.Shape(step_id, guid.decode("ascii"), vertices, faces)
            elif kind == b"E":
                end = self._take(_END.size)
                self.memory_mb = _END.unpack(end)[0] if end else 0.0
                return
            elif kind == b"X":
                head = self._take(_ERROR.size)
                memory, length = _ERROR.unpack(head) if head else (False, 0)
                text = (self._take(length) or b"").decode("utf-8", "replace")
                if memory:
                    raise MemoryError(text)
                raise RuntimeError(text)
            else:
                break
        self._died()

    def _died(self) -> None:
        """The stream ended without its end record: the helper was killed.  Die the same way."""
        self._reader.join()
        status = self._status
        if status is not None and os.WIFSIGNALED(status):
            sig = os.WTERMSIG(status)
            signal.signal(sig, signal.SIG_DFL)
            os.kill(os.getpid(), sig)
        raise RuntimeError(f"the geometry helper process ended unexpectedly (status {status})")

    def close(self, *, wait: bool = True) -> None:
        """Stop the helper if it still runs; with ``wait``, until it is reaped."""
        if self._reader.is_alive():
            try:
                if self._pidfd is not None:
                    signal.pidfd_send_signal(self._pidfd, signal.SIGKILL)
                else:
                    os.kill(self.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        if wait:
            self._reader.join()
        if self._pidfd is not None and not self._reader.is_alive():
            os.close(self._pidfd)
            self._pidfd = None

    def __enter__(self) -> ShapeHelper:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
