"""CBPE against a hand computation."""

import numpy as np
import pytest

from taller_mlflow.monitoring.cbpe import calibrate, estimate


def test_cbpe_estimate_equals_the_hand_computation():
    # held-out: bin (0.5, 0.6] has 2 rows, 1 right (0.5); bin (0.9, 1.0] has 4 rows, 3 right (0.75)
    cal = calibrate([0.55, 0.58, 0.95, 0.99, 1.0, 0.92], [1, 0, 1, 1, 1, 0])
    assert cal.rows == 6
    assert cal.accuracy[5] == 0.5 and cal.accuracy[9] == 0.75
    assert np.isnan(cal.accuracy[0])
    # window: two rows in (0.9, 1] -> 0.75 each; one in (0.5, 0.6] -> 0.5;
    # one in (0.7, 0.8], a bin no held-out row saw -> its own 0.72
    assert estimate(cal, [0.97, 0.91, 0.52, 0.72]) == pytest.approx((0.75 + 0.75 + 0.5 + 0.72) / 4)


def test_cbpe_estimate_of_no_rows_is_none():
    assert estimate(calibrate([0.9], [1]), []) is None


def test_cbpe_of_a_perfectly_calibrated_model_is_its_mean_confidence():
    cal = calibrate([0.95] * 20, [1] * 19 + [0])
    assert estimate(cal, [0.95, 0.96]) == pytest.approx(0.95)
