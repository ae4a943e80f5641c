"""``python -m include.portal --host 127.0.0.1 --port 8790``: serve the customer portal with uvicorn."""

from __future__ import annotations

import argparse
import copy
from typing import Any

from include.onboarding.config import database_url


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m include.portal", description="Serve the customer portal.")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8790)
    parser.add_argument(
        "--database-url",
        default=database_url(),
        help="the onboarding store (default: ONBOARDING_DATABASE_URL, else the Airflow connection onboarding_db)",
    )
    args = parser.parse_args(argv)

    import uvicorn

    from include.portal.app import create_app

    app = create_app(database_url=args.database_url)
    uvicorn.run(app, host=args.host, port=args.port, proxy_headers=True, log_level="info", log_config=log_config())


def log_config() -> dict[str, Any]:
    """uvicorn's logging, with magic links redacted from the access log."""
    from uvicorn.config import LOGGING_CONFIG

    config = copy.deepcopy(LOGGING_CONFIG)
    config.setdefault("filters", {})["redact_links"] = {"()": "include.portal.security.RedactLinks"}
    config["handlers"]["access"]["filters"] = ["redact_links"]
    return config


if __name__ == "__main__":
    main()
