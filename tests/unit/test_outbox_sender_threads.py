"""The local outbox under threads: concurrent sends each append one whole line.

Its own module because it races threads: it touches no moto table (moto's in-process
conditional writes are not atomic across threads; tests/unit/test_no_thread_races_on_moto.py).
"""

from __future__ import annotations

import json
import threading
from pathlib import Path

from lifecycle.notifications import NotificationView, OutboxSender
from tests.unit.conftest import NOW


def test_the_outbox_sender_writes_whole_lines_under_concurrency(tmp_path: Path) -> None:
    sender = OutboxSender(tmp_path / "outbox.jsonl")
    views = [
        NotificationView(
            id=f"ntf_{n}",
            type="welcome",
            to="a@example.com",
            account_id="acc_1",
            subject="s",
            body="Здравейте " * 500,
            created_at="2026-11-25T12:00:00Z",
            sent_at=None,
        )
        for n in range(40)
    ]
    threads = [threading.Thread(target=sender.send, args=(view, NOW)) for view in views]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    lines = (tmp_path / "outbox.jsonl").read_text(encoding="utf-8").splitlines()  # the sender's file itself
    assert sorted(json.loads(line)["id"] for line in lines) == sorted(v.id for v in views)
