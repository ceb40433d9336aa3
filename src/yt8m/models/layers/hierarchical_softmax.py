"""Hierarchical softmax over a label tree (seed 000 §4: splitting factor 10, a random tree).

p(c | h) = Π over the internal nodes n on c's path of softmax(W_n h + b_n)[child taken], so one
(position, label) term costs depth × branching dot products instead of C. Trees:

- `random_tree`: the classes in a random order, grouped `branching` at a time, level by level
  (balanced: depth ⌈log_b C⌉; the paper's choice);
- `frequency_tree`: a b-ary Huffman tree on label counts, so frequent labels sit near the root.

Training scores the frames against the few tree nodes their labels touch (a video's frames share
its labels) in one matmul; when the labels are too diverse for that, it gathers the node weights
pair by pair inside a custom autograd function that keeps only node ids and the inputs for the
backward pass (the gathered [pairs, depth, b, H] weights would otherwise be saved). Inference finds the top-k labels by
a beam search down the tree (`top_k`), or scores every leaf exactly (`log_prob_all`).
"""

from __future__ import annotations

import heapq
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn as nn

ROW_CHUNK = 256  # rows per gathered block: bounds the temporary [rows, depth, b, H] weights
ACTIVE_FACTOR = 4  # nll: score all rows against the active nodes while rows × nodes ≤ 4 × pairs × depth


@dataclass
class LabelTree:
    """Internal node n has children `children[n]`: a class id c < C, C + m for internal node m, -1 for none."""

    num_classes: int
    children: np.ndarray  # int64 [nodes, branching]
    root: int

    @property
    def branching(self) -> int:
        return self.children.shape[1]

    def paths(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Per class the (node, slot) pairs from the leaf up to the root, padded: node [C, D], slot [C, D], mask [C, D]."""
        C, nodes = self.num_classes, len(self.children)
        parent = np.full(C + nodes, -1, dtype=np.int64)
        slot = np.zeros(C + nodes, dtype=np.int64)
        rows, cols = np.nonzero(self.children >= 0)
        parent[self.children[rows, cols]] = rows
        slot[self.children[rows, cols]] = cols
        if (parent[:C] < 0).any() and nodes:
            raise ValueError(f"label tree leaves class {int(np.flatnonzero(parent[:C] < 0)[0])} out")
        node_cols, slot_cols, mask_cols, current = [], [], [], np.arange(C)
        while True:
            up = parent[current]
            if (up < 0).all():
                break
            if len(node_cols) > C:
                raise ValueError("label tree has a cycle")
            node_cols.append(np.where(up >= 0, up, 0))
            slot_cols.append(np.where(up >= 0, slot[current], 0))
            mask_cols.append(up >= 0)
            current = np.where(up >= 0, C + up, current)
        stack = lambda cols, dtype: np.stack(cols, 1).astype(dtype) if cols else np.zeros((C, 0), dtype)  # noqa: E731
        return stack(node_cols, np.int64), stack(slot_cols, np.int64), stack(mask_cols, bool)


def random_tree(num_classes: int, branching: int = 10, seed: int = 0) -> LabelTree:
    """Classes in random order, grouped `branching` at a time per level until one root remains."""
    if num_classes < 2 or branching < 2:
        raise ValueError(f"a label tree needs >= 2 classes and branching >= 2, got {num_classes} and {branching}")
    level = np.random.default_rng([seed, 0x7EE]).permutation(num_classes)
    blocks, count = [], 0
    while True:
        groups = -(-len(level) // branching)
        padded = np.full(groups * branching, -1, dtype=np.int64)
        padded[: len(level)] = level
        blocks.append(padded.reshape(groups, branching))
        level = num_classes + count + np.arange(groups)
        count += groups
        if groups == 1:
            break
    return LabelTree(num_classes, np.concatenate(blocks), count - 1)


def frequency_tree(counts: np.ndarray, branching: int = 10) -> LabelTree:
    """A b-ary Huffman tree on label counts: frequent labels get short paths."""
    counts = np.asarray(counts, dtype=np.float64)
    C = len(counts)
    if C < 2 or branching < 2:
        raise ValueError(f"a label tree needs >= 2 classes and branching >= 2, got {C} and {branching}")
    heap = [(float(w), i, i) for i, w in enumerate(counts)]
    pad = (-(C - 1)) % (branching - 1)  # empty slots so that every merge takes `branching` items
    heap += [(-1.0, C + 10**9 + j, -1) for j in range(pad)]  # empties first, into the deepest node
    heapq.heapify(heap)
    children, order = [], C + 10**9 + pad
    while len(heap) > 1:
        items = [heapq.heappop(heap) for _ in range(min(branching, len(heap)))]
        row = [code for _, _, code in items] + [-1] * (branching - len(items))
        children.append(row)
        heapq.heappush(heap, (sum(max(w, 0.0) for w, _, _ in items), order, C + len(children) - 1))
        order += 1
    return LabelTree(C, np.asarray(children, dtype=np.int64), len(children) - 1)


def _path_sum(logp: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Sum of a path's log-probabilities over its real steps. A short path is padded with (node 0, slot
    0), which is an empty slot (log p = -inf) in a Huffman tree with padding: select, never multiply
    (0 · -inf is NaN)."""
    return torch.where(mask, logp, torch.zeros((), dtype=logp.dtype, device=logp.device)).sum(-1)


class _GatheredScores(torch.autograd.Function):
    """logits[m, d, :] = weight[nodes[m, d]] @ x[m], saving only x and the node ids for backward."""

    @staticmethod
    def forward(ctx, x: torch.Tensor, weight: torch.Tensor, nodes: torch.Tensor) -> torch.Tensor:
        ctx.save_for_backward(x, weight, nodes)
        out = x.new_empty(nodes.shape[0], nodes.shape[1], weight.shape[1])
        for lo in range(0, x.shape[0], ROW_CHUNK):
            hi = lo + ROW_CHUNK
            out[lo:hi] = torch.einsum("mdbh,mh->mdb", weight[nodes[lo:hi]], x[lo:hi])
        return out

    @staticmethod
    def backward(ctx, grad: torch.Tensor):
        x, weight, nodes = ctx.saved_tensors
        grad_x = torch.empty_like(x) if ctx.needs_input_grad[0] else None
        grad_w = torch.zeros_like(weight) if ctx.needs_input_grad[1] else None
        for lo in range(0, x.shape[0], ROW_CHUNK):
            hi = lo + ROW_CHUNK
            g = grad[lo:hi]
            if grad_x is not None:
                grad_x[lo:hi] = torch.einsum("mdbh,mdb->mh", weight[nodes[lo:hi]], g)
            if grad_w is not None:
                grad_w.index_add_(0, nodes[lo:hi].reshape(-1), torch.einsum("mdb,mh->mdbh", g, x[lo:hi]).reshape(-1, *weight.shape[1:]))
        return grad_x, grad_w, None


class HierarchicalSoftmax(nn.Module):
    """log p(class | h) over a LabelTree; `nll` for training, `top_k` (beam) and `log_prob_all` for inference."""

    def __init__(self, in_features: int, tree: LabelTree) -> None:
        super().__init__()
        self.num_classes, self.branching, self.root = tree.num_classes, tree.branching, tree.root
        nodes = len(tree.children)
        self.weight = nn.Parameter(torch.randn(nodes, tree.branching, in_features) * 0.01)
        self.bias = nn.Parameter(torch.zeros(nodes, tree.branching))
        node, slot, mask = tree.paths()
        self.register_buffer("children_codes", torch.from_numpy(tree.children), persistent=False)
        self.register_buffer("path_node", torch.from_numpy(node), persistent=False)
        self.register_buffer("path_slot", torch.from_numpy(slot), persistent=False)
        self.register_buffer("path_mask", torch.from_numpy(mask), persistent=False)
        self.depth = node.shape[1]

    def _node_log_softmax(self, logits: torch.Tensor, nodes: torch.Tensor) -> torch.Tensor:
        logits = logits + self.bias[nodes]
        return torch.log_softmax(logits.masked_fill(self.children_codes[nodes] < 0, float("-inf")), dim=-1)

    def log_prob(self, x: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        """log p(targets[m] | x[m]) for rows x [M, H] and class ids [M]."""
        nodes, slots, mask = self.path_node[targets], self.path_slot[targets], self.path_mask[targets]
        logp = self._node_log_softmax(_GatheredScores.apply(x, self.weight, nodes), nodes)
        return _path_sum(logp.gather(-1, slots[..., None]).squeeze(-1), mask)

    def nll(self, x: torch.Tensor, rows: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        """−log p(targets[m] | x[rows[m]]) per (row, label) pair [M].

        The frames of a video share its labels, so a batch touches few distinct tree nodes: when
        rows × active nodes is small, one matmul of every row with the active nodes' weights beats
        gathering the weights pair by pair (ACTIVE_FACTOR sets the switch).
        """
        nodes, slots, mask = self.path_node[targets], self.path_slot[targets], self.path_mask[targets]
        active, inverse = torch.unique(nodes, return_inverse=True)
        if x.shape[0] * len(active) <= ACTIVE_FACTOR * nodes.numel():
            scores = (x @ self.weight[active].reshape(-1, x.shape[1]).T).view(x.shape[0], len(active), self.branching)
            logits = scores[rows[:, None], inverse]
        else:
            logits = _GatheredScores.apply(x[rows], self.weight, nodes)
        logp = self._node_log_softmax(logits, nodes)
        return -_path_sum(logp.gather(-1, slots[..., None]).squeeze(-1), mask)

    @torch.no_grad()
    def log_prob_all(self, x: torch.Tensor, chunk: int = 16) -> torch.Tensor:
        """Exact log p(c | x) for every class [N, C]: every internal node scored, paths summed."""
        out = []
        flat_w = self.weight.reshape(-1, self.weight.shape[-1])
        all_nodes = torch.arange(len(self.weight), device=x.device)
        for lo in range(0, x.shape[0], chunk):
            logits = (x[lo : lo + chunk] @ flat_w.T).view(-1, len(self.weight), self.branching)
            lsm = self._node_log_softmax(logits, all_nodes.expand(logits.shape[0], -1))
            picked = lsm[:, self.path_node, self.path_slot]  # [n, C, D]
            out.append(_path_sum(picked, self.path_mask))
        return torch.cat(out) if out else x.new_zeros(0, self.num_classes)

    @torch.no_grad()
    def top_k(self, x: torch.Tensor, k: int, beam: int | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """Beam search down the tree: (classes [N, k], log p [N, k]) best first.

        Each level keeps the `beam` (≥ k) most probable internal nodes; leaves met on the way join
        the candidates. A leaf's probability never exceeds its ancestors', so the result is exact
        whenever the k-th leaf beats every pruned node (always when beam ≥ the number of nodes).
        """
        k = min(k, self.num_classes)
        beam = max(beam or k, k)
        codes_out, scores_out = [], []
        for lo in range(0, x.shape[0], ROW_CHUNK // 4):
            h = x[lo : lo + ROW_CHUNK // 4]
            n = h.shape[0]
            nodes = torch.full((n, 1), self.root, dtype=torch.long, device=x.device)
            scores = torch.zeros(n, 1, device=x.device)
            found_codes, found_scores = [], []
            while nodes.shape[1]:
                valid = nodes >= 0
                safe = nodes.clamp(min=0)
                logits = torch.einsum("nwbh,nh->nwb", self.weight[safe], h)
                logp = (scores[..., None] + self._node_log_softmax(logits, safe)).masked_fill(~valid[..., None], float("-inf"))
                codes = self.children_codes[safe]
                leaf = (codes >= 0) & (codes < self.num_classes)
                found_codes.append(codes.masked_fill(~leaf, 0).flatten(1))
                found_scores.append(logp.masked_fill(~leaf, float("-inf")).flatten(1))
                inner = logp.masked_fill(codes < self.num_classes, float("-inf")).flatten(1)
                if not torch.isfinite(inner).any():
                    break
                best = inner.topk(min(beam, inner.shape[1]), dim=1)
                nodes = (codes.flatten(1).gather(1, best.indices) - self.num_classes).masked_fill(~torch.isfinite(best.values), -1)
                scores = best.values.masked_fill(~torch.isfinite(best.values), 0.0)
            all_codes, all_scores = torch.cat(found_codes, 1), torch.cat(found_scores, 1)
            best = all_scores.topk(k, dim=1)
            codes_out.append(all_codes.gather(1, best.indices))
            scores_out.append(best.values)
        return torch.cat(codes_out), torch.cat(scores_out)
