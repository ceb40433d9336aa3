"""Claim: the pruned per-worker top-k scan (seed 000 §3.3) keeps exactly the brute-force queues
while evaluating far fewer p(e|f), and kW = 2M recovers almost all of the true top M (eq. 4).

Same data and calibration for every run (frame level, IM+TM, the tables' settings). Compared side by
side: the mining stage end to end (reading + windowing + scan, W = 8 map tasks in one process) on
seed 0's dataset, and the scan alone over pre-built examples of one worker of seed 0: batches of
256, the whole worker in one batch (which used to disable pruning), the paper's one-example-at-a-time
loop (batch size 1), and a queue size k above the worker's examples (no queue fills: nothing can be
pruned, and the counters say so). Run: `.venv/bin/python benchmarks/bench_microbe_mining.py`.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.common import markdown_table, write_section  # noqa: E402
from benchmarks.microbe_data import M, SEEDS, SYNTH, TOP_K, config, dataset  # noqa: E402
from yt8m.microbe import MicrobeJob, default_k, expected_recovered  # noqa: E402
from yt8m.microbe.dask_jobs import LocalRunner  # noqa: E402
from yt8m.microbe.features import batches  # noqa: E402
from yt8m.microbe.mining import HardNegativeMiner, popular_rates, top_m  # noqa: E402
from yt8m.microbe.pipeline import read_partition  # noqa: E402
from threadpoolctl import threadpool_limits  # noqa: E402


def gathered(job: MicrobeJob, blocks) -> list:
    """The label blocks' merged top-M queues (one MiningPartial per block)."""
    return [p for block in job.runner.gather(blocks) for p in block]


def scan(pairs, examples, k, rates, *, prune: bool, batch: int, limit: int | None = None, prune_every: int = 32):
    miner = HardNegativeMiner(pairs, k, prune=prune, rates=rates, seed=0, prune_every=prune_every)
    rows = np.arange(len(examples) if limit is None else min(limit, len(examples)))
    parts = [examples.take(rows[i : i + batch]) for i in range(0, len(rows), batch)]
    start = time.perf_counter()
    for part in parts:
        miner.add(part)
    seconds = time.perf_counter() - start
    return miner.result(), seconds, miner


END_TO_END_SEEDS = SEEDS[:1]  # the evaluation counts are exact; one seed keeps the run short on the loaded machine


def end_to_end(seed: int) -> tuple[MicrobeJob, object, dict]:
    """Calibrate once, then mine with the pruned and the brute-force scan (W = 8 map tasks, one process)."""
    dataset(seed)
    cfg = config(["im", "tm"], "frame", seed, dask={"scheduler": "sync"})
    job = MicrobeJob(cfg, LocalRunner())
    pairs = job.calibrate()
    results = {}
    for prune in (True, False):
        run = MicrobeJob(cfg.replace(mining={"prune": prune}), LocalRunner())
        run.counts = job.counts
        blocks = run.mine(pairs)
        results[prune] = (gathered(run, blocks), dict(run.mining_report))
    return job, pairs, results


def main() -> None:
    with threadpool_limits(1):
        seeds = {seed: end_to_end(seed) for seed in END_TO_END_SEEDS}
        job, pairs, results = seeds[0]
        cfg = job.config
        W, k = job.workers, job.queue_size
        rows = []
        for seed, (_, _, res) in seeds.items():
            same = all(np.array_equal(a.uids, b.uids) and np.array_equal(a.scores, b.scores) for a, b in zip(res[True][0], res[False][0]))
            pruned, brute = res[True][1], res[False][1]
            rows.append([seed, pruned["examples"], f"{pruned['evaluations']:,}", f"{brute['evaluations']:,}",
                         f"{brute['evaluations'] / max(pruned['evaluations'], 1):.2f}", pruned["workers_without_full_queue"],
                         f"{pruned['seconds']:.1f}", f"{brute['seconds']:.1f}", "yes" if same else "NO"])

        # the scan alone, one worker's examples in memory
        part = job.partitions[0]
        examples = next(batches(read_partition(part, cfg.schema()), cfg.space, frames="mining", mining_count=10, seed=cfg.seed,
                                batch_examples=10**9))[0]
        rates = popular_rates(job.counts.label_mining_examples, M)
        n_all = len(examples)
        scan_rows = []
        reference = None
        cases = (("pruned", True, 256, None, k), ("brute force", False, 256, None, k),
                 ("pruned, the whole worker in one batch", True, n_all, None, k), ("pruned", True, 1, None, k),
                 ("brute force", False, 1, 600, k), (f"pruned, k = {n_all + 1} > the worker's examples", True, 256, None, n_all + 1))
        for name, prune, batch, limit, queue in cases:
            result, seconds, miner = scan(pairs, examples, queue, rates, prune=prune, batch=batch, limit=limit)
            n = n_all if limit is None else limit
            if limit is None and queue == k and reference is None:
                reference = result
            identical = "" if limit is not None or queue != k else ("yes" if np.array_equal(result.uids, reference.uids) else "NO")
            scan_rows.append([name, batch, n, f"{result.evaluations:,}", f"{result.brute_force_evaluations:,}",
                              f"{result.evaluations / n:.0f}", f"{seconds:.2f}", f"{1e6 * seconds / n:.0f}",
                              f"{miner.full_queues()} / {cfg.num_classes}" if prune else "—",
                              f"{miner.inverse_list_sizes():,} / {len(pairs):,}" if prune else "—", identical])
        unpruned = MicrobeJob(cfg.replace(mining={"k": n_all + 1}), LocalRunner())
        unpruned.counts = job.counts
        unpruned.mine(pairs)
        note = unpruned.mining_report.get("pruning_note", "(no note)")

        # recovery of the true top M: workers keeping k = M give it exactly
        exact_job = MicrobeJob(cfg.replace(mining={"splits_per_file": 1, "k": M}), LocalRunner())
        exact_job.counts = job.counts
        exact_parts = gathered(exact_job, exact_job.mine(pairs))
    approx = results[True][0]
    exact_top = top_m(exact_parts, M)
    approx_top = top_m(approx, M)
    exact_pairs = set(zip(exact_top[0].tolist(), exact_top[2].tolist()))
    approx_pairs = set(zip(approx_top[0].tolist(), approx_top[2].tolist()))
    per_label_m = np.bincount(exact_top[0], minlength=cfg.num_classes)
    recovered = len(exact_pairs & approx_pairs) / len(exact_pairs)
    full = per_label_m == M
    expectation = expected_recovered(k, W, M) / M
    body = (
        f"Frame level, IM+TM features, {len(pairs):,} calibrated pairs on seed 0 (K = {TOP_K} per label, {SYNTH['num_classes']} "
        f"classes), W = {W} workers (one per train shard), M = {M}, k = {k} (kW = 2M = {default_k(M, W) * W}); popular-label "
        "sampling on; the pruning bounds are refreshed every 32 examples whatever the batch size.\n\n"
        "**Mining stage, end to end** (read, window ±2 frames, 10 random frames per video, scan):\n\n"
        + markdown_table(["seed", "examples", "curve evaluations, pruned", "brute force", "brute force / pruned",
                          "workers that could not prune", "seconds, pruned", "seconds, brute force",
                          "queues identical element for element"], rows)
        + "\n\nReading and windowing the records dominate the stage's time, so the scan alone is measured next.\n\n"
        "**The scan alone** (worker 0 of seed 0 in memory; batch 1 = the paper's loop, example by example):\n\n"
        + markdown_table(["scan", "batch", "examples", "curve evaluations", "brute-force evaluations", "per example", "seconds",
                          "µs per example", "labels whose queue filled", "entries left in the E_f(w) / at start",
                          "same queues as pruned, batch 256"], scan_rows)
        + f"\n\nWith k above the worker's examples no queue fills, so nothing can be pruned; the pipeline's mining report "
        f"then says: \"{note}\".\n\n"
        f"**Recovery of the true top M** (exact reference: every worker keeping k = M): {100 * recovered:.2f}% of the exact top-M "
        f"(label, example) pairs are among the mined ones ({int(full.sum())} of {cfg.num_classes} labels have M candidates). "
        f"Eq. 4 predicts {100 * expectation:.3f}% for k = {k}, W = {W}, M = {M} if the top examples were spread over the workers "
        "at random (a video's 10 frames share a worker here, which can only lower it). For the paper's "
        f"k = 40, W = 4000, M = 80000: E = {expected_recovered(40, 4000, 80000):.4f}.\n"
    )
    write_section("microbe_mining", "MiCRObE hard negative mining: pruned vs brute force (seed 000 §3.2–3.3)",
                  ".venv/bin/python benchmarks/bench_microbe_mining.py", body)


if __name__ == "__main__":
    main()
