"""The pieces of training state that exact resume needs: RNG states, data order, EMA, LR schedule.

Everything here serialises to tensors and plain Python values so that
``torch.load(weights_only=True)`` accepts it.
"""
from __future__ import annotations

import random
from typing import Iterator

import numpy as np
import torch

# --- RNG states ---------------------------------------------------------------------------

def capture_rng() -> dict:
    """Python, NumPy, torch (and CUDA when present) RNG states as tensors and plain values."""
    version, internal, gauss = random.getstate()
    np_state = np.random.get_state()
    state = {
        "python": {"version": version, "state": torch.tensor(internal, dtype=torch.int64), "gauss": gauss},
        "numpy": {"name": np_state[0], "keys": torch.from_numpy(np_state[1].astype(np.int64)),
                  "pos": int(np_state[2]), "has_gauss": int(np_state[3]), "cached": float(np_state[4])},
        "torch": torch.get_rng_state(),
    }
    if torch.cuda.is_available():
        state["cuda"] = [s.cpu() for s in torch.cuda.get_rng_state_all()]
    return state


def restore_rng(state: dict) -> None:
    """Restore the states written by ``capture_rng``."""
    py = state["python"]
    random.setstate((py["version"], tuple(int(x) for x in py["state"].tolist()), py["gauss"]))
    npst = state["numpy"]
    np.random.set_state((npst["name"], npst["keys"].numpy().astype(np.uint32), npst["pos"],
                         npst["has_gauss"], npst["cached"]))
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def seed_everything(seed: int) -> None:
    """Seed Python, NumPy and torch (all devices) from one integer."""
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


# --- data order ---------------------------------------------------------------------------

class ResumableBatchSampler(torch.utils.data.Sampler[list[int]]):
    """An endless, seeded stream of batches whose position is a sample count.

    The stream is the concatenation of per-epoch permutations of the data set (epoch e uses
    seed ``seed`` and ``e``); every step consumes ``world * batch_size`` consecutive stream
    entries and rank r takes its own slice, so any position can be restarted exactly, even with a
    different number of processes.
    """

    def __init__(self, num_items: int, batch_size: int, seed: int, start: int = 0, rank: int = 0, world: int = 1):
        if num_items < 1:
            raise ValueError("the data set is empty")
        self.num_items, self.batch_size, self.seed = num_items, batch_size, seed
        self.start, self.rank, self.world = start, rank, world

    def _permutation(self, epoch: int) -> torch.Tensor:
        g = torch.Generator().manual_seed((self.seed * 1_000_003 + epoch) % 2**63)
        return torch.randperm(self.num_items, generator=g)

    def stream(self, start: int) -> Iterator[int]:
        """Data-set indices from stream position ``start`` on."""
        epoch, offset = divmod(start, self.num_items)
        while True:
            perm = self._permutation(epoch).tolist()
            yield from perm[offset:]
            epoch, offset = epoch + 1, 0

    def __iter__(self) -> Iterator[list[int]]:
        it = self.stream(self.start)
        while True:
            chunk = [next(it) for _ in range(self.world * self.batch_size)]
            yield chunk[self.rank * self.batch_size:(self.rank + 1) * self.batch_size]

    def __len__(self) -> int:  # endless; DataLoader only needs a number for its bookkeeping
        return 2**62


# --- EMA ----------------------------------------------------------------------------------

class EMA:
    """Exponential moving average of a model's state (floating tensors averaged, others copied)."""

    def __init__(self, model: torch.nn.Module, decay: float, update_every: int):
        self.decay, self.update_every, self.num_updates = decay, update_every, 0
        self.shadow = {k: v.detach().clone() for k, v in model.state_dict().items()}

    @torch.no_grad()
    def maybe_update(self, model: torch.nn.Module, step: int) -> bool:
        """Update after optimizer step number ``step`` (1-based count) when it is a multiple of update_every."""
        if step % self.update_every:
            return False
        current = model.state_dict()
        floats = [(self.shadow[k], v) for k, v in current.items() if v.is_floating_point()]
        if floats:
            shadow, live = zip(*floats)
            torch._foreach_lerp_(list(shadow), list(live), 1.0 - self.decay)
        for k, v in current.items():
            if not v.is_floating_point():
                self.shadow[k].copy_(v)
        self.num_updates += 1
        return True

    def state_dict(self) -> dict:
        """Shadow weights and counters."""
        return {"decay": self.decay, "update_every": self.update_every, "num_updates": self.num_updates,
                "shadow": {k: v.detach().clone() for k, v in self.shadow.items()}}

    def load_state_dict(self, state: dict) -> None:
        """Restore from ``state_dict()``."""
        self.num_updates = int(state["num_updates"])
        for k, v in state["shadow"].items():
            self.shadow[k].copy_(v)


# --- LR schedule --------------------------------------------------------------------------

class LRMultiplier:
    """LambdaLR multiplier: max((1 - it/T)^0.95, min_lr/lr), i.e. RadioDiff's decay with a true LR floor."""

    def __init__(self, lr: float, min_lr: float, total_steps: int):
        self.lr, self.min_lr, self.total_steps = float(lr), float(min_lr), int(total_steps)

    def __call__(self, it: int) -> float:
        frac = max(0.0, 1.0 - it / self.total_steps)
        return max(frac ** 0.95, self.min_lr / self.lr)


def lr_at(step: int, lr: float, min_lr: float, total_steps: int) -> float:
    """The learning rate used at optimizer step ``step`` (0-based)."""
    return lr * LRMultiplier(lr, min_lr, total_steps)(step)
