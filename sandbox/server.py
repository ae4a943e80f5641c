"""Run the sandbox in-process, on a free loopback port, for tests and demos.

Running uvicorn in a background thread (rather than a subprocess) lets a test
share the ``SandboxState`` object: it can seed deals, schedule faults and read
the request log directly, and the log's ``monotonic`` times are comparable
with the test's own clock.  The socket is bound before uvicorn starts, so the
port is known up front and two test runs never race for one.
"""

from __future__ import annotations

import socket
import threading
import time
import urllib.error
import urllib.request
from types import TracebackType

import uvicorn
from typing_extensions import Self

from sandbox.app import create_app
from sandbox.mail import MailSandbox
from sandbox.state import SandboxState

STARTUP_TIMEOUT_SECONDS = 10.0
STOP_TIMEOUT_SECONDS = 10.0

_DIRECT = urllib.request.build_opener(urllib.request.ProxyHandler({}))
"""Opener that ignores proxy settings: the sandbox is always on loopback."""


class SandboxServer:
    """Context manager serving the sandbox on ``127.0.0.1`` in a daemon thread.

    ``port=0`` (the default) picks a free port; ``url``, ``port`` and ``state``
    are available once started.
    """

    def __init__(
        self, state: SandboxState | None = None, host: str = "127.0.0.1", port: int = 0, *, mail: bool = False
    ) -> None:
        self.state = state if state is not None else SandboxState()
        self.host = host
        self.mail: MailSandbox | None = MailSandbox(host, mailbox=self.state.mailbox) if mail else None
        """With ``mail=True``: the SMTP server (customers' inboxes), and the simulated customers run."""
        self.app = create_app(self.state)
        self._requested_port = port
        self._socket: socket.socket | None = None
        self._port: int | None = None
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None

    @property
    def port(self) -> int:
        """The bound port (only meaningful once started)."""
        if self._port is None:
            raise RuntimeError("SandboxServer is not started")
        return self._port

    @property
    def url(self) -> str:
        """Base URL, e.g. ``http://127.0.0.1:54321`` (no trailing slash)."""
        return f"http://{self.host}:{self.port}"

    def start(self) -> Self:
        """Bind, serve in the background and wait until ``/_sandbox/health`` answers."""
        if self._thread is not None:
            return self
        self._socket = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._socket.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._socket.bind((self.host, self._requested_port))
        self._port = self._socket.getsockname()[1]
        config = uvicorn.Config(
            self.app,
            log_level="warning",
            access_log=False,
            lifespan="off",
            timeout_graceful_shutdown=2,
        )
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(
            target=self._server.run, kwargs={"sockets": [self._socket]}, name="sandbox-server", daemon=True
        )
        self._thread.start()
        self._wait_healthy()
        if self.mail is not None:
            self.mail.start()
            self.state.smtp_port = self.mail.smtp_port
            self.state.customers.start()
        return self

    def stop(self) -> None:
        """Ask uvicorn to exit, releasing requests held by ``timeout`` faults first."""
        if self._server is None or self._thread is None:
            return
        if self.mail is not None:
            self.state.customers.stop()
            self.mail.stop()
        self.state.release_hangs()
        self._server.should_exit = True
        self._thread.join(STOP_TIMEOUT_SECONDS)
        if self._socket is not None:
            self._socket.close()
        self._server = None
        self._thread = None

    def _wait_healthy(self) -> None:
        """Poll the health endpoint; fail loudly if the server never comes up."""
        deadline = time.monotonic() + STARTUP_TIMEOUT_SECONDS
        while time.monotonic() < deadline:
            if self._thread is not None and not self._thread.is_alive():
                break
            try:
                with _DIRECT.open(f"{self.url}/_sandbox/health", timeout=1) as response:
                    if response.status == 200:
                        return
            except (urllib.error.URLError, ConnectionError, TimeoutError):
                time.sleep(0.02)
        self.stop()
        raise RuntimeError(f"sandbox server did not become healthy on {self.host}:{self._requested_port}")

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()
