"""Server search for `/` text that the loaded rows do not answer (issue 13).

The `/` filter matches the loaded rows only (virtual rows: a window of the listing).
When the text is not found there and the engine holds more rows, the screen offers to
ask the engine itself: this module turns the typed text into each engine's query, or
says in one sentence why that engine cannot search. No textual imports.

Only Temporal's visibility can search by id: Step Functions' ListExecutions filters
by state machine and status, Logic Apps' runs ``$filter`` by status, start time and
client tracking id; neither by a run's name, which is what the id column shows.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from console.ports import WorkflowEngine

_WHY_NOT = {
    "stepfunctions": "Step Functions lists executions by state machine and status only "
    "(ListExecutions has no name filter), so the text filters the loaded rows",
    "logicapps": "Logic Apps filters runs by status, start time and client tracking id "
    "only, not by run name, so the text filters the loaded rows",
}


def quoted(text: str) -> str:
    """A visibility string literal. Temporal's SQL-like parser takes backslash escapes
    inside single quotes, so ``\\`` and ``'`` are escaped (a doubled quote is not)."""
    return "'" + text.replace("\\", "\\\\").replace("'", "\\'") + "'"


def temporal_search(text: str) -> str:
    """Ids starting with the text (what is typed is usually the head of an id), an
    exact type or an exact run id. STARTS_WITH is case-sensitive, unlike the filter."""
    literal = quoted(text)
    return f"WorkflowId STARTS_WITH {literal} OR WorkflowType = {literal} OR RunId = {literal}"


def search_query(engine: WorkflowEngine, text: str) -> tuple[str | None, str | None]:
    """(the engine's query for the text, None) or (None, why it cannot search)."""
    if engine.kind == "temporal":
        return temporal_search(text), None
    reason = _WHY_NOT.get(engine.kind, f"{engine.kind} has no server search in opsdeck")
    return None, reason


def searchable_text(text: str) -> bool:
    """Text worth sending: not empty and not the inverse filter (``!text``)."""
    text = text.strip()
    return bool(text) and not text.startswith("!")


@dataclass
class Search:
    """A server search: the text typed, each engine's query, the engines left out."""

    text: str
    queries: dict[str, str]
    skipped: dict[str, str] = field(default_factory=dict)  # engine -> why not

    @property
    def label(self) -> str:
        return f"search {self.text!r}"


@dataclass
class EngineListing(Search):
    """Queries for some engines only, the others left out, listed as a search is (escape
    goes back): `:triage` lists one failure group's runs on its engine this way, since
    its query is in that engine's syntax."""

    title: str = ""

    @property
    def label(self) -> str:
        return self.title or f"query {self.text}"


def plan_search(engines: dict[str, WorkflowEngine], text: str) -> Search:
    queries: dict[str, str] = {}
    skipped: dict[str, str] = {}
    for name, engine in engines.items():
        query, reason = search_query(engine, text.strip())
        if query is not None:
            queries[name] = query
        else:
            skipped[name] = reason or ""
    return Search(text.strip(), queries, skipped)
