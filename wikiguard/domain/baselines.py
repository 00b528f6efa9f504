"""Baselines learned from history, and the baseline columns they give a window's rows.

Per entity and for the platform: rolling mean and variance of events per window over the previous
N windows, zero-filled for windows without activity since the key's history began, so a quiet page
has a low mean. A key with no activity in the previous N windows starts a new history (it is new
again: cold start). Per user class (Registered/Anonymous/Temporary/Bot): mean and variance over the
user-windows of that class in the previous N windows. Ratios are pooled over the history with a
prior worth `ratio_prior_weight` trials: `(hits + w * prior) / (trials + w)`.

The book is fed the gold rows that were written, in window order, and nothing else; a row carries
the `baseline_windows` it was judged with, which is all a book rebuilt from the last N windows of
the gold tables needs to answer exactly as the book of an uninterrupted run.
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Iterable, Mapping
from datetime import datetime, timedelta
from typing import Any

import attrs

from wikiguard.domain.anomalies import AnomalyConfig, Scope, judge, platform_health
from wikiguard.domain.errors import WikiguardError
from wikiguard.domain.metrics import WindowRows
from wikiguard.domain.windows import DEFAULT_WINDOW, EPOCH, Window

Row = Mapping[str, Any]


class BaselineOrderError(WikiguardError):
    """A window was fed to the baseline book out of window order."""


@attrs.frozen
class CountBaseline:
    """What an entity (or the platform) usually does in one window."""

    windows: int  # windows of history behind it, 0..N; fewer than `min_history`: cold start
    events_avg: float
    events_stddev: float  # floored: max(min_stddev, sqrt(mean), blended stddev)
    revert_ratio: float
    anonymous_ratio: float

    def zscore(self, events: int) -> float:
        return (events - self.events_avg) / self.events_stddev


@attrs.frozen
class ClassBaseline:
    """What one user of a class (Registered, Anonymous, Temporary, Bot) usually does in one window."""

    samples: int  # user-windows behind it
    edits_avg: float
    edits_stddev: float
    entities_avg: float
    entities_stddev: float
    revert_ratio: float


class _History:
    __slots__ = ("first_seen", "entries")

    def __init__(self, first_seen: int) -> None:
        self.first_seen = first_seen
        # index, events, edits, reverts, anonymous
        self.entries: deque[tuple[int, int, int, int, int]] = deque()


def _blend(observed: float, prior: float, weight: float) -> float:
    return weight * observed + (1 - weight) * prior


def _mean_std(n: int, total: int, squares: int) -> tuple[float, float]:
    # From integer sums, so the result does not depend on the order rows were fed in.
    return total / n, math.sqrt(max(0, n * squares - total * total)) / n


class BaselineBook:
    """Rolling baselines per entity, per user class and for the platform; pure, fed in window order."""

    def __init__(self, config: AnomalyConfig | None = None, window: timedelta = DEFAULT_WINDOW) -> None:
        self.config = config or AnomalyConfig()
        self.size = window
        self._entities: dict[str, _History] = {}
        self._platform: dict[str, _History] = {}
        # user type -> index, n, Σedits, Σedits², Σpages, Σpages², Σreverts
        self._classes: dict[str, deque[tuple[int, ...]]] = {}
        self._users_seen: dict[str, int] = {}
        self.last_index: int | None = None

    @property
    def horizon(self) -> str:
        """The baseline's span for explanations: "6-h"."""
        span = self.size * self.config.history_windows
        hours, rest = divmod(span, timedelta(hours=1))
        return f"{hours}-h" if not rest and hours else f"{span // timedelta(minutes=1)}-min"

    def index(self, start: datetime) -> int:
        return (start - EPOCH) // self.size

    def entity(self, entity: str, window: Window) -> CountBaseline:
        prior = self.config.prior_entity_events
        return self._count(self._entities.get(entity), self.index(window.start), prior)

    def platform(self, window: Window) -> CountBaseline:
        return self._count(
            self._platform.get("global"), self.index(window.start), self.config.prior_global_events
        )

    def is_new_user(self, user: str, window: Window) -> bool:
        """No row of this user in the previous N windows."""
        last = self._users_seen.get(user)
        return last is None or last < self.index(window.start) - self.config.history_windows

    def user_class(self, user_type: str, window: Window) -> ClassBaseline:
        cfg = self.config
        idx = self.index(window.start)
        sums = [0] * 6
        for entry in self._classes.get(user_type, ()):
            if idx - cfg.history_windows <= entry[0] < idx:
                for i in range(6):
                    sums[i] += entry[i + 1]
        n, s_edits, q_edits, s_pages, q_pages, reverts = sums
        weight = 1.0 if n >= cfg.min_user_samples else n / cfg.min_user_samples
        e_mean, e_std = _mean_std(n, s_edits, q_edits) if n else (0.0, 0.0)
        p_mean, p_std = _mean_std(n, s_pages, q_pages) if n else (0.0, 0.0)
        e_avg = _blend(e_mean, cfg.prior_user_edits[0], weight)
        p_avg = _blend(p_mean, cfg.prior_user_entities[0], weight)
        k = cfg.ratio_prior_weight
        return ClassBaseline(
            samples=n,
            edits_avg=e_avg,
            edits_stddev=max(
                cfg.min_stddev, math.sqrt(e_avg), _blend(e_std, cfg.prior_user_edits[1], weight)
            ),
            entities_avg=p_avg,
            entities_stddev=max(
                cfg.min_stddev, math.sqrt(p_avg), _blend(p_std, cfg.prior_user_entities[1], weight)
            ),
            revert_ratio=(reverts + k * cfg.prior_revert_ratio) / (s_edits + k),
        )

    def _count(self, history: _History | None, idx: int, prior: tuple[float, float]) -> CountBaseline:
        cfg = self.config
        n_max = cfg.history_windows
        entries = [e for e in history.entries if idx - n_max <= e[0] < idx] if history else []
        windows = min(n_max, idx - history.first_seen) if history and entries else 0
        events = sum(e[1] for e in entries)
        squares = sum(e[1] * e[1] for e in entries)
        edits = sum(e[2] for e in entries)
        reverts = sum(e[3] for e in entries)
        anonymous = sum(e[4] for e in entries)
        mean, std = _mean_std(windows, events, squares) if windows else (0.0, 0.0)
        weight = 1.0 if windows >= cfg.min_history else windows / cfg.min_history
        avg = _blend(mean, prior[0], weight)
        k = cfg.ratio_prior_weight
        return CountBaseline(
            windows=windows,
            events_avg=avg,
            events_stddev=max(cfg.min_stddev, math.sqrt(avg), _blend(std, prior[1], weight)),
            revert_ratio=(reverts + k * cfg.prior_revert_ratio) / (edits + k),
            anonymous_ratio=(anonymous + k * cfg.prior_anonymous_ratio) / (events + k),
        )

    def observe(
        self, window: Window, entities: Iterable[Row], users: Iterable[Row], platform: Row | None
    ) -> None:
        """Learn from one window's written gold rows; windows must come in increasing order."""
        idx = self.index(window.start)
        if self.last_index is not None and idx <= self.last_index:
            raise BaselineOrderError(f"window {window.start.isoformat()} is not after the last one observed")
        self.last_index = idx
        for row in entities:
            values = (
                row["total_events"],
                row["edit_count"],
                row["revert_count"],
                row["anonymous_edit_count"],
            )
            self._record(self._entities, row["entity"], idx, row["baseline_windows"], values)
        if platform is not None:
            values = (
                platform["total_events"],
                platform["total_edits"],
                platform["total_reverts"],
                platform["total_anonymous"],
            )
            self._record(self._platform, "global", idx, platform["baseline_windows"], values)
        per_class: dict[str, list[int]] = {}
        for row in users:
            sums = per_class.setdefault(row["user_type"], [0] * 6)
            edits, pages = row["edit_count"], row["entities_edited"]
            for i, value in enumerate((1, edits, edits * edits, pages, pages * pages, row["revert_count"])):
                sums[i] += value
            self._users_seen[row["user_name"]] = idx
        for user_type, sums in sorted(per_class.items()):
            self._classes.setdefault(user_type, deque()).append((idx, *sums))
        self._forget_before(idx + 1 - self.config.history_windows)

    def _record(
        self, store: dict[str, _History], key: str, idx: int, baseline_windows: int, values: tuple[int, ...]
    ) -> None:
        history = store.get(key)
        if (
            history is None
            or not history.entries
            or history.entries[-1][0] < idx - self.config.history_windows
        ):
            # A new history; a row restored from the gold table says how long its history already was.
            history = store[key] = _History(idx - baseline_windows)
        history.entries.append((idx, *values))  # type: ignore[arg-type]

    def _forget_before(self, oldest: int) -> None:
        """Drop what no later window can look back to."""
        for store in (self._entities, self._platform):
            for key in [k for k, h in store.items() if self._trim(h.entries, oldest)]:
                del store[key]
        for entries in self._classes.values():
            self._trim(entries, oldest)
        for user in [u for u, last in self._users_seen.items() if last < oldest]:
            del self._users_seen[user]

    @staticmethod
    def _trim(entries: deque[Any], oldest: int) -> bool:
        while entries and entries[0][0] < oldest:
            entries.popleft()
        return not entries


@attrs.frozen
class JudgedWindow:
    """A window's gold rows (as table rows) with baselines, flags, risk and explanations."""

    window: Window
    entities: list[dict[str, Any]]
    users: list[dict[str, Any]]
    platform: dict[str, Any]


def judge_window(rows: WindowRows, book: BaselineBook) -> JudgedWindow:
    """Compare one window's metrics with the book's baselines for that window and run the anomaly rules."""
    cfg = book.config
    window, horizon = rows.window, book.horizon
    plat = book.platform(window)
    g = attrs.asdict(rows.platform, recurse=False)
    g.update(_count_columns(plat, g["total_events"], g["revert_ratio"], g["anonymous_ratio"]))
    judge(g, Scope.GLOBAL, cold=plat.windows < cfg.min_history, horizon=horizon, config=cfg)
    g["health_score"], g["platform_health"], g["health_explanation"] = platform_health(g, horizon, cfg)
    entities = []
    for m in rows.entities:
        b = book.entity(m.entity, window)
        row = attrs.asdict(m, recurse=False)
        row.update(_count_columns(b, m.total_events, m.revert_ratio, m.anonymous_ratio))
        judge(row, Scope.ENTITY, cold=b.windows < cfg.min_history, horizon=horizon, config=cfg)
        entities.append(row)
    warm = plat.windows >= cfg.min_history  # before that every user looks new
    min_reverts, min_ratio = cfg.high_revert_user
    users = []
    for u in rows.users:
        c = book.user_class(u.user_type, window)
        new = warm and book.is_new_user(u.user_name, window)
        row = attrs.asdict(u, recurse=False)
        row.update(
            baseline_samples=c.samples,
            baseline_edits_avg=c.edits_avg,
            baseline_edits_stddev=c.edits_stddev,
            baseline_entities_avg=c.entities_avg,
            baseline_entities_stddev=c.entities_stddev,
            baseline_revert_ratio=c.revert_ratio,
            edits_zscore=(u.edit_count - c.edits_avg) / c.edits_stddev,
            entities_zscore=(u.entities_edited - c.entities_avg) / c.entities_stddev,
            is_new_user=new,
            is_high_revert_user=u.revert_count >= min_reverts and u.revert_ratio >= min_ratio,
        )
        judge(row, Scope.USER, cold=c.samples < cfg.min_user_samples, horizon=horizon, config=cfg)
        row["is_new_user_blitz"] = row["is_user_blitz"] and new
        users.append(row)
    return JudgedWindow(window, entities, users, g)


def _count_columns(
    b: CountBaseline, events: int, revert_ratio: float, anonymous_ratio: float
) -> dict[str, Any]:
    return {
        "baseline_windows": b.windows,
        "baseline_events_avg": b.events_avg,
        "baseline_events_stddev": b.events_stddev,
        "baseline_revert_ratio": b.revert_ratio,
        "baseline_anonymous_ratio": b.anonymous_ratio,
        "events_zscore": b.zscore(events),
        "revert_deviation": revert_ratio - b.revert_ratio,
        "anonymous_deviation": anonymous_ratio - b.anonymous_ratio,
    }
