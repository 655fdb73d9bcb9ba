"""The once-only download of an access export (R-GDPR-3) on DynamoDB Local: two downloads
racing in threads, which only AWS's own engine settles as DynamoDB does (moto's in-process
conditional writes are not atomic across threads). The world is the unit tier's."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest

from lifecycle.core import clock, errors
from lifecycle.core.settings import Settings
from lifecycle.requests import exports
from lifecycle.requests.exports import DiskStore
from tests.unit.test_data_subjects import maria_world
from tests.unit.test_exports import completing, request_of, token_of

pytestmark = [pytest.mark.integration, pytest.mark.usefixtures("world")]


@pytest.fixture
def settings(world: Settings, tmp_path: Path) -> Settings:
    """This test's own exports folder."""
    return world.model_copy(update={"local_exports_path": str(tmp_path / "exports")})


def test_r_gdpr_3_of_two_concurrent_downloads_exactly_one_gets_the_bytes(
    settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Both read the bytes before either marks the request (a barrier forces it); the conditional
    update lets one through."""
    world = maria_world()
    result = exports.complete_access(completing(request_of(world), settings))
    barrier = threading.Barrier(2, timeout=10)
    read = DiskStore.get

    def both_read(self: DiskStore, key: str) -> bytes | None:
        body = read(self, key)
        barrier.wait()
        return body

    monkeypatch.setattr(DiskStore, "get", both_read)
    outcomes: list[object] = []

    def fetch() -> None:
        try:
            outcomes.append(exports.download(world.request_id, token_of(result), clock.now(), settings))
        except errors.ExportUnavailable as exc:
            outcomes.append(exc)

    threads = [threading.Thread(target=fetch) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)

    assert sorted(type(o).__name__ for o in outcomes) == ["ExportUnavailable", "bytes"]
