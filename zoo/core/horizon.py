"""The memory-horizon search: which lengths to train next, and the horizon they give.

A *line* is everything of a run but its seed and its searched length (one
cell x mode x task x learning rate ...). Along a line the search trains every
seed at one length at a time, climbing a ladder of lengths (25, 50, 100, ...):

- it climbs while a majority of the seeds solve a rung;
- after the first rung the majority fails it goes ``beyond`` more rungs (so a
  lucky fail, or a lucky pass above it, is visible), and stops once
  ``beyond + 1`` rungs in a row have failed. A rung solved past a failure
  resets that count: the climb goes on;
- then it may ``refine``: bisect (geometrically, the ladder is geometric)
  between the horizon and the first failed length above it, ``refine`` times.

The **horizon** is the longest length a majority of seeds solved.

``search`` is a pure function of the outcomes so far: given the same finished
runs it asks for the same next length, so a search that was killed resumes
where it stopped and reaches the same horizon. It looks only at the lengths it
would itself have asked for, in its own order: outcomes stored for any other
length (another search's) change nothing. The runner (``zoo.runs.runner``)
trains what it asks for in rounds; the report calls it again on the stored
runs for the horizon and the lengths tried.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from typing import Mapping, Sequence


@dataclass(frozen=True)
class SearchSpec:
    """A ``[search]`` table: the axis searched and how.

    ``ladder``: the lengths to climb, ascending (its last is the config's
    maximum); ``beyond``: rungs tried past the first failure; ``refine``:
    bisections between the horizon and the first failure above it.
    """

    ladder: tuple[int, ...]
    axis: str = "task.length"
    beyond: int = 1
    refine: int = 0

    def to_dict(self) -> dict:
        d = dataclasses.asdict(self)
        d["ladder"] = list(self.ladder)
        return d

    @classmethod
    def from_dict(cls, d: dict) -> "SearchSpec":
        return cls(ladder=tuple(d["ladder"]), axis=d.get("axis", "task.length"), beyond=d.get("beyond", 1),
                   refine=d.get("refine", 0))


@dataclass(frozen=True)
class Step:
    """Where a line's search stands.

    ``next``: the length whose seeds must be trained before the search can go
    on (None once it is done); ``tried``: the lengths it has asked for, in
    order, ``next`` included; ``horizon``: the longest length a majority of
    seeds solved so far (None: none yet); ``failed_above``: the shortest failed
    length above the horizon (None: none tried).
    """

    next: int | None
    tried: tuple[int, ...]
    horizon: int | None
    failed_above: int | None

    @property
    def done(self) -> bool:
        return self.next is None


def majority(solved: Sequence[bool], seeds: int) -> bool | None:
    """Whether more than half of ``seeds`` solved; None while fewer than ``seeds`` outcomes are in."""
    if len(solved) < seeds:
        return None
    return 2 * sum(bool(s) for s in solved[:seeds]) > seeds


def midpoint(low: int, high: int) -> int | None:
    """The geometric midpoint of two lengths, rounded; None when no whole length lies strictly between."""
    mid = round(math.sqrt(low * high))
    mid = min(max(mid, low + 1), high - 1)
    return mid if low < mid < high else None


def search(spec: SearchSpec, seeds: int, outcomes: Mapping[int, Sequence[bool]]) -> Step:
    """The next length to train on a line, given ``outcomes``: length -> each finished seed's solved flag."""
    tried: list[int] = []
    horizon = failed_above = None

    def verdict(length: int) -> bool | None:
        tried.append(length)
        return majority(list(outcomes.get(length, ())), seeds)

    failures = 0
    for length in spec.ladder:
        won = verdict(length)
        if won is None:
            return Step(length, tuple(tried), horizon, failed_above)
        if won:
            horizon, failed_above, failures = length, None, 0
        else:
            failed_above = failed_above or length
            failures += 1
            if failures > spec.beyond:
                break
    low, high = horizon, failed_above
    for _ in range(spec.refine):
        if low is None or high is None or (mid := midpoint(low, high)) is None:
            break
        won = verdict(mid)
        if won is None:
            return Step(mid, tuple(tried), horizon, failed_above)
        if won:
            low = horizon = mid
        else:
            high = failed_above = mid
    return Step(None, tuple(tried), horizon, failed_above)


def check(spec: SearchSpec) -> list[str]:
    """What is wrong with a spec (empty when nothing): one line each, for the loader."""
    problems = []
    ladder = list(spec.ladder)
    if not ladder:
        problems.append("search.ladder is empty: expected lengths such as [25, 50, 100, 200]")
    elif any(b <= a for a, b in zip(ladder, ladder[1:])):
        problems.append(f"search.ladder = {ladder}: expected lengths in ascending order, each once, "
                        f"such as {sorted(set(ladder))}")
    if spec.beyond < 0:
        problems.append(f"search.beyond = {spec.beyond}: expected 0 or more rungs past the first failure")
    if spec.refine < 0:
        problems.append(f"search.refine = {spec.refine}: expected 0 or more bisections")
    return problems
