"""A minimal HTTP/1.1 client for the Hrana driver: one keep-alive connection, ``POST`` with a JSON body.

Why not :mod:`http.client`: it parses every answer's headers with the :mod:`email` package and sends
the headers and the body in two writes. At ~1,000 requests a second per process that is most of the
driver's CPU, taken under the GIL from every other thread of the server (``bench/bench_remote.py``).
This client writes each request with one ``sendall`` and reads the answer through one buffered file:
the status line, the few headers it needs (``Content-Length``, ``Transfer-Encoding``, ``Connection``)
and the body.

It tells the failures after which nothing ran apart from the rest: :class:`ConnectFailed` (the
server could not be reached), :class:`NotSent` (the connection was found closed while the request was
written: the server got nothing it could run) and :class:`NoAnswer` (a reused connection was closed
before any byte of an answer: the server closed an idle keep-alive connection as the request arrived,
HTTP/1.1 § 9.2.2). Everything else is an :class:`OSError` (``TimeoutError`` included) for the caller
to report.
"""

from __future__ import annotations

import socket
import ssl
from typing import BinaryIO

__all__ = ["ConnectFailed", "HttpConnection", "NoAnswer", "NotSent"]

_MAX_LINE = 65536


class ConnectFailed(ConnectionError):
    """The server could not be reached (refused, unreachable, TLS handshake failed, timed out)."""


class NotSent(ConnectionError):
    """The request could not be written: nothing reached the server."""


class NoAnswer(ConnectionError):
    """A reused connection was closed before any byte of the answer arrived."""


class HttpConnection:
    """One keep-alive HTTP/1.1 connection to ``host:port`` (TLS when ``secure``), opened on first use.

    Args:
        host: Server host name.
        port: Server port.
        secure: Use TLS (certificates verified against the system's store).
        timeout: Seconds allowed to connect, and for each read or write.
        headers: Extra request headers, sent with every request.
    """

    def __init__(
        self, host: str, port: int, *, secure: bool, timeout: float, headers: dict[str, str]
    ) -> None:
        self.host, self.port, self.secure, self.timeout = host, port, secure, timeout
        fixed = "".join(f"{name}: {value}\r\n" for name, value in headers.items())
        self._head = f"Host: {host}:{port}\r\n{fixed}"
        self._sock: socket.socket | None = None
        self._file: BinaryIO | None = None
        self._used = False  # an answer was read on this socket: it is a reused keep-alive connection

    def _open(self) -> None:
        sock = socket.create_connection((self.host, self.port), timeout=self.timeout)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        if self.secure:
            sock = ssl.create_default_context().wrap_socket(sock, server_hostname=self.host)
        self._sock, self._file, self._used = sock, sock.makefile("rb"), False

    def close(self) -> None:
        """Close the socket (the next request opens a new one)."""
        if self._file is not None:
            self._file.close()
        if self._sock is not None:
            self._sock.close()
        self._sock = self._file = None

    def post(self, path: str, body: bytes, content_type: str = "application/json") -> tuple[int, bytes]:
        """Send ``POST path`` with ``body``; returns the status and the whole body of the answer.

        Raises:
            ConnectFailed: The server could not be reached; nothing was sent.
            NotSent: The connection was lost while writing; nothing was sent.
            NoAnswer: A reused connection closed with no answer at all.
            OSError: Connecting failed, a timeout, or the connection broke mid-answer.
        """
        if self._sock is None:
            try:
                self._open()
            except OSError as exc:
                self.close()
                raise ConnectFailed(str(exc)) from None
        assert self._sock is not None and self._file is not None
        request = (
            f"POST {path} HTTP/1.1\r\n{self._head}Content-Type: {content_type}\r\n"
            f"Content-Length: {len(body)}\r\n\r\n"
        ).encode("latin-1") + body
        try:
            self._sock.sendall(request)
        except (BrokenPipeError, ConnectionResetError) as exc:
            self.close()
            raise NotSent(str(exc)) from None
        try:
            return self._answer(self._file)
        except BaseException:
            self.close()
            raise

    def _answer(self, file: BinaryIO) -> tuple[int, bytes]:
        line = file.readline(_MAX_LINE)
        if not line:
            reused, self._used = self._used, False
            self.close()
            if reused:
                raise NoAnswer("the server closed the connection")
            raise ConnectionResetError("the server closed the connection without an answer")
        parts = line.split(None, 2)
        if len(parts) < 2 or not parts[0].startswith(b"HTTP/1."):
            raise ConnectionError(f"not an HTTP/1.1 answer: {line[:80]!r}")
        status = int(parts[1])
        length: int | None = None
        chunked = keep = False
        keep = parts[0] == b"HTTP/1.1"
        while True:
            header = file.readline(_MAX_LINE)
            if header in (b"\r\n", b"\n"):
                break
            if not header:
                raise ConnectionResetError("the server closed the connection mid-answer")
            name, _, value = header.partition(b":")
            name = name.strip().lower()
            if name == b"content-length":
                length = int(value)
            elif name == b"transfer-encoding":
                chunked = b"chunked" in value.lower()
            elif name == b"connection":
                keep = value.strip().lower() != b"close"
        if chunked:
            data = self._chunks(file)
        elif length is not None:
            data = file.read(length)
            if len(data) < length:
                raise ConnectionResetError("the server closed the connection mid-answer")
        else:  # the body runs to the end of the connection
            data, keep = file.read(), False
        if keep:
            self._used = True
        else:
            self.close()
        return status, data

    @staticmethod
    def _chunks(file: BinaryIO) -> bytes:
        out = bytearray()
        while True:
            size_line = file.readline(_MAX_LINE)
            if not size_line:
                raise ConnectionResetError("the server closed the connection mid-answer")
            size = int(size_line.split(b";", 1)[0], 16)
            if size == 0:
                while file.readline(_MAX_LINE) not in (b"\r\n", b"\n", b""):  # trailers
                    pass
                return bytes(out)
            chunk = file.read(size)
            if len(chunk) < size:
                raise ConnectionResetError("the server closed the connection mid-answer")
            out += chunk
            file.readline(_MAX_LINE)
