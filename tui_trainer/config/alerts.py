"""The `alerts:` section: watchdog rules that tell a person when a run needs them (no torch).

Each rule watches the run's events (`engine.watchdog`) and raises an `alert` event when it
trips: a line in metrics.jsonl and the log, a bell and desktop notification in every attached
console and watcher, and a webhook POST when `alerts.webhook` is set. A rule may also act:
`pause`, `checkpoint`, `stop`, or steer the learning rate (`lr=VALUE`, `lr=*FACTOR`, the
grammar of `config.steering`).
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from pydantic import Field, field_validator

from tui_trainer.config.sections import Section
from tui_trainer.config.steering import BadChange, parse_change

ACTIONS = ("none", "pause", "checkpoint", "stop")
"""The actions that are not a learning-rate change."""

ACTION_SYNTAX = "none, pause, checkpoint, stop, lr=VALUE or lr=*FACTOR"


def check_action(value: str) -> str:
    """The canonical action text (`lr=*0.5`, `pause`, ...); ValueError naming what is allowed."""
    text = value.strip()
    if text in ACTIONS:
        return text
    try:
        change = parse_change(text)
    except BadChange as exc:
        if text.startswith("lr"):
            raise ValueError(str(exc)) from None
        raise ValueError(f"expected {ACTION_SYNTAX}") from None
    if change.kind != "lr":
        raise ValueError(f"expected {ACTION_SYNTAX}")
    return change.text


class _Rule(Section):
    """What every rule has: a switch and an optional action."""

    enabled: bool = Field(True, description="Watch for this.")
    action: str = Field(
        "none",
        description=f"What the run does when the rule trips: {ACTION_SYNTAX} "
        "(an LR change is recorded as steering, so replay repeats it).",
    )

    @field_validator("action")
    @classmethod
    def _action(cls, v: str) -> str:
        return check_action(v)


class NonFiniteRule(_Rule):
    """The training loss became NaN or infinite (see also on_nonfinite)."""


class SpikeRule(_Rule):
    """A progress window's loss above `factor` times the running mean of the earlier ones."""

    factor: float = Field(5.0, gt=1, description="How many times the running mean is a spike.")
    warmup_steps: int = Field(
        50, ge=0, description="Optimizer steps before spikes are judged (the loss settles)."
    )


class PlateauRule(_Rule):
    """The monitored metric (checkpoint.monitor) has not improved for `epochs` epochs."""

    epochs: int = Field(10, ge=1, description="Epochs without a new best value.")


class StallRule(_Rule):
    """No training step or validation batch finished for `seconds` (a hung data loader, a
    stuck collective).

    Timed by a watchdog thread, so it fires while the step is still stuck; paused time does not
    count."""

    seconds: float = Field(
        300.0, gt=0, description="Seconds without a finished training step or validation batch."
    )


class GpuIdleRule(Section):
    """The run's GPU below `percent` utilisation for `seconds` while training (NVML)."""

    enabled: bool | None = Field(
        None, description="Watch for this; null: only when the run trains on a CUDA GPU."
    )
    action: str = Field("none", description=f"What the run does: {ACTION_SYNTAX}.")
    percent: float = Field(10.0, ge=0, le=100, description="Utilisation (%) counted as idle.")
    seconds: float = Field(120.0, gt=0, description="How long the GPU must stay idle.")

    @field_validator("action")
    @classmethod
    def _action(cls, v: str) -> str:
        return check_action(v)


class DataWaitRule(_Rule):
    """Waiting on the data loader takes more than `percent` of the training time in
    `windows` progress windows in a row (StepProgress.time_parts["data"])."""

    percent: float = Field(50.0, gt=0, le=100, description="Share of step time (%) spent waiting.")
    windows: int = Field(3, ge=1, description="Progress windows in a row above it.")


class EtaRule(_Rule):
    """The projected training time grew more than `percent` over the first estimate."""

    percent: float = Field(50.0, gt=0, description="Slip (%) over the first estimate.")
    min_seconds: float = Field(
        60.0, ge=0, description="The slip must also be at least this long (short runs are noisy)."
    )
    after: float = Field(
        0.05,
        gt=0,
        lt=1,
        description="Share of the run trained before the first estimate is taken (earlier "
        "ones are noise: start-up, warm caches).",
    )


class AlertsConfig(Section):
    """Watchdogs that alert: rules over the run's events (docs/finders-alerts.md)."""

    enabled: bool = Field(True, description="Run the watchdogs at all.")
    bell: bool = Field(
        True,
        description="Ring attached consoles and watchers (bell, OSC 9 / OSC 777 desktop "
        "notification) when an alert is raised.",
    )
    repeat_after: float = Field(
        600.0,
        ge=0,
        description="Seconds a rule that raised an alert stays quiet (its action too), even "
        "when it trips again (a share hovering around its threshold).",
    )
    webhook: str | None = Field(
        None,
        description="http(s) URL that gets each alert as a JSON POST (from a background "
        "thread; a failure is one warning, never the run's).",
    )
    nonfinite: NonFiniteRule = Field(
        default_factory=NonFiniteRule, description="A NaN or inf loss."
    )
    spike: SpikeRule = Field(
        default_factory=SpikeRule, description="A training loss far above its running mean."
    )
    plateau: PlateauRule = Field(
        default_factory=PlateauRule, description="The monitored metric stops improving."
    )
    stall: StallRule = Field(
        default_factory=StallRule,
        description="No optimizer step finishes for a while (a hung data loader or collective).",
    )
    gpu_idle: GpuIdleRule = Field(
        default_factory=GpuIdleRule, description="The GPU sits idle while the run trains."
    )
    data_wait: DataWaitRule = Field(
        default_factory=DataWaitRule, description="Steps spend most of their time waiting for data."
    )
    eta: EtaRule = Field(
        default_factory=EtaRule, description="The run takes much longer than first estimated."
    )

    @field_validator("webhook")
    @classmethod
    def _url(cls, v: str | None) -> str | None:
        if v is None:
            return v
        try:
            parts = urlsplit(v)
        except ValueError as exc:
            raise ValueError(f"expected an http:// or https:// URL ({exc})") from None
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise ValueError("expected an http:// or https:// URL, or null")
        return v

    def rule(self, name: str) -> Any:
        """The section of rule `name` (`spike`, `stall`, ...)."""
        return getattr(self, name)


RULES = ("nonfinite", "spike", "plateau", "stall", "gpu_idle", "data_wait", "eta")
"""Every rule's name, as `Alert.rule` and the config spell it."""
