"""What a sweep varies: lists, distributions, the grid, seeded draws, and refusals."""

from __future__ import annotations

import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tui_trainer.config.overrides import parse_override
from tui_trainer.errors import UserError
from tui_trainer.sweep.space import (
    GRID,
    MAX_GRID,
    Param,
    Space,
    format_number,
    parse_space,
    split_values,
)
from tui_trainer.sweep.spec import SweepSpec

finite = st.floats(min_value=-1e6, max_value=1e6, allow_nan=False, allow_infinity=False)
positive = st.floats(min_value=1e-8, max_value=1e6, allow_nan=False, allow_infinity=False)


@settings(max_examples=60, deadline=None)
@given(a=finite, b=finite)
def test_uniform_parses_its_ends_and_draws_inside_them(a: float, b: float) -> None:
    low, high = sorted((a, b))
    if not low < high:
        return
    (param,) = parse_space([f"optim.lr=uniform:{low!r}:{high!r}"]).params
    assert (param.kind, param.low, param.high) == ("uniform", low, high)
    for trial in range(5):
        (text,) = Space(params=(param,)).draw(seed=3, trial=trial)
        value = parse_override(text)["optim"]["lr"]
        # drawn values are written to 6 significant digits: inside the range up to that rounding
        slack = 1e-5 * max(abs(low), abs(high), 1e-300)
        assert low - slack <= value <= high + slack


@settings(max_examples=60, deadline=None)
@given(a=positive, b=positive)
def test_loguniform_needs_positive_ends_and_draws_on_the_log_scale(a: float, b: float) -> None:
    low, high = sorted((a, b))
    if not low < high:
        return
    (param,) = parse_space([f"optim.lr=loguniform:{low!r}:{high!r}"]).params
    assert param.kind == "loguniform" and (param.low, param.high) == (low, high)
    drawn = [parse_override(Space(params=(param,)).draw(0, i)[0])["optim"]["lr"] for i in range(8)]
    assert all(low * (1 - 1e-5) <= v <= high * (1 + 1e-5) for v in drawn)
    with pytest.raises(UserError, match="0 < LOW"):
        parse_space([f"optim.lr=loguniform:{-low!r}:{high!r}"])


@settings(max_examples=60, deadline=None)
@given(a=st.integers(-1000, 1000), b=st.integers(-1000, 1000))
def test_int_ranges_include_both_ends_and_refuse_fractions(a: int, b: int) -> None:
    low, high = sorted((a, b))
    if low == high:
        with pytest.raises(UserError, match="LOW < HIGH"):
            parse_space([f"epochs=int:{low}:{high}"])
        return
    (param,) = parse_space([f"epochs=int:{low}:{high}"]).params
    values = {int(Space(params=(param,)).draw(7, i)[0].partition("=")[2]) for i in range(30)}
    assert values <= set(range(low, high + 1))
    with pytest.raises(UserError, match="whole numbers"):
        parse_space([f"epochs=int:{low}.5:{high}"])


plain = st.text(alphabet="abcxyz0123456789_.-", min_size=1, max_size=8)


@settings(max_examples=80, deadline=None)
@given(values=st.lists(plain, min_size=1, max_size=6))
def test_split_values_round_trips_plain_values(values: list[str]) -> None:
    assert split_values(",".join(values), "k=v") == values


@settings(max_examples=60, deadline=None)
@given(values=st.lists(st.lists(st.integers(0, 99), min_size=1, max_size=3), min_size=2))
def test_a_comma_inside_brackets_or_quotes_does_not_split(values: list[list[int]]) -> None:
    text = ",".join(str(v).replace(" ", "") for v in values)
    (param,) = parse_space([f"model.kwargs.channels={text}"]).params
    assert [
        parse_override(param.override(v))["model"]["kwargs"]["channels"] for v in param.values
    ] == values
    assert split_values("'a,b',\"c,d\",it's", "k") == ["'a,b'", '"c,d"', "it's"]


def test_a_grid_is_every_combination_last_key_fastest_with_fixed_overrides_first() -> None:
    space = parse_space(["optim.lr=0.1,0.01", "epochs=2", "data.batch_size=32,64,128"])
    assert space.fixed == ("epochs=2",) and space.grid_only and space.grid_size() == 6
    grid = space.grid()
    assert grid[0] == ["epochs=2", "optim.lr=0.1", "data.batch_size=32"]
    assert grid[1] == ["epochs=2", "optim.lr=0.1", "data.batch_size=64"]
    assert grid[-1] == ["epochs=2", "optim.lr=0.01", "data.batch_size=128"]
    assert len({tuple(g) for g in grid}) == 6


def test_draws_are_seeded_per_trial_and_differ_between_seeds() -> None:
    space = parse_space(["optim.lr=loguniform:1e-4:1e-1", "optim.name=choice:sgd,adamw"])
    assert [space.draw(1, i) for i in range(6)] == [space.draw(1, i) for i in range(6)]
    assert space.draw(1, 4) == parse_space(
        ["optim.lr=loguniform:1e-4:1e-1", "optim.name=choice:sgd,adamw"]
    ).draw(1, 4)
    assert [space.draw(1, i) for i in range(6)] != [space.draw(2, i) for i in range(6)]
    assert len({tuple(space.draw(1, i)) for i in range(6)}) == 6


def test_corners_use_every_listed_value_and_both_ends() -> None:
    space = parse_space(["optim.lr=uniform:0.5:2", "optim.name=sgd,adamw"])
    seen = {o for overrides in space.corners() for o in overrides}
    assert {"optim.lr=0.5", "optim.lr=2", "optim.name=sgd", "optim.name=adamw"} <= seen


def test_the_spec_round_trips_through_json() -> None:
    space = parse_space(
        ["optim.lr=loguniform:1e-4:0.1", "epochs=int:1:3", "optim.name=a,b", "x.y=1"]
    )
    spec = SweepSpec("tpe", space, 9, parallel=3, seed=4, prune=True, out="/r", cwd="/c", name="q")
    again = SweepSpec.from_json(spec.to_json())
    assert again == spec and again.study
    assert again.varied(["x.y=1", "optim.lr=0.01", "epochs=2"]) == ["optim.lr=0.01", "epochs=2"]
    assert Param.from_json(space.params[2].to_json()) == Param("optim.name", GRID, ("a", "b"))


@pytest.mark.parametrize(
    ("items", "message"),
    [
        (["optim.lr"], "expected key.path=value"),
        (["optim.lr=1,,2"], "an empty value"),
        (["optim.lr=1,2,"], "an empty value"),
        (["optim.lr=uniform:1"], "two numbers"),
        (["optim.lr=uniform:a:b"], "with numbers"),
        (["optim.lr=uniform:2:1"], "LOW < HIGH"),
        (["optim.lr=uniform:0:inf"], "finite"),
        (["optim.lr=loguniform:0:1"], "0 < LOW"),
        (["optim.lr=choice:sgd"], "at least two"),
        (["optim.lr=0.1,0.2", "optim.lr=loguniform:1e-4:1e-1"], "varied twice"),
        (["optim.lr=0.1,0.2", "optim.lr=0.3"], "both fixed and varied"),
        (["optim=1,2"], "is a section of keys"),
    ],
)
def test_bad_items_are_one_line_naming_the_item(items: list[str], message: str) -> None:
    with pytest.raises(UserError, match=message) as info:
        parse_space(items)
    assert "\n" not in str(info.value)


def test_a_distribution_in_a_grid_needs_trials_and_a_huge_grid_is_refused() -> None:
    with pytest.raises(UserError, match="needs --trials"):
        parse_space(["optim.lr=uniform:0:1", "epochs=1,2"]).grid()
    axis = ",".join(str(i) for i in range(11))
    big = parse_space([f"epochs={axis}", f"seed={axis}", f"data.batch_size={axis}"])
    assert big.grid_size() > MAX_GRID
    with pytest.raises(UserError, match="more than"):
        big.grid()


def test_a_quoted_kind_is_a_plain_value() -> None:
    space = parse_space(["data.name='int:x'"])
    assert space.fixed == ("data.name='int:x'",) and not space.params
    assert math.isclose(float(format_number(1 / 3)), 0.333333)
