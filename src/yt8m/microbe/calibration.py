"""Feature calibration (§3.1): one curve p_{e|f}(x) = α(σ(βx+γ) − σ(γ)) per (label, feature) pair.

For every pair seen together (x_f > 0 on an example whose video has label e) we solve eq. 2,

    min_{α,β,γ} Σ_t w_t (p(x_t) − g_t)² + λ(α² + β² + γ²)   s.t. α ≥ 0, β ≥ 0, p(x_max) ≤ 1,

over the examples where x_f > 0, bucketed by value (width 1e-4): the weight is the bucket's
example count and the target its mean ground truth (footnote 1). The fit is a projected Newton
method with the exact gradient and Hessian, vectorized over many pairs at once (pairs are
independent; a pair's buckets are one contiguous segment). λ is chosen on a held-out split of
videos by the held-out squared loss; pairs with α > 0 are kept, and per label the top K features by
p(x_max) (F_e).

Sufficient statistics are counts (examples per (feature, bucket), positives per (label, feature,
bucket)) that merge by addition, so they are gathered by streaming map tasks and reduced per block
of features.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from scipy.special import expit

from .features import SparseExamples, concat_ranges
from .pairs import PairTable

BUCKET_WIDTH = 1e-4
_BUCKET_BITS = 20  # bucket index < 2**20: values below 104.8 at width 1e-4
_COMPACT_EVERY = 4_000_000  # pending keys before merging them into the sorted tables


def heldout_split(video_hash: np.ndarray, heldout_fraction: float) -> np.ndarray:
    """1 for videos in the calibration held-out split, else 0 (a video's examples share a split)."""
    return (((np.asarray(video_hash, dtype=np.int64) >> 1) % 1000) < round(heldout_fraction * 1000)).astype(np.int64)


# ----------------------------------------------------------------------------------------------
# sufficient statistics


class _CountTable:
    """Sorted unique int64 keys with per-split counts; `add` buffers, `compact` merges."""

    def __init__(self, n_splits: int) -> None:
        self.n_splits = n_splits
        self.keys = np.zeros(0, dtype=np.int64)
        self.counts = np.zeros((0, n_splits), dtype=np.int64)
        self._pending: list[tuple[np.ndarray, np.ndarray]] = []
        self._pending_size = 0

    def add(self, keys: np.ndarray, split: np.ndarray) -> None:
        if keys.size == 0:
            return
        self._pending.append((keys, split))
        self._pending_size += keys.size
        if self._pending_size >= _COMPACT_EVERY:
            self.compact()

    def add_counts(self, keys: np.ndarray, counts: np.ndarray) -> None:
        self._pending.append((keys, counts))
        self._pending_size += keys.size
        if self._pending_size >= _COMPACT_EVERY:
            self.compact()

    def compact(self) -> None:
        if not self._pending:
            return
        keys = [self.keys]
        weights = [self.counts]
        for k, s in self._pending:
            keys.append(k)
            if s.ndim == 1:  # split labels: one count per key occurrence
                onehot = np.zeros((len(k), self.n_splits), dtype=np.int64)
                onehot[np.arange(len(k)), s] = 1
                weights.append(onehot)
            else:
                weights.append(s)
        all_keys = np.concatenate(keys)
        all_w = np.concatenate(weights)
        uniq, inverse = np.unique(all_keys, return_inverse=True)
        counts = np.zeros((len(uniq), self.n_splits), dtype=np.int64)
        for j in range(self.n_splits):
            counts[:, j] = np.bincount(inverse, weights=all_w[:, j], minlength=len(uniq)).astype(np.int64)
        self.keys, self.counts = uniq, counts
        self._pending, self._pending_size = [], 0

    def select(self, mask_fn) -> "_CountTable":
        self.compact()
        out = _CountTable(self.n_splits)
        keep = mask_fn(self.keys)
        out.keys, out.counts = self.keys[keep], self.counts[keep]
        return out


@dataclass
class CalibrationStats:
    """Counts for eq. 2 gathered while streaming: mergeable, splittable into feature blocks.

    `fb`: examples per (feature, bucket); `efb`: positives per (label, feature, bucket); both per
    split (0 = train, 1 = held-out). `label_examples`: examples per label and split.
    """

    num_features: int
    num_labels: int
    bucket_width: float = BUCKET_WIDTH
    n_splits: int = 2
    fb: _CountTable = field(init=False)
    efb: _CountTable = field(init=False)
    label_examples: np.ndarray = field(init=False)
    examples: np.ndarray = field(init=False)

    def __post_init__(self) -> None:
        if self.num_labels * self.num_features * 2**_BUCKET_BITS >= 2**63:
            raise ValueError(f"{self.num_labels} labels x {self.num_features} features is too large for 64-bit pair keys")
        self.fb = _CountTable(self.n_splits)
        self.efb = _CountTable(self.n_splits)
        self.label_examples = np.zeros((self.num_labels, self.n_splits), dtype=np.int64)
        self.examples = np.zeros(self.n_splits, dtype=np.int64)

    # -- accumulation ---------------------------------------------------------------------------

    def bucket(self, x: np.ndarray) -> np.ndarray:
        b = np.floor(np.asarray(x, dtype=np.float64) / self.bucket_width).astype(np.int64)
        if b.size and (b.min() < 0 or b.max() >= 2**_BUCKET_BITS):
            raise ValueError(f"feature values must lie in (0, {2**_BUCKET_BITS * self.bucket_width:g}); got {float(np.max(x)):g}")
        return b

    def bucket_value(self, b: np.ndarray) -> np.ndarray:
        """The value a bucket stands for: its center."""
        return (np.asarray(b, dtype=np.float64) + 0.5) * self.bucket_width

    def add(self, examples: SparseExamples, split: np.ndarray) -> None:
        """Count one batch; `split[i]` is example i's split (0 train, 1 held-out)."""
        X = examples.X.tocsr()
        X.eliminate_zeros()
        split = np.asarray(split, dtype=np.int64)
        n = X.shape[0]
        row_of_nnz = np.repeat(np.arange(n), np.diff(X.indptr))
        f = X.indices.astype(np.int64)
        b = self.bucket(X.data)
        fb_keys = (f << _BUCKET_BITS) | b
        self.fb.add(fb_keys, split[row_of_nnz])
        n_labels = np.diff(examples.label_indptr)
        np.add.at(self.label_examples, (examples.label_ids, np.repeat(split, n_labels)), 1)
        self.examples += np.bincount(split, minlength=self.n_splits)
        # every (label of the example) x (nonzero of the example)
        reps = n_labels[row_of_nnz]
        total = int(reps.sum())
        if total == 0:
            return
        nnz_rep = np.repeat(np.arange(len(f)), reps)
        within = np.arange(total) - np.repeat(np.cumsum(reps) - reps, reps)
        labels = examples.label_ids[examples.label_indptr[row_of_nnz[nnz_rep]] + within].astype(np.int64)
        keys = ((labels * self.num_features + f[nnz_rep]) << _BUCKET_BITS) | b[nnz_rep]
        self.efb.add(keys, split[row_of_nnz[nnz_rep]])

    def merge(self, other: "CalibrationStats") -> "CalibrationStats":
        """Add another partial's counts into this one (in place; returns self)."""
        if (other.num_features, other.num_labels, other.bucket_width) != (self.num_features, self.num_labels, self.bucket_width):
            raise ValueError("cannot merge calibration statistics of different shapes or bucket widths")
        other.fb.compact()
        other.efb.compact()
        self.fb.add_counts(other.fb.keys, other.fb.counts)
        self.efb.add_counts(other.efb.keys, other.efb.counts)
        self.label_examples += other.label_examples
        self.examples += other.examples
        return self

    def compact(self) -> "CalibrationStats":
        self.fb.compact()
        self.efb.compact()
        return self

    def feature_block(self, block: int, n_blocks: int) -> "CalibrationStats":
        """The counts of features f with f % n_blocks == block (blocks are fitted independently)."""
        out = CalibrationStats(self.num_features, self.num_labels, self.bucket_width, self.n_splits)
        out.fb = self.fb.select(lambda k: ((k >> _BUCKET_BITS) % n_blocks) == block)
        out.efb = self.efb.select(lambda k: (((k >> _BUCKET_BITS) % self.num_features) % n_blocks) == block)
        out.label_examples = self.label_examples.copy()
        out.examples = self.examples.copy()
        return out

    def split_blocks(self, n_blocks: int) -> list["CalibrationStats"]:
        return [self.feature_block(b, n_blocks) for b in range(n_blocks)]

    # -- problems for the solver ----------------------------------------------------------------

    def _split_counts(self, table: _CountTable, splits: tuple[int, ...]) -> tuple[np.ndarray, np.ndarray]:
        table.compact()
        counts = table.counts[:, list(splits)].sum(axis=1)
        keep = counts > 0
        return table.keys[keep], counts[keep]

    def candidate_pairs(self, splits: tuple[int, ...], min_positives: int = 1) -> tuple[np.ndarray, np.ndarray]:
        """(labels, features) of pairs with at least `min_positives` positives in `splits`."""
        keys, counts = self._split_counts(self.efb, splits)
        pair_keys, inverse = np.unique(keys >> _BUCKET_BITS, return_inverse=True)
        positives = np.bincount(inverse, weights=counts, minlength=len(pair_keys))
        pair_keys = pair_keys[positives >= min_positives]
        return pair_keys // self.num_features, pair_keys % self.num_features

    def problem(self, labels: np.ndarray, features: np.ndarray, splits: tuple[int, ...]) -> "CalibrationProblem":
        """Eq. 2's data for the given pairs from the examples in `splits`: for pair (e, f) every
        bucket where f fired, weighted by its count, with the fraction of those examples labeled e."""
        labels = np.asarray(labels, dtype=np.int64)
        features = np.asarray(features, dtype=np.int64)
        fb_keys, fb_counts = self._split_counts(self.fb, splits)
        efb_keys, efb_counts = self._split_counts(self.efb, splits)
        fb_feature = fb_keys >> _BUCKET_BITS
        lo = np.searchsorted(fb_feature, features, side="left")
        hi = np.searchsorted(fb_feature, features, side="right")
        lengths = hi - lo
        starts, element = concat_ranges(lo, lengths)
        bucket = fb_keys[element] & (2**_BUCKET_BITS - 1)
        weight = fb_counts[element].astype(np.float64)
        pair_of = np.repeat(np.arange(len(labels)), lengths)
        wanted = ((labels[pair_of] * self.num_features + features[pair_of]) << _BUCKET_BITS) | bucket
        at = np.searchsorted(efb_keys, wanted)
        at_ok = np.minimum(at, max(len(efb_keys) - 1, 0))
        found = (at < len(efb_keys)) & (efb_keys[at_ok] == wanted) if len(efb_keys) else np.zeros(len(wanted), bool)
        positives = np.where(found, efb_counts[at_ok] if len(efb_keys) else 0, 0).astype(np.float64)
        x = self.bucket_value(bucket)
        x_max = np.zeros(len(labels))
        nonempty = lengths > 0
        x_max[nonempty] = np.maximum.reduceat(x, starts[:-1][nonempty]) if x.size else 0.0
        return CalibrationProblem(labels, features, starts, x, weight, positives / np.maximum(weight, 1.0), x_max)


# ----------------------------------------------------------------------------------------------
# the solver


@dataclass
class CalibrationProblem:
    """Bucketed data of many pairs; pair i owns elements starts[i]:starts[i+1]."""

    labels: np.ndarray  # int64 [P]
    features: np.ndarray  # int64 [P]
    starts: np.ndarray  # int64 [P+1]
    x: np.ndarray  # float64 [N] bucket values
    weight: np.ndarray  # float64 [N] example counts
    target: np.ndarray  # float64 [N] mean ground truth in the bucket
    x_max: np.ndarray  # float64 [P]

    def __len__(self) -> int:
        return len(self.labels)

    def subset(self, pairs: np.ndarray) -> "CalibrationProblem":
        pairs = np.asarray(pairs, dtype=np.int64)
        starts, element = concat_ranges(self.starts[pairs], self.starts[pairs + 1] - self.starts[pairs])
        return CalibrationProblem(
            self.labels[pairs], self.features[pairs], starts, self.x[element], self.weight[element], self.target[element], self.x_max[pairs]
        )


@dataclass
class CalibrationFit:
    """(α, β, γ) per pair, the objective of eq. 2 at the solution and Newton iterations used."""

    params: np.ndarray  # float64 [P, 3]
    objective: np.ndarray  # float64 [P]
    iterations: np.ndarray  # int64 [P]


class _Segments:
    """Per-element arrays of some pairs (pair i owns elements heads[i]:heads[i]+lengths[i]), with segment sums."""

    def __init__(self, pairs: np.ndarray, x, w, g, x_max, lengths: np.ndarray) -> None:
        self.pairs, self.x, self.w, self.g, self.x_max = pairs, x, w, g, x_max
        self.lengths = lengths
        self.heads = np.concatenate([[0], np.cumsum(lengths)[:-1]]).astype(np.int64) if len(lengths) else np.zeros(0, np.int64)
        self.owner = np.repeat(np.arange(len(lengths)), lengths)
        self.empty = lengths == 0

    @classmethod
    def of(cls, problem: CalibrationProblem) -> "_Segments":
        return cls(np.arange(len(problem)), problem.x, problem.weight, problem.target, problem.x_max, np.diff(problem.starts))

    def restrict(self, local: np.ndarray) -> "_Segments":
        """The same data for a subset of this object's pairs (local indices)."""
        if len(local) == len(self.pairs):
            return self
        lengths = self.lengths[local]
        heads = np.concatenate([[0], np.cumsum(lengths)[:-1]]).astype(np.int64)
        element = np.repeat(self.heads[local] - heads, lengths) + np.arange(int(lengths.sum()))
        return _Segments(self.pairs[local], self.x[element], self.w[element], self.g[element], self.x_max[local], lengths)

    def sum(self, values: np.ndarray) -> np.ndarray:
        """Per-pair sums of element values [N] or [N, c]."""
        if values.shape[0] == 0:
            return np.zeros((len(self.heads),) + values.shape[1:])
        out = np.add.reduceat(values, np.minimum(self.heads, values.shape[0] - 1), axis=0)
        out[self.empty] = 0.0
        return out

    def objective(self, theta: np.ndarray, lam: float) -> np.ndarray:
        a, b, c = theta[:, 0], theta[:, 1], theta[:, 2]
        p = a[self.owner] * (expit(b[self.owner] * self.x + c[self.owner]) - expit(c)[self.owner])
        r = p - self.g
        return self.sum(self.w * r * r) + lam * (theta * theta).sum(axis=1)

    def gradient_hessian(self, theta: np.ndarray, lam: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Objective, exact gradient [P,3] and Hessian [P,3,3] of eq. 2."""
        a, b, c = theta[:, 0], theta[:, 1], theta[:, 2]
        o, x, w = self.owner, self.x, self.w
        s1 = expit(b[o] * x + c[o])
        s0 = expit(c)
        d1 = s1 * (1 - s1)  # σ'
        dd1 = d1 * (1 - 2 * s1)  # σ''
        d0 = s0 * (1 - s0)
        dd0 = d0 * (1 - 2 * s0)
        av = a[o]
        diff = s1 - s0[o]  # ∂p/∂α
        dgam = d1 - d0[o]
        p = av * diff
        r = p - self.g
        wr = w * r
        # ∇p = [diff, α σ'(z) x, α (σ'(z) − σ'(γ))];  ∇²p entries below
        xd1 = x * d1
        wdiff = w * diff
        wxd1 = w * xd1
        wr_dd1 = wr * dd1
        cols = (
            wr * r,
            wr * diff,  # Σ w r ∂α p
            wr * xd1,  # /α: Σ w r ∂β p
            wr * dgam,  # /α: Σ w r ∂γ p
            wdiff * diff,  # Hαα
            wdiff * xd1,  # α·: Σ w ∂αp ∂βp
            wdiff * dgam,  # α·: Σ w ∂αp ∂γp
            wxd1 * xd1,  # α²·: Σ w ∂βp²
            wxd1 * dgam,  # α²·: Σ w ∂βp ∂γp
            w * dgam * dgam,  # α²·: Σ w ∂γp²
            wr_dd1 * x * x,  # α·: Σ w r ∂ββ p
            wr_dd1 * x,  # α·: Σ w r ∂βγ p
            wr * (dd1 - dd0[o]),  # α·: Σ w r ∂γγ p
        )
        S = np.stack([self.sum(col) for col in cols], axis=1)
        obj = S[:, 0] + lam * (theta * theta).sum(axis=1)
        grad = 2 * np.stack([S[:, 1], a * S[:, 2], a * S[:, 3]], axis=1) + 2 * lam * theta
        H = np.empty((len(a), 3, 3))
        H[:, 0, 0] = S[:, 4]
        H[:, 0, 1] = a * S[:, 5] + S[:, 2]  # ∂αβ p = σ'(z) x
        H[:, 0, 2] = a * S[:, 6] + S[:, 3]  # ∂αγ p = σ'(z) − σ'(γ)
        H[:, 1, 1] = a * a * S[:, 7] + a * S[:, 10]
        H[:, 1, 2] = a * a * S[:, 8] + a * S[:, 11]
        H[:, 2, 2] = a * a * S[:, 9] + a * S[:, 12]
        H[:, 1, 0], H[:, 2, 0], H[:, 2, 1] = H[:, 0, 1], H[:, 0, 2], H[:, 1, 2]
        H = 2 * H + 2 * lam * np.eye(3)
        return obj, grad, H


def _project(theta: np.ndarray, x_max: np.ndarray, on_top: np.ndarray | None = None) -> np.ndarray:
    """Onto the feasible set: α, β ≥ 0, then α scaled down until p(x_max) ≤ 1 (set to exactly 1
    for the pairs `on_top`, whose step follows the constraint p(x_max) = 1)."""
    out = theta.copy()
    out[:, :2] = np.maximum(out[:, :2], 0.0)
    top = expit(out[:, 1] * x_max + out[:, 2]) - expit(out[:, 2])
    over = out[:, 0] * top > 1.0
    if on_top is not None:
        over |= on_top & (top > 0)
    out[over, 0] = 1.0 / top[over]
    return out


def _initial(seg: _Segments, lam: float) -> np.ndarray:
    """Best of a few (β, γ) starts with the closed-form α of each (eq. 2 is quadratic in α)."""
    best_theta, best_obj = None, None
    scale = 1.0 / np.maximum(seg.x_max, 1e-12)
    for b0, c0 in ((1.0, -2.0), (4.0, -2.0), (12.0, -4.0), (4.0, 0.0), (30.0, -8.0)):
        b = np.full(len(scale), b0) * scale
        c = np.full(len(scale), c0)
        d = expit(b[seg.owner] * seg.x + c[seg.owner]) - expit(c)[seg.owner]
        a = seg.sum(seg.w * d * seg.g) / (seg.sum(seg.w * d * d) + lam + 1e-300)
        theta = _project(np.stack([a, b, c], axis=1), seg.x_max)
        obj = seg.objective(theta, lam)
        if best_theta is None:
            best_theta, best_obj = theta, obj
        else:
            better = obj < best_obj
            best_theta[better], best_obj[better] = theta[better], obj[better]
    return best_theta


def _top_constraint(theta: np.ndarray, x_max: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """c(θ) = p(x_max) − 1 ≤ 0 with its gradient [P,3] and Hessian [P,3,3] (p's derivatives at x_max)."""
    a, b, c = theta[:, 0], theta[:, 1], theta[:, 2]
    sm, s0 = expit(b * x_max + c), expit(c)
    dm, d0 = sm * (1 - sm), s0 * (1 - s0)
    ddm, dd0 = dm * (1 - 2 * sm), d0 * (1 - 2 * s0)
    value = a * (sm - s0) - 1.0
    grad = np.stack([sm - s0, a * dm * x_max, a * (dm - d0)], axis=1)
    hess = np.zeros((len(a), 3, 3))
    hess[:, 0, 1] = hess[:, 1, 0] = dm * x_max
    hess[:, 0, 2] = hess[:, 2, 0] = dm - d0
    hess[:, 1, 1] = a * ddm * x_max * x_max
    hess[:, 1, 2] = hess[:, 2, 1] = a * ddm * x_max
    hess[:, 2, 2] = a * (ddm - dd0)
    return value, grad, hess


def _positive_definite(M: np.ndarray) -> np.ndarray:
    """M with its eigenvalues replaced by their absolute values (floored): a descent metric."""
    evals, evecs = np.linalg.eigh(M)
    floor = 1e-12 * np.maximum(np.abs(evals).max(axis=1, keepdims=True), 1.0)
    return np.einsum("pij,pj,pkj->pik", evecs, np.maximum(np.abs(evals), floor), evecs)


def _newton_direction(theta: np.ndarray, grad: np.ndarray, H: np.ndarray, x_max: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Projected Newton direction under α, β ≥ 0 and p(x_max) ≤ 1.

    Bounds: a variable at 0 whose gradient pushes it below stays fixed. The curve's top: where
    p(x_max) = 1 holds and its multiplier μ = −∇f·∇c / ‖∇c‖² is positive, the step is the Newton
    step of the Lagrangian f + μc restricted to the constraint's tangent plane.
    """
    fixed = np.zeros_like(theta, dtype=bool)
    fixed[:, :2] = (theta[:, :2] <= 0) & (grad[:, :2] > 0)
    Hm = _positive_definite(H)
    g = np.where(fixed, 0.0, grad)
    for i in range(2):
        m = fixed[:, i]
        Hm[m, i, :] = 0.0
        Hm[m, :, i] = 0.0
        Hm[m, i, i] = 1.0
    direction = -np.linalg.solve(Hm, g[..., None])[..., 0]
    c_val, c_grad, c_hess = _top_constraint(theta, x_max)
    norm2 = (c_grad * c_grad).sum(axis=1)
    mu = -(grad * c_grad).sum(axis=1) / np.maximum(norm2, 1e-300)
    active = (c_val >= -1e-7) & (mu > 0) & (norm2 > 0)
    if active.any():
        n = c_grad[active] / np.sqrt(norm2[active])[:, None]
        P = np.eye(3) - n[:, :, None] * n[:, None, :]
        W = H[active] + mu[active, None, None] * c_hess[active]
        M = _positive_definite(P @ W @ P + n[:, :, None] * n[:, None, :])
        pg = (P @ grad[active][..., None])[..., 0]
        direction[active] = -np.linalg.solve(M, pg[..., None])[..., 0]
    return direction, active


def fit_calibration(problem: CalibrationProblem, lam: float, *, max_iter: int = 100, tol: float = 1e-10) -> CalibrationFit:
    """Solve eq. 2 for every pair of `problem` by projected Newton steps with the exact gradient and
    Hessian and a backtracking (Armijo) line search along the projection onto the feasible set."""
    P = len(problem)
    params = np.zeros((P, 3))
    objective = np.zeros(P)
    iterations = np.zeros(P, dtype=np.int64)
    if P == 0:
        return CalibrationFit(params, objective, iterations)
    seg = _Segments.of(problem)
    theta = _initial(seg, lam)
    params[:], objective[:] = theta, seg.objective(theta, lam)
    for it in range(max_iter):
        obj, grad, H = seg.gradient_hessian(theta, lam)
        direction, on_top = _newton_direction(theta, grad, H, seg.x_max)
        step = np.ones(len(theta))
        accepted = np.zeros(len(theta), dtype=bool)
        new_theta, new_obj = theta.copy(), obj.copy()
        pending = np.arange(len(theta))
        for _ in range(40):
            cand = _project(theta[pending] + step[pending, None] * direction[pending], seg.x_max[pending], on_top[pending])
            cand_obj = seg.restrict(pending).objective(cand, lam)
            ok = cand_obj <= obj[pending] + 1e-4 * (grad[pending] * (cand - theta[pending])).sum(axis=1)
            idx = pending[ok]
            new_theta[idx], new_obj[idx], accepted[idx] = cand[ok], cand_obj[ok], True
            pending = pending[~ok]
            if pending.size == 0:
                break
            step[pending] *= 0.5
        iterations[seg.pairs] = it + 1
        done = ~accepted | (obj - new_obj <= tol * (1.0 + np.abs(obj))) | (np.abs(new_theta - theta).max(axis=1) <= 1e-12)
        params[seg.pairs], objective[seg.pairs] = new_theta, new_obj
        if done.all():
            break
        keep = np.flatnonzero(~done)
        seg, theta = seg.restrict(keep), new_theta[keep]  # only the pairs still moving
    return CalibrationFit(params, objective, iterations)


def heldout_loss_change(problem: CalibrationProblem, params: np.ndarray) -> float:
    """Held-out squared loss of the fitted curves minus that of predicting 0 for every pair:
    Σ_b n_b p_b² − 2 c_b p_b (pairs not fitted predict 0 and add nothing)."""
    owner = np.repeat(np.arange(len(problem)), np.diff(problem.starts))
    a, b, c = params[owner, 0], params[owner, 1], params[owner, 2]
    p = a * (expit(b * problem.x + c) - expit(c))
    return float((problem.weight * p * p - 2.0 * problem.weight * problem.target * p).sum())


# ----------------------------------------------------------------------------------------------
# blocks: the units of parallel work


@dataclass
class BlockResult:
    """Fitted pairs of one feature block (α > 0 kept) and the solver's work."""

    labels: np.ndarray
    features: np.ndarray
    params: np.ndarray  # [P, 3]
    x_max: np.ndarray
    pairs_fitted: int
    iterations: int


def tune_block(stats: CalibrationStats, lambdas: tuple[float, ...], min_positives: int = 1) -> np.ndarray:
    """Held-out loss change per λ for one feature block: fit on split 0, score on split 1."""
    labels, features = stats.candidate_pairs((0,), min_positives)
    train = stats.problem(labels, features, (0,))
    heldout = stats.problem(labels, features, (1,))
    return np.array([heldout_loss_change(heldout, fit_calibration(train, lam).params) for lam in lambdas])


def fit_block(stats: CalibrationStats, lam: float, min_positives: int = 1) -> BlockResult:
    """Fit every candidate pair of one block on all splits with the chosen λ; keep α, β > 0."""
    splits = tuple(range(stats.n_splits))
    labels, features = stats.candidate_pairs(splits, min_positives)
    problem = stats.problem(labels, features, splits)
    fit = fit_calibration(problem, lam)
    keep = (fit.params[:, 0] > 0) & (fit.params[:, 1] > 0)
    return BlockResult(labels[keep], features[keep], fit.params[keep], problem.x_max[keep], len(problem), int(fit.iterations.sum()))


def select_top_features(blocks: list[BlockResult], top_k: int, num_features: int, num_labels: int, min_p_max: float = 0.0) -> PairTable:
    """Join the blocks' pairs and keep per label the top K features by p(x_max): F_e (and E_f)."""
    labels = np.concatenate([b.labels for b in blocks]) if blocks else np.zeros(0, np.int64)
    features = np.concatenate([b.features for b in blocks]) if blocks else np.zeros(0, np.int64)
    params = np.concatenate([b.params for b in blocks]) if blocks else np.zeros((0, 3))
    x_max = np.concatenate([b.x_max for b in blocks]) if blocks else np.zeros(0)
    table = PairTable(features, labels, params[:, 0], params[:, 1], params[:, 2], x_max, num_features, num_labels)
    p_max = table.p_max
    order = np.lexsort((table.feature, -p_max, table.label))  # per label: best first, ties by feature id
    sorted_labels = table.label[order]
    rank = np.arange(len(order)) - np.searchsorted(sorted_labels, sorted_labels, side="left")
    keep = order[(rank < top_k) & (p_max[order] > min_p_max)]
    return table.subset(np.sort(keep))


@dataclass
class CalibrationReport:
    """What the calibration stage chose and how much work it did."""

    lam: float
    lambdas: tuple[float, ...]
    heldout_loss_change: list[float]
    pairs_fitted: int
    pairs_kept: int
    newton_iterations: int


def choose_lambda(lambdas: tuple[float, ...], losses: np.ndarray) -> float:
    """The λ with the smallest summed held-out loss (ties: the larger, more regularized λ)."""
    losses = np.asarray(losses)
    best = np.flatnonzero(losses <= losses.min() + 1e-12 * max(1.0, abs(losses.min())))
    return float(max(lambdas[i] for i in best))


def calibrate(stats: CalibrationStats, *, lambdas=(0.1, 1.0, 10.0, 100.0), top_k: int = 50, n_blocks: int = 1,
              min_positives: int = 1, min_p_max: float = 0.0) -> tuple[PairTable, CalibrationReport]:
    """The whole calibration stage in one process (the Dask version runs the same block functions)."""
    blocks = stats.split_blocks(n_blocks) if n_blocks > 1 else [stats]
    losses = np.sum([tune_block(b, tuple(lambdas), min_positives) for b in blocks], axis=0) if len(lambdas) > 1 else np.zeros(1)
    lam = choose_lambda(tuple(lambdas), losses)
    fitted = [fit_block(b, lam, min_positives) for b in blocks]
    table = select_top_features(fitted, top_k, stats.num_features, stats.num_labels, min_p_max)
    report = CalibrationReport(lam, tuple(lambdas), [float(v) for v in losses], sum(b.pairs_fitted for b in fitted), len(table),
                               sum(b.iterations for b in fitted))
    return table, report
