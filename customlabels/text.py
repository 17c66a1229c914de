"""Pure helpers for the sentences the console shows: counts with their nouns in the right number."""


def counted(n: int, singular: str, plural: str | None = None) -> str:
    """`1 image`, `2 images`, `12,000 images`: the count with thousands separators and the noun agreeing.

    The plural is the singular plus "s" unless given (`counted(n, "box", "boxes")`).
    """
    noun = singular if n == 1 else (plural or f"{singular}s")
    return f"{n:,} {noun}"


def was_were(n: int) -> str:
    """The verb that follows a count: `1 image was`, `2 images were`."""
    return "was" if n == 1 else "were"
