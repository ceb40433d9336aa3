"""Where MiCRObE's tasks run: in this process, on a local Dask cluster, or on a remote scheduler.

The pipeline is written once against a small runner interface (submit / scatter / gather /
as_completed). `LocalRunner` evaluates the same task graph lazily in this process, the reference
for the distributed runs; `DaskRunner` hands it to dask.distributed. Every task limits BLAS to one
thread: the parallelism is across tasks, and multi-threaded BLAS on tiny L-BFGS and 3×3 problems is
hundreds of times slower than single-threaded.
"""

from __future__ import annotations

import functools
from typing import Any, Callable, Iterable, Iterator

from threadpoolctl import threadpool_limits


def single_threaded(fn: Callable) -> Callable:
    """Run `fn` with BLAS limited to one thread."""

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        with threadpool_limits(1):
            return fn(*args, **kwargs)

    return wrapper


class _Lazy:
    """A task of the in-process runner: evaluated once, when first needed."""

    __slots__ = ("fn", "args", "kwargs", "done", "value")

    def __init__(self, fn: Callable, args: tuple, kwargs: dict) -> None:
        self.fn, self.args, self.kwargs, self.done, self.value = fn, args, kwargs, False, None

    def result(self) -> Any:
        if not self.done:
            args = [_resolve(a) for a in self.args]
            kwargs = {k: _resolve(v) for k, v in self.kwargs.items()}
            self.value, self.done = single_threaded(self.fn)(*args, **kwargs), True
            self.fn = self.args = self.kwargs = None
        return self.value


def _resolve(value: Any) -> Any:
    """Replace tasks by their results, inside lists and tuples too (as Dask does with futures)."""
    if isinstance(value, _Lazy):
        return value.result()
    if isinstance(value, (list, tuple)):
        return type(value)(_resolve(v) for v in value)
    return value


class LocalRunner:
    """Single process: the same tasks, evaluated in order when gathered."""

    workers = 1

    def submit(self, fn: Callable, *args, **kwargs) -> _Lazy:
        return _Lazy(fn, args, kwargs)

    def scatter(self, value: Any) -> Any:
        return value

    def gather(self, handles: Iterable) -> list:
        return [h.result() if isinstance(h, _Lazy) else h for h in handles]

    def as_completed(self, handles: Iterable) -> Iterator:
        for h in handles:
            if isinstance(h, _Lazy):
                h.result()
            yield h

    def release(self, handles: Iterable) -> None:
        for h in handles:
            if isinstance(h, _Lazy):
                h.value = None

    def close(self) -> None:
        pass


class DaskRunner:
    """dask.distributed: tasks become futures; large shared inputs are scattered once."""

    def __init__(self, client, cluster=None) -> None:
        self.client, self.cluster = client, cluster

    @property
    def workers(self) -> int:
        return max(1, len(self.client.scheduler_info().get("workers", {})))

    def submit(self, fn: Callable, *args, **kwargs):
        return self.client.submit(single_threaded(fn), *args, pure=False, **kwargs)

    def scatter(self, value: Any):
        return self.client.scatter(value, broadcast=True, hash=False)

    def gather(self, handles: Iterable) -> list:
        return self.client.gather(list(handles))

    def as_completed(self, handles: Iterable) -> Iterator:
        from distributed import as_completed

        return iter(as_completed(list(handles)))

    def release(self, handles: Iterable) -> None:
        for h in handles:
            h.release()

    def close(self) -> None:
        self.client.close()
        if self.cluster is not None:
            self.cluster.close()


def make_runner(scheduler: str | None = None, workers: int = 2):
    """"sync": this process; None or "local": a LocalCluster of `workers` single-threaded worker
    processes ("local:N": of N); anything else: the address of a running Dask scheduler (e.g. tcp://host:8786)."""
    if scheduler == "sync":
        return LocalRunner()
    from distributed import Client, LocalCluster

    if scheduler is not None and scheduler.startswith("local:"):
        scheduler, workers = "local", int(scheduler.split(":", 1)[1])
    if scheduler in (None, "local"):
        cluster = LocalCluster(n_workers=workers, threads_per_worker=1, processes=True, dashboard_address=":0")
        return DaskRunner(Client(cluster), cluster)
    return DaskRunner(Client(scheduler))


def tree_reduce(runner, handles: list, combine: Callable, fan_in: int = 8):
    """Combine many partial results pairwise-ish (groups of `fan_in`) into one handle."""
    if not handles:
        raise ValueError("nothing to reduce")
    while len(handles) > 1:
        handles = [runner.submit(combine, *handles[i : i + fan_in]) if len(handles[i : i + fan_in]) > 1 else handles[i]
                   for i in range(0, len(handles), fan_in)]
    return handles[0]
