"""The Jira Cloud sandbox over real HTTP: issues, JQL search, errors and auth."""

from __future__ import annotations

import base64
from typing import Any

import pytest
import requests

from tests.sandbox.conftest import Vendor

BASIC = {"Authorization": "Basic " + base64.b64encode(b"ops@example.com:api-token").decode()}


def create(vendor: Vendor, summary: str = "Kick-off call", **fields: Any) -> requests.Response:
    body = {"project": {"key": "ONB"}, "summary": summary, "issuetype": {"name": "Task"}, **fields}
    return vendor.call("POST", "/rest/api/3/issue", json={"fields": body}, headers=BASIC)


def search(vendor: Vendor, jql: str, **params: Any) -> requests.Response:
    return vendor.call("GET", "/rest/api/3/search/jql", params={"jql": jql, **params}, headers=BASIC)


def jira_errors(response: requests.Response, status: int = 400) -> dict[str, Any]:
    assert response.status_code == status, response.text
    body: dict[str, Any] = response.json()
    assert set(body) == {"errorMessages", "errors"}
    return body


def test_create_then_read_by_key_and_id(vendor: Vendor) -> None:
    created = create(vendor, labels=["onb-acme"], duedate="2026-11-02")
    assert created.status_code == 201
    body = created.json()
    assert body == {"id": "10001", "key": "ONB-1", "self": f"{vendor.url}/rest/api/3/issue/10001"}
    issue = vendor.call("GET", "/rest/api/3/issue/ONB-1", headers=BASIC).json()
    assert issue["id"] == "10001"
    fields = issue["fields"]
    assert fields["summary"] == "Kick-off call"
    assert fields["labels"] == ["onb-acme"]
    assert fields["issuetype"]["name"] == "Task" and fields["issuetype"]["subtask"] is False
    assert fields["project"]["key"] == "ONB"
    assert fields["status"]["name"] == "To Do"
    assert fields["duedate"] == "2026-11-02"
    assert fields["created"] == "2026-10-01T09:00:00.000+0000"
    assert "parent" not in fields
    only = vendor.call("GET", "/rest/api/3/issue/10001", params={"fields": "summary"}, headers=BASIC).json()
    assert only["fields"] == {"summary": "Kick-off call"}
    repeated = {"fields": ["summary", "labels,duedate"]}
    two = vendor.call("GET", "/rest/api/3/issue/ONB-1", params=repeated, headers=BASIC).json()
    assert set(two["fields"]) == {"summary", "labels", "duedate"}
    missing = jira_errors(vendor.call("GET", "/rest/api/3/issue/ONB-99", headers=BASIC), 404)
    assert missing == {"errorMessages": ["Issue does not exist or you do not have permission to see it."], "errors": {}}


def test_a_second_identical_post_creates_a_second_issue(vendor: Vendor) -> None:
    first = create(vendor, labels=["onb-acme"]).json()
    second = create(vendor, labels=["onb-acme"]).json()
    assert (first["key"], second["key"]) == ("ONB-1", "ONB-2")
    found = search(vendor, 'labels = "onb-acme"', fields="summary").json()["issues"]
    assert [i["key"] for i in found] == ["ONB-1", "ONB-2"]
    assert len([i for i in vendor.state.ledger()["ticketing"]["issues"] if "onb-acme" in i["labels"]]) == 2


def test_look_up_first_keeps_one_issue_per_label(vendor: Vendor) -> None:
    def ensure(label: str) -> str:
        hits = search(vendor, f'labels = "{label}"', fields="summary").json()["issues"]
        if hits:
            return str(hits[0]["key"])
        return str(create(vendor, labels=[label]).json()["key"])

    assert ensure("onb-bolt") == ensure("onb-bolt") == "ONB-1"
    issues = vendor.admin("GET", "/ledger")["ticketing"]["issues"]
    assert [(i["key"], i["labels"]) for i in issues] == [("ONB-1", ["onb-bolt"])]


def test_validation_errors_name_each_field(vendor: Vendor) -> None:
    bad = vendor.call(
        "POST",
        "/rest/api/3/issue",
        json={"fields": {"project": {"key": "NOPE"}, "issuetype": {"name": "Sub-task"}, "description": "plain text"}},
        headers=BASIC,
    )
    errors = jira_errors(bad)
    assert errors["errorMessages"] == []
    assert errors["errors"] == {
        "project": "valid project is required",
        "summary": "You must specify a summary of the issue.",
        "description": "Operation value must be an Atlassian Document (see the Atlassian Document Format)",
        "parent": "Issue type is a sub-task but parent issue key or id not specified.",
    }
    unknown_parent = create(vendor, issuetype={"name": "Sub-task"}, parent={"key": "ONB-42"})
    assert jira_errors(unknown_parent)["errors"] == {"parent": "Could not find issue by id or key."}
    assert "assignee" in jira_errors(create(vendor, assignee={"id": "1"}))["errors"]
    assert "labels" in jira_errors(create(vendor, labels=["two words"]))["errors"]
    assert jira_errors(create(vendor, summary="line\nbreak"))["errors"]["summary"].startswith("The summary is invalid")
    assert vendor.state.ledger()["ticketing"]["issues"] == []


def test_sub_tasks_and_adf_descriptions(vendor: Vendor) -> None:
    doc = {"type": "doc", "version": 1, "content": [{"type": "paragraph", "content": [{"type": "text", "text": "Hi"}]}]}
    parent = create(vendor, description=doc).json()
    sub = create(vendor, summary="Collect VAT number", issuetype={"name": "Sub-task"}, parent={"key": parent["key"]})
    assert sub.status_code == 201, sub.text
    child = vendor.call("GET", f"/rest/api/3/issue/{sub.json()['key']}", headers=BASIC).json()
    assert child["fields"]["parent"]["key"] == parent["key"]
    assert child["fields"]["issuetype"]["subtask"] is True
    read = vendor.call("GET", f"/rest/api/3/issue/{parent['key']}", headers=BASIC).json()
    assert read["fields"]["description"] == doc
    assert [s["key"] for s in read["fields"]["subtasks"]] == [sub.json()["key"]]
    other_project = create(vendor, project={"key": "IMPL"}, issuetype={"name": "Sub-task"}, parent={"key": "ONB-1"})
    assert "parent" in jira_errors(other_project)["errors"]
    assert create(vendor, project={"key": "IMPL"}).json()["key"] == "IMPL-1"
    ledger = vendor.state.ledger()["ticketing"]["issues"]
    assert [(i["key"], i["parent"]) for i in ledger] == [("ONB-1", None), ("ONB-2", "ONB-1"), ("IMPL-1", None)]


def test_jql_clauses(vendor: Vendor) -> None:
    create(vendor, labels=["onb-a", "sso"])
    create(vendor, labels=["onb-b"])
    create(vendor, project={"key": "IMPL"}, labels=["onb-a"])
    create(vendor, summary="No labels")

    def keys(jql: str) -> list[str]:
        response = search(vendor, jql, fields="summary")
        assert response.status_code == 200, response.text
        return [i["key"] for i in response.json()["issues"]]

    assert keys('labels = "onb-a"') == ["ONB-1", "IMPL-1"]
    assert keys("labels = ONB-A") == ["ONB-1", "IMPL-1"]  # JQL values ignore case
    assert keys('labels in ("onb-a", "onb-b") AND project = ONB') == ["ONB-1", "ONB-2"]
    assert keys("project = IMPL") == ["IMPL-1"]
    assert keys('project = ONB AND labels != "onb-a"') == ["ONB-2"]  # != skips issues without labels
    assert keys("project = ONB AND labels IS EMPTY") == ["ONB-3"]
    assert keys("(labels = sso OR labels = onb-b) AND NOT project = IMPL") == ["ONB-1", "ONB-2"]
    assert keys('summary ~ "no labels"') == ["ONB-3"]
    assert keys("project = ONB ORDER BY key DESC") == ["ONB-3", "ONB-2", "ONB-1"]
    ids_only = search(vendor, "project = ONB").json()
    assert ids_only == {"issues": [{"id": "10001"}, {"id": "10002"}, {"id": "10004"}], "isLast": True}


@pytest.mark.parametrize(
    ("jql", "message"),
    [
        ("", "Unbounded JQL queries are not allowed here"),
        ("ORDER BY created", "Unbounded JQL queries are not allowed here"),
        ("assignee = currentUser()", "Field 'assignee' does not exist"),
        ("project = NOPE", "The value 'NOPE' does not exist for the field 'project'."),
        ('labels ~ "x"', "The operator '~' is not supported by the 'labels' field."),
        ('labels = "x" AND', "Error in the JQL Query"),
        ('labels = "unterminated', "Error in the JQL Query"),
    ],
)
def test_unsupported_jql_is_refused(vendor: Vendor, jql: str, message: str) -> None:
    body = jira_errors(search(vendor, jql))
    assert body["errorMessages"][0].startswith(message), body


def test_paging_with_next_page_token(vendor: Vendor) -> None:
    for n in range(7):
        create(vendor, summary=f"Task {n}", labels=["onb-paging"])
    seen: list[str] = []
    token: str | None = None
    while True:
        params: dict[str, Any] = {"fields": "summary", "maxResults": 3}
        if token:
            params["nextPageToken"] = token
        page = search(vendor, "labels = onb-paging", **params).json()
        seen += [i["fields"]["summary"] for i in page["issues"]]
        if page["isLast"]:
            assert "nextPageToken" not in page
            break
        token = page["nextPageToken"]
    assert seen == [f"Task {n}" for n in range(7)]
    assert token is not None
    other = search(vendor, "project = ONB", nextPageToken=token)
    assert jira_errors(other)["errorMessages"] == ["The provided next page token is invalid or expired."]
    posted = vendor.call(
        "POST", "/rest/api/3/search/jql", json={"jql": "labels = onb-paging", "maxResults": 5}, headers=BASIC
    ).json()
    assert len(posted["issues"]) == 5 and posted["isLast"] is False


def test_search_lags_behind_creates_unless_reconciled(vendor: Vendor) -> None:
    vendor.admin("POST", "/ticketing/settings", {"search_delay_seconds": 5})
    issue = create(vendor, labels=["onb-lag"]).json()
    assert search(vendor, "labels = onb-lag").json()["issues"] == []
    reconciled = search(vendor, "labels = onb-lag", reconcileIssues=issue["id"]).json()
    assert reconciled["issues"] == [{"id": issue["id"]}]
    vendor.clock.advance(5)
    assert search(vendor, "labels = onb-lag").json()["issues"] == [{"id": issue["id"]}]


def test_authentication(vendor: Vendor) -> None:
    none = vendor.call("GET", "/rest/api/3/issue/ONB-1")
    assert jira_errors(none, 401)["errorMessages"][0].startswith("You are not authenticated")
    assert vendor.call("GET", "/rest/api/3/issue/ONB-1", headers={"Authorization": "Basic !!"}).status_code == 401
    bearer = {"Authorization": "Bearer oauth-token"}
    assert vendor.call("GET", "/rest/api/3/issue/ONB-1", headers=bearer).status_code == 404
    vendor.state.token = "api-token"
    assert vendor.call("GET", "/rest/api/3/issue/ONB-1", headers=bearer).status_code == 401
    assert vendor.call("GET", "/rest/api/3/issue/ONB-1", headers=BASIC).status_code == 404


def test_projects_can_be_added(vendor: Vendor) -> None:
    assert jira_errors(create(vendor, project={"key": "OPS"}))["errors"] == {"project": "valid project is required"}
    assert vendor.admin("POST", "/ticketing/projects", {"key": "OPS"})["projects"] == ["ONB", "IMPL", "OPS"]
    assert create(vendor, project={"key": "OPS"}).json()["key"] == "OPS-1"
    vendor.state.reset()
    assert vendor.state.ticketing.projects() == ["ONB", "IMPL"]


def test_rate_limit_in_jira_shape(vendor: Vendor) -> None:
    vendor.admin("POST", "/faults", {"system": "ticketing", "rate_limit": 1, "retry_after": 2})
    limited = create(vendor)
    assert limited.headers["Retry-After"] == "2"
    assert jira_errors(limited, 429)["errorMessages"] == ["Rate limit exceeded."]
    assert create(vendor).status_code == 201
    log = vendor.admin("GET", "/requests?system=ticketing")
    assert [(r["status"], r["fault"]) for r in log] == [(429, "rate_limit"), (201, None)]
    assert vendor.state.ledger()["ticketing"]["issues"][0]["key"] == "ONB-1"


def test_create_metadata_names_the_sites_sub_task_type(vendor: Vendor) -> None:
    def types(project: str = "ONB") -> requests.Response:
        return vendor.call("GET", f"/rest/api/3/issue/createmeta/{project}/issuetypes", headers=BASIC)

    page = types().json()
    assert page["total"] == len(page["issueTypes"]) == 5
    assert [t["name"] for t in page["issueTypes"] if t["subtask"]] == ["Sub-task"]

    vendor.admin("POST", "/ticketing/settings", {"subtask_type_name": "Subtask"})
    subtask = next(t for t in types().json()["issueTypes"] if t["subtask"])
    assert subtask["name"] == "Subtask"
    parent = create(vendor).json()["key"]
    refused = jira_errors(create(vendor, issuetype={"name": "Sub-task"}, parent={"key": parent}))
    assert refused["errors"] == {"issuetype": "The issue type selected is invalid."}
    by_id = create(vendor, issuetype={"id": subtask["id"]}, parent={"key": parent})
    assert by_id.status_code == 201
    assert vendor.state.ledger()["ticketing"]["issues"][-1]["issuetype"] == "Subtask"
    assert jira_errors(types("NOPE"), 404)["errorMessages"] == ["No project could be found with key 'NOPE'."]


@pytest.mark.parametrize("fault", ["lost_after_commit", "dropped_after_commit", "garbled_after_commit"])
def test_an_answer_lost_after_the_commit_leaves_the_issue_created(vendor: Vendor, fault: str) -> None:
    vendor.admin("POST", "/faults", {"system": "ticketing", fault: 1})
    assert search(vendor, "project = ONB").status_code == 200  # reads pass the write fault by
    if fault == "dropped_after_commit":
        with pytest.raises(requests.exceptions.ChunkedEncodingError):
            create(vendor)
    else:
        answer = create(vendor)
        assert answer.status_code == (502 if fault == "lost_after_commit" else 200)
        with pytest.raises(ValueError):
            answer.json()
    assert [i["key"] for i in vendor.state.ledger()["ticketing"]["issues"]] == ["ONB-1"]  # committed all the same
    log = vendor.admin("GET", "/requests?system=ticketing")
    assert [r["fault"] for r in log] == [None, {"garbled_after_commit": "malformed_json"}.get(fault, fault)]


def test_an_incomplete_answer_lacks_only_the_named_field(vendor: Vendor) -> None:
    vendor.admin("POST", "/faults", {"system": "ticketing", "incomplete": 2, "incomplete_field": "key"})
    answer = create(vendor)
    assert answer.status_code == 201
    assert answer.json() == {"id": "10001", "self": f"{vendor.url}/rest/api/3/issue/10001"}  # no "key"
    vendor.admin("POST", "/faults", {"system": "ticketing", "incomplete": 1, "incomplete_field": "issues.0.key"})
    (issue,) = search(vendor, "project = ONB", fields="summary").json()["issues"]
    assert "key" not in issue and issue["id"] == "10001" and issue["fields"] == {"summary": "Kick-off call"}
    assert search(vendor, "project = ONB", fields="summary").json()["issues"][0]["key"] == "ONB-1"  # spent
    log = vendor.admin("GET", "/requests?system=ticketing")
    assert [r["fault"] for r in log] == ["incomplete", "incomplete", None]
