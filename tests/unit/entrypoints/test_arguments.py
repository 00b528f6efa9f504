"""Numbers and paths on the command line are refused with one clear line, before anything runs."""

from __future__ import annotations

import pytest

from wikiguard.adapters.iceberg.table_store import TableStoreError, local_catalog
from wikiguard.entrypoints.cli import build_parser


@pytest.mark.parametrize(
    "argv",
    [
        ["run", "--max-events", "0"],
        ["run", "--max-events", "-5"],
        ["run", "--max-events", "x"],
        ["run", "--duration", "0"],
        ["run", "--duration", "-3"],
        ["run", "--duration", "nan"],
        ["run", "--batch-rows", "0"],
        ["run", "--batch-seconds", "-1"],
        ["maintain", "--older-than-hours", "-1"],
        ["ingest", "--duration", "0"],
        ["jobs", "status", "--limit", "0"],
    ],
)
def test_bad_numbers_are_refused(argv, capsys):
    with pytest.raises(SystemExit) as exit_:
        build_parser().parse_args(argv)
    assert exit_.value.code == 2
    assert "error: argument" in capsys.readouterr().err


def test_good_numbers_pass():
    args = build_parser().parse_args(["run", "--max-events", "10", "--batch-seconds", "0.5"])
    assert (args.max_events, args.batch_seconds) == (10, 0.5)


def test_a_warehouse_that_is_a_file_is_refused_with_its_name(tmp_path):
    path = tmp_path / "not-a-dir"
    path.write_text("")
    with pytest.raises(TableStoreError, match="is a file, not a warehouse directory"):
        local_catalog(path)


def test_commands_that_only_read_refuse_a_missing_warehouse_and_create_nothing(tmp_path):
    with pytest.raises(TableStoreError, match="no warehouse at .* run `wikiguard run` first"):
        local_catalog(tmp_path / "wh", create=False)
    assert not (tmp_path / "wh").exists()
    local_catalog(tmp_path / "wh")  # a run creates it
    assert (tmp_path / "wh").is_dir()


def test_the_ingest_service_entrypoint_refuses_them_too(capsys):
    from wikiguard.entrypoints.ingest import build_parser as ingest_parser

    for argv in (["--duration", "0"], ["--max-events", "-1"]):
        with pytest.raises(SystemExit) as exit_:
            ingest_parser().parse_args(argv)
        assert exit_.value.code == 2
    assert "error: argument" in capsys.readouterr().err
