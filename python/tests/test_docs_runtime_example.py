"""The mq.Runtime example of docs/python.md runs as printed there."""
import re
import os

from conftest import spawn

DOC = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "docs", "python.md")


def test_the_runtime_example_prints_what_the_doc_says():
    text = open(DOC).read()
    section = text.split("## Many mailboxes: mq.Runtime", 1)[1]
    code = re.search(r"```python\n(.*?)```", section, re.S).group(1)
    p = spawn(code)
    out, err = p.communicate(timeout=120)
    assert p.returncode == 0, err.decode()
    assert out.decode().splitlines() == ["b'hello 199'", "200"]
