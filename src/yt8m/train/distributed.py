"""torchrun support: process group from the environment, one device per rank."""

from __future__ import annotations

import atexit
import contextlib
import os

import torch


def init_distributed() -> tuple[int, int, int]:
    """(rank, world_size, local_rank); starts the process group when launched by torchrun."""
    world_size = int(os.environ.get("WORLD_SIZE", "1"))
    if world_size <= 1:
        return 0, 1, 0
    if not torch.distributed.is_initialized():
        backend = "nccl" if torch.cuda.is_available() else "gloo"
        if backend == "nccl":
            torch.cuda.set_device(int(os.environ.get("LOCAL_RANK", "0")))  # object collectives use the current device
        if "TORCHELASTIC_RESTART_COUNT" in os.environ:
            rank = int(os.environ["RANK"])
            torch.distributed.init_process_group(backend=backend, store=_attempt_store(world_size), rank=rank, world_size=world_size)
        else:
            torch.distributed.init_process_group(backend=backend)
        atexit.register(_shut_down)
    return torch.distributed.get_rank(), world_size, int(os.environ.get("LOCAL_RANK", "0"))


def _shut_down() -> None:
    """Destroy the process group before the interpreter exits: a gloo group left to the interpreter's
    teardown can abort the process ("terminate called without an active exception", exit -6)."""
    if torch.distributed.is_initialized():
        torch.distributed.destroy_process_group()


def _attempt_store(world_size: int):
    """torchrun's store under a prefix of its own restart attempt. With the default env:// set-up a
    worker group restarted by `--max-restarts` sometimes reads a peer address that a killed
    worker of the previous attempt published, and gloo fails to connect (seen here 1 run in 3)."""
    import datetime

    store = torch.distributed.TCPStore(os.environ["MASTER_ADDR"], int(os.environ["MASTER_PORT"]), world_size, is_master=False,
                                       timeout=datetime.timedelta(minutes=10))
    attempt = f"yt8m/{os.environ.get('TORCHELASTIC_RUN_ID', '')}/attempt_{os.environ['TORCHELASTIC_RESTART_COUNT']}"
    return torch.distributed.PrefixStore(attempt, store)


def pick_device(name: str = "auto", local_rank: int = 0) -> torch.device:
    if name == "auto":
        return torch.device(f"cuda:{local_rank}") if torch.cuda.is_available() else torch.device("cpu")
    return torch.device(name)


def amp_dtype(device: torch.device, enabled: bool, choice: str = "auto") -> torch.dtype | None:
    """The autocast dtype: None when off; `auto` is bf16 on CPU and on CUDA where supported, else fp16."""
    if not enabled:
        return None
    if choice not in ("auto", "bf16", "fp16"):
        raise ValueError(f"train.amp_dtype must be auto, bf16 or fp16, got {choice!r}")
    if choice == "fp16" or (choice == "auto" and device.type == "cuda" and not torch.cuda.is_bf16_supported()):
        return torch.float16
    return torch.bfloat16


def autocast(device: torch.device, enabled: bool, choice: str = "auto"):
    """Mixed precision where the device supports it (see `amp_dtype`)."""
    dtype = amp_dtype(device, enabled, choice)
    if dtype is None:
        return contextlib.nullcontext()
    return torch.autocast(device.type, dtype=dtype)


def grad_scaler(device: torch.device, dtype: torch.dtype | None) -> torch.amp.GradScaler:
    """fp16 gradients underflow without loss scaling; bf16 (and fp32) need none: a disabled scaler."""
    return torch.amp.GradScaler(device.type, enabled=dtype == torch.float16)


def barrier() -> None:
    if torch.distributed.is_available() and torch.distributed.is_initialized():
        torch.distributed.barrier()


def all_reduce_sum(value: float, device: torch.device) -> float:
    if not (torch.distributed.is_available() and torch.distributed.is_initialized()):
        return value
    tensor = torch.tensor([value], dtype=torch.float64, device=device)
    torch.distributed.all_reduce(tensor)
    return float(tensor.item())


def gather_objects(value) -> list:
    """`value` of every rank, in rank order (every rank must call it); [value] when not distributed."""
    if not (torch.distributed.is_available() and torch.distributed.is_initialized()):
        return [value]
    parts: list = [None] * torch.distributed.get_world_size()
    torch.distributed.all_gather_object(parts, value)
    return parts


def restarted_by_torchrun() -> bool:
    """True in a worker group that `torchrun --max-restarts` started again after a failure."""
    return int(os.environ.get("TORCHELASTIC_RESTART_COUNT", "0")) > 0


def all_reduce_min(value: float, device: torch.device) -> float:
    if not (torch.distributed.is_available() and torch.distributed.is_initialized()):
        return value
    tensor = torch.tensor([value], dtype=torch.float64, device=device)
    torch.distributed.all_reduce(tensor, op=torch.distributed.ReduceOp.MIN)
    return float(tensor.item())
