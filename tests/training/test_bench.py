"""The trainer benchmark's checkpoint-size claim: one exact-resume checkpoint of RadioDiff's ch=128
VAE is at most 0.7 of the 1,327 MB RadioDiff writes for it (slow: ~1 GB written to a temp dir)."""
import pytest

pytestmark = pytest.mark.slow


def test_radiodiff_config_checkpoint_is_under_seventy_percent():
    from radiodiff_lib.bench.train import RADIODIFF_CHECKPOINT_MB, checkpoint_megabytes

    mb = checkpoint_megabytes("radiodiff")
    # model 55.3 M + EMA 55.3 M + AdamW 2 x 55.3 M floats, discriminator 2.76 M x 3: about 918 MB
    assert 900 < mb <= 0.7 * RADIODIFF_CHECKPOINT_MB
