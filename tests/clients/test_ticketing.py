"""The Jira client: issue requests in Jira's shapes, look-up by label, and answers missing what Jira documents."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from include.onboarding.clients.http import ApiClient, ApiError, Created
from include.onboarding.clients.ticketing import SUMMARY_LIMIT, JiraClient, label_for
from include.onboarding.connections import TICKETING_API
from tests.clients.conftest import fault

pytestmark = pytest.mark.unit


@pytest.fixture
def jira(client_for: Callable[[str], ApiClient]) -> JiraClient:
    return JiraClient(client_for(TICKETING_API), search_lag_seconds=0)


def _create(jira: JiraClient, label: str, **kw: Any) -> Created:
    outbound = jira.issue_request(project="ONB", summary="Kick-off", description="Kick-off call", labels=[label], **kw)
    return jira.read_issue(jira.api.send(outbound, resend_safe=False))


def test_a_label_carries_the_idempotency_key_in_the_characters_jira_allows() -> None:
    assert label_for("hubspot-1842:implementation_ticket") == "onb-hubspot-1842-implementation_ticket"
    assert label_for("Hubspot 1842: Kick-off") == "onb-hubspot-1842-kick-off"  # no spaces, no colons


def test_the_summary_is_one_line_within_jiras_limit_and_the_description_keeps_it_all(jira: JiraClient) -> None:
    name = "Kestrel\nAnalytics " + "x" * 400
    outbound = jira.issue_request(project="ONB", summary=name, description=name, labels=["onb-k"])
    fields = outbound.json["fields"]
    assert len(fields["summary"]) == SUMMARY_LIMIT and fields["summary"].endswith("…")
    assert fields["summary"].startswith("Kestrel Analytics x")
    assert fields["description"]["content"][0]["content"][0]["text"] == name  # Atlassian Document Format
    assert fields["issuetype"] == {"name": "Task"} and "parent" not in fields
    assert (outbound.method, outbound.endpoint, outbound.headers) == ("POST", "/rest/api/3/issue", {})


def test_a_created_issue_is_found_again_by_its_label(sandbox: Any, jira: JiraClient) -> None:
    assert jira.find_by_label(label="onb-hubspot-1-ticket") is None
    created = _create(jira, "onb-hubspot-1-ticket")
    assert created.id == "ONB-1" and created.url and created.url.endswith("/rest/api/3/issue/10001")
    assert jira.find_by_label(label="onb-hubspot-1-ticket") == created
    assert jira.find_by_label(label="onb-hubspot-2-ticket") is None


def test_a_sub_task_uses_the_sites_own_sub_task_type(sandbox: Any, jira: JiraClient) -> None:
    sandbox.state.ticketing.set_subtask_type_name("Unteraufgabe")
    parent = _create(jira, "onb-parent").id
    outbound = jira.issue_request(
        project="ONB", summary="Kick-off", description="call", labels=["onb-child"], parent=parent
    )
    assert outbound.json["fields"]["parent"] == {"key": parent}
    jira.read_issue(jira.api.send(outbound, resend_safe=False))
    assert [i["issuetype"] for i in sandbox.state.ledger()["ticketing"]["issues"]] == ["Task", "Unteraufgabe"]
    configured = jira.issue_request(
        project="ONB", summary="s", description="d", labels=[], parent=parent, subtask_type="Sub-task"
    )
    assert configured.json["fields"]["issuetype"] == {"name": "Sub-task"}  # as configured, no look-up


def test_a_project_without_sub_tasks_says_what_to_do(sandbox: Any, jira: JiraClient) -> None:
    sandbox.state.ticketing.add_project("NOSUB")
    types = sandbox.state.ticketing.issue_types
    sandbox.state.ticketing.issue_types = {name: kind for name, kind in types.items() if kind[1] >= 0}  # no sub-task
    with pytest.raises(ApiError, match="Jira project NOSUB has no sub-task issue type .*ticket_subtask_type"):
        jira.subtask_type(project="NOSUB")


def test_a_create_answer_without_its_key_names_it_and_the_issue_exists(sandbox: Any, jira: JiraClient) -> None:
    fault(sandbox, "ticketing", incomplete=1, incomplete_field="key")
    with pytest.raises(ApiError, match=r"ticketing POST /rest/api/3/issue answered without 'key'") as missing:
        _create(jira, "onb-hubspot-3-ticket")
    assert missing.value.retryable
    assert jira.find_by_label(label="onb-hubspot-3-ticket") == Created("ONB-1", f"{sandbox.url}/rest/api/3/issue/10001")


@pytest.mark.parametrize("field", ["issues", "issues.0.key"])
def test_a_search_answer_missing_what_jira_documents_names_it(sandbox: Any, jira: JiraClient, field: str) -> None:
    _create(jira, "onb-hubspot-4-ticket")
    fault(sandbox, "ticketing", incomplete=1, incomplete_field=field)
    expected = "a 'issues' list" if field == "issues" else "'key'"
    with pytest.raises(ApiError, match=f"search for label onb-hubspot-4-ticket answered without {expected}"):
        jira.find_by_label(label="onb-hubspot-4-ticket")
