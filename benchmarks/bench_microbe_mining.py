"""Claim: the pruned per-worker top-k scan (seed 000 §3.3) keeps exactly the brute-force queues
while evaluating far fewer p(e|f), and kW = 2M recovers almost all of the true top M (eq. 4).

Same data and calibration for every run (frame level, IM+TM, the tables' settings). Compared side by
side: the mining stage end to end (reading + windowing + scan, W = 8 map tasks in one process), and
the scan alone over pre-built examples of one worker, including the paper's one-example-at-a-time
loop (batch size 1). Run: `.venv/bin/python benchmarks/bench_microbe_mining.py`.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.common import markdown_table, write_section  # noqa: E402
from benchmarks.microbe_data import M, config, dataset  # noqa: E402
from yt8m.microbe import MicrobeJob, default_k, expected_recovered  # noqa: E402
from yt8m.microbe.dask_jobs import LocalRunner  # noqa: E402
from yt8m.microbe.features import batches  # noqa: E402
from yt8m.microbe.mining import HardNegativeMiner, popular_rates, top_m  # noqa: E402
from yt8m.microbe.pipeline import read_partition  # noqa: E402
from threadpoolctl import threadpool_limits  # noqa: E402


def gathered(job: MicrobeJob, blocks) -> list:
    return [p for block in blocks for p in job.runner.gather(block)]


def scan(pairs, examples, k, rates, *, prune: bool, batch: int, limit: int | None = None):
    miner = HardNegativeMiner(pairs, k, prune=prune, rates=rates, seed=0)
    rows = np.arange(len(examples) if limit is None else min(limit, len(examples)))
    parts = [examples.take(rows[i : i + batch]) for i in range(0, len(rows), batch)]
    start = time.perf_counter()
    for part in parts:
        miner.add(part)
    seconds = time.perf_counter() - start
    return miner.result(), seconds, miner


def main() -> None:
    dataset()
    cfg = config(["im", "tm"], "frame", dask={"scheduler": "sync"})
    with threadpool_limits(1):
        job = MicrobeJob(cfg, LocalRunner())
        pairs = job.calibrate()
        W, k = job.workers, job.queue_size
        rows, results = [], {}
        for prune in (True, False):
            run = MicrobeJob(cfg.replace(mining={"prune": prune}), LocalRunner())
            run.counts = job.counts
            blocks = run.mine(pairs)
            results[prune] = (gathered(run, blocks), dict(run.mining_report))
        same = all(np.array_equal(a.uids, b.uids) and np.array_equal(a.scores, b.scores) for a, b in zip(results[True][0], results[False][0]))
        for prune in (True, False):
            rep = results[prune][1]
            rows.append(["pruned (τ, Q_min, E_f(w))" if prune else "brute force", "all 8 workers, batches of 256", rep["examples"],
                         f"{rep['evaluations']:,}", f"{rep['seconds']:.1f}"])

        # the scan alone, one worker's examples in memory
        part = job.partitions[0]
        examples = next(batches(read_partition(part, cfg.schema()), cfg.space, frames="mining", mining_count=10, seed=cfg.seed,
                                batch_examples=10**9))[0]
        rates = popular_rates(job.counts.label_mining_examples, M)
        scan_rows = []
        reference = None
        for prune, batch, limit in ((True, 256, None), (False, 256, None), (True, 1, None), (False, 1, 600)):
            result, seconds, miner = scan(pairs, examples, k, rates, prune=prune, batch=batch, limit=limit)
            n = len(examples) if limit is None else limit
            if limit is None and batch == 256 and reference is None:
                reference = result
            identical = "" if limit is not None else ("yes" if np.array_equal(result.uids, reference.uids) else "NO")
            scan_rows.append(["pruned" if prune else "brute force", batch, n, f"{result.evaluations:,}",
                              f"{result.evaluations / n:.0f}", f"{seconds:.2f}", f"{1e6 * seconds / n:.0f}",
                              f"{miner.inverse_list_sizes():,} / {len(pairs):,}" if prune else "—", identical])

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
    brute_speed = results[False][1]["evaluations"] / max(results[True][1]["evaluations"], 1)
    body = (
        f"Frame level, IM+TM features, {len(pairs):,} calibrated pairs (K = 20 per label), W = {W} workers (one per train "
        f"shard), M = {M}, k = {k} (kW = 2M = {default_k(M, W) * W}); popular-label sampling on.\n\n"
        "**Mining stage, end to end** (read, window ±2 frames, 10 random frames per video, scan):\n\n"
        + markdown_table(["scan", "run", "examples", "curve evaluations p_e,f(x_f)", "seconds"], rows)
        + f"\n\nQueues identical element for element (labels × k scores and uids, all workers): **{'yes' if same else 'NO'}**. "
        f"The pruned scan evaluates {brute_speed:.1f}× fewer calibration curves; reading and windowing the records dominate "
        "the stage's time, so the scan alone is measured next.\n\n"
        "**The scan alone** (worker 0's examples in memory; batch 1 = the paper's loop, example by example):\n\n"
        + markdown_table(["scan", "batch", "examples", "curve evaluations", "per example", "seconds", "µs per example",
                          "entries left in the E_f(w) / at start", "same queues as pruned, batch 256"], scan_rows)
        + f"\n\n**Recovery of the true top M** (exact reference: every worker keeping k = M): {100 * recovered:.2f}% of the exact top-M "
        f"(label, example) pairs are among the mined ones ({int(full.sum())} of {cfg.num_classes} labels have M candidates). "
        f"Eq. 4 predicts {100 * expectation:.3f}% for k = {k}, W = {W}, M = {M} if the top examples were spread over the workers "
        "at random (a video's 10 frames share a worker here, which can only lower it). For the paper's "
        f"k = 40, W = 4000, M = 80000: E = {expected_recovered(40, 4000, 80000):.4f}.\n"
    )
    write_section("microbe_mining", "MiCRObE hard negative mining: pruned vs brute force (seed 000 §3.2–3.3)",
                  ".venv/bin/python benchmarks/bench_microbe_mining.py", body)


if __name__ == "__main__":
    main()
