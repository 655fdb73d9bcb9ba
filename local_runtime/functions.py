"""The template's Lambda functions, imported from their folders and invoked in this process.

Every handler module is ``app.py``, so each is imported by file path under its own
module name (``fn_<LogicalId>``). A function's sibling modules (``import models``) are
importable while its handler module loads; afterwards they are taken out of
``sys.modules`` again, so two functions may each have a ``models.py``. Handler code
must therefore import its siblings at module level, as Lambda code usually does.
"""

from __future__ import annotations

import contextlib
import importlib.util
import logging
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

from local_runtime.events import LambdaContext
from local_runtime.template import ROOT, function_setting

log = logging.getLogger("local_runtime.functions")

Handler = Callable[[dict[str, Any], Any], Any]


@dataclass(frozen=True)
class FunctionSpec:
    logical_id: str
    code_uri: str
    handler: str
    timeout: int
    memory_size: int
    function_name: str


def function_spec(template: dict[str, Any], stack_name: str, logical_id: str) -> FunctionSpec:
    props = template["Resources"][logical_id]["Properties"]
    return FunctionSpec(
        logical_id=logical_id,
        code_uri=str(props["CodeUri"]),
        handler=str(function_setting(template, logical_id, "Handler")),
        timeout=int(function_setting(template, logical_id, "Timeout")),
        memory_size=int(function_setting(template, logical_id, "MemorySize")),
        # SAM adds a random suffix in AWS; locally the stack and logical id are enough.
        function_name=f"{stack_name}-{logical_id}",
    )


def _sibling_names(folder: Path) -> set[str]:
    modules = {path.stem for path in folder.glob("*.py")}
    packages = {path.name for path in folder.iterdir() if (path / "__init__.py").is_file()}
    return modules | packages


@contextlib.contextmanager
def _sibling_imports(folder: Path) -> Iterator[None]:
    """Make ``folder``'s modules importable by their plain names, only while the handler loads."""
    names = _sibling_names(folder)

    def ours(name: str) -> bool:
        return name.split(".", 1)[0] in names

    shadowed = {name: sys.modules.pop(name) for name in list(sys.modules) if ours(name)}
    sys.path.insert(0, str(folder))
    try:
        yield
    finally:
        sys.path.remove(str(folder))
        # The handler module keeps its own references; the names go back to whoever had them.
        # A snapshot: a stream poller's thread may be importing while an HTTP request's loads.
        for name in [name for name in list(sys.modules) if ours(name)]:
            sys.modules.pop(name, None)
        sys.modules.update(shadowed)


def load_handler(spec: FunctionSpec, root: Path = ROOT, instance: int = 0) -> Handler:
    """Import ``spec``'s handler module from its CodeUri and return the handler callable."""
    module_path, _, attribute = spec.handler.rpartition(".")
    folder = (root / spec.code_uri).resolve()
    source = folder / (module_path.replace(".", "/") + ".py")
    # Each instance is a module of its own, like a Lambda execution environment of its own.
    module_name = f"fn_{spec.logical_id}" + (f"_{instance}" if instance else "")
    module_spec = importlib.util.spec_from_file_location(module_name, source)
    if module_spec is None or module_spec.loader is None:
        raise ImportError(f"cannot load {source}")
    module: ModuleType = importlib.util.module_from_spec(module_spec)
    # Registered before it runs: pydantic and dataclasses look their module up by name.
    sys.modules[module_name] = module
    try:
        with _sibling_imports(folder):
            module_spec.loader.exec_module(module)
    except BaseException:
        del sys.modules[module_name]
        raise
    handler = getattr(module, attribute, None)
    if not callable(handler):
        raise ImportError(f"{source} has no callable {attribute!r} (Handler: {spec.handler})")
    return handler  # type: ignore[no-any-return]


class _Pool:
    """The execution environments of one function: each runs one invocation at a time.

    A handler module must never serve two requests at once (Powertools keeps request
    state on its resolver, and the current event even on a class shared by the whole
    process, which ``lifecycle.entry.http`` keeps per thread); Lambda guarantees that by giving each
    concurrent invocation its own environment, and so does this pool: concurrent
    requests get their own module instances (cold starts included), up to ``limit``.
    """

    def __init__(self, spec: FunctionSpec, root: Path, limit: int) -> None:
        self.spec = spec
        self._root = root
        self._limit = limit
        self._idle: list[Handler] = []
        self._created = 0
        self._available = threading.Condition()

    def _load(self, instance: int) -> Handler:
        started = time.perf_counter()
        handler = load_handler(self.spec, self._root, instance)
        log.info(
            "%s: environment %d ready in %.0f ms",
            self.spec.logical_id,
            instance,
            (time.perf_counter() - started) * 1000,
        )
        return handler

    @contextlib.contextmanager
    def environment(self) -> Iterator[Handler]:
        with self._available:
            while not self._idle and self._created >= self._limit:
                self._available.wait()
            handler = self._idle.pop() if self._idle else None
            instance = self._created
            if handler is None:
                self._created += 1
        if handler is None:
            try:
                with _IMPORT_LOCK:  # imports touch sys.modules and sys.path: one at a time
                    handler = self._load(instance)
            except BaseException:
                with self._available:
                    self._created -= 1
                    self._available.notify()
                raise
        try:
            yield handler
        finally:
            with self._available:
                self._idle.append(handler)
                self._available.notify()


_IMPORT_LOCK = threading.Lock()


# Environments per function at most, as Lambda's concurrency limit: more requests wait for one.
MAX_CONCURRENCY = 16


class Functions:
    """Loads and invokes the template's functions as Lambda would, concurrency included.

    Handler modules of one function never run two invocations at once (see ``_Pool``);
    the layer's modules are shared by all, as only thread-safe clients and the Logger
    live at module level there. Metrics are disabled locally, so their shared buffer
    is never flushed by the wrong invocation.
    """

    def __init__(
        self, template: dict[str, Any], stack_name: str, root: Path = ROOT, max_concurrency: int = MAX_CONCURRENCY
    ) -> None:
        self._template = template
        self._stack_name = stack_name
        self._root = root
        self._max_concurrency = max_concurrency
        self._pools: dict[str, _Pool] = {}
        self._pools_lock = threading.Lock()

    def spec(self, logical_id: str) -> FunctionSpec:
        return function_spec(self._template, self._stack_name, logical_id)

    def _pool(self, logical_id: str) -> _Pool:
        with self._pools_lock:
            pool = self._pools.get(logical_id)
            if pool is None:
                pool = self._pools[logical_id] = _Pool(self.spec(logical_id), self._root, self._max_concurrency)
            return pool

    def preload(self, logical_ids: list[str]) -> None:
        """Start one environment of each function now, so import errors show at start."""
        for logical_id in dict.fromkeys(logical_ids):
            try:
                with self._pool(logical_id).environment():
                    pass
            except Exception:
                log.exception("%s failed to load; its routes answer 500 until it loads", logical_id)

    def invoke(self, logical_id: str, event: dict[str, Any]) -> Any:
        """Run the function's handler on ``event``; its exceptions propagate, as a failed invoke."""
        pool = self._pool(logical_id)
        spec = pool.spec
        with pool.environment() as handler:
            context = LambdaContext(spec.function_name, spec.timeout, spec.memory_size)
            result = handler(event, context)
        if context.get_remaining_time_in_millis() == 0:
            # Lambda would have killed it; a thread cannot be killed, so say so loudly instead.
            log.warning("%s ran past its %d s Timeout; in AWS this invocation fails", logical_id, spec.timeout)
        return result
