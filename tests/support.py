"""Shared test data and helpers."""

import time

ADELIE = {
    "island": "Torgersen",
    "culmen_length_mm": 39.1,
    "culmen_depth_mm": 18.7,
    "flipper_length_mm": 181,
    "body_mass_g": 3750,
    "sex": "MALE",
}
GENTOO = {
    "island": "Biscoe",
    "culmen_length_mm": 50.0,
    "culmen_depth_mm": 15.0,
    "flipper_length_mm": 220,
    "body_mass_g": 5500,
    "sex": "female",
}


def wait_for(predicate, timeout: float, interval: float = 0.5):
    """Poll until predicate() is truthy; returns its value (a bounded wait, not a timing assertion)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    return predicate()
