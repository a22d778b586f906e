"""The two errors of the study side: a config that is wrong, and a study that cannot be launched as asked."""

from __future__ import annotations

class StudyError(RuntimeError):
    """A study cannot be launched as asked (existing study, cluster resources); the message says what to do."""


class ConfigError(ValueError):
    """A study config is invalid; `problems` holds one line per problem."""

    def __init__(self, problems: list[str]):
        self.problems = problems
        super().__init__("\n".join(problems))
