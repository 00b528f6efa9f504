"""Rendering simulated events as the exact JSON text of live 1.0.0 `recentchange` events."""

from __future__ import annotations

import itertools
import random
import time

from wikiguard.adapters.simulator.catalog import Catalog, Page, js

_SUMMARIES = tuple(
    (js(c), js(p))
    for c, p in (
        ("", ""),
        ("", ""),
        ("copyedit", "copyedit"),
        ("/* References */", "→‎References"),
        ("Added category", "Added category"),
        ("typo", "typo"),
        ("update", "update"),
        ("/* wbsetclaim-create:2||1 */ [[Property:P31]]: [[Q5]]", "‎Created claim: instance of: human"),
        ("/* wbeditentity-update:0| */ add description", "‎Changed an item: add description"),
        ("Bot: Fixing double redirect", "Bot: Fixing double redirect"),
    )
)
_LOGS = (  # (log_type, log_action, log_params JSON, action comment)
    (
        "abusefilter",
        "hit",
        '{"action":"edit","filter":"381","actions":"warn","log":3877601}',
        "triggered filter 381",
    ),
    ("newusers", "create", '{"userid":2635269}', "New user account"),
    (
        "upload",
        "upload",
        '{"img_sha1":"j3idz7hbg47pd3tfymczpp8y8fubgh6","img_timestamp":"20240822040334"}',
        "uploaded",
    ),
    ("delete", "delete", "[]", "deleted page"),
    ("thanks", "thank", "[]", "thanked"),
    ("block", "block", '{"duration":"31 hours","flags":["anononly","nocreate"]}', "blocked"),
)


_VARIANT = {c: "89ab"[int(c, 16) & 3] for c in "0123456789abcdef"}


class Renderer:
    """Turns (type, page, user, ...) into the exact JSON text of a live event."""

    def __init__(self, rng: random.Random, catalog: Catalog, topic: str):
        self.rng, self.catalog, self.topic = rng, catalog, topic
        self.offset = itertools.count(5_356_060_663 + rng.randrange(10**6))
        self._dt: dict[int, str] = {}
        self._hex, self._hex_at = "", 262_144

    def dt(self, seconds: int) -> str:
        text = self._dt.get(seconds)
        if text is None:
            if len(self._dt) > 50_000:
                self._dt.clear()
            text = self._dt[seconds] = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(seconds))
        return text

    def meta(self, page: Page, ts: int, domain: str | None = None) -> str:
        # Two version-4 UUIDs (request_id, meta.id) from 64 random hex digits, drawn in bulk.
        at = self._hex_at
        if at >= 262_144:
            self._hex, at = self.rng.randbytes(131_072).hex(), 0
        h = self._hex[at : at + 64]
        self._hex_at = at + 64
        v = _VARIANT
        dt = self._dt.get(ts) or self.dt(ts)
        return (
            f'{{"$schema":"/mediawiki/recentchange/1.0.0","meta":{{"uri":{page.uri},'
            f'"request_id":"{h[:8]}-{h[8:12]}-4{h[13:16]}-{v[h[16]]}{h[17:20]}-{h[20:32]}",'
            f'"id":"{h[32:40]}-{h[40:44]}-4{h[45:48]}-{v[h[48]]}{h[49:52]}-{h[52:]}","dt":"{dt}",'
            f'"domain":"{domain or page.domain}","stream":"mediawiki.recentchange","topic":"{self.topic}",'
            f'"partition":0,"offset":{next(self.offset)}}},'
        )

    def background(self, etype: str, page: Page, user: str, bot: bool, at: float, canary: bool) -> str:
        ts = int(at)
        rng = self.rng
        who = f'"timestamp":{ts},"user":{user},"bot":{"true" if bot else "false"}'
        if etype == "categorize":
            # The change is to the category page: "[[:Page]] added to category".
            category = self.catalog.categories[page.wiki][rng.getrandbits(16) % 20]
            head = self.meta(category, ts, "canary" if canary else None)
            text = js(f"[[:{page.title}]] added to category")
            rc = next(self.catalog.rc_counter)
            return (
                f'{head}"id":{rc},"type":"categorize",{category.head},"comment":{text},{who},'
                f'"notify_url":"{page.server}/w/index.php?diff={page.revision}&oldid={page.revision - 7}&rcid={rc}",'
                f'{category.tail},"parsedcomment":{text}}}'
            )
        head = self.meta(page, ts, "canary" if canary else None)
        if etype == "log":
            log_type, action, params, note = _LOGS[rng.getrandbits(16) % len(_LOGS)]
            return (
                f'{head}"type":"log",{page.head},"comment":"",{who},"log_id":{next(self.catalog.log_counter)},'
                f'"log_type":"{log_type}","log_action":"{action}","log_params":{params},'
                f'"log_action_comment":{js(note)},{page.tail},"parsedcomment":""}}'
            )
        summary = _SUMMARIES[rng.getrandbits(16) % len(_SUMMARIES)]
        return self.change(head, etype, page, who, summary, rng.getrandbits(11) - 400)

    def scripted(
        self, etype: str, page: Page, user: str, bot: bool, comment: str, delta: int, at: float
    ) -> str:
        ts = int(at)
        head = self.meta(page, ts)
        who = f'"timestamp":{ts},"user":{js(user)},"bot":{"true" if bot else "false"}'
        if etype == "newuser":
            return (
                f'{head}"type":"log","namespace":2,"title":{js("User:" + user)},"title_url":{page.uri},'
                f'"comment":"",{who},"log_id":{next(self.catalog.log_counter)},"log_type":"newusers",'
                f'"log_action":"create","log_params":{{"userid":{self.rng.randrange(10**7)}}},'
                f'"log_action_comment":"New user account",{page.tail},"parsedcomment":""}}'
            )
        text = js(comment)
        return self.change(head, etype, page, who, (text, text), delta)

    def change(
        self, head: str, etype: str, page: Page, who: str, summary: tuple[str, str], delta: int
    ) -> str:
        rc = next(self.catalog.rc_counter)
        old_len, old_rev = page.length, page.revision
        page.length = new_len = max(0, old_len + delta)
        page.revision = new_rev = next(self.catalog.rev_counter)
        if etype == "new":
            lengths, revisions = f'{{"new":{new_len}}}', f'{{"new":{new_rev}}}'
            notify = f"{page.server}/w/index.php?oldid={new_rev}&rcid={rc}"
        else:
            lengths, revisions = (
                f'{{"old":{old_len},"new":{new_len}}}',
                f'{{"old":{old_rev},"new":{new_rev}}}',
            )
            notify = f"{page.server}/w/index.php?diff={new_rev}&oldid={old_rev}&rcid={rc}"
        return (
            f'{head}"id":{rc},"type":"{etype}",{page.head},"comment":{summary[0]},{who},"notify_url":"{notify}",'
            f'"minor":{"true" if delta & 7 == 0 else "false"},"patrolled":{"true" if delta & 1 else "false"},'
            f'"length":{lengths},"revision":{revisions},{page.tail},"parsedcomment":{summary[1]}}}'
        )

    def break_(self, payload: str) -> str:
        """One of the ways a payload arrives unusable: cut short, no meta.id, a field of the wrong type."""
        how = self.rng.getrandbits(2) % 3
        if how == 0:
            return payload[: len(payload) // 2]
        if how == 1:
            start = payload.index('"id":"')
            return payload[:start] + payload[payload.index('"', start + 7) + 2 :]
        start = payload.index('"namespace":') + 12
        end = payload.index(",", start)
        return f'{payload[:start]}"{payload[start:end]}"{payload[end:]}'
