"""Interrupting ``make demo`` stops every process it started.

The real demo runs as a user runs it: ``make demo`` in a session of its own (a
terminal's), with a private ``ONBOARDING_LOCAL_DIR`` and a marker variable of its own
in the environment.  Ctrl-C is SIGINT to the terminal's whole foreground process group
(make and Python) at a random moment of the first minute (start-up, then the month),
and once more while the demo stops; SIGTERM goes to ``make`` alone (which passes it on
to Python) a random moment into the month.  A demo killed outright (SIGKILL) stops
nothing; the next ``make demo`` must stop what it left and start afresh.  The moments
come from ``DEMO_INTERRUPT_SEED`` if set, otherwise from a seed printed with the outcome.

While the demo runs, every second, the test notes each process that is the demo's:
a descendant of make; one with the marker in its environment (PostgreSQL's server,
the sandbox and Airflow's components inherit it); one working in the private
directory (PostgreSQL's backends, whose environment, like that of Airflow's processes
that retitle themselves, reads empty); or one in the session or process group of
any of these.  Once the demo has exited, none of them may still be running, and a
fresh look by the same signs must find nothing.
"""

from __future__ import annotations

import contextlib
import os
import random
import re
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import psutil
import pytest

from localstack import stack
from localstack.postgres import EmbeddedPostgres

ROOT = Path(__file__).resolve().parents[1]
MARKER = "ONBOARDING_DEMO_INTERRUPT_MARK"
SEED = int(os.environ.get("DEMO_INTERRUPT_SEED") or random.SystemRandom().randrange(1_000_000))
EXIT_WITHIN = 120  # seconds from the signal to the demo's exit; stopping waits up to 8 s per group

pytestmark = [pytest.mark.stack, pytest.mark.skipif(shutil.which("make") is None, reason="needs make")]


def _as_a_terminal_starts_it() -> None:
    """Default signal dispositions, as a shell in a terminal gives ``make``.

    An ignored signal is inherited across exec, and code run earlier in this test process (Airflow's
    task runner among it) may have set SIGINT or SIGTERM to be ignored; the demo, like any program,
    then leaves them ignored, which is right for a background job but not what a user's Ctrl-C meets.
    """
    for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, signal.SIG_DFL)


class Watcher:
    """Notes, every second, the processes that are the demo's (see the module's docstring)."""

    def __init__(self, make: subprocess.Popen[bytes], marker: str, local: Path) -> None:
        self.make, self.marker, self.local = make, marker, str(local)
        self.started = time.time()
        self.seen: dict[tuple[int, float], psutil.Process] = {}
        self.done = threading.Event()
        self.thread = threading.Thread(target=self._watch, daemon=True)
        self.thread.start()

    def _watch(self) -> None:
        while not self.done.is_set():
            self.look()
            self.done.wait(1.0)

    def _ours(self, proc: psutil.Process) -> bool:
        return proc.environ().get(MARKER) == self.marker or f"{proc.cwd()}/".startswith(f"{self.local}/")

    def look(self) -> list[psutil.Process]:
        """The demo's processes running now; each is also noted as seen."""
        found: dict[int, psutil.Process] = {}
        with contextlib.suppress(psutil.Error):
            root = psutil.Process(self.make.pid)
            found.update((p.pid, p) for p in [root, *root.children(recursive=True)])
        for proc in psutil.process_iter():
            with contextlib.suppress(psutil.Error):
                if proc.pid not in found and self._ours(proc):
                    found[proc.pid] = proc
        ids = {*found, *(pid for pid, _ in self.seen)}
        for pid in psutil.pids():
            with contextlib.suppress(OSError, psutil.Error):
                if pid not in found and (os.getsid(pid) in ids or os.getpgid(pid) in ids):
                    proc = psutil.Process(pid)
                    if proc.create_time() >= self.started - 1:  # not some older process that took a freed id
                        found[pid] = proc
        running = [p for p in found.values() if _running(p)]
        for proc in running:
            with contextlib.suppress(psutil.Error):
                self.seen[(proc.pid, proc.create_time())] = proc
        return running

    def left(self) -> list[psutil.Process]:
        """What is still running of all that was seen, and of what a fresh look finds."""
        self.done.set()
        self.thread.join()
        left = {p.pid: p for p in self.seen.values() if _running(p)}
        left.update((p.pid, p) for p in self.look())
        return list(left.values())


def _running(proc: psutil.Process) -> bool:
    try:
        return proc.is_running() and proc.status() != psutil.STATUS_ZOMBIE  # an exited, unreaped one is not
    except psutil.Error:
        return False


def _describe(procs: list[psutil.Process]) -> str:
    rows = []
    for proc in procs:
        try:
            rows.append(f"  pid {proc.pid} (parent {proc.ppid()}, {proc.username()}): {' '.join(proc.cmdline())[:160]}")
        except psutil.Error:
            rows.append(f"  pid {proc.pid}: exited while listed")
    return "\n".join(rows)


@dataclass
class Demo:
    proc: subprocess.Popen[bytes]
    watcher: Watcher
    local: Path
    started: float = field(default_factory=time.monotonic)
    lines: list[tuple[float, str]] = field(default_factory=list)

    def output(self) -> str:
        return "".join(line for _, line in self.lines)

    def wait_for_line(self, pattern: str, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and self.proc.poll() is None:
            if any(re.search(pattern, line) for _, line in self.lines):
                return
            time.sleep(0.5)
        raise AssertionError(f"no line matching {pattern!r} within {timeout:.0f}s:\n{self.output()[-4000:]}")

    def left(self) -> list[psutil.Process]:
        """What is still running of the demo, once it had a few seconds to be reaped."""
        deadline = time.monotonic() + 5
        while (left := self.watcher.left()) and time.monotonic() < deadline:
            time.sleep(0.2)
        return left


@pytest.fixture
def start_demo(tmp_path: Path) -> Iterator[Callable[[], Demo]]:
    """Starts ``make demo`` in a new session, each time in the same private directory with the same marker.

    Afterwards whatever of any of them is still running is killed.
    """
    marker = f"{os.getpid()}-{time.time_ns()}"
    local = tmp_path / "local"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AIRFLOW", "ONBOARDING_", "DEMO_"))}
    env.update({"ONBOARDING_LOCAL_DIR": str(local), MARKER: marker, "PYTHONUNBUFFERED": "1"})
    # The interpreter running the tests, and no install step: the demo as installed, started by make.
    command = ["make", "--no-print-directory", "-o", ".venv/.installed", "demo", f"PY={sys.executable}"]
    started: list[Demo] = []

    def start() -> Demo:
        proc = subprocess.Popen(
            command,
            cwd=ROOT,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            preexec_fn=_as_a_terminal_starts_it,
        )
        demo = Demo(proc, Watcher(proc, marker, local), local)

        def read() -> None:
            assert proc.stdout is not None
            for raw in proc.stdout:
                demo.lines.append((time.monotonic(), raw.decode(errors="replace")))

        threading.Thread(target=read, daemon=True).start()
        started.append(demo)
        return demo

    try:
        yield start
    finally:
        for demo in started:
            if demo.proc.poll() is None:
                os.killpg(demo.proc.pid, signal.SIGKILL)
                demo.proc.wait()
            left = demo.watcher.left()
            for proc in left:
                with contextlib.suppress(psutil.Error):
                    proc.kill()
            psutil.wait_procs(left, timeout=10)


def _interrupt(demo: Demo, send: Callable[[], None], sig: signal.Signals, earlier: tuple[Demo, ...] = ()) -> None:
    """Send the signal, then check the exit, the message, that nothing is left, and that a new start is clean."""
    name = sig.name
    assert demo.proc.poll() is None, f"the demo ended before it was interrupted:\n{demo.output()[-4000:]}"
    sent = time.monotonic()
    send()
    try:
        status = demo.proc.wait(timeout=EXIT_WITHIN)
    except subprocess.TimeoutExpired:
        raise AssertionError(
            f"seed {SEED}: still running {EXIT_WITHIN}s after {name}:\n{demo.output()[-4000:]}"
        ) from None
    took = time.monotonic() - sent
    time.sleep(0.5)  # the reader's last lines
    output = demo.output()
    print(f"\nseed {SEED}: {name} at {sent - demo.started:.1f}s, exit {took:.1f}s later:\n{output[-1500:]}")

    left = {p.pid: p for d in (*earlier, demo) for p in d.left()}
    seen = {key for d in (*earlier, demo) for key in d.watcher.seen}
    print(f"{len(seen)} processes of the demo seen while it ran; {len(left)} left running")
    assert not left, f"seed {SEED}: left running after {name}:\n{_describe([*left.values()])}\n\n{output[-4000:]}"
    # Python exits with 128 + the signal's number, which make reports; make then exits by the signal.
    assert status == -sig, f"seed {SEED}: make's exit status {status}:\n{output[-4000:]}"
    assert f"] Error {128 + sig}" in output, f"seed {SEED}:\n{output[-4000:]}"
    assert re.search(rf"Interrupted \({name}\): stopped ", output), f"seed {SEED}:\n{output[-4000:]}"

    # A new start finds nothing stale: no pid files, no server's pid file, nothing to stop.
    assert not list(demo.local.glob("*.pid")), f"pid files left: {list(demo.local.glob('*.pid'))}"
    pg = EmbeddedPostgres(demo.local / "postgres")
    assert not (pg.data / "postmaster.pid").exists()
    with pytest.MonkeyPatch.context() as env:
        env.setenv("ONBOARDING_LOCAL_DIR", str(demo.local))
        assert stack.stop() == []
        if (pg.data / "PG_VERSION").exists():  # the cluster starts again, and stops
            pg.start()
            assert pg.stop()


def _ctrl_c(demo: Demo, again_after: float | None = None) -> Callable[[], None]:
    """Ctrl-C in a terminal: SIGINT to the foreground process group, make and Python alike.

    ``again_after``: an impatient second Ctrl-C that many seconds later, while the demo stops.
    """

    def send() -> None:
        os.killpg(demo.proc.pid, signal.SIGINT)
        if again_after is not None:
            time.sleep(again_after)
            with contextlib.suppress(ProcessLookupError):
                os.killpg(demo.proc.pid, signal.SIGINT)

    return send


def test_ctrl_c_twice_at_any_moment_of_the_first_minute_stops_everything(start_demo: Callable[[], Demo]) -> None:
    moments = random.Random(SEED)
    demo = start_demo()
    time.sleep(moments.uniform(5, 60))
    _interrupt(demo, _ctrl_c(demo, again_after=moments.uniform(0.2, 3)), signal.SIGINT)


def test_sigterm_to_make_during_the_month_stops_everything(start_demo: Callable[[], Demo]) -> None:
    demo = start_demo()
    demo.wait_for_line(r"the month begins", timeout=150)
    time.sleep(random.Random(SEED + 1).uniform(0, 40))
    # make passes SIGTERM on to Python and waits for it.
    _interrupt(demo, lambda: os.kill(demo.proc.pid, signal.SIGTERM), signal.SIGTERM)


def test_a_demo_killed_outright_is_cleared_by_the_next_one(start_demo: Callable[[], Demo]) -> None:
    killed = start_demo()
    killed.wait_for_line(r"the month begins", timeout=150)
    time.sleep(random.Random(SEED + 2).uniform(0, 10))
    os.killpg(killed.proc.pid, signal.SIGKILL)  # nothing can stop what it started: it all keeps running
    killed.proc.wait()
    assert killed.watcher.look(), "a demo killed outright left nothing running"

    demo = start_demo()  # stops what the killed one left, and starts from scratch
    demo.wait_for_line(r"the month begins", timeout=150)
    _interrupt(demo, _ctrl_c(demo), signal.SIGINT, earlier=(killed,))
