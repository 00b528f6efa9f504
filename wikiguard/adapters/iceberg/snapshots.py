"""Checkpoints kept in snapshot summaries, and table upkeep that never loses them.

Upkeep per table, in this order:
1. Compaction: in each partition with two or more small data files, those files are read and
   rewritten as one file. This is a single `overwrite` snapshot (delete old files + add new ones)
   made in one transaction, so readers see either the old files or the new one, never both.
2. Checkpoint consolidation: the snapshot written by upkeep carries EVERY checkpoint key at its
   newest value. Expiring older snapshots therefore cannot lose a key that only an old snapshot had.
   If there is nothing to compact, an empty append carries the keys, and it is written only when
   some snapshot is about to be expired and the head does not already carry them all.
3. Expiry of snapshots older than `older_than`, except the anchor (the snapshot that carries every
   key) and everything after it, so the chain that `checkpoints_of` walks stays unbroken.
`trim_snapshots` does 2 and 3 by count instead of age, to keep a streaming writer's commits cheap.

pyiceberg's expiry only edits metadata: unreferenced data files stay on disk until an
orphan-file cleanup runs (pyiceberg 0.12 has none; Spark's `remove_orphan_files` does the job).
"""

from __future__ import annotations

import itertools
from collections import defaultdict
from collections.abc import Sequence
from datetime import datetime

from pyiceberg.expressions import AlwaysTrue
from pyiceberg.io.pyarrow import ArrowScan, _dataframe_to_data_files
from pyiceberg.table import FileScanTask, Table
from pyiceberg.table.snapshots import Snapshot
from pyiceberg.utils.datetime import datetime_to_millis

from wikiguard.application.tables import TableSpec

CHECKPOINT_PREFIX = "wikiguard.checkpoint."

# A file under this size counts as "small". Streaming commits write one file per partition per
# commit, usually far smaller than this.
SMALL_FILE_BYTES = 32 * 1024 * 1024
_MAX_CONSOLIDATION_ATTEMPTS = 3


def _own_checkpoints(properties: dict[str, str]) -> dict[str, str]:
    return {k[len(CHECKPOINT_PREFIX) :]: v for k, v in properties.items() if k.startswith(CHECKPOINT_PREFIX)}


def checkpoints_of(
    table: Table, keys: set[str] | None = None, skip: frozenset[int] = frozenset()
) -> dict[str, str]:
    """The newest value of each checkpoint key, walking back from the head of the current branch.

    `keys=None` collects every key. The walk stops when all wanted keys are found or the chain ends
    (no parent, or the parent has been expired). Snapshots in `skip` are passed over.
    """
    found: dict[str, str] = {}
    snapshot = table.current_snapshot()
    while snapshot is not None:
        if snapshot.snapshot_id not in skip and snapshot.summary is not None:
            for key, value in _own_checkpoints(snapshot.summary.additional_properties).items():
                found.setdefault(key, value)
        if keys is not None and keys <= found.keys():
            break
        parent = snapshot.parent_snapshot_id
        snapshot = table.snapshot_by_id(parent) if parent is not None else None
    return found


def _small_files_by_partition(tasks: Sequence[FileScanTask]) -> list[FileScanTask]:
    by_partition: dict[object, list[FileScanTask]] = defaultdict(list)
    for task in tasks:
        # Files with delete files attached would need the deletes applied; we never write any.
        if not task.delete_files and task.file.file_size_in_bytes < SMALL_FILE_BYTES:
            by_partition[task.file.partition].append(task)
    return [task for group in by_partition.values() if len(group) >= 2 for task in group]


def _commit(table: Table, spec: TableSpec, carried: dict[str, str], rewrite: list[FileScanTask]) -> int:
    """One snapshot: the rewrite of `rewrite` (if any) carrying every checkpoint. Returns its id."""
    properties = {CHECKPOINT_PREFIX + key: value for key, value in carried.items()}
    with table.transaction() as txn:
        update = txn.update_snapshot(snapshot_properties=properties)
        if not rewrite:
            with update.fast_append() as append:
                return append.snapshot_id
        data = ArrowScan(txn.table_metadata, table.io, table.schema(), AlwaysTrue()).to_table(rewrite)
        if spec.sort_by:
            data = data.sort_by([(name, "ascending") for name in spec.sort_by])
        with update.overwrite() as overwrite:
            for task in rewrite:
                overwrite.delete_data_file(task.file)
            new_files = _dataframe_to_data_files(
                txn.table_metadata,
                data,
                table.io,
                write_uuid=overwrite.commit_uuid,
                counter=itertools.count(0),
            )
            for data_file in new_files:
                overwrite.append_data_file(data_file)
            return overwrite.snapshot_id


def _consolidate(table: Table, spec: TableSpec, rewrite: list[FileScanTask]) -> int:
    """Commit the upkeep snapshot; returns the anchor id (the snapshot that carries every key).

    pyiceberg retries a commit that lost a race by re-parenting it on the new head, but the summary
    was fixed before, so a key another writer moved meanwhile would be carried stale. Then we write
    one more empty snapshot with values re-read past our stale ones.
    """
    stale: frozenset[int] = frozenset()
    for _ in range(_MAX_CONSOLIDATION_ATTEMPTS):
        head = table.current_snapshot()
        carried = checkpoints_of(table, skip=stale)
        snapshot_id = _commit(table, spec, carried, rewrite)
        rewrite = []
        committed = table.snapshot_by_id(snapshot_id)
        if committed is None or head is None or committed.parent_snapshot_id == head.snapshot_id:
            return snapshot_id
        stale |= {snapshot_id}
    return snapshot_id


def _expirable(table: Table, anchor_id: int, cutoff_ms: int, keep_newest: int = 0) -> list[int]:
    """Snapshots older than `cutoff_ms`, except branch/tag heads, the anchor and everything after it
    on the branch, and the `keep_newest` most recent ones."""
    keep: set[int] = {ref.snapshot_id for ref in table.metadata.refs.values()}
    snapshot = table.current_snapshot()
    while snapshot is not None:
        keep.add(snapshot.snapshot_id)
        if snapshot.snapshot_id == anchor_id or snapshot.parent_snapshot_id is None:
            break
        snapshot = table.snapshot_by_id(snapshot.parent_snapshot_id)
    newest_first = sorted(
        table.snapshots(), key=lambda s: (s.sequence_number or 0, s.timestamp_ms), reverse=True
    )
    keep.update(s.snapshot_id for s in newest_first[:keep_newest])
    return [s.snapshot_id for s in newest_first if s.timestamp_ms < cutoff_ms and s.snapshot_id not in keep]


def _anchor(
    table: Table,
    head: Snapshot,
    spec: TableSpec,
    rewrite: list[FileScanTask],
    cutoff_ms: int,
    keep_newest: int,
) -> int:
    """Consolidate when compacting, or when expiry would otherwise drop a key the head lacks."""
    own = _own_checkpoints(head.summary.additional_properties) if head.summary is not None else {}
    head_has_all = own == checkpoints_of(table)
    if rewrite or (not head_has_all and _expirable(table, head.snapshot_id, cutoff_ms, keep_newest)):
        return _consolidate(table, spec, rewrite)
    return head.snapshot_id


def trim_snapshots(table: Table, spec: TableSpec, keep_newest: int) -> int:
    """Expire all but the newest `keep_newest` snapshots, checkpoints kept; returns how many went.

    A commit's cost grows with the number of snapshots (the metadata written and parsed, and stock
    pyiceberg's deep copies where `writes` and the local catalog do not avoid them, as in this very
    expiry); a streaming writer must stay bounded.
    """
    head = table.current_snapshot()
    if head is None:
        return 0
    cutoff_ms = 2**63 - 1
    anchor_id = _anchor(table, head, spec, [], cutoff_ms, keep_newest)
    expired = _expirable(table, anchor_id, cutoff_ms, keep_newest)
    if expired:
        table.maintenance.expire_snapshots().by_ids(expired).commit()
    return len(expired)


def maintain_table(table: Table, spec: TableSpec, older_than: datetime) -> dict[str, int]:
    """Compact, consolidate checkpoints, expire; returns counts of what was done."""
    head = table.current_snapshot()
    if head is None:
        return {"snapshots_expired": 0, "files_before": 0, "files_after": 0, "partitions_compacted": 0}
    tasks = list(table.scan().plan_files())
    rewrite = _small_files_by_partition(tasks)
    cutoff_ms = datetime_to_millis(older_than)
    anchor_id = _anchor(table, head, spec, rewrite, cutoff_ms, keep_newest=0)
    expired = _expirable(table, anchor_id, cutoff_ms)
    if expired:
        table.maintenance.expire_snapshots().by_ids(expired).commit()
    return {
        "snapshots_expired": len(expired),
        "files_before": len(tasks),
        "files_after": sum(1 for _ in table.scan().plan_files()),
        "partitions_compacted": len({task.file.partition for task in rewrite}),
    }
