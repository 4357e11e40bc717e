"""Interpreter stage: Retry policy arithmetic (which retrier matches, how long to wait).

ASL: the first retrier whose ErrorEquals matches decides; each retrier counts its own attempts;
MaxAttempts 0 never retries; the n-th retry (n from 0) waits
``IntervalSeconds * BackoffRate**n`` capped by MaxDelaySeconds; JitterStrategy FULL waits a
uniformly random time in [0, that delay]. The product may be astronomically large (BackoffRate
2.0 after a thousand attempts): it is computed without overflow (``inf`` at worst) and the
interpreter fails the state when the wait would outlive the execution (Runtime.check_delay).
"""

from __future__ import annotations

import math
import random
from collections.abc import Sequence

from statemachine import errors
from statemachine.model import Retrier
from statemachine.values import MISSING

__all__ = ["backoff", "retry_delay"]


def backoff(retrier: Retrier, attempt: int, rng: random.Random | None = None) -> float:
    """Seconds to wait before retry number ``attempt`` (0-based) of ``retrier``."""
    try:
        delay = float(retrier.interval_seconds) * float(retrier.backoff_rate) ** attempt
    except OverflowError:
        delay = math.inf
    if retrier.max_delay_seconds is not MISSING:
        delay = min(delay, retrier.max_delay_seconds)
    if retrier.jitter_full and math.isfinite(delay):
        delay = (rng or random.Random()).uniform(0, delay)
    return float(delay)


def retry_delay(retriers: Sequence[Retrier], counts: list[int], error: str | None,
                rng: random.Random) -> float | None:
    """The wait before the next attempt, or None when no retrier allows another attempt.

    ``counts`` (one per retrier) is updated in place.
    """
    for i, retrier in enumerate(retriers):
        if errors.matches(error, retrier.error_equals):
            if counts[i] >= retrier.max_attempts:
                return None
            delay = backoff(retrier, counts[i], rng)
            counts[i] += 1
            return delay
    return None
