"""The README's "Legacy Chat and Conversations side by side" example runs as written against a
stack, with only its base URL and credentials swapped for the test stack's: what it prints is what
the README says it prints."""

from __future__ import annotations

import contextlib
import io
import re
from pathlib import Path

from tests.helpers.stack import Stack

README = Path(__file__).resolve().parent.parent / "README.md"
HEADING = "### Legacy Chat and Conversations side by side"


def side_by_side_example() -> tuple[str, str]:
    """The section's Python block and the output its last comment line promises."""
    section = README.read_text().split(HEADING, 1)[1]
    block = re.search(r"```python\n(.*?)```", section, re.DOTALL)
    assert block is not None, "the section has a python example"
    code = block.group(1)
    promised = [line for line in code.splitlines() if line.startswith("# ")][-1]
    return code, promised.removeprefix("# ")


def test_the_readme_side_by_side_example_prints_what_it_promises(stack: Stack) -> None:
    code, promised = side_by_side_example()
    assert '"http://127.0.0.1:8000"' in code
    code = code.replace('"http://127.0.0.1:8000"', repr(stack.url))
    printed = io.StringIO()
    names = {"ACCOUNT_SID": stack.settings.account_sid, "AUTH_TOKEN": stack.settings.auth_token}
    with contextlib.redirect_stdout(printed):
        exec(compile(code, str(README), "exec"), names)  # the README's own example, trusted as the repository is
    assert printed.getvalue().strip() == promised
