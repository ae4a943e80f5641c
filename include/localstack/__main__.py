"""``python -m include.localstack demo|stop``: the local stack from the command line.

``demo`` runs a month of signed orders through Airflow's own scheduler,
dag-processor, triggerer and api-server on the embedded PostgreSQL and the
sandbox, with business time accelerated (see :mod:`include.localstack.month_demo`).
``stop`` stops everything the local stack started.
"""

from __future__ import annotations

import argparse
import os
from datetime import date

from include.localstack import stack


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m include.localstack", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    run = sub.add_parser("demo", help="a month of onboardings on Airflow's scheduler, with an accelerated clock")
    env = os.environ.get
    run.add_argument("--orders", type=int, default=int(env("DEMO_ORDERS", "200")), help="signed orders in the month")
    run.add_argument("--seed", type=int, default=int(env("DEMO_SEED", "7")))
    run.add_argument("--bad-ratio", type=float, default=0.05, help="share of orders with bad CRM data")
    run.add_argument("--start", type=date.fromisoformat, default=date.fromisoformat(env("DEMO_START", "2026-11-02")),
                     help="first signing day (a Monday is best)")  # fmt: skip
    run.add_argument("--business-days", type=int, default=21, help="business days the orders are signed over")
    run.add_argument("--speed", type=float, default=float(env("DEMO_SPEED", "1440")),
                     help="business seconds per wall-clock second (1440: a 30-day month in 30 minutes)")  # fmt: skip
    run.add_argument("--ui", action="store_true", default=env("UI", "") not in ("", "0"),
                     help="leave Airflow (and the UI) running at the end; `make stop` stops it")  # fmt: skip
    run.add_argument("--parallelism", type=int, default=6, help="task instances Airflow runs at once")
    run.add_argument("--max-minutes", type=float, default=float(env("DEMO_MAX_MINUTES", "45")))
    run.add_argument("--quiet-hours", type=float, default=72,
                     help="end when all are live or escalated and nothing moved for this many hours")  # fmt: skip
    sub.add_parser("stop", help="stop everything the local stack started")
    args = parser.parse_args(argv)
    if args.command == "demo":
        from include.localstack import month_demo

        month_demo.run(month_demo.options(args))
    else:
        stopped = stack.stop()
        print(f"Stopped: {', '.join(stopped) or 'nothing was running'}")


if __name__ == "__main__":
    main()
