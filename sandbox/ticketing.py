"""Ticketing, in the shape of the Jira Cloud REST API v3 (issues and JQL search).

What an integration can get wrong about Jira is reproduced: there is no
idempotency key, so posting the same issue twice creates two issues (callers
look up by label first); validation errors come back per field in
``{"errorMessages": [], "errors": {...}}``; descriptions must be Atlassian
Document Format; sub-tasks need a parent; ``/search/jql`` pages with an opaque
``nextPageToken``, returns only issue ids unless ``fields`` is given, refuses
unbounded queries and, when ``search_delay_seconds`` is set, does not yet see
issues created in that window (Jira's search index lags; ``reconcileIssues``
lists ids that must be current).  Basic (email and API token) or bearer
authentication is required.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import re
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import date, datetime, timezone
from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, Query, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field

from sandbox import jql
from sandbox.common import Clock, SystemStore, configured_token, json_body
from sandbox.systems import ErrorKind, SandboxSystem, VendorError

SYSTEM_NAME = "ticketing"
PREFIX = "/rest/api/3/"

DEFAULT_PROJECTS = ("ONB", "IMPL")
ISSUE_TYPES: dict[str, tuple[str, int]] = {
    "Epic": ("10000", 1),
    "Task": ("10001", 0),
    "Story": ("10002", 0),
    "Bug": ("10004", 0),
    "Sub-task": ("10003", -1),
}
"""Issue type name -> (id, hierarchy level), as a Jira Software project has them.

Sites name the sub-task type differently ("Subtask" in team-managed projects,
localised elsewhere); ``TicketingStore.set_subtask_type_name`` renames it, and
clients find it in the create metadata (the type with ``subtask: true``)."""

SETTABLE = frozenset({"project", "summary", "issuetype", "labels", "parent", "description", "duedate"})
DEFAULT_MAX_RESULTS = 50
MAX_RESULTS_IDS_ONLY = 5000
MAX_RESULTS_WITH_FIELDS = 100
NOT_FOUND = "Issue does not exist or you do not have permission to see it."
UNAUTHENTICATED = "You are not authenticated. Authentication required to perform this operation."

_DEFAULT_MESSAGES = {
    ErrorKind.VALIDATION: "Bad request.",
    ErrorKind.AUTHENTICATION: UNAUTHENTICATED,
    ErrorKind.NOT_FOUND: "Not Found",
    ErrorKind.RATE_LIMIT: "Rate limit exceeded.",
    ErrorKind.INTERNAL: "Internal server error",
}


def render_error(kind: ErrorKind, message: str | None) -> dict[str, Any]:
    """Jira's error body: a list of messages and a map of per-field errors."""
    return {"errorMessages": [message or _DEFAULT_MESSAGES[kind]], "errors": {}}


def _field_errors(errors: dict[str, str]) -> VendorError:
    """A 400 naming the offending fields, as Jira answers a bad create."""
    return VendorError(400, ErrorKind.VALIDATION, body={"errorMessages": [], "errors": errors})


def jira_time(seconds: float) -> str:
    """Jira's timestamp format: ``2026-10-01T12:00:00.000+0000``."""
    moment = datetime.fromtimestamp(seconds, tz=timezone.utc)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}+0000"


@dataclass
class Issue:
    """One issue as stored."""

    id: str
    key: str
    project: str
    summary: str
    issuetype: str
    labels: list[str]
    parent: str | None
    description: Any
    duedate: str | None
    created: float

    def jql_values(self) -> dict[str, list[str]]:
        """The issue as the JQL matcher sees it."""
        return {
            "labels": self.labels,
            "project": [self.project],
            "parent": [self.parent] if self.parent else [],
            "issuekey": [self.key, self.id],
            "issuetype": [self.issuetype],
            "status": ["To Do"],
            "summary": [self.summary],
        }

    def sort_key(self, name: str) -> tuple[Any, ...]:
        """Sort value for an ``ORDER BY`` field."""
        if name == "issuekey":
            return (self.project, int(self.key.rsplit("-", 1)[1]))
        if name == "created":
            return (self.created, int(self.id))
        return (int(self.id),)


def _sort_by(name: str) -> Callable[[Issue], tuple[Any, ...]]:
    """Sort key function for an ``ORDER BY`` field."""
    return lambda issue: issue.sort_key(name)


@dataclass
class _Project:
    key: str
    id: str
    name: str
    issue_count: int = 0


class TicketingStore(SystemStore):
    """Projects and issues of one Jira site."""

    def __init__(self, lock: threading.RLock, clock: Clock) -> None:
        super().__init__(lock, clock)
        self.search_delay_seconds = 0.0
        """How long a new issue stays invisible to JQL search (0: immediately searchable)."""
        self.issue_types: dict[str, tuple[str, int]] = dict(ISSUE_TYPES)
        """This site's issue types: name -> (id, hierarchy level; -1 for the sub-task type)."""
        self._projects: dict[str, _Project] = {}
        self._issues: dict[str, Issue] = {}
        self._next_id = 10001
        for key in DEFAULT_PROJECTS:
            self.add_project(key)

    # -- projects ------------------------------------------------------------------

    def add_project(self, key: str, name: str | None = None) -> None:
        """Make a project key valid for new issues (``ONB`` and ``IMPL`` exist from the start)."""
        if not re.fullmatch(r"[A-Z][A-Z0-9]{1,9}", key):
            raise ValueError(f"project key {key!r} must be 2-10 upper-case letters or digits")
        with self.lock:
            if key not in self._projects:
                project_id = str(10000 + len(self._projects))
                self._projects[key] = _Project(key, project_id, name or f"{key} project")

    def projects(self) -> list[str]:
        """Keys of the configured projects."""
        with self.lock:
            return list(self._projects)

    def find_project(self, key_or_id: str) -> str | None:
        """The key of the project with this key or id, if configured."""
        with self.lock:
            return next((p.key for p in self._projects.values() if key_or_id in (p.key, p.id)), None)

    # -- issue types ---------------------------------------------------------------

    def set_subtask_type_name(self, name: str) -> None:
        """Rename this site's sub-task issue type (issues already created keep theirs)."""
        with self.lock:
            old = next(n for n, (_, level) in self.issue_types.items() if level < 0)
            self.issue_types[name] = self.issue_types.pop(old)

    def is_subtask_type(self, name: str) -> bool:
        """Whether ``name`` is this site's sub-task type."""
        return self.issue_types.get(name, ("", 0))[1] < 0

    def issuetype_json(self, name: str, base: str) -> dict[str, Any]:
        """An issue type as Jira renders it."""
        type_id, level = self.issue_types.get(name) or ISSUE_TYPES.get(name, ("10003", -1))
        return {
            "self": f"{base}/rest/api/3/issuetype/{type_id}",
            "id": type_id,
            "name": name,
            "description": f"{name} issue type",
            "subtask": level < 0,
            "hierarchyLevel": level,
        }

    # -- issues --------------------------------------------------------------------

    def create_issue(self, fields: object) -> Issue:
        """Validate ``fields`` as Jira does and create the issue (always a new one)."""
        with self.lock:
            values = _validated(self, fields if isinstance(fields, dict) else {})
            project = self._projects[values["project"]]
            project.issue_count += 1
            issue = Issue(
                id=str(self._next_id),
                key=f"{project.key}-{project.issue_count}",
                created=self.clock(),
                **values,
            )
            self._next_id += 1
            self._issues[issue.id] = issue
            return issue

    def get(self, id_or_key: str) -> Issue | None:
        """An issue by id (``10001``) or key (``ONB-1``, any case)."""
        with self.lock:
            if id_or_key in self._issues:
                return self._issues[id_or_key]
            wanted = id_or_key.upper()
            return next((i for i in self._issues.values() if i.key == wanted), None)

    def search(self, query: jql.Query, reconcile: Iterable[str] = ()) -> list[Issue]:
        """Issues matching ``query`` in its order (creation order by default)."""
        with self.lock:
            visible_before = self.clock() - self.search_delay_seconds
            current = set(reconcile)
            found = [
                issue
                for issue in self._issues.values()
                if (issue.created <= visible_before or issue.id in current) and query.matches(issue.jql_values())
            ]
        for name, descending in reversed(query.order):  # stable sorts: least significant first
            found.sort(key=_sort_by(name), reverse=descending)
        return found

    def subtasks(self, key: str) -> list[Issue]:
        """Sub-tasks whose parent is ``key``."""
        with self.lock:
            return [i for i in self._issues.values() if i.parent == key and i.issuetype == "Sub-task"]

    def project(self, key: str) -> _Project:
        """A configured project (callers pass keys of existing issues)."""
        with self.lock:
            return self._projects[key]

    def check_jql_value(self, name: str, value: str) -> str | None:
        """Jira's complaint about a JQL value that names nothing, else ``None``."""
        if name == "project" and value.upper() not in self.projects():
            return f"The value '{value}' does not exist for the field 'project'."
        if name == "issuekey" and self.get(value) is None:
            return f"An issue with key '{value}' does not exist for field 'key'."
        if name == "issuetype" and value.casefold() not in {t.casefold() for t in self.issue_types}:
            return f"The value '{value}' does not exist for the field 'issuetype'."
        return None

    def ledger(self) -> dict[str, Any]:
        """Issues created, in creation order."""
        with self.lock:
            issues = [
                {
                    "key": i.key,
                    "summary": i.summary,
                    "labels": list(i.labels),
                    "parent": i.parent,
                    "issuetype": i.issuetype,
                    "project": i.project,
                }
                for i in self._issues.values()
            ]
            return {"issues": issues, "projects": list(self._projects)}


# -- validation -------------------------------------------------------------------------


def _validated(store: TicketingStore, fields: dict[str, Any]) -> dict[str, Any]:
    """The fields of a new issue, or a 400 listing every problem (as Jira does)."""
    errors: dict[str, str] = {}
    for name in fields:
        if name not in SETTABLE:
            errors[name] = f"Field '{name}' cannot be set. It is not on the appropriate screen, or unknown."
    project = _project(store, fields.get("project"), errors)
    summary = _summary(fields.get("summary"), errors)
    issuetype = _issuetype(store, fields.get("issuetype"), errors)
    labels = _labels(fields.get("labels"), errors)
    description = fields.get("description")
    if description is not None and not _is_adf(description):
        errors["description"] = "Operation value must be an Atlassian Document (see the Atlassian Document Format)"
    duedate = _duedate(fields.get("duedate"), errors)
    parent = _parent(store, fields.get("parent"), issuetype, project, errors)
    if errors:
        raise _field_errors(errors)
    return {
        "project": project,
        "summary": summary,
        "issuetype": issuetype,
        "labels": labels,
        "parent": parent,
        "description": description,
        "duedate": duedate,
    }


def _project(store: TicketingStore, raw: object, errors: dict[str, str]) -> str:
    if not isinstance(raw, dict) or not (raw.get("key") or raw.get("id")):
        errors["project"] = "Specify a valid project ID or key"
        return ""
    key = store.find_project(str(raw.get("key") or raw.get("id")))
    if key is None:
        errors["project"] = "valid project is required"
    return key or ""


def _summary(raw: object, errors: dict[str, str]) -> str:
    if not isinstance(raw, str) or not raw.strip():
        errors["summary"] = "You must specify a summary of the issue."
        return ""
    if "\n" in raw or "\r" in raw:
        errors["summary"] = "The summary is invalid because it contains newline characters."
    elif len(raw) > 255:
        errors["summary"] = "Summary must be less than 255 characters."
    return raw


def _issuetype(store: TicketingStore, raw: object, errors: dict[str, str]) -> str:
    if not isinstance(raw, dict) or not (raw.get("name") or raw.get("id")):
        errors["issuetype"] = "Specify an issue type"
        return ""
    wanted = str(raw.get("name") or raw.get("id"))
    for name, (type_id, _) in store.issue_types.items():
        if wanted in (name, type_id):
            return name
    errors["issuetype"] = "The issue type selected is invalid."
    return ""


def _labels(raw: object, errors: dict[str, str]) -> list[str]:
    if raw is None:
        return []
    if not isinstance(raw, list) or not all(isinstance(label, str) and label for label in raw):
        errors["labels"] = "Labels must be a list of non-empty strings."
        return []
    if any(re.search(r"\s", label) for label in raw):
        errors["labels"] = "Labels cannot contain spaces."
    elif any(len(label) > 255 for label in raw):
        errors["labels"] = "Labels must be less than 255 characters."
    return list(dict.fromkeys(raw))


def _is_adf(value: object) -> bool:
    """Whether ``value`` is an Atlassian Document Format document (top level only)."""
    return (
        isinstance(value, dict)
        and value.get("type") == "doc"
        and value.get("version") == 1
        and isinstance(value.get("content"), list)
    )


def _duedate(raw: object, errors: dict[str, str]) -> str | None:
    if raw is None:
        return None
    try:
        return date.fromisoformat(str(raw)).isoformat()
    except ValueError:
        errors["duedate"] = f"Error parsing date string: {raw}"
        return None


def _parent(store: TicketingStore, raw: object, issuetype: str, project: str, errors: dict[str, str]) -> str | None:
    """The parent's key; sub-tasks need one in their project, other types may only have an epic."""
    wanted = raw.get("key") or raw.get("id") if isinstance(raw, dict) else None
    subtask = store.is_subtask_type(issuetype)
    if wanted is None:
        if subtask:
            errors["parent"] = "Issue type is a sub-task but parent issue key or id not specified."
        return None
    parent = store.get(str(wanted))
    if parent is None:
        errors["parent"] = "Could not find issue by id or key."
        return None
    if subtask and store.is_subtask_type(parent.issuetype):
        errors["parent"] = "Issue type is a sub-task but the parent issue is itself a sub-task."
    elif subtask and project and parent.project != project:
        errors["parent"] = "A sub-task must be in the same project as its parent."
    elif not subtask and issuetype and parent.issuetype != "Epic":
        errors["parent"] = "Given parent work item does not belong to appropriate hierarchy."
    return parent.key


# -- rendering --------------------------------------------------------------------------------


def _issue_ref(store: TicketingStore, issue: Issue, base: str) -> dict[str, Any]:
    """How Jira shows a related issue (a parent or a sub-task)."""
    return {
        "id": issue.id,
        "key": issue.key,
        "self": f"{base}/rest/api/3/issue/{issue.id}",
        "fields": {
            "summary": issue.summary,
            "status": _STATUS,
            "issuetype": store.issuetype_json(issue.issuetype, base),
        },
    }


_STATUS = {"name": "To Do", "id": "10000", "statusCategory": {"id": 2, "key": "new", "name": "To Do"}}


def _fields(store: TicketingStore, issue: Issue, base: str) -> dict[str, Any]:
    """Every field of an issue, as Jira renders them."""
    project = store.project(issue.project)
    values: dict[str, Any] = {
        "summary": issue.summary,
        "issuetype": store.issuetype_json(issue.issuetype, base),
        "project": {
            "self": f"{base}/rest/api/3/project/{project.id}",
            "id": project.id,
            "key": project.key,
            "name": project.name,
        },
        "labels": list(issue.labels),
        "description": issue.description,
        "duedate": issue.duedate,
        "status": _STATUS,
        "created": jira_time(issue.created),
        "updated": jira_time(issue.created),
        "subtasks": [_issue_ref(store, sub, base) for sub in store.subtasks(issue.key)],
    }
    parent = store.get(issue.parent) if issue.parent else None
    if parent is not None:
        values["parent"] = _issue_ref(store, parent, base)
    return values


def _wanted_fields(raw: str | list[str] | None) -> set[str] | None:
    """Requested field names; ``None`` for all of them (not given, ``*all``, ``*navigable``)."""
    if raw is None:
        return None
    names = raw.split(",") if isinstance(raw, str) else list(raw)
    names = [n.strip() for n in names if n.strip()]
    if any(n in ("*all", "*navigable") for n in names):
        return None
    return set(names)


def issue_json(store: TicketingStore, issue: Issue, base: str, wanted: set[str] | None) -> dict[str, Any]:
    """An issue with all fields (``wanted`` None) or only the requested ones."""
    values = _fields(store, issue, base)
    if wanted is not None:
        values = {name: value for name, value in values.items() if name in wanted}
    return {
        "expand": "renderedFields,names,schema,operations,editmeta,changelog,versionedRepresentations",
        "id": issue.id,
        "self": f"{base}/rest/api/3/issue/{issue.id}",
        "key": issue.key,
        "fields": values,
    }


# -- search -----------------------------------------------------------------------------------------


class SearchBody(BaseModel):
    """Body of ``POST /rest/api/3/search/jql``."""

    jql: str = ""
    fields: list[str] | None = None
    maxResults: int = Field(default=DEFAULT_MAX_RESULTS)
    nextPageToken: str | None = None
    reconcileIssues: list[int] = Field(default_factory=list)


def _token(offset: int, query: str) -> str:
    """An opaque page token bound to the query it pages."""
    raw = json.dumps({"o": offset, "q": hashlib.sha1(query.encode()).hexdigest()[:12]})
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def _offset(token: str | None, query: str) -> int:
    """Decode a page token; a 400 if it was forged or belongs to another query."""
    if not token:
        return 0
    try:
        data = json.loads(base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)))
        offset = int(data["o"])
        matches = data["q"] == hashlib.sha1(query.encode()).hexdigest()[:12]
    except (ValueError, KeyError, TypeError, binascii.Error):
        matches = False
    if not matches:
        raise VendorError(400, ErrorKind.VALIDATION, "The provided next page token is invalid or expired.")
    return offset


def search(store: TicketingStore, base: str, body: SearchBody) -> dict[str, Any]:
    """Run an enhanced JQL search with Jira's paging and field rules."""
    wanted = _wanted_fields(body.fields)
    limit_cap = MAX_RESULTS_IDS_ONLY if body.fields is None else MAX_RESULTS_WITH_FIELDS
    if body.maxResults < 0:
        raise VendorError(400, ErrorKind.VALIDATION, "The maxResults parameter must not be negative.")
    try:
        query = jql.compile_jql(body.jql, store.check_jql_value)
    except jql.JqlError as exc:
        raise VendorError(400, ErrorKind.VALIDATION, str(exc)) from exc
    offset = _offset(body.nextPageToken, body.jql)
    found = store.search(query, [str(i) for i in body.reconcileIssues])
    limit = min(body.maxResults or DEFAULT_MAX_RESULTS, limit_cap)
    page = found[offset : offset + limit]
    if body.fields is None:
        issues = [{"id": issue.id} for issue in page]
    else:
        issues = [issue_json(store, issue, base, wanted) for issue in page]
    result: dict[str, Any] = {"issues": issues}
    if offset + limit < len(found):
        result["nextPageToken"] = _token(offset + limit, body.jql)
    result["isLast"] = "nextPageToken" not in result
    return result


# -- routes -------------------------------------------------------------------------------------------


def _store(request: Request) -> TicketingStore:
    store: TicketingStore = request.app.state.sandbox.ticketing
    return store


StoreDep = Annotated[TicketingStore, Depends(_store)]


def _base(request: Request) -> str:
    return str(request.base_url).rstrip("/")


def _authenticated(request: Request) -> None:
    """Basic ``email:api_token`` or a bearer token (the configured token, if any)."""
    scheme, _, credentials = (request.headers.get("authorization") or "").partition(" ")
    secret: str | None = None
    if scheme.lower() == "bearer":
        secret = credentials.strip() or None
    elif scheme.lower() == "basic":
        try:
            email, _, secret = base64.b64decode(credentials.strip(), validate=True).decode().partition(":")
        except (binascii.Error, UnicodeDecodeError):
            email, secret = "", None
        secret = secret if email and secret else None
    expected = configured_token(request)
    if secret is None or expected not in (None, secret):
        raise VendorError(401, ErrorKind.AUTHENTICATION)


router = APIRouter(prefix="/rest/api/3", dependencies=[Depends(_authenticated)])


@router.post("/issue", status_code=201)
async def create_issue(request: Request, store: StoreDep) -> JSONResponse:
    """``POST /rest/api/3/issue``: always creates; Jira has no idempotency key."""
    try:
        body = await json_body(request)
    except ValueError as exc:
        raise VendorError(400, ErrorKind.VALIDATION, f"Unexpected character in the request body: {exc}") from exc
    fields = body.get("fields") if isinstance(body, dict) else None
    issue = store.create_issue(fields)
    base = _base(request)
    return JSONResponse({"id": issue.id, "key": issue.key, "self": f"{base}/rest/api/3/issue/{issue.id}"}, 201)


@router.get("/issue/createmeta/{project_id_or_key}/issuetypes")
def create_meta_issue_types(
    project_id_or_key: str,
    request: Request,
    store: StoreDep,
    start_at: Annotated[int, Query(alias="startAt", ge=0)] = 0,
    max_results: Annotated[int, Query(alias="maxResults", ge=1, le=200)] = 50,
) -> dict[str, Any]:
    """``GET /rest/api/3/issue/createmeta/{projectIdOrKey}/issuetypes``: the types a project accepts."""
    if store.find_project(project_id_or_key) is None:
        raise VendorError(404, ErrorKind.NOT_FOUND, "No project could be found with key '" + project_id_or_key + "'.")
    base = _base(request)
    types = [store.issuetype_json(name, base) for name in list(store.issue_types)]
    page = types[start_at : start_at + max_results]
    return {"startAt": start_at, "maxResults": max_results, "total": len(types), "issueTypes": page}


FieldsParam = Annotated[list[str] | None, Query()]
"""``fields``: comma-separated, repeatable (``fields=summary,labels`` or ``fields=summary&fields=labels``)."""


def _field_list(fields: list[str] | None) -> list[str] | None:
    return None if fields is None else [name for value in fields for name in value.split(",")]


@router.get("/issue/{id_or_key}")
def read_issue(id_or_key: str, request: Request, store: StoreDep, fields: FieldsParam = None) -> dict[str, Any]:
    """``GET /rest/api/3/issue/{idOrKey}``."""
    issue = store.get(id_or_key)
    if issue is None:
        raise VendorError(404, ErrorKind.NOT_FOUND, NOT_FOUND)
    return issue_json(store, issue, _base(request), _wanted_fields(_field_list(fields)))


@router.get("/search/jql")
def search_get(
    request: Request,
    store: StoreDep,
    jql_text: Annotated[str, Query(alias="jql")] = "",
    fields: FieldsParam = None,
    max_results: Annotated[int, Query(alias="maxResults")] = DEFAULT_MAX_RESULTS,
    next_page_token: Annotated[str | None, Query(alias="nextPageToken")] = None,
    reconcile: Annotated[str | None, Query(alias="reconcileIssues")] = None,
) -> dict[str, Any]:
    """``GET /rest/api/3/search/jql``."""
    reconcile_ids = [int(i) for i in (reconcile or "").split(",") if i.strip().isdigit()]
    body = SearchBody(
        jql=jql_text,
        fields=_field_list(fields),
        maxResults=max_results,
        nextPageToken=next_page_token,
        reconcileIssues=reconcile_ids,
    )
    return search(store, _base(request), body)


@router.post("/search/jql")
def search_post(body: SearchBody, request: Request, store: StoreDep) -> dict[str, Any]:
    """``POST /rest/api/3/search/jql`` (for queries too long for a URL)."""
    return search(store, _base(request), body)


# -- admin ------------------------------------------------------------------------------------------


class ProjectBody(BaseModel):
    """Body of ``POST /_sandbox/ticketing/projects``."""

    key: str
    name: str | None = None


class TicketingSettings(BaseModel):
    """Body of ``POST /_sandbox/ticketing/settings``."""

    search_delay_seconds: float | None = Field(default=None, ge=0)
    subtask_type_name: str | None = Field(default=None, min_length=1)


admin_router = APIRouter()


@admin_router.post("/projects")
def add_project(body: ProjectBody, store: StoreDep) -> dict[str, Any]:
    """Add a project key that issues may be created in."""
    try:
        store.add_project(body.key, body.name)
    except ValueError as exc:
        raise HTTPException(status_code=400, detail=str(exc)) from exc
    return {"projects": store.projects()}


@admin_router.post("/settings")
def settings(body: TicketingSettings, store: StoreDep) -> dict[str, Any]:
    """Change how long new issues stay invisible to search, or the sub-task type's name."""
    if body.search_delay_seconds is not None:
        store.search_delay_seconds = body.search_delay_seconds
    if body.subtask_type_name is not None:
        store.set_subtask_type_name(body.subtask_type_name)
    return {"search_delay_seconds": store.search_delay_seconds, "issue_types": list(store.issue_types)}


SYSTEM = SandboxSystem(
    name=SYSTEM_NAME,
    prefix=PREFIX,
    router=router,
    render_error=render_error,
    admin_router=admin_router,
)
"""Jira as the app and the fault layer see it."""
