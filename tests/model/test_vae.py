"""The posterior (DiagonalGaussianDistribution): KL, the logvar clamp, sample and mode."""
from __future__ import annotations

import math

import pytest
import torch

from radiodiff_lib.model import DiagonalGaussianDistribution


def test_kl_of_standard_normal_is_zero():
    post = DiagonalGaussianDistribution(torch.zeros(2, 6, 4, 4))  # mean 0, logvar 0
    assert torch.equal(post.kl(), torch.zeros(2))


def test_kl_matches_hand_computation():
    # one sample, E=1, 1x2 latent: mean [1, -2], logvar [0, ln 4] -> var [1, 4]
    params = torch.tensor([[[[1.0, -2.0]], [[0.0, math.log(4.0)]]]])
    kl = DiagonalGaussianDistribution(params).kl()
    hand = 0.5 * ((1 + 1 - 1 - 0) + (4 + 4 - 1 - math.log(4.0)))
    assert kl.shape == (1,)
    assert kl.item() == pytest.approx(hand, rel=1e-6)


def test_logvar_clamp_sample_and_mode():
    params = torch.tensor([[[[0.5, 1.0]], [[100.0, -100.0]]]])
    post = DiagonalGaussianDistribution(params)
    assert post.logvar.flatten().tolist() == [20.0, -30.0]
    assert torch.allclose(post.std, torch.exp(0.5 * torch.tensor([[[[20.0, -30.0]]]])))
    g1, g2 = torch.Generator().manual_seed(7), torch.Generator().manual_seed(7)
    noise = torch.randn(post.mean.shape, generator=g2)
    assert torch.equal(post.sample(g1), post.mean + post.std * noise)
    assert torch.equal(post.mode(), post.mean)
