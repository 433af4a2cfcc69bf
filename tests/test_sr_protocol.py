"""The standard super-resolution protocol: MATLAB-style bicubic resizing, Y, shave, PSNR/SSIM."""

import glob
import os

import numpy as np
import pytest

from bayes_zoo.tasks.super_resolution import protocol as sr_protocol

SET5 = os.path.join(os.path.dirname(__file__), "..", "..", "shared", "data", "photos", "Set5")


def test_upscaling_weights_are_matlabs_bicubic_taps():
    # x2: every output pixel sits 1/4 or 3/4 between input pixels; MATLAB's
    # weights there are Keys' kernel at distances 1.75, 0.75, 0.25, 1.25.
    indices, weights = sr_protocol._contributions(8, 16, 2.0)
    np.testing.assert_allclose(weights[4], [-0.0234375, 0.2265625, 0.8671875, -0.0703125])
    np.testing.assert_array_equal(indices[4], [0, 1, 2, 3])
    # At the border the missing pixels are mirrored: output 0 reads 1, 0, 0, 1.
    np.testing.assert_array_equal(indices[0], [1, 0, 0, 1])


def test_downscaling_is_antialiased_and_keeps_constants_and_ramps():
    constant = np.full((12, 9, 3), 77, np.uint8)
    np.testing.assert_array_equal(sr_protocol.imresize(constant, 1 / 3), np.full((4, 3, 3), 77))
    # A linear ramp along the rows stays linear in the interior: its value at
    # each output centre (the mean of 3 inputs), with the symmetric kernel.
    ramp = np.tile(np.arange(30, dtype=np.float64)[:, None], (1, 6))
    small = sr_protocol.imresize(ramp, 1 / 3)
    np.testing.assert_allclose(small[2:-2, 0], [7.0, 10.0, 13.0, 16.0, 19.0, 22.0], atol=1e-9)
    # Antialiasing: an alternating stripe pattern averages out instead of aliasing.
    stripes = np.tile(np.array([0.0, 1.0]), (36, 18))
    assert np.ptp(sr_protocol.imresize(stripes, 1 / 3)[3:-3, 3:-3]) < 0.1


def test_luminance_is_bt601_studio_swing():
    colours = np.array([[[0, 0, 0], [255, 255, 255], [255, 0, 0]]], np.uint8)
    np.testing.assert_allclose(sr_protocol.luminance_y(colours), [[16.0, 235.0, 81.481]])


def test_score_shaves_the_border_and_measures_psnr_on_y():
    rng = np.random.default_rng(0)
    high_res = rng.integers(0, 256, (31, 32, 3)).astype(np.uint8)  # modcrop -> 30 x 30
    cropped = sr_protocol.modcrop(high_res, 3)
    assert cropped.shape == (30, 30, 3)
    prediction = cropped.copy()
    prediction[:3] = 0  # inside the shaved border: no effect
    assert sr_protocol.score(prediction, high_res, 3) == {"psnr": float("inf"), "ssim": 1.0}
    shifted = np.clip(cropped.astype(int) + 10, 0, 255).astype(np.uint8)
    error = (sr_protocol.luminance_y(shifted) - sr_protocol.luminance_y(cropped))[3:-3, 3:-3]
    expected = 10 * np.log10(255.0**2 / np.mean(error**2))
    assert sr_protocol.score(shifted, high_res, 3)["psnr"] == pytest.approx(expected)
    with pytest.raises(ValueError, match="cropped photograph's size"):
        sr_protocol.score(high_res, high_res, 3)


@pytest.mark.skipif(not os.path.isdir(SET5), reason="the shared Set5 photographs are absent")
def test_bicubic_on_set5_matches_the_literature():
    # Bicubic x3 on Set5: 30.39 dB / 0.8682 in the SR literature (e.g. Kim et al., VDSR).
    scores = [sr_protocol.score(sr_protocol.bicubic_baseline(sr_protocol.degrade(hr, 3), 3),
                                hr, 3)
              for hr in map(sr_protocol.read_rgb, sorted(glob.glob(os.path.join(SET5, "*"))))]
    assert np.mean([s["psnr"] for s in scores]) == pytest.approx(30.39, abs=0.05)
    assert np.mean([s["ssim"] for s in scores]) == pytest.approx(0.868, abs=0.005)
