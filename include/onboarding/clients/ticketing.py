"""The ticketing client: Jira Cloud REST v3 issues and sub-tasks.

Jira's ``POST /rest/api/3/issue`` takes no idempotency key, so an issue is
found again by a label carrying the caller's key (:func:`label_for`) through
``/rest/api/3/search/jql``.  That search is eventually consistent: an issue
just created may not show for a while (``search_lag_seconds``), which is why a
create whose answer was lost is looked up for that long before it may be sent
again.

Jira's shapes, kept here: the summary is one line of at most 255 characters
(clipped with an ellipsis; the full text goes in the description), the
description is Atlassian Document Format, and the sub-task issue type is
named differently per site ("Sub-task", "Subtask", a translation): it is the
project's type marked ``subtask: true`` in its create metadata, looked up once
per connection and project.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any
from urllib.parse import quote

from include.onboarding.clients.http import (
    ApiClient,
    ApiError,
    ApiResponse,
    Created,
    Outbound,
    VendorClient,
    dig,
    require_list,
)
from include.onboarding.text import clip

ISSUE_ENDPOINT = "/rest/api/3/issue"
SEARCH_ENDPOINT = "/rest/api/3/search/jql"
SUMMARY_LIMIT = 255
DESCRIPTION_LIMIT = 32_767

_subtask_types: dict[tuple[str, str], dict[str, str]] = {}
"""(connection, project) -> the sub-task issue type, as the project's create metadata names it."""


def label_for(idempotency_key: str) -> str:
    """Jira labels cannot contain spaces or colons: one label per (onboarding, step)."""
    return "onb-" + re.sub(r"[^A-Za-z0-9_-]+", "-", idempotency_key).strip("-").lower()


def adf(text: str) -> dict[str, Any]:
    """A plain paragraph in Atlassian Document Format."""
    paragraph = {"type": "paragraph", "content": [{"type": "text", "text": text}]}
    return {"type": "doc", "version": 1, "content": [paragraph]}


class JiraClient(VendorClient):
    """Jira Cloud over an Airflow HTTP connection (``ticketing_api``: account email and API token)."""

    def __init__(self, api: ApiClient, *, search_lag_seconds: float = 30.0):
        super().__init__(api, search_lag_seconds=search_lag_seconds)

    def subtask_type(self, *, project: str, configured: str | None = None) -> dict[str, str]:
        """The issue type to create sub-tasks with: the configured name, else the project's ``subtask: true`` type."""
        if configured:
            return {"name": configured}
        cached = _subtask_types.get((self.api.conn_id, project))
        if cached is not None:
            return cached
        where = f"{self.system} issue types of project {project}"
        body = self.api.request("GET", f"{ISSUE_ENDPOINT}/createmeta/{quote(project)}/issuetypes").body
        types = require_list(self.system, body, "issueTypes" if dig(body, "values") is None else "values", where=where)
        found = next((t for t in types if isinstance(t, dict) and t.get("subtask") is True and t.get("id")), None)
        if found is None:
            names = ", ".join(str(t.get("name")) for t in types if isinstance(t, dict)) or "none"
            raise ApiError(
                self.system,
                f"Jira project {project} has no sub-task issue type (its types: {names}); "
                "enable sub-tasks in Jira or set runs.ticket_subtask_type",
            )
        _subtask_types[(self.api.conn_id, project)] = {"id": str(found["id"])}
        return _subtask_types[(self.api.conn_id, project)]

    def issue_request(
        self,
        *,
        project: str,
        summary: str,
        description: str,
        labels: Sequence[str],
        parent: str | None = None,
        subtask_type: str | None = None,
    ) -> Outbound:
        """``POST /rest/api/3/issue`` for a task, or a sub-task of ``parent`` (an issue key).

        The summary is made one line and clipped to Jira's 255 characters;
        ``subtask_type`` names the sub-task type where the site's is known.
        """
        fields: dict[str, Any] = {
            "project": {"key": project},
            "summary": clip(" ".join(summary.split()), SUMMARY_LIMIT),
            "issuetype": self.subtask_type(project=project, configured=subtask_type) if parent else {"name": "Task"},
            "labels": list(labels),
            "description": adf(clip(description, DESCRIPTION_LIMIT)),
        }
        if parent:
            fields["parent"] = {"key": parent}
        return Outbound("POST", ISSUE_ENDPOINT, json={"fields": fields})

    def read_issue(self, response: ApiResponse) -> Created:
        """The created issue's key and its REST URL."""
        key = self.require(response.body, "key", where=f"{self.system} POST {ISSUE_ENDPOINT}")
        return Created(str(key), dig(response.body, "self"))

    def find_by_label(self, *, label: str) -> Created | None:
        """The issue carrying ``label``, if Jira's search shows one yet."""
        where = f"{self.system} search for label {label}"
        body = self.api.request(
            "GET", SEARCH_ENDPOINT, params={"jql": f'labels = "{label}"', "fields": "summary,labels"}
        ).body
        issues = require_list(self.system, body, "issues", where=where)
        if not issues:
            return None
        return Created(str(self.require(issues[0], "key", where=where)), dig(issues[0], "self"))
