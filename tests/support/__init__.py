"""Shared test data and the bounded wait."""

import operator

import tenacity

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
    """Poll until predicate() is truthy and return its value; after `timeout` seconds return the
    last (falsy) value, so the caller's assert names what never happened. A bounded wait, not a
    timing assertion; exceptions from predicate() propagate at once."""
    retrying = tenacity.Retrying(
        stop=tenacity.stop_after_delay(timeout),
        wait=tenacity.wait_fixed(interval),
        retry=tenacity.retry_if_result(operator.not_),
        retry_error_callback=lambda state: state.outcome.result(),
    )
    return retrying(predicate)
