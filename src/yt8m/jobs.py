"""Where per-file work runs: in this process, split over `torchrun` ranks, or one Dask task per file.

`yt8m predict`, `yt8m eval`, `yt8m convert` and `yt8m extract` cut their work into one task per
input file whose result depends only on that file, then combine the results in file order. So a
run on 1 process, on N ranks or on a Dask cluster produces the same output, by construction.

- local: the tasks in order, in this process (the reference);
- torchrun (WORLD_SIZE > 1): rank r takes files r, r + N, ...; results are gathered to rank 0, which
  alone combines them, and every rank leaves the job together;
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


def run_per_file(task: Callable, items: Sequence, *, on_done: Callable[[int, Any], None], dask: str | None = None, workers: int = 1, retries: int = RETRIES) -> None:
    """Compute task(item) for every item and hand each result to `on_done(i, result)` in this
    process as it arrives (any order): on Dask (`dask`), over torchrun ranks (only rank 0 gets the
    results, after every rank finished), in `workers` local processes, or here one by one."""
    if dask:
        for i, result in dask_results(task, items, dask, retries):
            on_done(i, result)
        return
    rank, world = torchrun_world()
    if world > 1:
        import torch.distributed as dist

        mine = {i: task(items[i]) for i in range(rank, len(items), world)}
        parts: list | None = [None] * world if rank == 0 else None
        dist.gather_object(mine, parts, dst=0)
        if rank == 0:
            merged = {i: result for part in parts for i, result in part.items()}
            for i in range(len(items)):
                on_done(i, merged[i])
        dist.barrier()  # every rank ends the job together: none exits while rank 0 still writes
        return
    if workers > 1 and len(items) > 1:
        from concurrent.futures import ProcessPoolExecutor, as_completed

        with ProcessPoolExecutor(min(workers, len(items))) as pool:
            futures = {pool.submit(task, item): i for i, item in enumerate(items)}
            for future in as_completed(futures):
                on_done(futures[future], future.result())
        return
    for i, item in enumerate(items):
        on_done(i, task(item))


def dask_results(task: Callable, items: Sequence, scheduler: str, retries: int = RETRIES) -> Iterator[tuple[int, Any]]:
    """(index, task(item)) as the Dask tasks finish: one task per item, each retried `retries` times."""
    from distributed import as_completed

    from .microbe.dask_jobs import make_runner

    runner = make_runner(scheduler)
    try:
        futures = [runner.client.submit(task, item, pure=False, retries=retries) for item in items]
        index = {f.key: i for i, f in enumerate(futures)}
        for future in as_completed(futures):
            yield index[future.key], future.result()
            future.release()
    finally:
        runner.close()
