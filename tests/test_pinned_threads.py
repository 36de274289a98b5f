"""The one place tests pin torch's threads (conftest.torch_threads and its marker) works."""

from __future__ import annotations

import pytest
import torch
from conftest import torch_threads


@pytest.mark.torch_threads(1)
def test_the_marker_pins_the_thread_count():
    assert torch.get_num_threads() == 1


def test_the_block_restores_the_count_even_after_an_error():
    before = torch.get_num_threads()
    with pytest.raises(RuntimeError), torch_threads(1):
        assert torch.get_num_threads() == 1
        raise RuntimeError("boom")
    assert torch.get_num_threads() == before
