"""Modal dialogs of the remediation flow: the plan confirmation and the signal input.

The confirmation shows exactly what the runner will do (every planned call and its
target, batch or not, warnings), every parameter in full (wrapped, never cut: the
reset point must be readable). In production contexts the apply button stays
disabled until the operator types the runner's confirmation phrase.

The buttons say what they do: "Cancel 1 execution" applies a cancel, "Back (esc)"
leaves without changing anything, so "Cancel" never means two things.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, ClassVar

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Button, Footer, Input, Label, Static

from console.model import ActionKind, Plan

ParamsView = Callable[[Mapping[str, Any]], Mapping[str, Any]]
DESTRUCTIVE = frozenset({ActionKind.TERMINATE, ActionKind.CANCEL})


@dataclass(frozen=True)
class Confirmation:
    """The operator said yes: ``typed`` is the typed phrase (None if none was asked)."""

    typed: str | None
    reason: str


VERBS = {ActionKind.ROLLBACK: "Roll back"}


def _value(value: Any) -> str:
    if isinstance(value, str):
        return value
    try:
        return json.dumps(value, default=str, sort_keys=True)
    except (TypeError, ValueError):
        return str(value)


def _append_params(text: Text, params: Mapping[str, Any], indent: str) -> None:
    for key in sorted(params):
        text.append(f"{indent}{key}: ", style="dim")
        text.append(f"{_value(params[key])}\n")


def plan_text(plan: Plan, display_params: ParamsView | None = None) -> Text:
    """The plan as plain (never markup-parsed) text: each call and its target, then its
    parameters one per line, in full. Parameters that every call shares are listed
    once, first. They go through the runner's ``display_params`` (PII masked)."""
    shown = [dict(display_params(c.params) if display_params else c.params) for c in plan.calls]
    common: dict[str, Any] = {}
    if len(shown) > 1:
        common = {k: v for k, v in shown[0].items() if all(k in p and p[k] == v for p in shown)}
    text = Text()
    if common:
        text.append("every call:\n", style="bold")
        _append_params(text, common, "    ")
    for call, params in zip(plan.calls, shown, strict=True):
        text.append(call.call, style="bold")
        text.append(f"  {call.target}\n")
        _append_params(text, {k: v for k, v in params.items() if k not in common}, "    ")
    text.rstrip()
    return text


def apply_label(plan: Plan) -> str:
    """What the apply button does, e.g. "Cancel 1 execution", "Roll back 1 deployment"."""
    kind = plan.request.kind
    count = len(plan.calls)
    noun = "deployment" if kind is ActionKind.ROLLBACK else "execution"
    return f"{VERBS.get(kind, kind.value.capitalize())} {count} {noun}{'' if count == 1 else 's'}"


def policy_text(decision: Any, approval_id: str | None) -> Text | None:
    """What the policy says about this plan, when there is more to say than "allow"."""
    if approval_id is not None:
        return Text(
            f"policy: applying approved request {approval_id}; the gate checks this plan "
            "is the one approved",
            style="green",
        )
    if decision is None:
        return None
    reasons = "; ".join(getattr(decision, "reasons", ()) or ())
    if decision.result == "approve":
        groups = ", ".join(decision.approver_groups)
        text = Text(f"policy: needs {decision.approvals} approval(s)", style="bold yellow")
        text.append(f" from {groups}" if groups else " from another person", style="yellow")
        text.append(f" ({reasons})" if reasons else "", style="yellow")
        text.append(
            "\nConfirming files a request and changes nothing; once approved (:approvals), "
            "it is applied from there.",
            style="yellow",
        )
        return text
    return Text(f"policy: {decision.result} ({reasons})", style="dim") if reasons else None


class ConfirmScreen(ModalScreen[Confirmation | None]):
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "dismiss_plan", "Back, change nothing", id="opsdeck.confirm.cancel"),
        Binding("ctrl+s", "apply", "Apply the plan", id="opsdeck.confirm.apply"),
    ]

    def __init__(
        self,
        plan: Plan,
        *,
        phrase: str | None,
        context: str,
        production: bool,
        reason: str,
        display_params: ParamsView | None = None,
        decision: Any = None,
        approval_id: str | None = None,
    ) -> None:
        """``decision``: the policy's preview (console.policy.model.Decision); an
        "approve" files a request instead of applying, and the button says so."""
        super().__init__()
        self.decision = decision
        self.approval_id = approval_id
        self.plan = plan
        self.phrase = phrase
        self.context_name = context
        self.production = production
        self.reason = reason
        self.display_params = display_params

    def compose(self) -> ComposeResult:
        plan = self.plan
        kind = plan.request.kind
        title = f"{apply_label(plan)} on {plan.engine}"
        where = f"context {self.context_name}" + (" (PRODUCTION)" if self.production else "")
        classes = "-destructive" if kind in DESTRUCTIVE else ""
        with Vertical(id="confirm-dialog", classes=classes):
            yield Static(Text(title), id="confirm-title")
            yield Static(Text(where), id="confirm-context")
            if plan.batch:
                yield Static(
                    Text("Runs as one server-side batch job; it continues if this terminal exits."),
                    id="confirm-batch",
                )
            with VerticalScroll(id="confirm-calls"):
                yield Static(plan_text(plan, self.display_params), id="confirm-plan")
            for warning in plan.warnings:
                yield Static(Text(f"! {warning}"), classes="confirm-warning")
            policy = policy_text(self.decision, self.approval_id)
            if policy is not None:
                yield Static(policy, id="confirm-policy")
            yield Label("Reason (recorded on the server and in the audit journal)")
            yield Input(self.reason, id="confirm-reason")
            if self.phrase is not None:
                yield Label(Text(f"Type {self.phrase} to confirm"), id="confirm-phrase-label")
                yield Input(placeholder=self.phrase, id="confirm-phrase")
            with Horizontal(id="confirm-buttons"):
                yield Button("Back (esc)", id="confirm-cancel")
                yield Button(
                    "File the approval request" if self.files_request else apply_label(plan),
                    id="confirm-apply",
                    variant="error" if kind in DESTRUCTIVE else "primary",
                    disabled=self.phrase is not None,
                )
        yield Footer()

    @property
    def files_request(self) -> bool:
        result = getattr(self.decision, "result", None)
        return result == "approve" and self.approval_id is None

    def on_mount(self) -> None:
        if self.phrase is not None:
            self.query_one("#confirm-phrase", Input).focus()
        else:
            self.query_one("#confirm-apply", Button).focus()

    def _phrase_ok(self) -> bool:
        if self.phrase is None:
            return True
        return self.query_one("#confirm-phrase", Input).value.strip() == self.phrase

    @on(Input.Changed, "#confirm-phrase")
    def _phrase_changed(self) -> None:
        self.query_one("#confirm-apply", Button).disabled = not self._phrase_ok()

    @on(Input.Submitted, "#confirm-phrase")
    def _phrase_submitted(self) -> None:
        self.action_apply()

    @on(Input.Submitted, "#confirm-reason")
    def _reason_submitted(self) -> None:
        self.focus_next()

    @on(Button.Pressed, "#confirm-apply")
    def _apply_pressed(self) -> None:
        self.action_apply()

    @on(Button.Pressed, "#confirm-cancel")
    def _cancel_pressed(self) -> None:
        self.action_dismiss_plan()

    def action_apply(self) -> None:
        if not self._phrase_ok():
            self.notify("the typed text does not match", severity="warning")
            return
        reason = self.query_one("#confirm-reason", Input).value.strip() or self.reason
        typed = self.query_one("#confirm-phrase", Input).value.strip() if self.phrase else None
        self.dismiss(Confirmation(typed, reason))

    def action_dismiss_plan(self) -> None:
        self.dismiss(None)


@dataclass(frozen=True)
class SignalInput:
    name: str
    payload: Any


class SignalScreen(ModalScreen[SignalInput | None]):
    """Asks for the signal name and an optional JSON payload before planning."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "dismiss_signal", "Back, send nothing", id="opsdeck.signal.cancel"),
    ]

    def __init__(self, targets: int) -> None:
        super().__init__()
        self.targets = targets

    def compose(self) -> ComposeResult:
        noun = "execution" if self.targets == 1 else "executions"
        with Vertical(id="signal-dialog"):
            yield Static(Text(f"Signal {self.targets} {noun}"), id="signal-title")
            yield Label("Signal name")
            yield Input(id="signal-name", placeholder="e.g. approve")
            yield Label("Input (JSON, optional)")
            yield Input(id="signal-payload", placeholder='e.g. {"approved": true}')
            yield Static(id="signal-error")
            with Horizontal(id="signal-buttons"):
                yield Button("Back (esc)", id="signal-cancel")
                yield Button("Show the plan", id="signal-ok", variant="primary")
        yield Footer()

    def on_mount(self) -> None:
        self.query_one("#signal-name", Input).focus()

    @on(Input.Submitted, "#signal-name")
    def _name_submitted(self) -> None:
        self.query_one("#signal-payload", Input).focus()

    @on(Input.Submitted, "#signal-payload")
    @on(Button.Pressed, "#signal-ok")
    def _submit(self) -> None:
        name = self.query_one("#signal-name", Input).value.strip()
        raw = self.query_one("#signal-payload", Input).value.strip()
        error = self.query_one("#signal-error", Static)
        if not name:
            error.update("a signal name is required")
            return
        try:
            payload = json.loads(raw) if raw else None
        except json.JSONDecodeError as exc:
            error.update(Text(f"input is not JSON: {exc}"))
            return
        self.dismiss(SignalInput(name, payload))

    @on(Button.Pressed, "#signal-cancel")
    def _cancel(self) -> None:
        self.dismiss(None)

    def action_dismiss_signal(self) -> None:
        self.dismiss(None)
