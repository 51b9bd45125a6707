"""Salesforce record ids: 15-character case-sensitive bodies with the 3-character checksum suffix.

Ids are derived from a per-object sequence number, so they sort in creation order and the
same seed produces the same ids. Layout: key prefix (3) + pod ``8d0`` (3) + base-62 sequence
(9) + checksum (3) = 18 characters.
"""

from __future__ import annotations

import re

_BASE62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
_SUFFIX_CHARS = "ABCDEFGHIJKLMNOPQRSTUVWXYZ012345"
_ID_RE = re.compile(r"^[0-9A-Za-z]{15}(?:[0-9A-Z]{3})?$")
POD = "8d0"


def _suffix(body: str) -> str:
    out = []
    for start in (0, 5, 10):
        bits = 0
        for pos, ch in enumerate(body[start:start + 5]):
            if "A" <= ch <= "Z":
                bits |= 1 << pos
        out.append(_SUFFIX_CHARS[bits])
    return "".join(out)


def base62(number: int, width: int) -> str:
    """Encode a non-negative integer in base 62, left-padded with zeros to ``width``."""
    chars = []
    while number:
        number, rem = divmod(number, 62)
        chars.append(_BASE62[rem])
    text = "".join(reversed(chars))
    if len(text) > width:
        raise ValueError("number too large for an id")
    return text.rjust(width, "0")


def make_id(prefix: str, sequence: int) -> str:
    """Return the 18-character id for ``sequence`` under a 3-character key prefix."""
    body = prefix + POD + base62(sequence, 9)
    return body + _suffix(body)


def to_18(value: str) -> str | None:
    """Return the 18-character form of a 15- or 18-character id, or None if it is malformed.

    An 18-character id keeps its case; a 15-character one gets its checksum appended.
    """
    if not isinstance(value, str) or not _ID_RE.match(value):
        return None
    if len(value) == 15:
        return value + _suffix(value)
    if _suffix(value[:15]) != value[15:]:
        return None
    return value


def is_valid_id(value: object) -> bool:
    """True if ``value`` looks like a Salesforce id (15 or 18 characters, valid checksum)."""
    return isinstance(value, str) and to_18(value) is not None


_PAIRS: list[tuple[str, int]] = []
for _hi in range(62):
    for _lo in range(62):
        _PAIRS.append((_BASE62[_hi] + _BASE62[_lo],
                       (1 if _BASE62[_hi].isupper() else 0) | (2 if _BASE62[_lo].isupper() else 0)))
_SINGLES: list[tuple[str, int]] = [(c, 1 if c.isupper() else 0) for c in _BASE62]


class IdFactory:
    """Fast :func:`make_id` for one key prefix (used when seeding millions of rows).

    Valid for sequence numbers below 62**5 (about 916 million), where the first four base-62
    digits are zero and so the first two checksum characters are fixed.
    """

    LIMIT = 62 ** 5

    def __init__(self, prefix: str) -> None:
        self.head = prefix + POD + "0000"
        fixed = _suffix(self.head + "00000")
        self.fixed = fixed[:2]

    def __call__(self, sequence: int) -> str:
        """The 18-character id of ``sequence``."""
        if sequence >= self.LIMIT:
            return make_id(self.head[:3], sequence)
        top, rest = divmod(sequence, 3844)
        high, mid = divmod(top, 3844)
        high_text, high_bits = _SINGLES[high]
        mid_text, mid_bits = _PAIRS[mid]
        low_text, low_bits = _PAIRS[rest]
        bits = high_bits | (mid_bits << 1) | (low_bits << 3)
        return f"{self.head}{high_text}{mid_text}{low_text}{self.fixed}{_SUFFIX_CHARS[bits]}"
