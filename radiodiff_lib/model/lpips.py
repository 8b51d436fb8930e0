"""LPIPS (VGG16 features + linear heads) from a local weights file; nothing is ever downloaded.

The network is frozen: every weight is a *non-persistent buffer*, so it has no parameters, moves
with ``.to()``, passes gradients to its inputs, and never appears in a ``state_dict()`` (the
workbench's checkpoints stay free of the 14.7M frozen VGG weights). Buffer names are those of
latent diffusion's LPIPS, i.e. exactly the ``loss.perceptual_loss.*`` entries of a RadioDiff
checkpoint: ``scaling_layer.shift``, ``net.slice1.0.weight`` ... ``net.slice5.28.bias``,
``lin0.model.1.weight`` ... ``lin4.model.1.weight``. ``weights_dict()`` returns them.
"""
from __future__ import annotations

import math
from collections.abc import Mapping
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from ..errors import CheckpointError, ConfigError
from ..safe_load import torch_load_safely

# torchvision's vgg16().features layout: conv indices (in, out) per LPIPS slice; ReLU after each
# conv, a 2x2 max-pool at the start of slices 2-5.
_VGG_SLICES: list[list[tuple[int, int, int]]] = [
    [(0, 3, 64), (2, 64, 64)],
    [(5, 64, 128), (7, 128, 128)],
    [(10, 128, 256), (12, 256, 256), (14, 256, 256)],
    [(17, 256, 512), (19, 512, 512), (21, 512, 512)],
    [(24, 512, 512), (26, 512, 512), (28, 512, 512)],
]
CHANNELS = (64, 128, 256, 512, 512)

WEIGHTS_HELP = (
    "The file must be a torch.save'd dict of tensors named as latent diffusion's LPIPS: "
    "'net.slice1.0.weight' ... 'net.slice5.28.bias' (VGG16 features) and 'lin0.model.1.weight' ... "
    "'lin4.model.1.weight' (LPIPS heads); the same names prefixed 'loss.perceptual_loss.' (a "
    "RadioDiff model-N.pt can be given directly), or torchvision's 'features.N.weight/bias' "
    "instead of 'net.sliceK.N.*'."
)


def weight_shapes() -> dict[str, tuple[int, ...]]:
    """Names and shapes of every LPIPS weight (what ``LPIPS().weights_dict()`` holds), without building it."""
    shapes: dict[str, tuple[int, ...]] = {"scaling_layer.shift": (1, 3, 1, 1), "scaling_layer.scale": (1, 3, 1, 1)}
    for k, convs in enumerate(_VGG_SLICES):
        for i, cin, cout in convs:
            shapes[f"net.slice{k + 1}.{i}.weight"] = (cout, cin, 3, 3)
            shapes[f"net.slice{k + 1}.{i}.bias"] = (cout,)
    for k, c in enumerate(CHANNELS):
        shapes[f"lin{k}.model.1.weight"] = (1, c, 1, 1)
    return shapes


class _FrozenConv(nn.Module):
    """A conv whose weight and bias are non-persistent buffers (frozen, never checkpointed)."""

    def __init__(self, cin: int, cout: int, k: int, bias: bool):
        super().__init__()
        self.padding = k // 2
        std = math.sqrt(2.0 / (cin * k * k))  # He init keeps random-init features O(1)
        self.register_buffer("weight", torch.randn(cout, cin, k, k) * std, persistent=False)
        self.register_buffer("bias", torch.zeros(cout) if bias else None, persistent=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.conv2d(x, self.weight, self.bias, padding=self.padding)


class _Slice(nn.Module):
    def __init__(self, convs: list[tuple[int, int, int]], pool: bool):
        super().__init__()
        self.pool = pool
        self.convs = [str(i) for i, _, _ in convs]
        for i, cin, cout in convs:
            self.add_module(str(i), _FrozenConv(cin, cout, 3, bias=True))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.pool:
            x = F.max_pool2d(x, 2, 2)
        for name in self.convs:
            x = F.relu(getattr(self, name)(x))
        return x


class _VGG16Features(nn.Module):
    def __init__(self):
        super().__init__()
        for k, convs in enumerate(_VGG_SLICES):
            self.add_module(f"slice{k + 1}", _Slice(convs, pool=k > 0))

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        outs = []
        for k in range(5):
            x = getattr(self, f"slice{k + 1}")(x)
            outs.append(x)  # relu1_2, relu2_2, relu3_3, relu4_3, relu5_3
        return outs


class _Lin(nn.Module):
    def __init__(self, channels: int):
        super().__init__()
        head = _FrozenConv(channels, 1, 1, bias=False)
        head.weight.abs_().mul_(1.0 / channels)  # LPIPS heads are non-negative
        # index 0 was LPIPS's Dropout; this frozen network always runs in eval mode.
        self.model = nn.Sequential(nn.Identity(), head)


class LPIPS(nn.Module):
    """LPIPS distance [B, 1, 1, 1] between images in [-1, 1]; 1-channel maps are repeated to RGB.

    Built with random weights (for tests); ``load_weights`` fills in real ones. Always in eval
    mode (no dropout) and frozen.
    """

    def __init__(self):
        super().__init__()
        self.scaling_layer = nn.Module()
        self.scaling_layer.register_buffer(
            "shift", torch.tensor([-0.030, -0.088, -0.188]).view(1, 3, 1, 1), persistent=False
        )
        self.scaling_layer.register_buffer(
            "scale", torch.tensor([0.458, 0.448, 0.450]).view(1, 3, 1, 1), persistent=False
        )
        self.net = _VGG16Features()
        for k, c in enumerate(CHANNELS):
            self.add_module(f"lin{k}", _Lin(c))
        self.train(False)

    def train(self, mode: bool = True) -> "LPIPS":
        """Stay in eval mode whatever the caller asks: the network is frozen."""
        return super().train(False)

    def weights_dict(self) -> dict[str, torch.Tensor]:
        """All frozen weights under RadioDiff's ``loss.perceptual_loss.`` names (without that prefix)."""
        return {name: buf for name, buf in self.named_buffers()}

    def load_weights(self, state: Mapping[str, torch.Tensor], source: str = "<dict>") -> None:
        """Copy weights from ``state`` (see WEIGHTS_HELP for the accepted names); ConfigError if incomplete."""
        state = _normalise_names(state)
        own = self.weights_dict()
        missing = [k for k in own if k not in state and not k.startswith("scaling_layer.")]
        if missing:
            raise ConfigError(
                f"LPIPS weights file {source}: {len(missing)} weights missing (e.g. {missing[:3]}). "
                + WEIGHTS_HELP
            )
        with torch.no_grad():
            for name, buf in own.items():
                if name in state:
                    src = state[name]
                    if tuple(src.shape) != tuple(buf.shape):
                        raise ConfigError(
                            f"LPIPS weights file {source}: '{name}' has shape {tuple(src.shape)}, "
                            f"expected {tuple(buf.shape)}. " + WEIGHTS_HELP
                        )
                    buf.copy_(src)

    def forward(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        if x.shape[1] == 1:  # radio maps are grey: compare them as grey RGB images
            x, y = x.expand(-1, 3, -1, -1), y.expand(-1, 3, -1, -1)
        sl = self.scaling_layer
        fx = self.net((x - sl.shift) / sl.scale)
        fy = self.net((y - sl.shift) / sl.scale)
        total = 0.0
        for k, (a, b) in enumerate(zip(fx, fy)):
            diff = (_unit(a) - _unit(b)) ** 2  # [B, C_k, h_k, w_k]
            lin = getattr(self, f"lin{k}").model
            total = total + lin(diff).mean(dim=[2, 3], keepdim=True)  # [B, 1, 1, 1]
        return total


def _unit(x: torch.Tensor, eps: float = 1e-10) -> torch.Tensor:
    """Normalise feature vectors to unit length along channels (as LPIPS does)."""
    return x / (torch.sqrt(torch.sum(x**2, dim=1, keepdim=True)) + eps)


def _normalise_names(state: Mapping) -> dict[str, torch.Tensor]:
    """Map the accepted name variants to this module's names."""
    if isinstance(state, Mapping) and "model" in state and isinstance(state["model"], Mapping):
        state = state["model"]  # a whole RadioDiff checkpoint
    prefix = "loss.perceptual_loss."
    out: dict[str, torch.Tensor] = {}
    conv_slice = {i: k + 1 for k, convs in enumerate(_VGG_SLICES) for i, _, _ in convs}
    for key, value in state.items():
        if not isinstance(key, str) or not isinstance(value, torch.Tensor):
            continue
        if key.startswith(prefix):
            key = key[len(prefix):]
        elif key.startswith("loss"):
            continue  # loss_pinn*.perceptual_loss.* copies: the first one is enough
        if key.startswith("features."):  # torchvision vgg16 naming
            _, idx, leaf = key.split(".")
            if int(idx) not in conv_slice:
                continue
            key = f"net.slice{conv_slice[int(idx)]}.{idx}.{leaf}"
        out[key] = value
    return out


def load_lpips(path: str | Path | None) -> LPIPS:
    """An LPIPS network with the weights of the local file ``path``; ConfigError saying what to do."""
    how = (
        "Put the weights file somewhere local and set model.lossconfig.lpips_weights: <path> in the "
        "config. " + WEIGHTS_HELP + " Or set model.lossconfig.perceptual_weight: 0 to train without "
        "LPIPS (the workbench never downloads weights)."
    )
    if path is None or str(path).strip() == "":
        raise ConfigError(
            "model.lossconfig.perceptual_weight > 0 asks for the LPIPS perceptual loss, which needs "
            "ImageNet VGG16 + LPIPS weights, but model.lossconfig.lpips_weights is not set. " + how
        )
    p = Path(path).expanduser()
    if not p.is_file():
        raise ConfigError(f"LPIPS weights file not found: {p} (model.lossconfig.lpips_weights). " + how)
    try:
        state = torch_load_safely(p)
    except CheckpointError as exc:
        raise ConfigError(f"LPIPS weights file {p} cannot be read: {exc} " + how) from None
    if not isinstance(state, Mapping):
        raise ConfigError(f"LPIPS weights file {p} holds a {type(state).__name__}, not a dict. " + how)
    net = LPIPS()
    net.load_weights(state, source=str(p))
    return net
