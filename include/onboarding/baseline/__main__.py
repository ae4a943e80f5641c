"""``python -m include.onboarding.baseline import-baseline FILE``: load a historical onboardings export.

Prints what was loaded and every row refused (line, column, why); the exit
status is 1 when any row was refused, 2 when the file could not be read at all.
The store is ``--database-url``, else ``ONBOARDING_DATABASE_URL``, else the
Airflow connection ``onboarding_db``.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from include.onboarding.baseline.load import import_file
from include.onboarding.baseline.parse import BaselineFileError


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m include.onboarding.baseline", description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True)
    one = commands.add_parser("import-baseline", help="check and load a CSV export of past onboardings")
    one.add_argument("file", type=Path)
    order = one.add_mutually_exclusive_group()
    order.add_argument(
        "--day-first",
        dest="day_first",
        action="store_true",
        default=None,
        help="read 02/03/2026 as 2 March (default: baseline.day_first in settings.yaml)",
    )
    order.add_argument("--month-first", dest="day_first", action="store_false", help="read 02/03/2026 as 3 February")
    one.add_argument(
        "--database-url",
        default=os.environ.get("ONBOARDING_DATABASE_URL"),
        help="the onboarding store (default: ONBOARDING_DATABASE_URL, else the connection onboarding_db)",
    )
    args = parser.parse_args(argv)

    from include.onboarding.clock import default_clock
    from include.onboarding.config import load_config
    from include.onboarding.store import Store, connect, connect_dsn, migrate

    conn = connect_dsn(args.database_url) if args.database_url else connect()
    try:
        migrate(conn)
        try:
            result = import_file(Store(conn), load_config(), args.file, default_clock().now(), args.day_first)
        except (BaselineFileError, OSError) as exc:
            print(f"{args.file}: {exc}", file=sys.stderr)
            return 2
    finally:
        conn.close()
    print(result.describe(), file=sys.stdout if result.ok else sys.stderr)
    return 0 if result.ok else 1


if __name__ == "__main__":
    sys.exit(main())
