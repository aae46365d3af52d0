"""Choice values written into hand-written SQL, so a status in SQL is the TextChoices' own."""

import re

_VALUE = re.compile(r"^[a-z0-9_.]+$")


def quoted(*values: str) -> str:
    """The values as SQL string literals, comma-separated: 'approved', 'scheduled'.

    Only for the values of TextChoices (constants of the code, never user input): each must
    be a plain lower-case word, so nothing here can need escaping.
    """
    for value in values:
        if not _VALUE.match(str(value)):
            raise ValueError(f"{value!r} is not a choice value that can be written into SQL")
    return ", ".join(f"'{value}'" for value in values)
