"""Pure health-history math: no Django, no database.

- Reasons for a change between two snapshots: each component contributes points x its share of
  the weights present; a change of score is the sum of the changes of contributions (or of a
  settings version). The reasons are the components that moved the score most.
- Trend arrow: the score now against the snapshot 30 days before.
- Backtest: for the accounts paying on a past date, the share that churned within the next 90
  days per health colour (Wilson 95% intervals) and the ROC AUC of the score as a predictor of
  churn: the probability that a churned account scored lower than a retained one (ties count
  half; 0.5 is no better than chance, 1.0 a perfect ranking). The same AUC per component tells
  which inputs carry the signal.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from .scoring import LOW_SAMPLE, wilson

TREND_POINTS = 5.0  # a 30-day change smaller than this is "steady"
REASON_POINTS = 0.5  # a component whose contribution moved less is not a reason...
# ...unless none moved that much: then the largest move is the reason.
HISTORY_POINTS = 1.0  # a day whose score moved less (same colour, same settings) is no change
COLOURS = ("green", "yellow", "red")


def contributions(components: dict) -> dict[str, float]:
    """{name: points x share} of a snapshot's components {name: [points or None, share]}."""
    out = {}
    for name, (value, share) in components.items():
        out[name] = 0.0 if value is None else float(value) * float(share)
    return out


@dataclass(frozen=True)
class Reason:
    kind: str  # "changed", "appeared" (now has data), "gone" (no data now), "settings"
    name: str  # a component, or "" for settings
    before: float | None
    after: float | None
    points: float  # its effect on the score


def change_reasons(
    before: dict, after: dict, *, version_before: int, version_after: int, limit: int = 3
) -> list[Reason]:
    """Why the score moved from one snapshot to the next: the components whose contribution
    moved most (at least half a point), largest first, and a settings change if any."""
    reasons = []
    if version_before != version_after:
        reasons.append(Reason("settings", "", version_before, version_after, 0.0))
    was, now = contributions(before), contributions(after)
    moved = []
    for name in sorted(set(was) | set(now)):
        delta = now.get(name, 0.0) - was.get(name, 0.0)
        value_before = (before.get(name) or [None])[0]
        value_after = (after.get(name) or [None])[0]
        if abs(delta) < REASON_POINTS:
            continue
        if value_before is None and value_after is not None:
            kind = "appeared"
        elif value_before is not None and value_after is None:
            kind = "gone"
        else:
            kind = "changed"
        moved.append(Reason(kind, name, value_before, value_after, delta))
    if not moved:
        # Small moves of several components: the largest one still says where it came from.
        deltas = sorted(
            ((now.get(name, 0.0) - was.get(name, 0.0), name) for name in set(was) | set(now)),
            key=lambda item: (-abs(item[0]), item[1]),
        )
        if deltas and abs(deltas[0][0]) >= 0.05:
            delta, name = deltas[0]
            moved.append(
                Reason(
                    "changed",
                    name,
                    (before.get(name) or [None])[0],
                    (after.get(name) or [None])[0],
                    delta,
                )
            )
    moved.sort(key=lambda reason: (-abs(reason.points), reason.name))
    return reasons + moved[:limit]


def trend(now: float | None, then: float | None, threshold: float = TREND_POINTS) -> str | None:
    """ "up", "down" or "steady" over the 30 days; None without both scores."""
    if now is None or then is None:
        return None
    if now - then >= threshold:
        return "up"
    if then - now >= threshold:
        return "down"
    return "steady"


def roc_auc(scores: Sequence[tuple[float, bool]]) -> float | None:
    """AUC of a score as a predictor of churn, lower scores riskier: P(a churned account's
    score < a retained account's), ties counted half (the Mann-Whitney U / (n1 x n0)). None
    without both churned and retained accounts."""
    churned = [score for score, lost in scores if lost]
    kept = [score for score, lost in scores if not lost]
    if not churned or not kept:
        return None
    # Ranks (average for ties) over all scores, in O(n log n).
    ordered = sorted(scores, key=lambda item: item[0])
    ranks: list[float] = [0.0] * len(ordered)
    i = 0
    while i < len(ordered):
        j = i
        while j + 1 < len(ordered) and ordered[j + 1][0] == ordered[i][0]:
            j += 1
        for k in range(i, j + 1):
            ranks[k] = (i + j) / 2 + 1
        i = j + 1
    rank_sum_kept = sum(rank for rank, (_s, lost) in zip(ranks, ordered, strict=True) if not lost)
    n_kept, n_churned = len(kept), len(churned)
    u_kept = rank_sum_kept - n_kept * (n_kept + 1) / 2
    return u_kept / (n_kept * n_churned)


@dataclass(frozen=True)
class ColourChurn:
    colour: str
    accounts: int
    churned: int

    @property
    def pct(self) -> float | None:
        return None if not self.accounts else 100.0 * self.churned / self.accounts

    @property
    def ci95(self) -> tuple[float, float] | None:
        return wilson(self.churned, self.accounts)

    @property
    def low_sample(self) -> bool:
        return self.accounts < LOW_SAMPLE


def churn_by_colour(rows: Sequence[tuple[str | None, bool]]) -> list[ColourChurn]:
    """Per colour (green, yellow, red), accounts and how many churned. rows: (colour, churned)."""
    out = []
    for colour in COLOURS:
        group = [lost for c, lost in rows if c == colour]
        out.append(ColourChurn(colour, len(group), sum(group)))
    return out
