"""The opsdeck TUI: `OpsdeckApp(session)`.

``session`` is a console.session.Session, or any object with ``.context``,
``.engines`` (name -> WorkflowEngine), ``.runner`` (ActionRunner) and ``.read_only``.
Every backend call runs in an exclusive async worker and comes back as a message;
changes go plan -> confirmation (showing the plan) -> runner.apply, which audits.
"""

from __future__ import annotations

import asyncio
import getpass
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any, ClassVar

from rich.markup import escape
from textual import work
from textual.app import App
from textual.binding import Binding, BindingType
from textual.message import Message
from textual.screen import ModalScreen, Screen

from console.errors import ApprovalRequired, OpsdeckError, PolicyDenied
from console.model import ActionKind, ActionRequest, ExecutionRef, Outcome
from console.tui.commands import OpsdeckCommands
from console.tui.messages import DataChanged
from console.tui.screens.executions import ExecutionsScreen
from console.tui.widgets.prompt import typing_into

SessionFactory = Callable[[str], Any]
INCIDENT_FIRST_LOOK = 1.0  # seconds after mount, if no listing was shown before


class ActionReported(Message):
    """An action finished (or failed before apply); plain text, escaped on display."""

    def __init__(
        self,
        title: str,
        text: str,
        severity: str,
        changed: bool,
        new_runs: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__()
        self.title = title
        self.text = text
        self.severity = severity
        self.changed = changed
        self.new_runs = dict(new_runs or {})  # target -> run started by a reset


class IncidentChanged(Message):
    """The open incident of the context: its status-bar text ("" when none)."""

    def __init__(self, text: str) -> None:
        super().__init__()
        self.text = text


class SessionSwitched(Message):
    def __init__(self, session: Any) -> None:
        super().__init__()
        self.session = session


class OpsdeckApp(App[int]):
    CSS_PATH = "opsdeck.tcss"
    TITLE = "opsdeck"
    # One provider: opsdeck's actions first, then Textual's system commands (theme...).
    COMMANDS: ClassVar[set[Any]] = {OpsdeckCommands}
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("question_mark", "help", "Help", id="opsdeck.help"),
        # Priority: handled in the app's own key loop, so the keys typed right after `:`
        # reach the prompt instead of racing to the table's action keys (r, x, q ...).
        Binding("colon", "command", "Command", id="opsdeck.command", priority=True),
    ]

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        # In a text field `:` is just a character (None: the key passes through to it).
        return None if action == "command" and typing_into(self.focused) else True

    def __init__(
        self,
        session: Any,
        *,
        refresh_interval: float = 5.0,
        engine_timeout: float = 10.0,
        list_limit: int = 500,
        clock: Callable[[], datetime] | None = None,
        session_factory: SessionFactory | None = None,
        keymap: Mapping[str, str] | None = None,
        close_session: bool = False,
        on_first_table: Callable[[], None] | None = None,
        incident_interval: float = 5.0,
    ) -> None:
        """``session_factory(name)`` opens another context (enables `:ctx`);
        ``close_session`` closes sessions on exit (when the app owns them);
        ``clock`` fixes "now" (snapshots); ``on_first_table`` is a start-up probe;
        ``incident_interval``: seconds between looks at the open incident (0: never)."""
        super().__init__()
        self.session = session
        self.refresh_interval = refresh_interval
        self.engine_timeout = engine_timeout
        self.list_limit = list_limit
        self._clock = clock
        self._session_factory = session_factory
        self._keymap_config = dict(keymap or {})
        self._close_session = close_session
        self.on_first_table = on_first_table
        self.incident_interval = incident_interval
        self.incident_text = ""  # the status bar's incident part (console.incidents)
        self._incident_error = ""
        self._incident_checks_started = False

    # -- session facts ----------------------------------------------------------------

    @property
    def context_name(self) -> str:
        context = self.session.context
        return str(getattr(context, "name", None) or context)

    @property
    def read_only(self) -> bool:
        context_read_only = getattr(self.session.context, "read_only", False)
        return bool(getattr(self.session, "read_only", False) or context_read_only)

    @property
    def production(self) -> bool:
        return bool(getattr(self.session.context, "production", False))

    def context_names(self) -> list[str]:
        if self._session_factory is None:
            return []
        contexts = getattr(getattr(self.session, "config", None), "contexts", None) or {}
        return sorted(contexts)

    def now(self) -> datetime:
        return self._clock() if self._clock else datetime.now(UTC)

    # -- screens ------------------------------------------------------------------

    def get_default_screen(self) -> Screen[Any]:
        return ExecutionsScreen()

    def on_mount(self) -> None:
        if self._keymap_config:
            self.set_keymap(self._keymap_config)
        self.sub_title = self.context_name
        # The first look at the open incident waits for the executions' first answer on
        # screen: its store import and read (~70 ms) were on the first-row path (issue
        # 13). A second at most, should no engine answer.
        self.set_timer(INCIDENT_FIRST_LOOK, self._start_incident_checks)

    def listing_shown(self, rows: bool) -> None:
        """The executions view painted its first answer (``rows``: some rows came)."""
        self._start_incident_checks()
        probe = self.on_first_table
        if rows and probe is not None:
            self.on_first_table = None
            probe()

    def _start_incident_checks(self) -> None:
        if self._incident_checks_started:
            return
        self._incident_checks_started = True
        self.check_incident()
        if self.incident_interval > 0:
            self.set_interval(self.incident_interval, self.check_incident)

    # -- the open incident (status bar) ----------------------------------------------

    @work(thread=True, exclusive=True, group="incident", exit_on_error=False)
    def check_incident(self) -> None:
        """Look up the context's open incident off the event loop (a store read)."""
        from console.incidents.store import current_incident

        try:
            found = current_incident(self.context_name)
        except Exception as exc:
            if str(exc) != self._incident_error:  # say it once, not every few seconds
                self._incident_error = str(exc)
                self._report_error("incident", exc)  # posts a message: thread-safe
            return
        self._incident_error = ""
        text = f"{found.id} {found.severity}: {found.title}" if found else ""
        self.post_message(IncidentChanged(text))

    def on_incident_changed(self, message: IncidentChanged) -> None:
        if message.text == self.incident_text:
            return
        from console.tui.widgets.status_bar import StatusBar

        self.incident_text = message.text
        suffix = f" · {message.text}" if message.text else ""
        self.sub_title = self.context_name + suffix
        for screen in self.screen_stack:
            for bar in screen.query(StatusBar):
                bar.redraw()

    def show_help(self) -> None:
        from console.tui.keys import description, view_bindings
        from console.tui.screens.help import HelpScreen

        keys: list[tuple[str, str, str]] = []
        for active in view_bindings(self.screen):
            binding = active.binding
            what = description(binding) + ("" if active.enabled else " (not available here)")
            keys.append((self.get_key_display(binding), what, binding.id or ""))
        self.push_screen(HelpScreen(keys, read_only=self.read_only))

    def action_help(self) -> None:
        self.show_help()

    def action_command(self) -> None:
        """`:` works everywhere, as in k9s: back to the list, then the command prompt."""
        while len(self.screen_stack) > 1 and not isinstance(self.screen, ModalScreen):
            self.pop_screen()
        screen = self.screen_stack[0]
        if self.screen is screen and isinstance(screen, ExecutionsScreen):
            screen.action_command()

    def open_correlation(self, context_id: str) -> None:
        """`:corr ID` / `c`: the correlation view (`:ctx` already switches contexts)."""
        if not context_id.strip():
            self.notify("usage: :corr ID (trace id, traceparent, execution ref...)")
            return
        from console.tui.screens.correlate import CorrelationScreen

        self.push_screen(CorrelationScreen(context_id.strip()))

    # -- remediation ----------------------------------------------------------------

    def start_action(
        self,
        kind: ActionKind,
        targets: Sequence[ExecutionRef],
        params: Mapping[str, Any] | None = None,
    ) -> None:
        if self._refuse_action():
            return
        self.remediate(kind, list(targets), dict(params or {}))

    def start_rollback(self, engine: str, deployment: str, version: str) -> None:
        """Set a deployment's current version back; no execution is a target."""
        if self._refuse_action():
            return
        params = {"deployment": deployment, "version": version}
        self.remediate(ActionKind.ROLLBACK, [], params, engine)

    def _refuse_action(self) -> bool:
        """Read-only, or an apply still running: starting another would cancel it midway."""
        if self.read_only:
            self.notify("read-only: changes are disabled in this context", severity="warning")
            return True
        busy = any(w.group == "action" and not w.is_finished for w in self.workers)
        if busy:
            self.notify("an action is still running; wait for its result", severity="warning")
        return busy

    def _default_reason(self, kind: ActionKind) -> str:
        who = getattr(getattr(self.session, "config", None), "identity", None)
        return f"{kind.value} via opsdeck TUI by {who or getpass.getuser()}"

    @work(exclusive=True, group="action", exit_on_error=False)
    async def remediate(
        self,
        kind: ActionKind,
        targets: list[ExecutionRef],
        params: dict[str, Any],
        engine_name: str | None = None,
        *,
        approval_id: str | None = None,
        reason: str | None = None,
    ) -> None:
        """plan -> confirm (modal shows the plan) -> apply, one engine at a time.

        ``approval_id``: apply an approved request (`:approvals`); the gate applies it
        only if this plan is the frozen one, and production still asks the typed name.
        """
        from console.tui.screens.confirm import ConfirmScreen, SignalScreen

        if kind is ActionKind.SIGNAL:
            signal = await self.push_screen_wait(SignalScreen(len(targets)))
            if signal is None:
                return
            params = {"signal": signal.name, "input": signal.payload}
        runner = self.session.runner
        by_engine: dict[str, list[ExecutionRef]] = {engine_name: []} if engine_name else {}
        for ref in targets:
            by_engine.setdefault(ref.engine, []).append(ref)
        for engine, refs in by_engine.items():
            label = f"{kind.value} on {engine}"
            why = reason or self._default_reason(kind)
            request = ActionRequest(kind, tuple(refs), why, params)
            try:
                plan = await runner.plan(engine, request)
                phrase = runner.confirmation_phrase(plan)
                decision = runner.decide(plan)
                if decision.result == "deny":  # say so before the confirmation modal
                    raise PolicyDenied(
                        "; ".join(decision.reasons) or f"the policy denies {kind.value}"
                    )
                if decision.result == "approve" and approval_id is None:
                    phrase = None  # filing a request for approval changes nothing yet
            except Exception as exc:
                self._report_error(label, exc)
                continue
            answer = await self.push_screen_wait(
                ConfirmScreen(
                    plan,
                    phrase=phrase,
                    context=self.context_name,
                    production=self.production,
                    reason=request.reason,
                    display_params=getattr(runner, "display_params", None),
                    decision=decision,
                    approval_id=approval_id,
                )
            )
            if answer is None:
                self.post_message(
                    ActionReported(label, "cancelled, nothing changed", "information", False)
                )
                continue
            try:
                if answer.reason != request.reason:
                    request = ActionRequest(kind, tuple(refs), answer.reason, params)
                    plan = await runner.plan(engine, request)
                count = len(plan.calls)
                self.post_message(
                    ActionReported(label, f"applying to {count} target(s)…", "information", False)
                )
                if approval_id is None:
                    report = await runner.apply(plan, typed_confirmation=answer.typed)
                else:
                    report = await runner.apply(
                        plan, typed_confirmation=answer.typed, approval_id=approval_id
                    )
            except Exception as exc:
                self._report_error(label, exc, changed=True)
                continue
            self.post_message(self._summarise(label, report))

    def _report_error(self, label: str, exc: BaseException, *, changed: bool = False) -> None:
        if isinstance(exc, ApprovalRequired):
            title = f"{label}: {exc.title}"
            text = f"{exc}\n:approvals shows it; another person approves it there"
        elif isinstance(exc, OpsdeckError):
            title, text = f"{label}: {exc.title}", str(exc)
        else:
            title, text = f"{label}: unexpected error", f"{type(exc).__name__}: {exc}"
        self.post_message(ActionReported(title, text, "error", changed))

    @staticmethod
    def _summarise(label: str, report: Any) -> ActionReported:
        counts: dict[str, int] = {}
        failures: list[str] = []
        new_runs: dict[str, str] = {}
        for outcome in report.outcomes:
            counts[outcome.outcome.value] = counts.get(outcome.outcome.value, 0) + 1
            new_run = (getattr(outcome, "details", None) or {}).get("new_run_id")
            if new_run:
                new_runs[outcome.target] = str(new_run)
            if outcome.outcome is Outcome.FAILED:
                failures.append(f"{outcome.target}: {outcome.message}")
        text = ", ".join(f"{n} {state}" for state, n in counts.items()) or "no targets"
        if failures:
            text += "\n" + "\n".join(failures[:5])
        error = getattr(report, "error", None)
        if error is not None:
            text += f"\nstopped: {error}"
        text += f"\nrequest {report.request_id}"
        exit_code = getattr(report, "exit_code", 1 if failures else 0)
        severity = "information" if exit_code == 0 else "warning" if exit_code == 4 else "error"
        return ActionReported(label, text, severity, True, new_runs)

    def on_action_reported(self, message: ActionReported) -> None:
        self.notify(
            escape(message.text),
            title=escape(message.title),
            severity=message.severity,  # type: ignore[arg-type]
            timeout=10 if message.severity == "error" else 6,
        )
        if message.changed:
            for screen in self.screen_stack:
                screen.post_message(DataChanged(message.new_runs))

    # -- contexts -------------------------------------------------------------------

    @work(exclusive=True, group="context", exit_on_error=False)
    async def switch_context(self, name: str) -> None:
        if not name:
            known = ", ".join(self.context_names()) or "none known"
            self.post_message(
                ActionReported("ctx", f"usage: :ctx NAME ({known})", "warning", False)
            )
            return
        if self._session_factory is None:
            self.post_message(
                ActionReported("ctx", "this session cannot switch contexts", "warning", False)
            )
            return
        try:
            session = await asyncio.to_thread(self._session_factory, name)
        except Exception as exc:
            self._report_error(f"ctx {name}", exc)
            return
        self.post_message(SessionSwitched(session))

    async def on_session_switched(self, message: SessionSwitched) -> None:
        old, self.session = self.session, message.session
        while len(self.screen_stack) > 1:
            self.pop_screen()
        screen = self.screen_stack[0]
        if isinstance(screen, ExecutionsScreen):
            screen.reset_engines()
            screen.action_reload()
        self.sub_title = self.context_name
        self.incident_text = ""
        self.check_incident()
        self.notify(f"context {escape(self.context_name)}", timeout=3)
        if self._close_session:
            await self._close(old)

    async def _close(self, session: Any) -> None:
        close = getattr(session, "close", None)
        if close is None:
            return
        try:
            await asyncio.wait_for(close(), 3)
        except Exception:  # closing is best effort; the process is ending anyway
            self.log.warning("closing the session failed")

    async def on_unmount(self) -> None:
        if self._close_session:
            await self._close(self.session)
