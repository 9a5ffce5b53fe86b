"""Approval requests in the TUI: `:approvals` (the CLI's `opsdeck approvals`).

ApprovalsScreen lists the requests waiting (pending first, then approved and ready to
apply; `c` shows the closed ones too: applied, denied, expired). Enter opens
ApprovalScreen: who asked for what and why, the policy's reasons, the approvals so far,
and the frozen plan call by call with its hash. On either screen `a` approves, `d`
denies (a reason is required) and `A` applies an approved engine action: it is planned
again in this context and shown in the usual confirmation dialog, and the gate applies
it only if the plan is still the frozen one. Queue and chaos requests re-run the command
they were filed by, which `opsdeck approvals apply ID` does; the screen says so.

The store's rules are the only rules (console.approvals.store): approving one's own
request, twice, or from outside the approver groups is refused with its reason. The
store is read and written in thread workers; the identity is the session's (OIDC when
configured, else unverified).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, ClassVar, cast

from rich.markup import escape
from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.message import Message
from textual.screen import ModalScreen
from textual.widgets import Button, DataTable, Footer, Input, Label, Static
from textual.worker import Worker

from console.tui.format import parse_time, relative_time
from console.tui.keys import KeysScreen

if TYPE_CHECKING:
    from console.approvals.store import ApprovalRequest
    from console.policy.model import Identity
    from console.tui.app import OpsdeckApp

STATUS_STYLE = {
    "pending": "yellow",
    "approved": "green",
    "applied": "dim",
    "denied": "red",
    "expired": "dim",
}
OPEN = ("pending", "approved")


def open_approvals(app: Any, argument: str = "") -> None:
    """`:approvals [ID]` and the command palette: the list, or straight to one request."""
    screen = ApprovalsScreen()
    app.push_screen(screen)
    if argument.strip():
        app.push_screen(ApprovalScreen(argument.strip()))


def session_identity(session: Any) -> Identity:
    """Who approves here: the session's gate identity (verified when OIDC says so)."""
    gate = getattr(session, "gate", None)
    if gate is not None:
        return cast("Identity", gate.identity)
    from console.identity.current import unverified_user
    from console.policy.model import Identity

    return Identity(unverified_user(None))


def _store() -> Any:
    from console.approvals.store import ApprovalStore

    return ApprovalStore()


def error_text(exc: BaseException) -> str:
    from console.errors import OpsdeckError

    if isinstance(exc, OpsdeckError):
        return str(exc) + (f" ({exc.hint})" if exc.hint else "")
    return f"{type(exc).__name__}: {exc}"


def status_text(status: str) -> Text:
    return Text(status, STATUS_STYLE.get(status, ""))


def detail_text(request: ApprovalRequest, now: datetime) -> Text:
    """One request as plain text (never markup): the CLI's `approvals show`, in full."""
    data = request.as_dict(now)
    text = Text()
    text.append(f"Request {data['id']}: ", style="bold")
    text.append_text(status_text(data["status"]))
    text.append(f"\n{data['action']} in context {data['context']}, engine {data['engine']}\n")
    created, expires = parse_time(data["created"]), parse_time(data["expires_at"])
    text.append(f"requested by {data['requester']} {relative_time(created, now)}")
    text.append(f" ({data['created']}), expires {relative_time(expires, now)}\n")
    if data["reason"]:
        text.append(f"reason: {data['reason']}\n")
    decision = data["decision"]
    text.append("policy: ", style="bold")
    text.append(f"{decision.get('result')}: {'; '.join(decision.get('reasons') or []) or '-'}\n")
    groups = ", ".join(data["approver_groups"]) or "anyone but the requester"
    text.append(f"needs {data['needed']} approval(s) from {groups}\n")
    for a in data["approvals"]:
        text.append(f"  approved by {a['user']} at {a['time']}", style="green")
        text.append(f": {a['reason']}\n" if a["reason"] else "\n")
    if data["denied"]:
        d = data["denied"]
        text.append(f"  denied by {d['user']} at {d['time']}: {d['reason']}\n", style="red")
    if data["applied_at"]:
        text.append(f"  applied by {data['applied_by']} at {data['applied_at']}\n", style="dim")
    text.append(f"\nfrozen plan ({data['plan_hash']}):\n", style="bold")
    calls = data["plan"].get("calls") or []
    for call in calls:
        text.append(f"  {call.get('call')}  ", style="bold")
        text.append(f"{call.get('target')}\n")
        params = call.get("params") or {}
        for key in sorted(params):
            text.append(f"      {key}: ", style="dim")
            text.append(f"{params[key]}\n")
    for target in [] if calls else data["targets"]:
        text.append(f"  {target}\n")
    if not calls and data["plan"]:
        spec = {k: v for k, v in data["plan"].items() if k not in ("calls",)}
        for key in sorted(spec):
            text.append(f"  {key}: ", style="dim")
            text.append(f"{spec[key]}\n")
    text.append("\n")
    text.append_text(next_step(request, now))
    text.rstrip()
    return text


def next_step(request: ApprovalRequest, now: datetime) -> Text:
    """What can happen to this request now, in words."""
    from console.approvals.apply import is_engine_action

    status = request.status_at(now)
    if status == "pending":
        left = request.needed - len(request.approvals)
        return Text(f"waiting for {left} more approval(s): a approves, d denies", "yellow")
    if status == "approved" and is_engine_action(request):
        return Text("approved: A applies exactly this plan (it is planned again first)", "green")
    if status == "approved":
        return Text(f"approved: apply with `opsdeck approvals apply {request.id}`", "green")
    return Text(f"{status}: nothing more can happen to it", "dim")


# -- messages ---------------------------------------------------------------------------


class ApprovalsListed(Message):
    def __init__(self, requests: Sequence[ApprovalRequest], error: str | None) -> None:
        super().__init__()
        self.requests = list(requests)
        self.error = error


class ApprovalLoaded(Message):
    def __init__(self, request: ApprovalRequest | None, error: str | None) -> None:
        super().__init__()
        self.request = request
        self.error = error


class VerdictRecorded(Message):
    def __init__(self, verdict: str, request: ApprovalRequest | None, error: str | None) -> None:
        super().__init__()
        self.verdict = verdict
        self.request = request
        self.error = error


# -- the reason dialog ------------------------------------------------------------------


class VerdictScreen(ModalScreen[str | None]):
    """Approve (comment optional) or deny (reason required) one request."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "back", "Back, change nothing", id="opsdeck.approvals.verdict.back"),
    ]

    def __init__(self, verdict: str, request_id: str, summary: str) -> None:
        super().__init__()
        self.verdict = verdict
        self.request_id = request_id
        self.summary = summary

    def compose(self) -> ComposeResult:
        deny = self.verdict == "deny"
        with Vertical(id="verdict-dialog", classes="-destructive" if deny else ""):
            yield Static(Text(f"{self.verdict.capitalize()} request {self.request_id}"))
            yield Static(Text(self.summary, style="dim"))
            yield Label("Reason (required)" if deny else "Comment (optional)")
            yield Input(id="verdict-reason")
            with Horizontal(id="verdict-buttons"):
                yield Button("Back (esc)", id="verdict-back")
                yield Button(
                    f"{self.verdict.capitalize()} {self.request_id}",
                    id="verdict-apply",
                    variant="error" if deny else "success",
                    disabled=deny,
                )
        yield Footer()

    def on_mount(self) -> None:
        self.query_one("#verdict-reason", Input).focus()

    @on(Input.Changed, "#verdict-reason")
    def _changed(self, event: Input.Changed) -> None:
        if self.verdict == "deny":
            self.query_one("#verdict-apply", Button).disabled = not event.value.strip()

    @on(Input.Submitted, "#verdict-reason")
    def _submitted(self) -> None:
        self._done()

    @on(Button.Pressed, "#verdict-apply")
    def _pressed(self) -> None:
        self._done()

    @on(Button.Pressed, "#verdict-back")
    def action_back(self) -> None:
        self.dismiss(None)

    def _done(self) -> None:
        reason = self.query_one("#verdict-reason", Input).value.strip()
        if self.verdict == "deny" and not reason:
            self.notify("a denial needs a reason", severity="warning")
            return
        self.dismiss(reason)


# -- shared by the list and the detail --------------------------------------------------


class VerdictKeys(KeysScreen[None]):
    """a / d / A on the request under the cursor (list) or shown (detail)."""

    @property
    def opsdeck(self) -> OpsdeckApp:
        return cast("OpsdeckApp", self.app)

    def now(self) -> datetime:
        now: datetime = self.opsdeck.now()
        return now if now.tzinfo else now.replace(tzinfo=UTC)

    def chosen(self) -> ApprovalRequest | None:
        raise NotImplementedError

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action not in ("approve", "deny", "apply"):
            return True
        if action == "apply" and self.opsdeck.read_only:
            return False  # read-only hides the key, as on every other view
        request = self.chosen()
        if request is None:
            return None
        status = request.status_at(self.now())
        if action == "apply":
            return True if status == "approved" else None
        return True if status in OPEN else None

    def action_approve(self) -> None:
        self._ask("approve")

    def action_deny(self) -> None:
        self._ask("deny")

    def _ask(self, verdict: str) -> None:
        request = self.chosen()
        if request is None or request.status_at(self.now()) not in OPEN:
            return
        summary = f"{request.action} of {len(request.change.get('targets') or ())} target(s)"
        summary += f" in {request.context}, requested by {request.requester}"

        def answered(reason: str | None) -> None:
            if reason is not None:
                self._record(verdict, request.id, reason, session_identity(self.opsdeck.session))

        self.app.push_screen(VerdictScreen(verdict, request.id, summary), answered)

    @work(exclusive=True, group="approvals-verdict", thread=True, exit_on_error=False)
    def _record(self, verdict: str, request_id: str, reason: str, identity: Identity) -> None:
        store = _store()
        try:
            if verdict == "approve":
                request = store.approve(request_id, identity, reason)
            else:
                request = store.deny(request_id, identity, reason)
        except Exception as exc:  # refusals (own request, groups) are the store's reasons
            self.post_message(VerdictRecorded(verdict, None, error_text(exc)))
            return
        finally:
            store.close()
        self.post_message(VerdictRecorded(verdict, request, None))

    def on_verdict_recorded(self, message: VerdictRecorded) -> None:
        if message.error is not None or message.request is None:
            self.notify(
                escape(message.error or "unknown error"),
                title=f"not {message.verdict}d",
                severity="error",
                timeout=10,
            )
            return
        request = message.request
        status = request.status_at(self.now())
        text = f"request {request.id} {message.verdict}d: now {status}"
        text += f" ({len(request.approvals)}/{request.needed} approvals)"
        self.notify(escape(text), title="approvals")
        self.reload()

    def reload(self) -> None:
        raise NotImplementedError

    def action_apply(self) -> None:
        from console.approvals.apply import engine_request, is_engine_action

        request = self.chosen()
        if request is None or request.status_at(self.now()) != "approved":
            return
        app = self.opsdeck
        if not is_engine_action(request):
            self.notify(
                escape(
                    f"{request.action} re-runs its command: opsdeck approvals apply {request.id}"
                ),
                title="apply from the CLI",
                timeout=10,
            )
            return
        if request.context != app.context_name:
            self.notify(
                escape(
                    f"request {request.id} is for context {request.context}: :ctx {request.context}"
                ),
                title="another context",
                severity="warning",
            )
            return
        if app._refuse_action():
            return
        from console.errors import OpsdeckError

        try:
            action = engine_request(request)
        except OpsdeckError as exc:  # masked parameters: only the CLI can give them again
            self.notify(escape(error_text(exc)), title=exc.title, severity="warning", timeout=12)
            return
        applying = app.remediate(
            action.kind,
            list(action.targets),
            dict(action.params),
            request.engine,
            approval_id=request.id,
            reason=action.reason,
        )
        self._after(applying)

    @work(group="approvals-after", exit_on_error=False)
    async def _after(self, applying: Worker[None]) -> None:
        """Show the request as the apply left it (applied, or still approved)."""
        import contextlib

        with contextlib.suppress(Exception):  # the app's notification says what failed
            await applying.wait()
        self.reload()


# -- the list ---------------------------------------------------------------------------


class ApprovalsScreen(VerdictKeys):
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "back", "Back", id="opsdeck.approvals.back"),
        Binding("enter", "open", "Request", id="opsdeck.approvals.open"),
        Binding("a", "approve", "Approve…", id="opsdeck.approvals.approve"),
        Binding("d", "deny", "Deny…", id="opsdeck.approvals.deny"),
        Binding("A", "apply", "Apply approved…", id="opsdeck.approvals.apply"),
        Binding("c", "closed", "Show closed", id="opsdeck.approvals.closed"),
        Binding("ctrl+r", "reload", "Reload", id="opsdeck.approvals.reload"),
    ]

    def __init__(self) -> None:
        super().__init__()
        self.requests: list[ApprovalRequest] = []
        self.show_closed = False
        self.loaded = 0  # lists shown so far (tests wait on it)

    def compose(self) -> ComposeResult:
        yield Static("approvals", id="crumbs")
        with Vertical(id="approvals-body"):
            yield Label("", classes="section", id="approvals-label")
            yield DataTable(id="approvals", cursor_type="row")
        yield Footer()

    def on_mount(self) -> None:
        table = self.query_one("#approvals", DataTable)
        table.add_columns(
            "ID", "STATUS", "ACTION", "CONTEXT", "TARGETS", "REQUESTER", "APPROVALS", "AGE",
            "EXPIRES", "REASON",
        )  # fmt: skip
        table.focus()
        interval = self.opsdeck.refresh_interval
        if interval > 0:
            self.set_interval(interval, self._auto_reload)

    def on_screen_resume(self) -> None:
        self.reload()  # shown first, or back from a request just approved or applied

    def _auto_reload(self) -> None:
        if self.is_active:
            self.reload()

    def reload(self) -> None:
        self._load(self.show_closed)

    def action_reload(self) -> None:
        self.reload()

    def action_back(self) -> None:
        self.app.pop_screen()

    def action_closed(self) -> None:
        self.show_closed = not self.show_closed
        self.reload()

    @work(exclusive=True, group="approvals-list", thread=True, exit_on_error=False)
    def _load(self, closed: bool) -> None:
        store = _store()
        try:
            requests = store.list(include_closed=closed)
        except Exception as exc:  # a broken store is a notification, never a crash
            self.post_message(ApprovalsListed([], error_text(exc)))
            return
        finally:
            store.close()
        self.post_message(ApprovalsListed(requests, None))

    def on_approvals_listed(self, message: ApprovalsListed) -> None:
        if message.error is not None:
            self.notify(escape(message.error), title="approvals", severity="error")
            return
        now = self.now()
        order = {"pending": 0, "approved": 1}
        self.requests = sorted(
            message.requests, key=lambda r: (order.get(r.status_at(now), 2), r.created)
        )
        table = self.query_one("#approvals", DataTable)
        cursor = table.cursor_row
        table.clear()
        for r in self.requests:
            status = r.status_at(now)
            table.add_row(
                Text(r.id),
                status_text(status),
                Text(r.action),
                Text(r.context),
                Text(str(len(r.change.get("targets") or ()))),
                Text(r.requester),
                Text(f"{len(r.approvals)}/{r.needed}"),
                Text(relative_time(parse_time(r.created), now)),
                Text(relative_time(parse_time(r.expires_at), now) if status in OPEN else "-"),
                Text(str(r.change.get("reason") or ""), style="dim"),
                key=r.id,
            )
        table.move_cursor(row=min(cursor, max(table.row_count - 1, 0)))
        waiting = sum(r.status_at(now) == "pending" for r in self.requests)
        label = f"Approval requests: {waiting} pending" + (
            " (c: open ones only)" if self.show_closed else " (c: show closed too)"
        )
        if not self.requests:
            label = "No approval requests waiting" + (
                "." if self.show_closed else " (c: show closed too)."
            )
        self.query_one("#approvals-label", Label).update(label)
        self.loaded += 1
        self.refresh_bindings()

    def chosen(self) -> ApprovalRequest | None:
        if not self.requests:
            return None
        row = self.query_one("#approvals", DataTable).cursor_row
        return self.requests[row] if 0 <= row < len(self.requests) else None

    @on(DataTable.RowHighlighted)
    def _highlighted(self, _: DataTable.RowHighlighted) -> None:
        self.refresh_bindings()  # a / d / A follow the row's status

    @on(DataTable.RowSelected)
    def _selected(self, _: DataTable.RowSelected) -> None:
        self.action_open()  # the table consumes enter; selecting a row opens it

    def action_open(self) -> None:
        request = self.chosen()
        if request is not None:
            self.app.push_screen(ApprovalScreen(request.id))


# -- one request ------------------------------------------------------------------------


class ApprovalScreen(VerdictKeys):
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "back", "Back", id="opsdeck.approval.back"),
        Binding("a", "approve", "Approve…", id="opsdeck.approval.approve"),
        Binding("d", "deny", "Deny…", id="opsdeck.approval.deny"),
        Binding("A", "apply", "Apply…", id="opsdeck.approval.apply"),
        Binding("ctrl+r", "reload", "Reload", id="opsdeck.approval.reload"),
    ]

    def __init__(self, request_id: str) -> None:
        super().__init__()
        self.request_id = request_id
        self.request: ApprovalRequest | None = None

    def compose(self) -> ComposeResult:
        yield Static(Text(f"approvals > {self.request_id}"), id="crumbs")
        with VerticalScroll(id="approval-body"):
            yield Static("loading…", id="approval-detail")
        yield Footer()

    def on_mount(self) -> None:
        self.query_one("#approval-body").focus()
        self.reload()

    def on_screen_resume(self) -> None:
        if self.request is not None:
            self.reload()  # back from the confirmation: it may have been applied

    def reload(self) -> None:
        self._load(self.request_id)

    def action_reload(self) -> None:
        self.reload()

    def action_back(self) -> None:
        self.app.pop_screen()

    @work(exclusive=True, group="approval-one", thread=True, exit_on_error=False)
    def _load(self, request_id: str) -> None:
        store = _store()
        try:
            request = store.get(request_id)
        except Exception as exc:
            self.post_message(ApprovalLoaded(None, error_text(exc)))
            return
        finally:
            store.close()
        self.post_message(ApprovalLoaded(request, None))

    def on_approval_loaded(self, message: ApprovalLoaded) -> None:
        detail = self.query_one("#approval-detail", Static)
        if message.request is None:
            detail.update(Text(message.error or "not found", style="red"))
            self.notify(escape(message.error or "not found"), title="approvals", severity="error")
        else:
            self.request = message.request
            detail.update(detail_text(message.request, self.now()))
        self.refresh_bindings()

    def chosen(self) -> ApprovalRequest | None:
        return self.request


def open_request_ids() -> list[str]:
    """Ids of the requests still open, for `:approvals ` Tab completion."""
    store = _store()
    try:
        now = datetime.now(UTC)
        return [r.id for r in store.list() if r.status_at(now) in OPEN]
    except Exception:  # completion never fails loudly; the list says what is wrong
        return []
    finally:
        store.close()
