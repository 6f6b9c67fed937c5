"""Kafka's version-range notation ("0+", "3-5", "7", "none") as a small value type."""

from __future__ import annotations

import attrs

# Kafka API versions are int16 on the wire.
HIGHEST_POSSIBLE_VERSION = 0x7FFF


@attrs.frozen(slots=True)
class VersionRange:
    """Inclusive range of versions; empty when `lowest > highest`."""

    lowest: int
    highest: int

    @classmethod
    def parse(cls, text: str) -> VersionRange:
        """Parse "N+", "N-M", "N" or "none"; raise ValueError naming the bad text."""
        if not isinstance(text, str):
            raise TypeError(f"version range must be a string like '0+', got {text!r}")
        stripped = text.strip()
        try:
            if stripped == "none":
                return cls(1, 0)
            if stripped.endswith("+"):
                return cls._checked(int(stripped[:-1]), HIGHEST_POSSIBLE_VERSION, text)
            if "-" in stripped:
                low_text, high_text = stripped.split("-", 1)
                return cls._checked(int(low_text), int(high_text), text)
            version = int(stripped)
            return cls._checked(version, version, text)
        except ValueError as error:
            raise ValueError(
                f"invalid version range {text!r}: expected 'N+', 'N-M', 'N' or 'none'"
            ) from error

    @classmethod
    def _checked(cls, lowest: int, highest: int, text: str) -> VersionRange:
        if lowest < 0 or highest > HIGHEST_POSSIBLE_VERSION or lowest > highest:
            raise ValueError(f"invalid version range {text!r}")
        return cls(lowest, highest)

    @property
    def is_empty(self) -> bool:
        return self.lowest > self.highest

    def __contains__(self, version: object) -> bool:
        return isinstance(version, int) and self.lowest <= version <= self.highest

    def __str__(self) -> str:
        if self.is_empty:
            return "none"
        if self.highest == HIGHEST_POSSIBLE_VERSION:
            return f"{self.lowest}+"
        if self.lowest == self.highest:
            return str(self.lowest)
        return f"{self.lowest}-{self.highest}"
