"""One error hierarchy. Every message names the problem and the fix; the CLI prints it as one line."""

from __future__ import annotations

from collections.abc import Iterable


class DreamVideoError(Exception):
    """Base of every error dreamvideo raises on bad input."""

    def lines(self) -> list[str]:
        """The problems, one line each (the CLI prints them so)."""
        return [str(self)]

    def line(self) -> str:
        """The problems in one line, for a log or a page (a ``ConfigError``'s without its source)."""
        return "; ".join(self.lines())


class ConfigError(DreamVideoError):
    """A style (YAML, --set, flags) is invalid. Holds every problem found, one line each."""

    def __init__(self, problems: list[str] | str, source: str | None = None):
        self.problems = [problems] if isinstance(problems, str) else list(problems)
        self.source = source
        where = f"{source}: " if source else ""
        if len(self.problems) == 1:
            message = where + self.problems[0]
        else:
            message = where + f"{len(self.problems)} problems: " + "; ".join(self.problems)
        super().__init__(message)

    def lines(self) -> list[str]:
        return list(self.problems)


class ModelError(DreamVideoError):
    """An unknown model, or weights that cannot be found, downloaded or loaded."""


class LayerError(ModelError):
    """An unknown layer or channel for a model."""


class MediaError(DreamVideoError):
    """An image or video that cannot be read, or an output that cannot be written."""


def did_you_mean(word: str, choices: Iterable[str], n: int = 1, cutoff: float = 0.6) -> str:
    """``"did you mean 'x'? "`` (or ``'x', 'y'``) for the choices closest to ``word``; ``""`` when none is close.

    The one way every message in dreamvideo suggests a spelling.
    """
    import difflib

    close = difflib.get_close_matches(str(word), list(choices), n=n, cutoff=cutoff)
    return f"did you mean {', '.join(repr(c) for c in close)}? " if close else ""
