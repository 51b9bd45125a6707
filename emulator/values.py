"""Conversions between stored values and the wire encodings Salesforce uses.

Storage (SQLite): datetimes are TEXT ``YYYY-MM-DDTHH:MM:SS.mmmZ`` (UTC, milliseconds), dates
TEXT ``YYYY-MM-DD``, booleans INTEGER 0/1, numbers INTEGER or REAL, everything else TEXT.

Wire: REST JSON datetimes end in ``+0000``; Bulk CSV datetimes end in ``Z``; doubles are
written Java-style (``1000.5``, ``5.0``, ``9.9213206E7``).
"""

from __future__ import annotations

import re
import threading
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

_DATETIME_RE = re.compile(
    r"^(\d{4})-(\d{2})-(\d{2})[T ](\d{2}):(\d{2})(?::(\d{2})(?:\.(\d{1,9}))?)?"
    r"(Z|[+-]\d{2}:?\d{2})?$"
)
_DATE_RE = re.compile(r"^(\d{4})-(\d{2})-(\d{2})$")
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def format_datetime(moment: datetime) -> str:
    """Storage form of an aware datetime: ``2024-01-02T10:00:00.000Z`` (UTC, milliseconds)."""
    moment = moment.astimezone(UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def rest_datetime(stored: str | None) -> str | None:
    """REST JSON form of a stored datetime: ``2024-01-02T10:00:00.000+0000``."""
    if stored is None:
        return None
    return stored[:-1] + "+0000"


def parse_datetime(text: str) -> tuple[datetime, int] | None:
    """Parse an ISO datetime with optional fraction and offset (``Z``, ``+00:00``, ``+0000``).

    Returns the aware UTC datetime truncated to microseconds and the number of nanoseconds
    beyond whole milliseconds (non-zero means the value falls between two stored instants),
    or None if it is not a datetime. A missing offset means UTC.
    """
    match = _DATETIME_RE.match(text.strip())
    if not match:
        return None
    year, month, day, hour, minute, second, fraction, offset = match.groups()
    fraction = (fraction or "").ljust(9, "0")
    nanos = int(fraction)
    try:
        moment = datetime(int(year), int(month), int(day), int(hour), int(minute), int(second or 0),
                          nanos // 1000, tzinfo=UTC)
    except ValueError:
        return None
    if offset and offset != "Z":
        sign = 1 if offset[0] == "+" else -1
        digits = offset[1:].replace(":", "")
        delta = timedelta(hours=int(digits[:2]), minutes=int(digits[2:]))
        moment = moment - sign * delta
    return moment, nanos % 1_000_000


def parse_date(text: str) -> date | None:
    """Parse ``YYYY-MM-DD``; None if malformed."""
    match = _DATE_RE.match(text.strip())
    if not match:
        return None
    try:
        return date(int(match.group(1)), int(match.group(2)), int(match.group(3)))
    except ValueError:
        return None


def java_double(value: float | int | None) -> str | None:
    """Format a number the way Salesforce (Java) does: ``5.0``, ``1000.5``, ``9.9213206E7``."""
    if value is None:
        return None
    number = float(value)
    magnitude = abs(number)
    if number == 0 or 1e-3 <= magnitude < 1e7:
        return repr(number)
    sign, digits, exponent = Decimal(repr(number)).normalize().as_tuple()
    text = "".join(str(d) for d in digits)
    power = len(text) - 1 + int(exponent)
    mantissa = text[0] + "." + (text[1:] or "0")
    return ("-" if sign else "") + f"{mantissa}E{power}"


class Clock:
    """Server time for record stamps: UTC, millisecond precision, never going backwards.

    Two writes in the same millisecond get the same stamp (ties are possible, as in Salesforce).
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._last = ""
        self.offset = timedelta(0)

    def set_offset(self, seconds: float) -> None:
        """Shift server time by ``seconds`` (tests of time windows); stamps may then go backwards once."""
        with self._lock:
            self.offset = timedelta(seconds=seconds)
            self._last = ""

    def moment(self) -> datetime:
        """The current server time (an aware UTC datetime, offset applied)."""
        return datetime.now(UTC) + self.offset

    def now(self) -> str:
        """Return the current stamp in storage form."""
        stamp = format_datetime(self.moment())
        with self._lock:
            if stamp < self._last:
                stamp = self._last
            self._last = stamp
        return stamp


CLOCK = Clock()


def now_stamp() -> str:
    """Shortcut for ``CLOCK.now()``."""
    return CLOCK.now()
