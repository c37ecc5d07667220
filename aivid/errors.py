"""User-facing errors: one line, naming the file and the problem."""


class AividError(Exception):
    """An error caused by bad input or configuration, shown to the user as one line."""

    def __init__(self, path, problem):
        self.path = str(path) if path is not None else None
        self.problem = str(problem).strip().splitlines()[0] if str(problem).strip() else "failed"
        super().__init__(f"{self.path}: {self.problem}" if self.path else self.problem)
