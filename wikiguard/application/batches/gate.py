"""The quality gate on an Arrow table: `RuleSet.evaluate` with each rule compiled to a boolean mask.

`RuleSet.evaluate(table.to_pylist(), ...)` stays the specification, and a property test holds the two
to the same answers. Each rule kind has a vectorised form for the column types and parameters whose
Python semantics it reproduces exactly (ints compared as integers, never through float64; strings by
code point; timestamps as UTC microseconds). Anything else (MATCHES, odd types, odd parameters) runs
the domain's own compiled check in Python, once per distinct value of the column (once per row when
the rule reads two columns), so it answers, and raises, exactly as the domain does.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Callable, Mapping
from datetime import UTC, datetime, timedelta
from types import NoneType
from typing import Any, TypeAlias

import attrs
import pyarrow as pa
import pyarrow.compute as pc

from wikiguard.domain.quality import (
    BatchQuality,
    Check,
    CheckResult,
    GateThresholds,
    Outcome,
    Rule,
    RuleKind,
    RuleSet,
    Severity,
    duplicate_count,
    gate_outcome,
)

Column: TypeAlias = pa.ChunkedArray  # a table's column, dictionary-decoded
Mask: TypeAlias = pa.Array  # boolean, one per row, no nulls: the row breaks the rule (Array or ChunkedArray)

_INT64_MIN, _INT64_MAX = -(2**63), 2**63 - 1
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MICROSECOND = timedelta(microseconds=1)
_NUMBERS = (int, bool, float)
_PLAIN_VALUES = (str, int, bool, float, NoneType)  # IN_SET values whose == with a column value is known
_DEFAULT_THRESHOLDS = GateThresholds()
_TWO_COLUMNS = frozenset({RuleKind.NOT_NULL_UNLESS, RuleKind.CONSISTENT, RuleKind.GREATER_THAN})


def evaluate_batch(
    rules: RuleSet,
    table: pa.Table,
    *,
    reference: datetime,
    batch_id: str,
    thresholds: GateThresholds = _DEFAULT_THRESHOLDS,
    upstream_failures: Mapping[str, int] | None = None,
    upstream_passed: int = 0,
) -> tuple[dict[int, list[str]], BatchQuality]:
    """`rules.evaluate` on the rows of `table`: the reasons of the rows that break a blocking rule (row
    number -> rule names in rule order; passing rows are absent) and the batch verdict."""
    n = table.num_rows
    per_row: dict[int, list[str]] = {}
    failed_counts: Counter[str] = Counter()  # blocking rules: how many rows they quarantine
    measured: dict[str, int] = {}  # UNIQUE and non-blocking rules: measured only
    for rule in rules.rules:
        if rule.kind is RuleKind.UNIQUE:
            measured[rule.name] = _duplicates(_column(table, rule.column), n)
            continue
        failing: list[int] = pc.indices_nonzero(_failures(rule, table, reference)).to_pylist()
        if not rule.blocking:
            measured[rule.name] = len(failing)
            continue
        failed_counts[rule.name] += len(failing)
        for index in failing:
            per_row.setdefault(index, []).append(rule.name)
    # From here on as `RuleSet.evaluate`.
    for name, count in measured.items():
        failed_counts[name] = count
    upstream = Counter(upstream_failures or {})
    total = n + sum(upstream.values()) + upstream_passed
    passed = n - len(per_row) + upstream_passed
    checks = tuple(CheckResult(r.name, r.severity, failed_counts.get(r.name, 0)) for r in rules.rules)
    checks += tuple(CheckResult(name, Severity.WARNING, count) for name, count in sorted(upstream.items()))
    reasons = dict(failed_counts + upstream)
    quality = BatchQuality(rules.layer, batch_id, total, passed, checks, Outcome.SUCCESS, reasons)
    return dict(sorted(per_row.items())), attrs.evolve(quality, outcome=gate_outcome(quality, thresholds))


def _column(table: pa.Table, name: str) -> Column | None:
    """The values `row.get(name)` reads; None when the table has no such column (every row reads None)."""
    indices = table.schema.get_all_field_indices(name)
    if not indices:
        return None
    column = table.column(indices[-1])  # as in `to_pylist`, the last column of a name wins
    return column.cast(column.type.value_type) if pa.types.is_dictionary(column.type) else column


def _failures(rule: Rule, table: pa.Table, reference: datetime) -> Mask:
    check, n = rule.compiled(), table.num_rows
    column = _column(table, rule.column)
    if rule.kind in _TWO_COLUMNS:
        other = _column(table, rule.other_column or "")
        mask = _TWO_COLUMN_MASKS[rule.kind](rule, column, other, n)
        return mask if mask is not None else _by_row(table, rule, check, reference)
    if column is None:
        return pa.repeat(check({}, reference), n)
    mask = _VALUE_MASKS[rule.kind](rule, column, reference)
    if mask is not None:
        return mask
    name = rule.column
    return _by_distinct(column, lambda value: check({name: value}, reference))


# -- the exact Python fallbacks -------------------------------------------------------------


def _by_distinct(column: Column, fails: Callable[[Any], bool]) -> Mask:
    """`fails` of each row's value, called once per distinct value (in order of first appearance, so
    an exception is the one the first such row raises)."""
    float_bits = _float_bits_type(column.type)
    key = column if float_bits is None else _view(column, float_bits)  # -0.0 and 0.0 print differently
    try:
        distinct = pc.unique(key)
    except pa.ArrowNotImplementedError:  # no hash kernel (lists, structs): row by row
        return pa.array([fails(value) for value in column.to_pylist()], pa.bool_())
    values = (distinct if float_bits is None else distinct.view(column.type)).to_pylist()
    verdicts = pa.array([fails(value) for value in values], pa.bool_())
    return verdicts.take(pc.index_in(key, value_set=distinct))


def _by_row(table: pa.Table, rule: Rule, check: Check, reference: datetime) -> Mask:
    """A two-column rule, row by row, on rows holding just the columns it reads."""
    names = dict.fromkeys((rule.column, rule.other_column or ""))
    present = [(name, column) for name in names if (column := _column(table, name)) is not None]
    if not present:
        return pa.repeat(check({}, reference), table.num_rows)
    keys = [name for name, _ in present]
    rows = zip(*(column.to_pylist() for _, column in present), strict=True)
    return pa.array([check(dict(zip(keys, values, strict=True)), reference) for values in rows], pa.bool_())


# -- value rules ------------------------------------------------------------------------------


def _family(kind: pa.DataType) -> str | None:
    """The column types with a vectorised form, grouped by the Python values they hold."""
    if pa.types.is_string(kind) or pa.types.is_large_string(kind):
        return "str"
    if pa.types.is_signed_integer(kind) or kind in (pa.uint8(), pa.uint16(), pa.uint32()):
        return "int"
    if kind in (pa.float32(), pa.float64()):
        return "float"
    if pa.types.is_boolean(kind):
        return "bool"
    if pa.types.is_timestamp(kind) and kind.unit == "us":
        return "instant" if kind.tz is not None else "naive"  # aware datetimes / naive ones
    if pa.types.is_date32(kind):
        return "date"
    if pa.types.is_binary(kind) or pa.types.is_large_binary(kind):
        return "bytes"
    return None


def _empty(column: Column) -> Mask | None:
    """`value is None or value == ""`: only a str can equal ""."""
    family = _family(column.type)
    if family == "str":
        return pc.or_kleene(pc.is_null(column), pc.equal(pc.binary_length(column), 0))
    return pc.is_null(column) if family is not None else None


def _range(rule: Rule, column: Column, reference: datetime) -> Mask | None:
    parts = []
    for bound, op in ((rule.min, "less"), (rule.max, "greater")):
        if bound is not None:
            part = _compare(column, op, bound)
            if part is None:
                return None
            parts.append(part)
    if not parts:
        return pa.repeat(False, len(column))
    return parts[0] if len(parts) == 1 else pc.or_(parts[0], parts[1])


def _compare(column: Column, op: str, bound: Any) -> Mask | None:
    """`value <op> bound` (False on None) where Python compares them without raising."""
    family = _family(column.type)
    if family in ("int", "bool") and type(bound) in _NUMBERS:
        return _int_compare(column.cast(pa.int64()), op, bound)
    if family == "float" and type(bound) in _NUMBERS and (exact := _exact_float(bound)) is not None:
        return _no_nulls(getattr(pc, op)(column.cast(pa.float64()), pa.scalar(exact, pa.float64())))
    if family == "instant" and type(bound) is datetime and bound.utcoffset() is not None:
        return _int_compare(column.cast(pa.int64()), op, _micros(bound))
    return None


def _in_set(rule: Rule, column: Column, reference: datetime) -> Mask | None:
    member = _members(column, rule.values)
    return None if member is None else pc.and_(pc.is_valid(column), pc.invert(member))


def _members(column: Column, values: tuple[Any, ...]) -> Mask | None:
    """`value in values` for the non-null values (False on None) of a str, int or bool column."""
    if not all(type(v) in _PLAIN_VALUES for v in values):
        return None
    family = _family(column.type)
    if family == "str":
        strings = pa.array([v for v in values if type(v) is str], column.type)
        return _no_nulls(pc.is_in(column, value_set=strings))
    numbers = [v for v in values if type(v) in _NUMBERS]
    if family == "int":  # 1 == 1.0 == True; a float equals an int only when it is integral
        ints = {int(v) for v in numbers if type(v) is not float or v.is_integer()}
        value_set = pa.array(sorted(i for i in ints if _INT64_MIN <= i <= _INT64_MAX), pa.int64())
        return _no_nulls(pc.is_in(column.cast(pa.int64()), value_set=value_set))
    if family == "bool":
        value_set = pa.array(sorted({v == 1 for v in numbers if v in (0, 1)}), pa.bool_())
        return _no_nulls(pc.is_in(column, value_set=value_set))
    return None


def _temporal(rule: Rule, column: Column, reference: datetime) -> Mask | None:
    if _family(column.type) != "instant":
        return None
    try:
        limit = reference + timedelta(seconds=rule.max or 0)
    except (OverflowError, TypeError, ValueError):
        return None
    if limit.utcoffset() is None:  # naive against aware: Python raises
        return None
    return _int_compare(column.cast(pa.int64()), "greater", _micros(limit))


def _freshness(rule: Rule, column: Column, reference: datetime) -> Mask | None:
    """`(reference - value).total_seconds() > max_lag`: total_seconds is microseconds / 10**6, which
    grows with the microseconds, so it is a bound on the value's microseconds found in Python."""
    if _family(column.type) != "instant" or reference.utcoffset() is None:
        return None
    max_lag = rule.max_lag_seconds or 0
    if type(max_lag) not in _NUMBERS:
        return None
    first = _first_failing_lag(lambda micros: micros / 10**6 > max_lag)
    if first is None:
        return pa.repeat(False, len(column))
    return _int_compare(column.cast(pa.int64()), "less_equal", _micros(reference) - first)


def _first_failing_lag(fails: Callable[[int], bool]) -> int | None:
    """The least lag in microseconds (|lag| < 2**64) that `fails`, a monotone predicate; None if none."""
    low, high = -(2**64), 2**64
    if not fails(high):
        return None
    if fails(low):
        return low
    while high - low > 1:
        middle = (low + high) // 2
        low, high = (low, middle) if fails(middle) else (middle, high)
    return high


def _size(rule: Rule, column: Column, reference: datetime) -> Mask | None:
    limit = rule.max or 0
    if type(limit) not in _NUMBERS:
        return None
    kind = column.type
    if pa.types.is_string(kind) or pa.types.is_large_string(kind):
        # len() counts code points, never more than bytes: count them only if some row has more bytes.
        over = _int_compare(pc.binary_length(column).cast(pa.int64()), "greater", limit)
        if not pc.any(over).as_py():
            return over
        return _int_compare(pc.utf8_length(column).cast(pa.int64()), "greater", limit)
    if pa.types.is_binary(kind) or pa.types.is_large_binary(kind):
        return _int_compare(pc.binary_length(column).cast(pa.int64()), "greater", limit)
    if pa.types.is_list(kind) or pa.types.is_large_list(kind):
        return _int_compare(pc.list_value_length(column).cast(pa.int64()), "greater", limit)
    return None


_VALUE_MASKS: dict[RuleKind, Callable[[Rule, Column, datetime], Mask | None]] = {
    RuleKind.NOT_NULL: lambda rule, column, reference: _empty(column),
    RuleKind.RANGE: _range,
    RuleKind.IN_SET: _in_set,
    RuleKind.MATCHES: lambda rule, column, reference: None,  # Python's `re`, once per distinct value
    RuleKind.TEMPORAL: _temporal,
    RuleKind.FRESHNESS: _freshness,
    RuleKind.SIZE: _size,
}


# -- two-column rules -------------------------------------------------------------------------


def _not_null_unless(rule: Rule, column: Column | None, other: Column | None, n: int) -> Mask | None:
    if not all(type(v) in _PLAIN_VALUES for v in rule.values):
        return None
    empty = pa.repeat(True, n) if column is None else _empty(column)
    exempt_none = None in rule.values  # what a row without the other value reads
    if other is None:
        return empty if not exempt_none else pa.repeat(False, n)
    member = _members(other, rule.values)
    if empty is None or member is None:
        return None
    exempt = pc.or_(member, pc.is_null(other)) if exempt_none else member
    return pc.and_(empty, pc.invert(exempt))


def _against_other(rule: Rule, column: Column | None, other: Column | None, n: int) -> Mask | None:
    """CONSISTENT (`other != value`) and GREATER_THAN (`not value > other`), when both are set."""
    if column is None or other is None:
        return pa.repeat(False, n)
    pair = _comparable(column, other)
    if pair is None:
        return None
    value, other = pair
    if rule.kind is RuleKind.CONSISTENT:
        return _no_nulls(pc.not_equal(other, value))
    return _no_nulls(pc.invert(pc.greater(value, other)))


_COMMON_TYPES = {"int": pa.int64(), "float": pa.float64(), "instant": pa.int64(), "naive": pa.int64()}


def _comparable(a: Column, b: Column) -> tuple[Column, Column] | None:
    """Both columns in one Arrow type whose order and equality are Python's for their values."""
    family = _family(a.type)
    if family is None or family != _family(b.type):
        return None
    common = _COMMON_TYPES.get(family)
    if common is None and a.type != b.type:  # string and large_string, binary and large_binary
        common = pa.large_string() if family == "str" else pa.large_binary()
    return (a, b) if common is None else (a.cast(common), b.cast(common))


_TWO_COLUMN_MASKS: dict[RuleKind, Callable[[Rule, Column | None, Column | None, int], Mask | None]] = {
    RuleKind.NOT_NULL_UNLESS: _not_null_unless,
    RuleKind.CONSISTENT: _against_other,
    RuleKind.GREATER_THAN: _against_other,
}


# -- UNIQUE -------------------------------------------------------------------------------------


def _duplicates(column: Column | None, n: int) -> int:
    """`duplicate_count` of the column's values: every None after the first is a duplicate; NaN never
    is (each is a new object, unequal to all); -0.0 duplicates 0.0."""
    if column is None:
        return max(n - 1, 0)
    nulls: int = column.null_count
    family = _family(column.type)
    if family is None:
        return duplicate_count(column.to_pylist())
    values = column.drop_null()
    if family == "float":
        values = values.cast(pa.float64())
        values = pc.add(values.filter(pc.invert(pc.is_nan(values))), 0.0)  # -0.0 + 0.0 is 0.0
        values = _view(values, pa.int64())  # equal floats, equal bits
    distinct: int = pc.count_distinct(values).as_py() or 0
    return max(nulls - 1, 0) + len(values) - distinct


# -- exact comparisons ----------------------------------------------------------------------------


def _int_compare(values: Column, op: str, bound: int | bool | float) -> Mask:
    """`value <op> bound` for int64 values and a Python int or float, compared exactly (False on None)."""
    if type(bound) is float:
        if math.isnan(bound):
            return pa.repeat(False, len(values))
        if math.isinf(bound):
            bound = 2**64 if bound > 0 else -(2**64)  # beyond every int64, as infinity is
        else:  # for an integer v: v < f iff v < ceil(f); v > f iff v > floor(f)
            bound = math.ceil(bound) if op in ("less", "greater_equal") else math.floor(bound)
    bound = int(bound)
    # v < b iff v <= b - 1; v > b iff v >= b + 1
    if op in ("less", "less_equal"):
        limit = bound - 1 if op == "less" else bound
        if limit >= _INT64_MAX:
            return pc.is_valid(values)
        if limit < _INT64_MIN:
            return pa.repeat(False, len(values))
        return _no_nulls(pc.less_equal(values, pa.scalar(limit, pa.int64())))
    limit = bound + 1 if op == "greater" else bound
    if limit <= _INT64_MIN:
        return pc.is_valid(values)
    if limit > _INT64_MAX:
        return pa.repeat(False, len(values))
    return _no_nulls(pc.greater_equal(values, pa.scalar(limit, pa.int64())))


def _exact_float(number: int | bool | float) -> float | None:
    """The float equal to `number`, if there is one (Python compares ints and floats exactly)."""
    try:
        exact = float(number)
    except OverflowError:
        return None
    return exact if exact == number else None


def _micros(moment: datetime) -> int:
    """An aware datetime as microseconds since the epoch (UTC), exactly."""
    return (moment - _EPOCH) // _MICROSECOND


def _no_nulls(mask: Mask) -> Mask:
    return mask.fill_null(False) if mask.null_count else mask


def _float_bits_type(kind: pa.DataType) -> pa.DataType | None:
    if not pa.types.is_floating(kind):
        return None
    return {16: pa.int16(), 32: pa.int32(), 64: pa.int64()}[kind.bit_width]


def _view(values: Column, kind: pa.DataType) -> Column:
    if isinstance(values, pa.ChunkedArray):
        return pa.chunked_array([chunk.view(kind) for chunk in values.chunks], type=kind)
    return values.view(kind)
