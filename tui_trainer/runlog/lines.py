"""metrics.jsonl, line by line or by window: what a reader needs, at a cost flat in its length.

A week-long run writes millions of `step` lines (throttled progress) and a few thousand of
everything else. `scan` reads every line of a small file; of a large one it parses every line that
is not a step (a regex over 8 MiB chunks finds them at memory speed), `samples` step lines at
evenly spaced offsets (a downsampled progress curve) and the last step line, and counts the
lines so that each record still carries its line number (`seq`, as the control socket numbers
events). A last line without its newline is being written: it is left for the next read.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO

from tui_trainer.runlog.check import record_problem

CHUNK = 8 * 1024 * 1024
"""Bytes read at a time (memory stays near twice this, whatever the file's length)."""

WHOLE_BYTES = 4 * 1024 * 1024
"""Files up to this size are parsed line by line in full (a run of a few hours)."""

SAMPLES = 2000
"""Step lines kept from a large file (evenly spaced): enough for any plot's width."""

_NOT_STEP = re.compile(rb'\{"event": "(?!step")')
_STEP_PREFIX = b'\n{"event": "step", '


class DamagedLine(ValueError):
    """A complete line that is not a usable record (`line` is its 1-based number)."""

    def __init__(self, line: int, why: str) -> None:
        super().__init__(f"line {line} {why}")
        self.line = line
        self.why = why


@dataclass
class Lines:
    """What `scan` found: records in file order (each with `seq`), and what it skipped."""

    records: list[dict[str, Any]] = field(default_factory=list)
    last_line: int = 0  # the number of complete lines up to where the scan stopped
    end_offset: int = 0  # the byte offset just after line `last_line` (where to go on from)
    damaged: list[str] = field(default_factory=list)  # "line N is not JSON", ... (tolerant)
    sampled: bool = False  # step lines were sampled (the file was large)


def parse_line(line: bytes | str, number: int) -> dict[str, Any] | None:
    """One complete line as a record; None for a blank line; `DamagedLine` otherwise."""
    if not line.strip():
        return None
    try:
        record = json.loads(line)
    except (ValueError, RecursionError):
        raise DamagedLine(number, "is not JSON") from None
    if not isinstance(record, dict):
        raise DamagedLine(number, "is not an event object with an 'event' key")
    why = record_problem(record)
    if why is not None:
        raise DamagedLine(number, f"is not a usable record: {why}")
    record["seq"] = number
    return record


class _Collector:
    """Parses lines into `Lines`, raising (strict) or noting (tolerant) damaged ones."""

    def __init__(self, strict: bool, start: int) -> None:
        self.out = Lines()
        self.strict = strict
        self.start = start

    def add(self, line: bytes, number: int) -> None:
        if number <= self.start:
            return
        try:
            record = parse_line(line, number)
        except DamagedLine as exc:
            if self.strict:
                raise
            self.out.damaged.append(str(exc))
            return
        if record is not None:
            self.out.records.append(record)


def scan(
    path: Path,
    *,
    start: int = 0,
    stop: int | None = None,
    strict: bool = False,
    samples: int = SAMPLES,
    whole_bytes: int = WHOLE_BYTES,
    known: tuple[int, int] = (0, 0),
) -> Lines:
    """The records of lines `start+1 .. stop` (1-based; to the last complete line by default).

    OSError propagates (a missing file is the caller's to name). `strict`: a damaged line raises
    `DamagedLine`; otherwise it is skipped and named in `Lines.damaged`. On a file larger than
    `whole_bytes`, step lines are sampled (see the module docstring). `known`: (line, byte
    offset) of a position read before (`Lines.last_line`, `Lines.end_offset`) at or before
    `start`: reading goes on from there instead of counting lines from the top.
    """
    collect = _Collector(strict, start)
    line, offset = known if 0 <= known[0] <= start and known[1] >= 0 else (0, 0)
    with path.open("rb") as fh:
        size = fh.seek(0, 2)
        if size < offset:  # not the file read before (replaced): from the top
            line, offset = 0, 0
        if size - offset <= whole_bytes:
            fh.seek(offset)
            _whole(fh.read(), line, offset, stop, collect)
        else:
            collect.out.sampled = True
            _windowed(fh, size, (line, offset), stop, samples, collect)
    collect.out.records.sort(key=lambda r: r["seq"])
    return collect.out


def _whole(data: bytes, base: int, offset: int, stop: int | None, collect: _Collector) -> None:
    lines = data.split(b"\n")[:-1]  # after the last newline: nothing, or a line being written
    if stop is not None:
        lines = lines[: max(stop - base, 0)]
    for number, line in enumerate(lines, base + 1):
        collect.add(line, number)
    collect.out.last_line = base + len(lines)
    collect.out.end_offset = offset + sum(len(line) + 1 for line in lines)


def _windowed(
    fh: BinaryIO,
    size: int,
    known: tuple[int, int],
    stop: int | None,
    samples: int,
    collect: _Collector,
) -> None:
    """Chunk by chunk: every non-step line, sampled step lines, and the last step line (one
    regex pass and one newline count over each chunk)."""
    base, offset = known  # offset: the file position of `data`, line `base` ends just before
    span = size - offset
    targets = [offset + span * i // samples for i in range(samples)] if samples > 0 else []
    last_step = None
    while stop is None or base < stop:
        data, end = _complete_lines(fh, offset)
        if not end:
            break
        if stop is not None and base + data.count(b"\n", 0, end) > stop:
            end = _end_of_line(data, stop - base)
        others = _non_steps(data, end)
        wanted = set(others)
        while targets and targets[0] < offset + end:
            found = _step_at(data, max(targets.pop(0) - offset, 0), end)
            if found is not None:
                wanted.add(found)
        last = data.rfind(_STEP_PREFIX, 0, end) + 1
        last = last if last or _is_step(data, 0) else -1
        numbered, lines_here = _numbered(data, sorted({*wanted, last} - {-1}), base, end)
        for begin, number in numbered:
            line = data[begin : data.index(b"\n", begin)]
            if begin == last:
                last_step = (line, number)
            if begin in wanted:
                collect.add(line, number)
        if collect.strict:  # every line is a step line or was parsed: name the first that is not
            steps = data.count(_STEP_PREFIX, 0, end) + _is_step(data, 0)
            if steps + len(others) < lines_here:
                for number, line in enumerate(data[:end].split(b"\n")[:-1], base + 1):
                    if not _is_step(line, 0):
                        collect.add(line, number)
        base += lines_here
        offset += end
    collect.out.last_line = base
    collect.out.end_offset = offset
    if last_step is not None:
        collect.add(*last_step)
    _unique(collect)


def _complete_lines(fh: BinaryIO, offset: int) -> tuple[bytes, int]:
    """About CHUNK bytes from `offset` on (more if one line is longer) and where its complete
    lines end (0 at the end: a last line without its newline is still being written)."""
    fh.seek(offset)
    data = fh.read(CHUNK)
    end = data.rfind(b"\n") + 1
    while not end:
        more = fh.read(CHUNK)
        if not more:
            return data, 0
        data += more
        end = data.rfind(b"\n") + 1
    return data, end


def _is_step(data: bytes, begin: int) -> bool:
    return data.startswith(_STEP_PREFIX[1:], begin)


def _numbered(
    data: bytes, begins: list[int], base: int, end: int
) -> tuple[list[tuple[int, int]], int]:
    """(start, 1-based line number) of each line start in `begins` (sorted, before `end`), and
    the lines in data[:end]: one counting pass."""
    out, counted, number = [], 0, base
    for begin in begins:
        if begin >= end:
            break
        number += data.count(b"\n", counted, begin)
        counted = begin
        out.append((begin, number + 1))
    return out, number - base + data.count(b"\n", counted, end)


def _end_of_line(data: bytes, lines: int) -> int:
    """The position just after the `lines`-th newline of `data`."""
    pos = 0
    for _ in range(lines):
        pos = data.index(b"\n", pos) + 1
    return pos


def _step_at(data: bytes, at: int, end: int) -> int | None:
    """The start of the first step line starting at or after `at` (and before `end`)."""
    if at == 0 and _is_step(data, 0):
        return 0
    pos = data.find(_STEP_PREFIX, max(at - 1, 0), end)
    return None if pos < 0 else pos + 1


def _non_steps(data: bytes, end: int) -> list[int]:
    """The start of each complete line of data[:end] that is not a step line."""
    begins: list[int] = []
    for match in _NOT_STEP.finditer(data, 0, end):
        begin = data.rfind(b"\n", 0, match.start()) + 1
        if not begins or begins[-1] != begin:
            begins.append(begin)
    return begins


def _unique(collect: _Collector) -> None:
    """One record per line (a strict re-parse or the last step may add a line twice)."""
    seen: set[int] = set()
    unique = []
    for record in collect.out.records:
        if record["seq"] not in seen:
            seen.add(record["seq"])
            unique.append(record)
    collect.out.records = unique


def tail_lines(fh: BinaryIO, size: int, nbytes: int) -> list[bytes]:
    """The complete lines in the last `nbytes` of a file of `size` bytes (the first, cut one left
    out unless the window starts the file), oldest first."""
    start = max(size - nbytes, 0)
    fh.seek(start)
    data = fh.read(size - start)
    lines = data.split(b"\n")[:-1]
    return lines if start == 0 else lines[1:]


def head_lines(fh: BinaryIO, nbytes: int) -> list[bytes]:
    """The complete lines in the first `nbytes` of a file."""
    fh.seek(0)
    return fh.read(nbytes).split(b"\n")[:-1]
