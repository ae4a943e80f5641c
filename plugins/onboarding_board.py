"""The onboarding board in the Airflow UI: a page for ops engineers, and a tab on every tier run.

The board's app (``include/board``) is mounted in the api-server at ``/board``;
every one of its routes requires Airflow's authentication.  The UI shows it
in the navigation ("Onboarding board") and, on the page of a run of an
``onboarding_<tier>`` DAG, as the run's "Account" tab.

Every Airflow process imports this file (task processes too, for macros), so
the app is built only when the api-server asks for it: importing FastAPI and
the board costs a task nothing.
"""

from __future__ import annotations

import logging
from functools import cache
from typing import Any

from airflow.plugins_manager import AirflowPlugin

log = logging.getLogger(__name__)
PREFIX = "/board"


@cache
def _board_app() -> Any:
    """The board's app; None (logged) when it cannot be built, so the rest of the api-server still starts."""
    try:
        from include.board.app import create_app

        return create_app()
    except Exception:
        log.exception("the onboarding board is not mounted: its app could not be built")
        return None


class OnboardingBoardPlugin(AirflowPlugin):
    name = "onboarding_board"
    external_views = [
        {
            "name": "Onboarding board",
            "href": f"{PREFIX}/",
            "url_route": "onboarding-board",
            "destination": "nav",
            "category": "browse",
            "icon": f"{PREFIX}/static/board.svg",
        },
        {
            "name": "Account",
            "href": f"{PREFIX}/runs/{{DAG_ID}}/{{RUN_ID}}",
            "url_route": "onboarding-account",
            "destination": "dag_run",
            "icon": f"{PREFIX}/static/board.svg",
        },
    ]

    @property  # type: ignore[override]
    def fastapi_apps(self) -> list[dict[str, Any]]:
        """Read by the api-server only, when it mounts plugin apps."""
        app = _board_app()
        return [] if app is None else [{"app": app, "url_prefix": PREFIX, "name": "Onboarding board"}]
