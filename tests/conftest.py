import os

os.environ.setdefault("HF_HUB_OFFLINE", "1")  # tests never touch the network

import pytest
import torch

# Tests run on two cores next to other work: fix the thread count so timings and results are stable.
torch.set_num_threads(min(2, os.cpu_count() or 1))


@pytest.fixture
def tiny():
    """A tiny random Llama and its byte-level tokenizer."""
    from rlpr import models

    return models.load_model("tiny", seed=0), models.load_tokenizer("tiny")
