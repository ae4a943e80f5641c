"""Serve the sandbox from a shell: ``python -m sandbox --port 18080``.

Meant for demos and for running the DAGs by hand against realistic data; it
seeds the CRM on start-up and stops cleanly (exit status 0) on SIGINT or
SIGTERM, so process supervisors and ``docker stop`` see a normal exit.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import signal
import sys
from collections.abc import Generator, Sequence
from datetime import date
from types import FrameType

import uvicorn

from include.onboarding.clock import parse_clock
from sandbox.app import create_app
from sandbox.mail import MailSandbox
from sandbox.state import DEFAULT_START, SandboxState


class _Server(uvicorn.Server):
    """uvicorn server whose shutdown on a signal ends in a normal exit.

    Stock uvicorn re-raises the captured signal after shutting down, which
    makes the process die "killed by SIGTERM"; here the signal only asks for
    a graceful shutdown (a second SIGINT forces it).  Requests held by a
    ``timeout`` fault are released first, so shutdown does not wait for them.
    """

    def __init__(self, config: uvicorn.Config, state: SandboxState) -> None:
        super().__init__(config)
        self.sandbox_state = state

    @contextlib.contextmanager
    def capture_signals(self) -> Generator[None, None, None]:
        previous = {sig: signal.signal(sig, self._on_signal) for sig in (signal.SIGINT, signal.SIGTERM)}
        try:
            yield
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)

    def _on_signal(self, sig: int, frame: FrameType | None) -> None:
        if self.should_exit and sig == signal.SIGINT:
            self.force_exit = True
        self.sandbox_state.release_hangs()
        self.should_exit = True


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    """Command-line options."""
    parser = argparse.ArgumentParser(prog="python -m sandbox", description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1", help="interface to listen on (default: loopback only)")
    parser.add_argument("--port", type=int, default=18080)
    parser.add_argument("--seed", type=int, default=7, help="generator seed (same seed, same data)")
    parser.add_argument("--orders", type=int, default=40, help="signed orders to seed into the CRM")
    parser.add_argument("--bad-ratio", type=float, default=0.0, help="fraction of orders seeded with a defect")
    parser.add_argument("--start", type=date.fromisoformat, default=DEFAULT_START, help="first close date")
    parser.add_argument("--token", default=None, help="only accept this bearer token (default: any)")
    parser.add_argument(
        "--clock",
        default=os.environ.get("ONBOARDING_CLOCK", "system"),
        help="the simulated world's clock, as ONBOARDING_CLOCK describes it (default: that variable, or wall time)",
    )
    parser.add_argument(
        "--smtp-port", type=int, default=None,
        help="also run the SMTP server on this port (0: any free one) and the simulated customers who read its mail",
    )  # fmt: skip
    parser.add_argument("--log-level", default="info")
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    """Seed the state and serve in the foreground until a signal arrives."""
    args = parse_args(argv)
    clock = parse_clock(args.clock)
    state = SandboxState(token=args.token, clock=lambda: clock.now().timestamp())
    seeded = state.reset(seed=args.seed, orders=args.orders, bad_ratio=args.bad_ratio, start=args.start)
    print(f"sandbox: seeded {len(seeded)} CRM deals; serving on http://{args.host}:{args.port}", flush=True)
    config = uvicorn.Config(
        create_app(state), host=args.host, port=args.port, log_level=args.log_level, timeout_graceful_shutdown=2
    )
    server = _Server(config, state)
    mail = None
    if args.smtp_port is not None:
        mail = MailSandbox(args.host, args.smtp_port, mailbox=state.mailbox).start()
        state.smtp_port = mail.smtp_port
        state.customers.start()
        print(f"sandbox: SMTP on {args.host}:{mail.smtp_port}; simulated customers read its mail", flush=True)
    try:
        server.run()
    finally:
        if mail is not None:
            state.customers.stop()
            mail.stop()
    return 0 if server.started else 1


if __name__ == "__main__":
    sys.exit(main())
