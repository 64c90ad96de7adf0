import pytest

from monitor.wording import counted


@pytest.mark.parametrize("n, words, said", [
    (1, ("feed",), "1 feed"), (0, ("feed",), "0 feeds"), (2, ("feed",), "2 feeds"),
    (1, ("entry", "entries"), "1 entry"), (21, ("entry", "entries"), "21 entries"),
])
def test_counted(n, words, said):
    assert counted(n, *words) == said
