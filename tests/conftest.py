import os

os.environ.setdefault("HF_HUB_OFFLINE", "1")  # tests never touch the network

import pytest
import torch

# One thread: the tests' tiny models gain nothing from a second one, and on a busy 2-core machine two
# threads wait on each other at every operation (rollouts measured at 20 s with two, 1.6 s with one).
# It also keeps sampled numbers independent of the machine's core count.
torch.set_num_threads(1)


@pytest.fixture
def tiny():
    """A tiny random Llama and its byte-level tokenizer."""
    from rlpr import models

    return models.load_model("tiny", seed=0), models.load_tokenizer("tiny")
