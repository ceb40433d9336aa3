"""Hard negative mining with the max-calibration model (§3.2–3.3).

Each worker w keeps, per label e, a priority queue Q(e, w) of its k best examples by p_e(x); the
reduce step keeps the top M of the k·W candidates. Eq. 4 gives how many of the true top M survive
(`expected_recovered`); kW = 2M is the paper's rule for k.

Inside a worker, the pruned scan scores only labels that can still enter their queue:
- Q_min(e) is 0 until Q(e, w) holds k examples, then its smallest score; it never decreases;
- τ_{f,e} is the largest value of f seen whose p_{e|f} fell below Q_min(e): since p_{e|f} is
  increasing, any x_f ≤ τ_{f,e} cannot enter either, so it is not evaluated;
- the inverse list E_f(w) drops e once even p_{e|f}(x_max_f) < Q_min(e).
Together these give exactly the brute-force queues while evaluating fewer and fewer p_{e|f}.
Values above the calibration's x_max_f (not seen in calibration) are checked against the full E_f.

Examples are processed in vectorized steps of `prune_every` examples, whatever size the batches
handed to `add` have: Q_min, τ and E_f(w) are read at the start of a step and updated at its end
(stale values only prune less; a step of 1 is the paper's loop). A worker whose queues never fill
(k at least the examples it offers a label) cannot prune at all; its counters show it.
Ties in score are broken by the smaller uid, in every worker and in the reduce, so the pruned and
brute-force queues are identical element for element.

Popular labels (§3.3): an example is offered to Q(e, w) with probability min(1, M/positives(e)),
decided by a hash of (seed, uid, label) so that any run makes the same draws.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy import sparse
from scipy.stats import binom

from .features import SparseExamples, empty_examples
from .maxcal import group_max
from .pairs import PairTable, expand

_EMPTY_UID = np.iinfo(np.int64).max


def expected_recovered(k: int, W: int, M: int) -> float:
    """Eq. 4: the expected number of the true top M kept when each of W workers keeps its top k.

    The i-th best example survives unless at least k of the i−1 better ones fell into its worker
    (each independently with probability 1/W): P = Σ_{j<k} C(i−1, j) (1/W)^j (1−1/W)^{i−1−j}.
    """
    if k <= 0 or W <= 0 or M <= 0:
        raise ValueError("k, W and M must be positive")
    if k >= M:
        return float(M)
    i = np.arange(k + 1, M + 1, dtype=np.float64)
    lost = binom.sf(k - 1, i - 1, 1.0 / W).sum()  # computed as losses: exact where survival ≈ 1
    return float(M - lost)


def default_k(M: int, W: int) -> int:
    """Per-worker queue size from the paper's rule kW = 2M."""
    return max(1, math.ceil(2 * M / W))


def uniform_hash(uid: np.ndarray, label: np.ndarray, seed: int) -> np.ndarray:
    """A uniform [0, 1) number per (uid, label), fixed by the seed (splitmix64 finalizer)."""
    with np.errstate(over="ignore"):
        z = (np.asarray(uid, dtype=np.uint64) * np.uint64(0x9E3779B97F4A7C15)) ^ (
            np.asarray(label, dtype=np.uint64) * np.uint64(0xBF58476D1CE4E5B9)) ^ np.uint64(seed * 0x94D049BB133111EB % 2**64)
        z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
        z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
        z = z ^ (z >> np.uint64(31))
    return (z >> np.uint64(11)).astype(np.float64) / float(2**53)


def popular_rates(positives: np.ndarray, M: int) -> np.ndarray:
    """Offer probability per label: min(1, M / positives(e))."""
    positives = np.asarray(positives, dtype=np.float64)
    return np.minimum(1.0, M / np.maximum(positives, 1.0))


# ----------------------------------------------------------------------------------------------
# queues


class TopKQueues:
    """Q(e, ·) for all labels: per label its best k (score, uid), sorted best first.

    Order: higher score first, equal scores by smaller uid.
    """

    def __init__(self, num_labels: int, k: int) -> None:
        self.k = k
        self.scores = np.full((num_labels, k), -np.inf)
        self.uids = np.full((num_labels, k), _EMPTY_UID, dtype=np.int64)
        self.sizes = np.zeros(num_labels, dtype=np.int64)

    def q_min(self) -> np.ndarray:
        """Q_min(e): 0 until the queue is full, then its smallest score."""
        return np.where(self.sizes >= self.k, self.scores[:, -1], 0.0)

    def push(self, labels: np.ndarray, scores: np.ndarray, uids: np.ndarray) -> np.ndarray:
        """Offer candidates (at most one per (label, uid)); returns which of them were kept."""
        if labels.size == 0:
            return np.zeros(0, dtype=bool)
        touched = np.unique(labels)
        old_l = np.repeat(touched, self.k)
        old_s = self.scores[touched].ravel()
        old_u = self.uids[touched].ravel()
        valid = old_u != _EMPTY_UID
        all_l = np.concatenate([old_l[valid], labels])
        all_s = np.concatenate([old_s[valid], scores])
        all_u = np.concatenate([old_u[valid], uids])
        is_new = np.concatenate([np.zeros(valid.sum(), bool), np.ones(len(labels), bool)])
        new_index = np.concatenate([np.full(valid.sum(), -1), np.arange(len(labels))])
        order = np.lexsort((all_u, -all_s, all_l))
        sl = all_l[order]
        rank = np.arange(len(order)) - np.searchsorted(sl, sl, side="left")
        top = rank < self.k
        keep_order = order[top]
        self.scores[touched] = -np.inf
        self.uids[touched] = _EMPTY_UID
        self.scores[all_l[keep_order], rank[top]] = all_s[keep_order]
        self.uids[all_l[keep_order], rank[top]] = all_u[keep_order]
        self.sizes[touched] = np.bincount(all_l[keep_order], minlength=len(self.sizes))[touched]
        kept = np.zeros(len(labels), dtype=bool)
        kept[new_index[keep_order][is_new[keep_order]]] = True
        return kept

    def entries(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(labels, scores, uids) of every queued example."""
        valid = self.uids != _EMPTY_UID
        labels = np.broadcast_to(np.arange(len(self.sizes))[:, None], self.uids.shape)
        return labels[valid], self.scores[valid], self.uids[valid]


class _ExampleStore:
    """The examples some queue still refers to (bounded by labels × k, not by the data)."""

    def __init__(self) -> None:
        self.rows: dict[int, tuple[np.ndarray, np.ndarray, np.ndarray, int]] = {}

    def add(self, examples: SparseExamples, rows: np.ndarray) -> None:
        X = examples.X
        for r in np.unique(rows):
            uid = int(examples.uid[r])
            if uid not in self.rows:
                lo, hi = X.indptr[r], X.indptr[r + 1]
                self.rows[uid] = (X.indices[lo:hi].copy(), X.data[lo:hi].copy(), examples.labels(r).copy(), int(examples.video_hash[r]))

    def keep_only(self, uids: np.ndarray) -> None:
        wanted = set(np.unique(uids).tolist())
        for uid in [u for u in self.rows if u not in wanted]:
            del self.rows[uid]

    def examples(self, uids: np.ndarray, num_features: int) -> SparseExamples:
        uids = np.unique(uids)
        uids = uids[uids != _EMPTY_UID]
        if uids.size == 0:
            return empty_examples(num_features)
        items = [self.rows[int(u)] for u in uids]
        indptr = np.zeros(len(items) + 1, dtype=np.int64)
        np.cumsum([len(i[0]) for i in items], out=indptr[1:])
        X = sparse.csr_matrix((np.concatenate([i[1] for i in items]), np.concatenate([i[0] for i in items]), indptr),
                              shape=(len(items), num_features))
        label_indptr = np.zeros(len(items) + 1, dtype=np.int64)
        np.cumsum([len(i[2]) for i in items], out=label_indptr[1:])
        return SparseExamples(X, label_indptr, np.concatenate([i[2] for i in items]).astype(np.int64), uids.astype(np.int64),
                              np.array([i[3] for i in items], dtype=np.int64), np.zeros(len(items), dtype=np.int64))


# ----------------------------------------------------------------------------------------------
# one worker's pass


@dataclass
class MiningPartial:
    """One worker's (or a merge's) queues with the examples they refer to, and the work counters."""

    scores: np.ndarray  # [L, k] best first, -inf where empty
    uids: np.ndarray  # [L, k]
    labels: np.ndarray  # [L] the label ids of the rows
    examples: SparseExamples  # rows sorted by uid
    evaluations: int = 0  # p_{e|f} evaluations done
    brute_force_evaluations: int = 0  # what scoring every e ∈ E_f for every x_f > 0 costs
    examples_seen: int = 0

    def label_block(self, block: int, n_blocks: int) -> "MiningPartial":
        """The queues of labels e with e % n_blocks == block and only the examples they refer to."""
        rows = np.flatnonzero(self.labels % n_blocks == block)
        uids = self.uids[rows]
        keep = np.isin(self.examples.uid, uids[uids != _EMPTY_UID])
        return MiningPartial(self.scores[rows], uids, self.labels[rows], self.examples.take(np.flatnonzero(keep)),
                             self.evaluations, self.brute_force_evaluations, self.examples_seen)


class HardNegativeMiner:
    """One worker of §3.3: per-label top-k queues of max-calibration scores over a stream of batches.

    `prune=False` is the brute-force scan (every e ∈ E_f for every x_f > 0) for comparison.
    """

    def __init__(self, pairs: PairTable, k: int, *, prune: bool = True, rates: np.ndarray | None = None, seed: int = 0,
                 prune_every: int = 32, gc_every: int = 16) -> None:
        if prune_every < 1:
            raise ValueError(f"prune_every must be at least 1, got {prune_every}")
        self.pairs, self.k, self.prune, self.seed = pairs, k, prune, seed
        self.prune_every = prune_every
        self.rates = rates
        L = pairs.num_labels
        self.queues = TopKQueues(L, k)
        self.store = _ExampleStore()
        self.tau = np.zeros(len(pairs))  # τ_{f,e} per pair row
        self.p_bound = pairs.p_max  # p_{e|f}(x_max_f)
        self.alive = np.ones(len(pairs), dtype=bool)  # membership of e in E_f(w)
        self.feature_bound = np.zeros(pairs.num_features)
        self.feature_bound[pairs.feature] = pairs.x_max
        self._build_lists()
        self.evaluations = 0
        self.brute_force_evaluations = 0
        self.examples_seen = 0
        self.steps = 0
        self.gc_every = gc_every

    def _build_lists(self) -> None:
        self.alive_rows = np.flatnonzero(self.alive)
        self.alive_indptr = np.zeros(self.pairs.num_features + 1, dtype=np.int64)
        np.cumsum(np.bincount(self.pairs.feature[self.alive_rows], minlength=self.pairs.num_features), out=self.alive_indptr[1:])
        self._alive_at_build = len(self.alive_rows)

    def inverse_list_sizes(self) -> int:
        """Σ_f |E_f(w)|: how many (feature, label) entries the worker still scans."""
        return int(self.alive.sum())

    def full_queues(self) -> int:
        """Labels whose queue holds k examples (only those can prune)."""
        return int((self.queues.sizes >= self.k).sum())

    def add(self, examples: SparseExamples) -> None:
        """Offer a batch; the pruning bounds are refreshed every `prune_every` examples inside it."""
        n = len(examples)
        if not self.prune or n <= self.prune_every:
            self._step(examples)
            return
        for lo in range(0, n, self.prune_every):
            self._step(examples.take(np.arange(lo, min(lo + self.prune_every, n))))

    def _step(self, examples: SparseExamples) -> None:
        X = examples.X.tocsr()
        X.eliminate_zeros()
        pairs = self.pairs
        L = pairs.num_labels
        self.examples_seen += X.shape[0]
        self.brute_force_evaluations += int((pairs.indptr[X.indices + 1] - pairs.indptr[X.indices]).sum())
        if self.prune:
            over = X.data > self.feature_bound[X.indices]
            normal = X.copy()
            normal.data = np.where(over, 0.0, normal.data)
            normal.eliminate_zeros()
            rows, pair, x = expand(normal, self.alive_indptr, self.alive_rows)
            if over.any():  # values above x_max_f: the shrunk list's guarantee does not cover them
                beyond = X.copy()
                beyond.data = np.where(over, beyond.data, 0.0)
                beyond.eliminate_zeros()
                r2, p2, x2 = expand(beyond, pairs.indptr)
                rows, pair, x = np.concatenate([rows, r2]), np.concatenate([pair, p2]), np.concatenate([x, x2])
            live = x > self.tau[pair]
            rows, pair, x = rows[live], pair[live], x[live]
        else:
            rows, pair, x = expand(X, pairs.indptr)
        self.evaluations += len(pair)
        p = pairs.curve(pair, x)
        label = pairs.label[pair]
        passing = p > 0
        if self.prune:
            passing &= p >= self.queues.q_min()[label]
        keys, best = group_max(rows[passing] * L + label[passing], p[passing])
        cand_rows, cand_labels = keys // L, keys % L
        cand_uids = examples.uid[cand_rows]
        if self.rates is not None:
            offered = uniform_hash(cand_uids, cand_labels, self.seed) < self.rates[cand_labels]
            cand_rows, cand_labels, cand_uids, best = cand_rows[offered], cand_labels[offered], cand_uids[offered], best[offered]
        kept = self.queues.push(cand_labels, best, cand_uids)
        self.store.add(examples, cand_rows[kept])
        if self.prune:
            q_min = self.queues.q_min()
            below = p < q_min[label]
            np.maximum.at(self.tau, pair[below], x[below])
            dead = self.alive & (self.p_bound < q_min[pairs.label])
            if dead.any():
                self.alive &= ~dead
                if self.alive.sum() < 0.8 * self._alive_at_build:
                    self._build_lists()
        self.steps += 1
        if self.steps % self.gc_every == 0:
            self.store.keep_only(self.queues.uids)

    def result(self) -> MiningPartial:
        self.store.keep_only(self.queues.uids)
        examples = self.store.examples(self.queues.uids, self.pairs.num_features)
        return MiningPartial(self.queues.scores.copy(), self.queues.uids.copy(), np.arange(self.pairs.num_labels), examples,
                             self.evaluations, self.brute_force_evaluations, self.examples_seen)


class RandomNegativeSampler:
    """The baseline's training sets: per label, a uniformly random sample of the examples where some
    feature of F_e fires, positives at their natural rate (`balanced=False`, the paper's "random
    negatives"); `balanced=True` keeps separate queues of random positives and random negatives (the
    set then holds up to M/2 positives, far above the natural rate). A random priority per
    (uid, label) makes workers merge exactly like the hard-negative queues."""

    def __init__(self, pairs: PairTable, k: int, *, seed: int = 0, balanced: bool = False) -> None:
        self.pairs, self.k, self.seed, self.balanced = pairs, k, seed, balanced
        self.groups = [_ExampleQueues(pairs.num_labels, k) for _ in range(2 if balanced else 1)]
        self.examples_seen = 0

    def add(self, examples: SparseExamples) -> None:
        X = examples.X.tocsr()
        L = self.pairs.num_labels
        self.examples_seen += X.shape[0]
        rows, pair, x = expand(X, self.pairs.indptr)
        keys = np.unique(rows * L + self.pairs.label[pair])
        cand_rows, cand_labels = keys // L, keys % L
        priority = uniform_hash(examples.uid[cand_rows], cand_labels, self.seed)
        if not self.balanced:
            self.groups[0].offer(examples, cand_rows, cand_labels, priority)
            return
        truth = np.repeat(np.arange(len(examples)), np.diff(examples.label_indptr)) * L + examples.label_ids
        positive = np.isin(keys, truth)
        for queues, mask in zip(self.groups, (positive, ~positive)):
            queues.offer(examples, cand_rows[mask], cand_labels[mask], priority[mask])

    def result(self) -> tuple[MiningPartial, ...]:
        """(sample,), or (positives, negatives) when balanced."""
        return tuple(g.result(self.pairs.num_features, self.examples_seen) for g in self.groups)


class _ExampleQueues:
    def __init__(self, num_labels: int, k: int) -> None:
        self.queues = TopKQueues(num_labels, k)
        self.store = _ExampleStore()
        self.batches = 0

    def offer(self, examples: SparseExamples, rows: np.ndarray, labels: np.ndarray, priority: np.ndarray) -> None:
        kept = self.queues.push(labels, priority, examples.uid[rows])
        self.store.add(examples, rows[kept])
        self.batches += 1
        if self.batches % 16 == 0:
            self.store.keep_only(self.queues.uids)

    def result(self, num_features: int, seen: int) -> MiningPartial:
        self.store.keep_only(self.queues.uids)
        return MiningPartial(self.queues.scores.copy(), self.queues.uids.copy(), np.arange(len(self.queues.sizes)),
                             self.store.examples(self.queues.uids, num_features), 0, 0, seen)


# ----------------------------------------------------------------------------------------------
# the reduce


@dataclass
class MinedLabel:
    """The training set of one label's second-order model: its top M examples by max-calibration,
    restricted to the label's features F_e (columns in the order of `pair_rows`)."""

    label: int
    pair_rows: np.ndarray  # [d] PairTable rows of F_e, by feature id
    uid: np.ndarray  # [n]
    score: np.ndarray  # [n] the queue key (max-calibration score, or the random priority)
    X: sparse.csr_matrix  # [n, d]
    y: np.ndarray  # [n] 0/1 ground truth
    video_hash: np.ndarray  # [n]

    def __len__(self) -> int:
        return len(self.uid)

    @property
    def positives(self) -> int:
        return int(self.y.sum())


def top_m(partials: list[MiningPartial], M: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(labels, scores, uids) of the top M per label over all partials (same order as the queues)."""
    labels = np.concatenate([np.broadcast_to(p.labels[:, None], p.uids.shape)[p.uids != _EMPTY_UID] for p in partials])
    scores = np.concatenate([p.scores[p.uids != _EMPTY_UID] for p in partials])
    uids = np.concatenate([p.uids[p.uids != _EMPTY_UID] for p in partials])
    order = np.lexsort((uids, -scores, labels))
    sl = labels[order]
    rank = np.arange(len(order)) - np.searchsorted(sl, sl, side="left")
    keep = order[rank < M]
    return labels[keep], scores[keep], uids[keep]


def _union_examples(partials: list[MiningPartial]) -> SparseExamples:
    num_features = partials[0].examples.X.shape[1]
    joined = SparseExamples.concat([p.examples for p in partials], num_features)
    _, first = np.unique(joined.uid, return_index=True)
    return joined.take(first)  # sorted by uid, duplicates (same example in two partials) dropped


def mined_labels(partials: list[MiningPartial], pairs: PairTable, M: int, *, positives_only: bool = False,
                 negatives_only: bool = False) -> dict[int, MinedLabel]:
    """Reduce: per label the top M of all workers' candidates, with their features in F_e."""
    if not partials:
        return {}
    labels, scores, uids = top_m(partials, M)
    pool = _union_examples(partials)
    truth = pool.label_matrix(pairs.num_labels).tocsc()
    f_indptr, f_rows = pairs.features_of_label()
    out: dict[int, MinedLabel] = {}
    starts = np.flatnonzero(np.append(True, labels[1:] != labels[:-1])) if len(labels) else np.zeros(0, np.int64)
    ends = np.append(starts[1:], len(labels))
    for lo, hi in zip(starts, ends):
        e = int(labels[lo])
        rows = np.searchsorted(pool.uid, uids[lo:hi])
        pair_rows = f_rows[f_indptr[e] : f_indptr[e + 1]]
        X = pool.X[rows][:, pairs.feature[pair_rows]].tocsr()
        y = truth[:, e].toarray().ravel()[rows].astype(np.int8)
        out[e] = MinedLabel(e, pair_rows, uids[lo:hi], scores[lo:hi], X, y, pool.video_hash[rows])
    return out


def max_calibration_scores(X: sparse.csr_matrix, pair_rows: np.ndarray, pairs: PairTable) -> np.ndarray:
    """p_e(x) (eq. 3) of rows restricted to F_e (columns = `pair_rows`)."""
    X = X.tocsr()
    rows = np.repeat(np.arange(X.shape[0]), np.diff(X.indptr))
    out = np.zeros(X.shape[0])
    np.maximum.at(out, rows, pairs.curve(pair_rows[X.indices], X.data))
    return out


def random_training_sets(groups: tuple[list[MiningPartial], ...], pairs: PairTable, M: int) -> dict[int, MinedLabel]:
    """Random-negative baseline from the sampler's groups (each a list of workers' partials).

    One group: the M examples of lowest random priority, positives at their natural rate. Two groups
    (balanced): up to M/2 random positives, filled to M with random negatives. `score` holds the
    examples' max-calibration scores (not the random priorities), so the cascade threshold τ_e of
    §3.4 applies to this baseline as to the hard-negative model.
    """
    if len(groups) == 1:
        sets = mined_labels(list(groups[0]), pairs, M)
        for m in sets.values():
            m.score = max_calibration_scores(m.X, m.pair_rows, pairs)
        return sets
    positives, negatives = groups
    pos = mined_labels(list(positives), pairs, M // 2)
    neg = mined_labels(list(negatives), pairs, M)
    out = {}
    for e in sorted(set(pos) | set(neg)):
        parts = [m for m in (pos.get(e), neg.get(e)) if m is not None]
        if len(parts) == 2:
            take = M - len(parts[0])
            n = parts[1]
            parts[1] = MinedLabel(e, n.pair_rows, n.uid[:take], n.score[:take], n.X[:take], n.y[:take], n.video_hash[:take])
        first = parts[0]
        X = sparse.vstack([p.X for p in parts], format="csr")
        out[e] = MinedLabel(
            e, first.pair_rows, np.concatenate([p.uid for p in parts]), max_calibration_scores(X, first.pair_rows, pairs), X,
            np.concatenate([p.y for p in parts]), np.concatenate([p.video_hash for p in parts]),
        )
    return out


def merge_partials(partials: list[MiningPartial], keep: int) -> MiningPartial:
    """Associative merge keeping the top `keep` per label (for tree reductions)."""
    labels, scores, uids = top_m(partials, keep)
    row_labels = partials[0].labels
    rows = np.searchsorted(row_labels, labels)
    rank = np.arange(len(labels)) - np.searchsorted(labels, labels, side="left")
    S = np.full((len(row_labels), keep), -np.inf)
    U = np.full((len(row_labels), keep), _EMPTY_UID, dtype=np.int64)
    S[rows, rank], U[rows, rank] = scores, uids
    pool = _union_examples(partials)
    pool = pool.take(np.flatnonzero(np.isin(pool.uid, uids)))
    return MiningPartial(S, U, row_labels, pool, sum(p.evaluations for p in partials),
                         sum(p.brute_force_evaluations for p in partials), sum(p.examples_seen for p in partials))
