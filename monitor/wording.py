"""English counts for command-line messages: "1 feed", "2 feeds", "1 entry", "3 entries"."""


def counted(n: int, singular: str, plural: str | None = None) -> str:
    """`n` and the noun in the number it takes."""
    return f"{n} {singular if n == 1 else plural or singular + 's'}"
