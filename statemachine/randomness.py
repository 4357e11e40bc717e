"""Runtime edge, randomness: the execution's seed and the generators AWS's seeded functions use.

In: a seed (an ``int``; drawn from the operating system when the caller gives none). Out: the
execution's ``random.Random`` (every draw of one execution -- names, task tokens, retry
jitter, ``States.UUID``, unseeded ``States.MathRandom``, ``$random()``, ``$uuid()`` -- comes
from it, so the seed alone reproduces them), and ``JavaRandom``, a bit-exact port of
``java.util.Random`` for the functions that take their own seed.

Why Java: AWS runs Step Functions on the JVM and its seeded JSONata ``$random(42)`` returns
0.7275636800328681, which is ``new java.util.Random(42).nextDouble()``. ``States.MathRandom``
with a seed is taken to be ``start + new Random(seed).nextInt(end - start)`` (AWS documents
only "the same seed value returns an identical number"; no recorded value exists).
"""

from __future__ import annotations

import math
import random
import secrets
from typing import Final

__all__ = ["JavaRandom", "execution_rng", "java_long", "new_seed"]

_MULTIPLIER: Final = 0x5DEECE66D
_ADDEND: Final = 0xB
_MASK: Final = (1 << 48) - 1
_LONG_MIN: Final = -(2**63)
_LONG_MAX: Final = 2**63 - 1


def _signed32(value: int) -> int:
    value &= 0xFFFFFFFF
    return value - (1 << 32) if value >= 1 << 31 else value


class JavaRandom:
    """``java.util.Random``: the 48-bit linear congruential generator of the JDK, bit for bit.

    ``JavaRandom(42).next_double() == 0.7275636800328681``; ``JavaRandom(0).next_int() ==
    -1155484576``. ``seed`` is a Java ``long`` (use ``java_long`` for a JSON number).
    """

    __slots__ = ("_seed",)

    def __init__(self, seed: int) -> None:
        self._seed = (seed ^ _MULTIPLIER) & _MASK

    def _next(self, bits: int) -> int:
        self._seed = (self._seed * _MULTIPLIER + _ADDEND) & _MASK
        return _signed32(self._seed >> (48 - bits))

    def next_int(self, bound: int | None = None) -> int:
        """``nextInt()`` (any 32-bit int) or ``nextInt(bound)`` (0 <= n < bound, bound > 0)."""
        if bound is None:
            return self._next(32)
        if not 0 < bound < 2**31:
            raise ValueError(f"bound must be a positive 32-bit int, not {bound}")
        if bound & (bound - 1) == 0:  # a power of two: the high bits, as the JDK does
            return (bound * self._next(31)) >> 31
        while True:
            bits = self._next(31)
            value = bits % bound
            if _signed32(bits - value + (bound - 1)) >= 0:  # JDK: reject the incomplete last block
                return value

    def next_double(self) -> float:
        """``nextDouble()``: 53 random bits as a float in [0, 1)."""
        return ((self._next(26) << 27) + self._next(27)) * 2.0**-53


def java_long(value: float | int | str) -> int:
    """A JSON seed as the ``long`` Java would pass to ``new Random``: numbers are truncated
    toward zero and saturate at the ``long`` range (NaN is 0, Java's ``(long)`` cast); a
    string seed uses Java's ``String.hashCode`` (our choice: AWS documents numeric seeds)."""
    if isinstance(value, str):
        encoded = value.encode("utf-16-le", "surrogatepass")  # Java strings are UTF-16 units
        code = 0
        for index in range(0, len(encoded), 2):
            code = (31 * code + int.from_bytes(encoded[index : index + 2], "little")) & 0xFFFFFFFF
        return _signed32(code)
    if isinstance(value, float):
        if math.isnan(value):
            return 0
        if math.isinf(value):
            return _LONG_MAX if value > 0 else _LONG_MIN
    return max(_LONG_MIN, min(_LONG_MAX, int(value)))


def new_seed() -> int:
    """A fresh 63-bit seed from the operating system's entropy."""
    return secrets.randbits(63)


def execution_rng(seed: int) -> random.Random:
    """The generator every draw of one execution comes from (Mersenne Twister seeded with
    ``seed``: the same seed gives the same names, tokens, jitter and random values)."""
    return random.Random(seed)
