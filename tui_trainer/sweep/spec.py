"""What a sweep records (the `spec_json` of its row in the queue database)."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from tui_trainer.sweep.space import Space

SAMPLERS = ("grid", "random", "tpe")
"""`grid`: every combination of the lists; `random`: `--trials` seeded draws (built in);
`tpe`: Optuna's TPE sampler (the optional extra `tui-trainer[sweep]`)."""

SPEC_VERSION = 1


@dataclass(frozen=True)
class SweepSpec:
    """A sweep's plan: the space, how trials are drawn, and how each trial is queued."""

    sampler: str
    """One of `SAMPLERS`."""
    space: Space
    trials: int
    """How many trials the sweep runs (a grid: its size)."""
    parallel: int = 2
    """TPE: trials queued or running at once (each asked of Optuna when a place frees)."""
    seed: int = 0
    """Seeds the random search's draws and TPE's sampler."""
    prune: bool = False
    """Stop trials early whose epoch metric falls below the median of earlier trials."""
    out: str = "runs"
    """The runs root every trial's run directory is made under (absolute)."""
    gpus: int = 0
    per_gpu: int = 1
    priority: int = 0
    cwd: str = ""
    """The folder the sweep was made in: its trials start there (relative paths)."""
    name: str = ""
    """The run-folder name of its trials (`out/<name>/<stamp>`), as `run` names the preset's."""

    @property
    def study(self) -> bool:
        """Trials are recorded in an Optuna study (TPE, or pruning)."""
        return self.sampler == "tpe" or self.prune

    def to_json(self) -> str:
        """The JSON text stored with the sweep."""
        data: dict[str, Any] = {
            "version": SPEC_VERSION,
            "sampler": self.sampler,
            "space": self.space.to_json(),
            "trials": self.trials,
            "parallel": self.parallel,
            "seed": self.seed,
            "prune": self.prune,
            "out": self.out,
            "gpus": self.gpus,
            "per_gpu": self.per_gpu,
            "priority": self.priority,
            "cwd": self.cwd,
            "name": self.name,
        }
        return json.dumps(data, sort_keys=True)

    @classmethod
    def from_json(cls, data: str | Mapping[str, Any]) -> SweepSpec:
        """The spec `to_json` wrote (a mapping, or its JSON text)."""
        raw = json.loads(data) if isinstance(data, str) else data
        return cls(
            sampler=str(raw["sampler"]),
            space=Space.from_json(raw.get("space", {})),
            trials=int(raw["trials"]),
            parallel=int(raw.get("parallel", 2)),
            seed=int(raw.get("seed", 0)),
            prune=bool(raw.get("prune", False)),
            out=str(raw.get("out", "runs")),
            gpus=int(raw.get("gpus", 0)),
            per_gpu=int(raw.get("per_gpu", 1)),
            priority=int(raw.get("priority", 0)),
            cwd=str(raw.get("cwd", "")),
            name=str(raw.get("name", "")),
        )

    def varied(self, overrides: list[str]) -> list[str]:
        """The overrides of a trial that the sweep varies (its fixed ones left out)."""
        keys = {p.key for p in self.space.params}
        return [o for o in overrides if o.partition("=")[0].strip() in keys]
