"""Where per-file work runs: in this process, split over `torchrun` ranks, or one Dask task per file.

`yt8m predict`, `yt8m eval`, `yt8m convert` and `yt8m extract` cut their work into one task per
input file whose result depends only on that file, then combine the results in file order. So a
run on 1 process, on N ranks or on a Dask cluster produces the same output, by construction.

- local: the tasks in order, in this process (the reference);
- torchrun (WORLD_SIZE > 1): rank r takes files r, r + N, ...; results are gathered to every rank;
- Dask (`dask="local:N"` for a local cluster of N single-threaded worker processes, or a
  scheduler address such as tcp://host:8786): one task per file, retried `retries` times when a
  worker dies or the task raises, results gathered as they finish. The cluster is set up by
  `microbe.dask_jobs.make_runner`, the one Dask set-up of the project.
"""

from __future__ import annotations

import os
from typing import Any, Callable, Iterator, Sequence

RETRIES = 2


def torchrun_world() -> tuple[int, int]:
    """(rank, world size) when started by torchrun with more than one rank (the process group is
    started here if needed), else (0, 1)."""
    if int(os.environ.get("WORLD_SIZE", "1")) <= 1:
        return 0, 1
    from .train.distributed import init_distributed

    rank, world, _ = init_distributed()
    return rank, world


def run_per_file(task: Callable, items: Sequence, *, dask: str | None = None, retries: int = RETRIES, on_done: Callable[[int, Any], None] | None = None) -> list:
    """[task(item) for item in items], computed locally, over torchrun ranks or on Dask.

    `on_done(i, result)` is called in this process as each result arrives (progress, manifests);
    under torchrun every rank gets every result, in item order, after all ranks finished.
    """
    if dask:
        return _on_dask(task, items, dask, retries, on_done)
    rank, world = torchrun_world()
    if world > 1:
        from .train.distributed import gather_objects

        mine = {i: task(items[i]) for i in range(rank, len(items), world)}
        merged: dict[int, Any] = {}
        for part in gather_objects(mine):
            merged.update(part)
        results = [merged[i] for i in range(len(items))]
        if on_done is not None:
            for i, result in enumerate(results):
                on_done(i, result)
        return results
    results = []
    for i, item in enumerate(items):
        results.append(task(item))
        if on_done is not None:
            on_done(i, results[-1])
    return results


def _on_dask(task: Callable, items: Sequence, scheduler: str, retries: int, on_done) -> list:
    from .microbe.dask_jobs import make_runner

    runner = make_runner(scheduler)
    try:
        futures = [runner.client.submit(task, item, pure=False, retries=retries) for item in items]
        index = {f.key: i for i, f in enumerate(futures)}
        results: list = [None] * len(items)
        for future in _completed(futures):
            i = index[future.key]
            results[i] = future.result()
            future.release()
            if on_done is not None:
                on_done(i, results[i])
        return results
    finally:
        runner.close()


def _completed(futures) -> Iterator:
    from distributed import as_completed

    yield from as_completed(futures)
