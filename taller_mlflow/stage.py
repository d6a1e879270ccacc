class StageError(RuntimeError):
    """A pipeline stage failed for a reason a person can act on."""

    def __init__(self, stage: str, message: str):
        super().__init__(f"{stage}: {message}")
        self.stage = stage
        self.message = message
