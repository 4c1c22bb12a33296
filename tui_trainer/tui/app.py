"""The console app: setup → run → summary, quitting safely (the CLI opens it through `entry`)."""

from __future__ import annotations

import asyncio
import signal
from collections.abc import Callable, Iterable
from pathlib import Path, PurePath
from typing import Any, ClassVar

from textual.app import App, SystemCommand
from textual.binding import Binding, BindingType
from textual.screen import Screen
from textual.widget import Widget

from tui_trainer.config.loader import (
    PRESET_SUFFIXES,
    PresetInfo,
    resumed_config,
)
from tui_trainer.config.preset_list import list_presets
from tui_trainer.errors import UserError
from tui_trainer.outcome import exit_code
from tui_trainer.remote.detach import Detached, spawn_detached
from tui_trainer.remote.endpoint import read_pointer
from tui_trainer.remote.hangup import keeps_training
from tui_trainer.runlog.events import RunFinished
from tui_trainer.telemetry.sampler import Sampler
from tui_trainer.terminal import detach_from_terminal, release_quiet_input
from tui_trainer.tui.breakpoints import NARROW, TINY
from tui_trainer.tui.palette import system_commands
from tui_trainer.tui.screens.dialogs import ConfirmQuit, HelpScreen
from tui_trainer.tui.screens.run import Executor, RunRequest, RunScreen
from tui_trainer.tui.screens.run_actions import LaunchRun, WatchRun
from tui_trainer.tui.screens.runs import RunsScreen
from tui_trainer.tui.screens.setup import SetupScreen
from tui_trainer.tui.sources import RemoteRun
from tui_trainer.tui.state import last_preset, remember_preset
from tui_trainer.tui.widgets.gpu_slot import FollowedHost, gpu_panel_factory

STYLES: list[str | PurePath] = [
    "app.tcss",
    "setup.tcss",
    "run.tcss",
    "summary.tcss",
    "widgets/gpu_panel.tcss",
]
Breakpoints = list[tuple[int, str]] | None
HANDLED_SIGNALS = (signal.SIGTERM, signal.SIGINT)  # and SIGHUP, see `TrainerApp._hangup`


def lists_runs(screen: Screen) -> bool:
    """A screen a watched run is opened from (the runs browser, the Queue view, a sweep's
    leaderboard): leaving the run goes back to it."""
    return isinstance(screen, RunsScreen) or getattr(screen, "LISTS_RUNS", False) is True


def execute(*args: Any, **kwargs: Any) -> RunFinished:
    """The real engine (`tui_trainer.session.execute`), imported when the first run starts."""
    from tui_trainer.session import execute as session_execute

    return session_execute(*args, **kwargs)


def run_pid(run_dir: str | Path) -> int | None:
    """The process of the live run in `run_dir` (its socket pointer), if it has one."""
    pointer = read_pointer(Path(run_dir))
    return pointer.pid if pointer is not None else None


def discover_presets(preset: str | None = None) -> list[PresetInfo]:
    """Bundled presets, those in ./presets/, and `preset` itself when it is a file elsewhere."""
    found = list_presets()
    path = Path(preset) if preset else None
    if path is None or not (path.suffix in PRESET_SUFFIXES or path.is_file()):
        return found
    known = {info.path.resolve() for info in found}
    if path.resolve() in known:
        return found
    extra = [p for p in list_presets([path.parent]) if p.path.resolve() == path.resolve()]
    return found + extra


def run_exit_code(result: RunFinished | None, signal_number: int | None = None) -> int:
    """The process exit code for how the last run ended (`tui_trainer.outcome.exit_code`)."""
    return exit_code(result.status if result is not None else None, signal_number)


class TrainerApp(App[int]):
    """The training console.

    `executor` runs one training run (default: the real engine, `session.execute`); tests
    pass a test double with the same signature (tests/support/scripted.py).
    `presets` replaces preset discovery, `gpu_panel` builds the GPU slot's widget, and
    `exit_when_done` exits as soon as the first run ends (benchmarks, scripted use).
    """

    CSS_PATH: ClassVar[list[str | PurePath]] = STYLES
    TITLE = "tui-trainer"
    # textual declares both breakpoints `ClassVar[...] | None`, which mypy reads as an instance
    # variable that a ClassVar may not override
    HORIZONTAL_BREAKPOINTS: ClassVar[list[tuple[int, str]] | None] = [  # type: ignore[misc]
        (0, "-tiny"),  # under 72 columns: layouts drop their least needed parts (run.tcss...)
        (TINY, "-narrow"),
        (NARROW, "-wide"),
    ]
    # (the same)
    VERTICAL_BREAKPOINTS: ClassVar[list[tuple[int, str]] | None] = [  # type: ignore[misc]
        (0, "-short"),
        (32, "-tall"),
    ]
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("ctrl+q", "quit", "Quit", show=False, priority=True),
        Binding("ctrl+c", "quit", "Quit", show=False),
        Binding("f3", "runs", "Runs", show=False),  # the setup header and the palette say so
        Binding("f4", "queue", "Queue", show=False),  # (the same)
    ]

    def __init__(
        self,
        preset: str | None = None,
        overrides: list[str] | None = None,
        start: bool = False,
        out: str | None = None,
        *,
        executor: Executor | None = None,
        presets: list[PresetInfo] | None = None,
        gpu_panel: Callable[[], Widget] | None = None,
        exit_when_done: bool = False,
        handle_signals: bool = False,
        resume: str | None = None,
        watch: str | None = None,
        images: str = "none",
    ) -> None:
        super().__init__()
        self.images = images  # halfblock | sixel | kitty | none (`tui.pictures.mode.prepare`)
        self.preset = preset
        self.overrides = list(overrides or [])
        self.start_now = start and preset is not None
        self.out = out
        self.executor: Executor = executor or execute
        self.presets = presets if presets is not None else discover_presets(preset)
        # One telemetry sampler for the app's lifetime, only when the live GPU panel is used;
        # its "this run" line follows the process of the run on screen (`follow_run`).
        self.host: FollowedHost | None = None
        self.sampler: Sampler | None = None
        if gpu_panel is None:
            self.host = FollowedHost(run_pid(watch) if watch is not None else None)
            self.sampler = Sampler(host_reader=self.host)
            gpu_panel = gpu_panel_factory(self.sampler)
        self.gpu_panel = gpu_panel
        self.exit_when_done = exit_when_done
        self.resume = resume
        # a run directory to watch instead of training here (not `watch`: a Textual method)
        self.watch_dir = watch
        self.hung_up = False
        self.handle_signals = handle_signals
        self.last_result: RunFinished | None = None
        self.starting_preset = ""  # the preset of the run being started from setup
        self._sighup: Any = signal.SIG_DFL
        self.signal_number: int | None = None
        self.left_running: str | None = None  # a watched run left while it goes on

    # -- screens ---------------------------------------------------------------------------------
    def on_mount(self) -> None:
        """Open the setup screen (it starts the run at once with --start when valid)."""
        if self.sampler is not None:
            self.sampler.start()  # returns at once; NVML starts in the sampler's thread
        if self.watch_dir is not None:  # the run screen for a run in another process
            source = self.watched_source(self.watch_dir)
            self.push_screen(RunScreen(None, None, self.gpu_panel, source=source))
            self._install_signals()
            return
        if self.resume is not None:  # straight to the run screen, continuing that run
            config, name = resumed_config(self.resume, self.preset, self.overrides)
            request = RunRequest(config, name, self.overrides, self.out, self.resume)
            self.push_screen(RunScreen(request, self.executor, self.gpu_panel))
            self._install_signals()
            return
        self.push_screen(self._setup_screen(autostart=self.start_now))
        self._install_signals()

    def watched_source(self, run_dir: str) -> Any:
        """The source of the run screen `watch` opens (`exec` watches its script's run)."""
        return RemoteRun(run_dir)

    def _setup_screen(self, autostart: bool = False) -> SetupScreen:
        return SetupScreen(
            self.presets,
            selected=self.preset or last_preset(),
            overrides=self.overrides,
            out=self.out,
            autostart=autostart,
        )

    def _install_signals(self) -> None:
        if self.handle_signals:
            loop = asyncio.get_running_loop()
            for sig in HANDLED_SIGNALS:
                loop.add_signal_handler(sig, self._on_signal, sig)
            # A hang-up must detach from the dead terminal at once, before the next frame.
            self._sighup = signal.signal(signal.SIGHUP, self._hangup)

    def on_setup_screen_start_requested(self, message: SetupScreen.StartRequested) -> None:
        """Start: open the run screen, which starts training in a thread worker (or, for
        "start in the background", start a detached run and watch it)."""
        self.starting_preset = message.preset
        if message.background is not None:
            self.notify("starting in the background…", timeout=5)
            self.run_worker(
                lambda: self._start_background(message.background),
                thread=True,
                group="detach",
                exit_on_error=False,
            )
            return
        self.push_screen(RunScreen(message.request, self.executor, self.gpu_panel))

    def on_launch_run(self, message: LaunchRun) -> None:
        """Replay / resume from the runs browser: as Start does (here or in the background)."""
        self.starting_preset = ""  # not picked in setup: the remembered preset stays
        if message.background is not None:
            self.notify("starting in the background…", timeout=5)
            argv = message.background
            self.run_worker(
                lambda: self._start_background(argv),
                thread=True,
                group="detach",
                exit_on_error=False,
            )
        elif message.request is not None:
            self.push_screen(RunScreen(message.request, self.executor, self.gpu_panel))

    def on_watch_run(self, message: WatchRun) -> None:
        """Attach to a run from the runs browser, as `tui-trainer watch` does."""
        try:
            source = RemoteRun(message.run_dir)
        except OSError as exc:
            self.notify(f"{message.run_dir}: cannot watch ({exc})", severity="error")
            return
        self.push_screen(RunScreen(None, None, self.gpu_panel, source=source))

    def action_runs(self) -> None:
        """f3 on the setup screen: the runs browser (runs under --out, default runs)."""
        if isinstance(self.screen, SetupScreen):
            self.push_screen(RunsScreen(self.out or "runs", out=self.out))

    def action_queue(self) -> None:
        """f4 on the setup screen: the Queue view (the user's queue database)."""
        if isinstance(self.screen, SetupScreen):
            from tui_trainer.tui.screens.queue import QueueScreen  # sqlite, the queue: on use

            self.push_screen(QueueScreen())

    def _start_background(self, argv: list[str]) -> None:
        """Worker thread: `run --detach`, then watch the run (or show why it did not start)."""
        started = spawn_detached(argv)
        self.call_from_thread(self._watch_started, started)

    def _watch_started(self, started: Detached) -> None:
        if started.run_dir is None:
            lines = [line for line in started.output.splitlines() if line.strip()]
            reason = lines[-1] if lines else f"exit code {started.code}"
            setup = self.screen if isinstance(self.screen, SetupScreen) else None
            if setup is not None and started.code == 2:  # bad input: on the form, like Start
                setup.refuse(UserError(reason.removeprefix("tui-trainer: error: ")))
                return
            self.notify(f"the run did not start: {reason}", severity="error", timeout=10)
            return
        remember_preset(self.starting_preset)
        source = RemoteRun(started.run_dir)
        self.push_screen(RunScreen(None, None, self.gpu_panel, source=source))

    def on_run_screen_ended(self, message: RunScreen.Ended) -> None:
        """A run ended: exit if quitting, else show the summary. A run that refused to start
        (bad input found by its own checks, nothing written) goes back to the form instead."""
        refusal = getattr(message.run_screen.source, "refusal", None)
        setup = next((s for s in self.screen_stack if isinstance(s, SetupScreen)), None)
        quitting = message.run_screen.quitting or self.exit_when_done or self.hung_up
        if refusal is not None and setup is not None and not quitting:
            if self.screen is message.run_screen:
                self.pop_screen()
            setup.refuse(refusal)
            return
        if setup is not None and message.run_screen.model.started:
            remember_preset(self.starting_preset)  # it ran: selected on the next launch
        self.last_result = message.result
        if quitting:
            code = run_exit_code(message.result, self.signal_number)
            self.exit(code, return_code=code)
            return
        if self.screen is message.run_screen:
            message.run_screen.action_summary()

    def exit(self, *args: Any, **kwargs: Any) -> None:
        """Exit; after a hang-up, first unblock the input thread reading the quiet pipe."""
        release_quiet_input()
        super().exit(*args, **kwargs)

    def follow_run(self, screen: RunScreen) -> None:
        """The GPU panel's "this run" line reads the process that trains the run on `screen`:
        this one, or a watched run's own (else it showed the console's 0.0 cores)."""
        if self.host is None:
            return
        run_dir = getattr(screen.source, "run_dir", None)
        if screen.source.remote and run_dir is not None:
            pid = run_pid(run_dir)
            if pid is not None:
                self.host.follow(pid)
        else:
            self.host.follow(None)

    def live_run(self) -> RunScreen | None:
        """The run screen whose run is still going, if any."""
        for screen in self.screen_stack:
            if isinstance(screen, RunScreen) and screen.model.active:
                return screen
        return None

    # -- actions ---------------------------------------------------------------------------------
    async def action_quit(self) -> None:
        """q / ctrl+q: quit at once when idle; while training, confirm, checkpoint, then exit."""
        run = self.live_run()
        watching = self.watch_dir is not None or (run is not None and run.source.remote)
        if watching and self._back_to_runs():  # attached from the runs browser: back to it
            return
        if watching:  # nothing is lost by leaving: the run goes on
            self._leave_watched(run)
            self.exit(0, return_code=0)
            return
        if run is None:
            code = run_exit_code(self.last_result, self.signal_number)
            self.exit(code, return_code=code)
            return
        if run.quitting or isinstance(self.screen, ConfirmQuit):
            return

        def answer(quit_: bool | None) -> None:
            if quit_ and run.model.active:
                run.stop_for_exit()

        self.push_screen(ConfirmQuit(), answer)

    def _leave_watched(self, run: RunScreen | None) -> None:
        """Remember a watched run that is still going, for the line printed after the exit."""
        run_dir = getattr(run.source, "run_dir", None) if run is not None else None
        if run is not None and run.source.remote and run_dir is not None:
            self.left_running = str(run_dir)

    def _back_to_runs(self) -> bool:
        """Watching a run opened from the runs browser or the Queue view: leave it (it goes
        on), show the list."""
        if not (isinstance(self.screen, RunScreen) and self.screen.source.remote):
            return False
        if not any(lists_runs(s) for s in self.screen_stack):
            return False
        left = self.screen
        while not lists_runs(self.screen):
            self.pop_screen()
        run_dir = getattr(left.source, "run_dir", None)
        if left.model.active and run_dir is not None:
            self.notify(f"left {run_dir}: the run goes on (enter on it attaches again)")
        return True

    async def action_new_run(self) -> None:
        """n: back to the setup screen, which keeps the last settings. Watching (`tui-trainer
        watch`, no setup screen below), the finished run's screens make way for a new setup
        screen: from there on this is the console, as `tui-trainer` opens it."""
        if self.live_run() is not None:
            return
        if not any(isinstance(s, SetupScreen) for s in self.screen_stack):
            self.watch_dir = None  # q no longer "leaves a watched run"
            self.last_result = None  # nor does the exit code or summary follow it
            while len(self.screen_stack) > 1:
                await self.pop_screen()
            await self.push_screen(self._setup_screen())
            return
        while not isinstance(self.screen, SetupScreen):
            await self.pop_screen()

    def action_help(self) -> None:
        """?: the keys of every screen."""
        if not isinstance(self.screen, HelpScreen):
            self.push_screen(HelpScreen())

    def _hangup(self, signal_number: int, _frame: object) -> None:
        detach_from_terminal()
        asyncio.get_running_loop().call_soon_threadsafe(self._on_hangup, signal_number)

    def _on_hangup(self, signal_number: int) -> None:
        """SIGHUP: a run that keeps training on hang-up (`on_hangup: continue`) goes on
        without drawing, and can be watched from another terminal; else as SIGTERM."""
        run = self.live_run()
        request = run.request if run is not None else None
        if run is None or request is None or keeps_training(request.config, signal_number) is False:
            self._on_signal(signal_number)
            return
        self.hung_up = True
        run.drawing = False

    def _on_signal(self, signal_number: int) -> None:
        """SIGTERM/SIGHUP/SIGINT: checkpoint and stop the run, then exit with 128+N."""
        self.signal_number = signal_number
        run = self.live_run()
        if run is None or run.source.remote:
            self._leave_watched(run)
            self.exit(128 + signal_number, return_code=128 + signal_number)
        elif not run.quitting:
            run.stop_for_exit(status="interrupted", signal=signal_number)

    def on_unmount(self) -> None:
        """Stop the telemetry sampler and give the signals back."""
        if self.sampler is not None:
            self.sampler.stop()
        if self.handle_signals:
            loop = asyncio.get_running_loop()
            for sig in HANDLED_SIGNALS:
                loop.remove_signal_handler(sig)
            signal.signal(signal.SIGHUP, self._sighup)

    # -- command palette -------------------------------------------------------------------------
    def get_system_commands(self, screen: Screen) -> Iterable[SystemCommand]:
        """The run keys in the command palette too (ctrl+p): `tui.palette`."""
        yield from super().get_system_commands(screen)
        yield from system_commands(self, screen)
