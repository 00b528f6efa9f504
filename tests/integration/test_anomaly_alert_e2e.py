"""A revert wave on a watched page reaches Slack once, and a restarted run keeps it throttled.

The input is a real recording (2,387 events of 2024-08-22 04:02-04:04) with simulated traffic for one
watched page merged in by timestamp: six hours of ordinary background edits (so the page has a
learned baseline) and a revert wave inside the recording's span. `wikiguard run` goes in a
subprocess with `WIKIGUARD_SLACK_WEBHOOK_URL` pointing at a loopback Slack.

"A second identical run" is the same command after a restart on the same warehouse, over the same
recording grown by what came next: the attack goes on (the same wave, 20 minutes later). Feeding the
very same file again would prove nothing, since the warehouse's checkpoints skip every line already
read and no anomaly would be detected at all. Here the second run detects the anomaly again (its
summary shows it) and the throttle, restored from `alerts_sent`, holds the alert back. A third
run with the throttle set to zero sends it, so the suppression was the throttle's doing.
"""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import RECORDINGS
from tests.integration.embedded_runs import table_rows, wikiguard
from tests.support.slack_server import SlackServer
from wikiguard.adapters.simulator.scenarios import Scenario
from wikiguard.adapters.simulator.source import SimulatedChangeSource, TrafficMix

pytestmark = pytest.mark.integration

RAW = RECORDINGS / "yearfunla_wikiMedia_stream_monitor__recentchange_raw.jsonl"
WIKI, TITLE = "enwiki", "Kraków"
ENTITY = f"{WIKI}:{TITLE}"
WAVE_EVENTS = 24  # 16 reverts by 4 patrollers: 4 each, under the per-user MASS_REVERT threshold
WAVES = [datetime(2024, 8, 22, 4, 2, 30, tzinfo=UTC) + timedelta(minutes=20 * n) for n in range(3)]


def simulated_page_events() -> list[dict[str, Any]]:
    """Background edits of the watched page from 6 h before the recording, and a revert wave per WAVES."""
    source = SimulatedChangeSource(
        11,
        start=WAVES[0] - timedelta(hours=6),
        entities=[(WIKI, TITLE)],
        scenarios=[
            Scenario(
                "revert_wave",
                at=at,
                wiki=WIKI,
                title=TITLE,
                events=WAVE_EVENTS,
                duration=timedelta(minutes=2),
            )
            for at in WAVES
        ],
        # One background event per 100 s of event time, 30% of them on the page: about two edits of
        # the page per 10-minute window; nothing broken or late, so the page's rows are all clean.
        mix=TrafficMix(events_per_s=0.01, watched=0.3, duplicate=0, canary=0, malformed=0, late=0),
    )
    events = []
    end = (WAVES[-1] + timedelta(minutes=10)).timestamp()
    for payload, _ in source.payloads():
        event = json.loads(payload)
        if event["timestamp"] >= end:
            break
        if (event["wiki"], event["title"]) == (WIKI, TITLE):
            events.append(event)
    assert source.stats.scenario_events == {"revert_wave": WAVE_EVENTS * len(WAVES)}
    return events


def window_of(moment: datetime) -> tuple[datetime, datetime]:
    start = moment.replace(minute=moment.minute // 10 * 10, second=0, microsecond=0)
    return start, start + timedelta(minutes=10)


def write_inputs(folder: Path) -> list[Path]:
    """inputs[n]: the recording plus the page's events up to the window after wave n (a growing file)."""
    page = simulated_page_events()
    recorded = [json.loads(line) for line in RAW.read_text(encoding="utf-8").splitlines() if line.strip()]
    cuts = [window_of(at)[1] for at in WAVES]
    lines: list[dict[str, Any]] = []
    paths = []
    start = float("-inf")
    for n, cut in enumerate(cuts):
        new = [e for e in page if start <= e["timestamp"] < cut.timestamp()] + (recorded if n == 0 else [])
        lines += sorted(new, key=lambda e: e["timestamp"])  # stable: the recording keeps its order
        start = cut.timestamp()
        path = folder / f"recording-{n}.jsonl"
        path.write_text("".join(json.dumps(e, ensure_ascii=False) + "\n" for e in lines), encoding="utf-8")
        paths.append(path)
    return paths


def run(source: Path, warehouse: Path, allowlist: Path, slack: SlackServer, **env: str) -> dict[str, Any]:
    result = wikiguard(
        "run", "--source", str(source), "--warehouse", str(warehouse), "--allowlist", str(allowlist), "--json",
        env={"WIKIGUARD_SLACK_WEBHOOK_URL": slack.webhook_url, **env},
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-3000:]
    return dict(json.loads(result.stdout[result.stdout.index("{") :]))


def kind_and_key(payload: dict[str, Any]) -> tuple[str, str]:
    """From the message's context line: "<kind> alert · key `<key>` · raised ..."."""
    context = payload["blocks"][-1]["elements"][0]["text"]
    match = re.match(r"(\w+) alert · key `([^`]+)`", context)
    assert match, context
    return match.group(1), match.group(2)


def block_text(payload: dict[str, Any]) -> str:
    parts = []
    for block in payload["blocks"]:
        parts += [block["text"]["text"]] if "text" in block else []
        parts += [f["text"] for f in block.get("fields", [])]
    return "\n".join(parts)


def entity_anomaly_alerts(payloads: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [p for p in payloads if kind_and_key(p)[1].startswith(f"anomaly:{ENTITY}:")]


def test_revert_wave_alerts_once_and_the_throttle_survives_a_restart(tmp_path: Path):
    first, second, third = write_inputs(tmp_path)
    allowlist = tmp_path / "allowlist.yaml"
    allowlist.write_text(f"entities:\n  - title: {TITLE}\n    wiki: {WIKI}\n", encoding="utf-8")
    warehouse = tmp_path / "wh"

    with SlackServer() as slack:
        summary = run(first, warehouse, allowlist, slack)
        delivered = slack.delivered()
        assert len(slack.payloads()) == len(delivered), "Slack refused a message"

        # Exactly one anomaly alert about the page, CRITICAL or WARNING, with its explanation.
        ours = entity_anomaly_alerts(delivered)
        assert len(ours) == 1, [p["text"] for p in delivered]
        alert = ours[0]
        header = alert["blocks"][0]["text"]["text"]
        assert header.startswith(("CRITICAL:", "WARNING:")) and ENTITY in header
        assert "REVERT_WAVE" in kind_and_key(alert)[1]
        silver = [r for r in table_rows(warehouse, "silver_events") if r["canonical_entity"] == ENTITY]
        start, end = window_of(WAVES[0])
        in_window = [r for r in silver if start <= r["event_timestamp"] < end]
        reverts = sum(r["is_revert"] for r in in_window)
        edits = sum(r["event_type"] == "edit" for r in in_window)
        assert reverts >= WAVE_EVENTS * 2 // 3  # the wave's own reverts at least
        text = block_text(alert)
        assert f"Reverts: {reverts} of {edits} edits" in text, text
        assert f"canonical_entity = '{ENTITY}'" in text  # the query that shows the rows
        assert any(
            e["risk_score"] >= 55 and e["anomaly"].startswith(ENTITY) for e in summary["top_anomalies"]
        )
        # Every other message is the platform-wide view of the same wave, a quality alert, or the
        # freshness warning (the recording is from 2024, so its processing lag is years).
        others = [kind_and_key(p) for p in delivered if p is not alert]
        assert all(
            key == "anomaly:global:REVERT_WAVE" or kind == "quality" or key == "freshness:silver" for kind, key in others
        ), others
        recorded = [
            r for r in table_rows(warehouse, "alerts_sent") if r["alert_key"] == kind_and_key(alert)[1]
        ]
        assert len(recorded) == 1 and "slack" in recorded[0]["sinks"] and not recorded[0]["failed_sinks"]

        # Restart on the same warehouse; the wave goes on 20 minutes later: detected, not re-sent.
        slack.requests.clear()
        again = run(second, warehouse, allowlist, slack)
        assert again["read"] == second.read_text(encoding="utf-8").count("\n") - first.read_text(
            encoding="utf-8"
        ).count("\n")
        assert any(e["anomaly"].startswith(f"{ENTITY} [2024-08-22 04:20]") for e in again["top_anomalies"])
        assert again["alerts_sent"] == 0 and again["alerts_suppressed"] >= 1
        assert entity_anomaly_alerts(slack.payloads()) == []
        assert all(kind_and_key(p)[0] == "quality" for p in slack.payloads())

        # The control: with no throttle the same continuing wave does reach Slack, under the same key.
        slack.requests.clear()
        run(third, warehouse, allowlist, slack, WIKIGUARD_ALERT_THROTTLE_SECONDS="0")
        resent = entity_anomaly_alerts(slack.delivered())
        assert [kind_and_key(p)[1] for p in resent] == [kind_and_key(alert)[1]]
