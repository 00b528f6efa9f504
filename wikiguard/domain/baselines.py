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

from wikiguard.domain.anomalies import AnomalyConfig, Scope, judge_of, platform_health
from wikiguard.domain.errors import WikiguardError
from wikiguard.domain.metrics import WindowRows, columns
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
    """One key's rows of the last N windows, with running sums of their counts.

    The sums spare `BaselineBook._count` a pass over up to N entries per row judged. They are exact
    (integers) whenever every count fed in was an int; otherwise (`exact` False) they are not used.
    """

    __slots__ = ("first_seen", "entries", "exact", "events", "squares", "edits", "reverts", "anonymous")

    def __init__(self, first_seen: int) -> None:
        self.first_seen = first_seen
        # index, events, edits, reverts, anonymous
        self.entries: deque[tuple[int, int, int, int, int]] = deque()
        self.exact = True
        self.events = self.squares = self.edits = self.reverts = self.anonymous = 0

    def append(self, idx: int, events: int, edits: int, reverts: int, anonymous: int) -> None:
        self.entries.append((idx, events, edits, reverts, anonymous))
        if type(events) is int and type(edits) is int and type(reverts) is int and type(anonymous) is int:
            self.events += events
            self.squares += events * events
            self.edits += edits
            self.reverts += reverts
            self.anonymous += anonymous
        else:
            self.exact = False

    def trim(self, oldest: int) -> bool:
        """Drop the entries before window `oldest`; True when none is left."""
        entries = self.entries
        while entries and entries[0][0] < oldest:
            _, events, edits, reverts, anonymous = entries.popleft()
            if self.exact:
                self.events -= events
                self.squares -= events * events
                self.edits -= edits
                self.reverts -= reverts
                self.anonymous -= anonymous
        return not entries


def _blend(observed: float, prior: float, weight: float) -> float:
    return weight * observed + (1 - weight) * prior


def _mean_std(n: int, total: int, squares: int) -> tuple[float, float]:
    # From integer sums, so the result does not depend on the order rows were fed in.
    return total / n, math.sqrt(max(0, n * squares - total * total)) / n


# A `CountBaseline`'s fields as a tuple: windows, events_avg, events_stddev, revert_ratio, anonymous_ratio.
_CountValues = tuple[int, float, float, float, float]


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
        # Which entities and users each window observed had rows, oldest first, so that forgetting a
        # window visits its own keys instead of every key of the horizon.
        self._entity_keys: deque[tuple[int, list[str]]] = deque()
        self._user_keys: deque[tuple[int, list[str]]] = deque()
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
        return CountBaseline(*self._count(self._entities.get(entity), self.index(window.start), prior))

    def platform(self, window: Window) -> CountBaseline:
        return CountBaseline(
            *self._count(
                self._platform.get("global"), self.index(window.start), self.config.prior_global_events
            )
        )

    def is_new_user(self, user: str, window: Window) -> bool:
        """No row of this user in the previous N windows."""
        return self._is_new_user(user, self.index(window.start))

    def _is_new_user(self, user: str, idx: int) -> bool:
        last = self._users_seen.get(user)
        return last is None or last < idx - self.config.history_windows

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

    def _count(self, history: _History | None, idx: int, prior: tuple[float, float]) -> _CountValues:
        """The `CountBaseline` of a key for window `idx`, as a tuple (judging runs it for every row:
        `_mean_std` and `_blend` are written out, the same expressions in the same order)."""
        cfg = self.config
        n_max = cfg.history_windows
        if history is None:
            windows = events = squares = edits = reverts = anonymous = 0
        else:
            entries = history.entries
            if history.exact and entries and entries[0][0] >= idx - n_max and entries[-1][0] < idx:
                # Every entry is in the previous N windows (the usual case): the running sums.
                windows = min(n_max, idx - history.first_seen)
                events, squares, edits = history.events, history.squares, history.edits
                reverts, anonymous = history.reverts, history.anonymous
            else:
                kept = [e for e in entries if idx - n_max <= e[0] < idx]
                windows = min(n_max, idx - history.first_seen) if kept else 0
                events = sum(e[1] for e in kept)
                squares = sum(e[1] * e[1] for e in kept)
                edits = sum(e[2] for e in kept)
                reverts = sum(e[3] for e in kept)
                anonymous = sum(e[4] for e in kept)
        if windows:
            mean, std = events / windows, math.sqrt(max(0, windows * squares - events * events)) / windows
        else:
            mean, std = 0.0, 0.0
        weight = 1.0 if windows >= cfg.min_history else windows / cfg.min_history
        avg = weight * mean + (1 - weight) * prior[0]
        k = cfg.ratio_prior_weight
        return (
            windows,
            avg,
            max(cfg.min_stddev, math.sqrt(avg), weight * std + (1 - weight) * prior[1]),
            (reverts + k * cfg.prior_revert_ratio) / (edits + k),
            (anonymous + k * cfg.prior_anonymous_ratio) / (events + k),
        )

    def observe(
        self, window: Window, entities: Iterable[Row], users: Iterable[Row], platform: Row | None
    ) -> None:
        """Learn from one window's written gold rows; windows must come in increasing order."""
        idx = self.index(window.start)
        if self.last_index is not None and idx <= self.last_index:
            raise BaselineOrderError(f"window {window.start.isoformat()} is not after the last one observed")
        self.last_index = idx
        keys = []
        store = self._entities
        restart = idx - self.config.history_windows
        for row in entities:
            key = row["entity"]
            history = store.get(key)
            if history is None or not history.entries or history.entries[-1][0] < restart:  # _record
                history = store[key] = _History(idx - row["baseline_windows"])
            history.append(
                idx, row["total_events"], row["edit_count"], row["revert_count"], row["anonymous_edit_count"]
            )
            keys.append(key)
        self._entity_keys.append((idx, keys))
        if platform is not None:
            self._record(self._platform, "global", idx, platform["baseline_windows"]).append(
                idx,
                platform["total_events"],
                platform["total_edits"],
                platform["total_reverts"],
                platform["total_anonymous"],
            )
        per_class: dict[str, list[int]] = {}
        seen = self._users_seen
        names = []
        for row in users:
            user_type = row["user_type"]
            sums = per_class.get(user_type)
            if sums is None:
                sums = per_class[user_type] = [0] * 6
            edits, pages = row["edit_count"], row["entities_edited"]
            sums[0] += 1
            sums[1] += edits
            sums[2] += edits * edits
            sums[3] += pages
            sums[4] += pages * pages
            sums[5] += row["revert_count"]
            name = row["user_name"]
            seen[name] = idx
            names.append(name)
        self._user_keys.append((idx, names))
        for user_type, sums in sorted(per_class.items()):
            self._classes.setdefault(user_type, deque()).append((idx, *sums))
        self._forget_before(idx + 1 - self.config.history_windows)

    def _record(self, store: dict[str, _History], key: str, idx: int, baseline_windows: int) -> _History:
        """The history a row of `key` in window `idx` goes to."""
        history = store.get(key)
        if (
            history is None
            or not history.entries
            or history.entries[-1][0] < idx - self.config.history_windows
        ):
            # A new history; a row restored from the gold table says how long its history already was.
            history = store[key] = _History(idx - baseline_windows)
        return history

    def _forget_before(self, oldest: int) -> None:
        """Drop what no later window can look back to."""
        entity_keys = self._entity_keys
        entities = self._entities
        while entity_keys and entity_keys[0][0] < oldest:
            for key in entity_keys.popleft()[1]:
                history = entities.get(key)
                if history is not None and history.trim(oldest):
                    del entities[key]
        for key in [k for k, h in self._platform.items() if h.trim(oldest)]:
            del self._platform[key]
        for entries in self._classes.values():
            while entries and entries[0][0] < oldest:
                entries.popleft()
        user_keys = self._user_keys
        seen = self._users_seen
        while user_keys and user_keys[0][0] < oldest:
            for user in user_keys.popleft()[1]:
                last = seen.get(user)
                if last is not None and last < oldest:
                    del seen[user]


@attrs.frozen
class JudgedWindow:
    """A window's gold rows (as table rows) with baselines, flags, risk and explanations."""

    window: Window
    entities: list[dict[str, Any]]
    users: list[dict[str, Any]]
    platform: dict[str, Any]


def judge_window(rows: WindowRows, book: BaselineBook) -> JudgedWindow:
    """Compare one window's metrics with the book's baselines for that window and run the anomaly rules.

    Runs for every gold row, so the book's look-ups are done once per window (its index, the user
    class baselines, the rule sets) and the rows are filled in place.
    """
    cfg = book.config
    window, horizon = rows.window, book.horizon
    idx = book.index(window.start)
    min_history = cfg.min_history
    plat = book.platform(window)
    g = columns(rows.platform)
    _add_count_columns(
        g, plat.windows, plat.events_avg, plat.events_stddev, plat.revert_ratio, plat.anonymous_ratio
    )
    judge_of(cfg, Scope.GLOBAL).judge(g, plat.windows < min_history, horizon)
    g["health_score"], g["platform_health"], g["health_explanation"] = platform_health(g, horizon, cfg)
    entities = []
    judge_entity = judge_of(cfg, Scope.ENTITY).judge
    histories, count, prior = book._entities, book._count, cfg.prior_entity_events
    unknown = count(None, idx, prior)  # the baseline of every entity without history
    for m in rows.entities:
        row = columns(m)
        history = histories.get(m.entity)
        windows, avg, stddev, revert_ratio, anonymous_ratio = (
            unknown if history is None else count(history, idx, prior)
        )
        # _add_count_columns, inlined: this loop runs for every entity of every window.
        row["baseline_windows"] = windows
        row["baseline_events_avg"] = avg
        row["baseline_events_stddev"] = stddev
        row["baseline_revert_ratio"] = revert_ratio
        row["baseline_anonymous_ratio"] = anonymous_ratio
        row["events_zscore"] = (row["total_events"] - avg) / stddev
        row["revert_deviation"] = row["revert_ratio"] - revert_ratio
        row["anonymous_deviation"] = row["anonymous_ratio"] - anonymous_ratio
        judge_entity(row, windows < min_history, horizon)
        entities.append(row)
    warm = plat.windows >= min_history  # before that every user looks new
    min_reverts, min_ratio = cfg.high_revert_user
    judge_user = judge_of(cfg, Scope.USER).judge
    classes: dict[str, ClassBaseline] = {}  # the same for every user of a class in this window
    users = []
    for u in rows.users:
        c = classes.get(u.user_type)
        if c is None:
            c = classes[u.user_type] = book.user_class(u.user_type, window)
        new = warm and book._is_new_user(u.user_name, idx)
        row = columns(u)
        row["baseline_samples"] = c.samples
        row["baseline_edits_avg"] = c.edits_avg
        row["baseline_edits_stddev"] = c.edits_stddev
        row["baseline_entities_avg"] = c.entities_avg
        row["baseline_entities_stddev"] = c.entities_stddev
        row["baseline_revert_ratio"] = c.revert_ratio
        row["edits_zscore"] = (u.edit_count - c.edits_avg) / c.edits_stddev
        row["entities_zscore"] = (u.entities_edited - c.entities_avg) / c.entities_stddev
        row["is_new_user"] = new
        row["is_high_revert_user"] = u.revert_count >= min_reverts and u.revert_ratio >= min_ratio
        judge_user(row, c.samples < cfg.min_user_samples, horizon)
        row["is_new_user_blitz"] = row["is_user_blitz"] and new
        users.append(row)
    return JudgedWindow(window, entities, users, g)


def _add_count_columns(
    row: dict[str, Any],
    windows: int,
    events_avg: float,
    events_stddev: float,
    revert_ratio: float,
    anonymous_ratio: float,
) -> None:
    """A `CountBaseline`'s columns, and how the row's own counts deviate from it."""
    row["baseline_windows"] = windows
    row["baseline_events_avg"] = events_avg
    row["baseline_events_stddev"] = events_stddev
    row["baseline_revert_ratio"] = revert_ratio
    row["baseline_anonymous_ratio"] = anonymous_ratio
    row["events_zscore"] = (row["total_events"] - events_avg) / events_stddev  # CountBaseline.zscore
    row["revert_deviation"] = row["revert_ratio"] - revert_ratio
    row["anonymous_deviation"] = row["anonymous_ratio"] - anonymous_ratio
