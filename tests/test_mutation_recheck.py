"""The mutation recheck's guard: two rechecks of one target never share its scratch copy."""

from __future__ import annotations

import pytest

from tests.mutation.recheck import exclusive


def test_a_second_recheck_of_the_same_copy_is_refused_until_the_first_ends(tmp_path):
    first = exclusive(tmp_path)
    with pytest.raises(BlockingIOError):
        exclusive(tmp_path)
    first.close()
    exclusive(tmp_path).close()  # free again once the first is done
