class DatasetError(Exception):
    """A refused dataset operation; str() is the message for the user, `field` the form field."""

    def __init__(self, message: str, *, field: str | None = None):
        super().__init__(message)
        self.field = field
