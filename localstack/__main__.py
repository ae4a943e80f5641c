"""``python -m localstack demo|stop``: the local stack from the command line.

``demo`` runs a month of signed orders through Airflow's own scheduler,
dag-processor, triggerer and api-server on the embedded PostgreSQL and the
sandbox, with business time accelerated (see :mod:`localstack.month_demo`).
``--celery`` runs it on the CeleryExecutor: an embedded broker and two Celery
workers instead of the LocalExecutor.  ``stop`` stops everything the local stack
started, the workers and the broker included.
"""

from __future__ import annotations

import argparse
import os
from datetime import date

from localstack import stack


def _int(value: str | None) -> int | None:
    return int(value) if value else None


def _float(value: str | None) -> float | None:
    return float(value) if value else None


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m localstack", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    run = sub.add_parser("demo", help="signed orders onboarded on Airflow's scheduler, with an accelerated clock")
    env = os.environ.get
    run.add_argument("--month", action="store_true", default=env("MONTH", "") not in ("", "0"),
                     help="the full month: 200 orders over 21 business days (about 45 minutes on 2 cores)")  # fmt: skip
    run.add_argument("--orders", type=int, default=_int(env("DEMO_ORDERS")),
                     help="signed orders (default 20, or 200 with --month)")  # fmt: skip
    run.add_argument("--seed", type=int, default=int(env("DEMO_SEED", "7")))
    run.add_argument("--bad-ratio", type=float, default=0.05, help="share of orders with bad CRM data")
    run.add_argument("--start", type=date.fromisoformat, default=date.fromisoformat(env("DEMO_START", "2026-11-02")),
                     help="first signing day (a Monday is best)")  # fmt: skip
    run.add_argument("--business-days", type=int, default=None,
                     help="business days the orders are signed over (default 2, or 21 with --month)")  # fmt: skip
    run.add_argument("--speed", type=float, default=_float(env("DEMO_SPEED")),
                     help="business seconds per wall second (default 2880; 1440 with --month)")  # fmt: skip
    run.add_argument("--ui", action="store_true", default=env("UI", "") not in ("", "0"),
                     help="leave Airflow (and the UI) running at the end; `make stop` stops it")  # fmt: skip
    run.add_argument("--parallelism", type=int, default=6, help="task instances Airflow runs at once")
    run.add_argument("--celery", action="store_true", default=env("CELERY", "") not in ("", "0"),
                     help="run on the CeleryExecutor: an embedded broker (Valkey) and Celery workers")  # fmt: skip
    run.add_argument("--workers", type=int, default=2, help="Celery workers, with --celery (default 2)")
    run.add_argument("--max-minutes", type=float, default=_float(env("DEMO_MAX_MINUTES")),
                     help="stop the month after this long (default 12, or 60 with --month)")  # fmt: skip
    run.add_argument("--quiet-hours", type=float, default=8,
                     help="end when all are settled and nothing moved for this long (business hours)")  # fmt: skip
    sub.add_parser("stop", help="stop everything the local stack started")
    args = parser.parse_args(argv)
    if args.command == "demo":
        from localstack import month_demo

        month_demo.run(month_demo.options(args))
    else:
        stopped = stack.stop()
        print(f"Stopped: {', '.join(stopped) or 'nothing was running'}")


if __name__ == "__main__":
    main()
