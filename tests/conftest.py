"""Shared fixtures: toy toolkits small enough to reason about in a test."""

from __future__ import annotations

import os
import time
from typing import Any, TypedDict

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")

from magnet.tools.toolkit import Toolkit, error, function


class Balance(TypedDict):
    """An account balance.

    Attributes:
        account_id: The account.
        balance: Money on the account.
    """

    account_id: str
    balance: float


class Piggy(Toolkit):
    """A two-account piggy bank: just enough state to see calls change it."""

    category = "Finance"
    tool_class = "Savings tool"

    @classmethod
    def default_state(cls) -> dict[str, Any]:
        return {"accounts": {"acc-1": 10.0, "acc-2": 0.0}, "log": []}

    def deposit(self, account_id: str, amount: float) -> Balance:
        """Put money into an account.

        Args:
            account_id: The account to fill.
            amount: How much to put in.
        """
        if account_id not in self.data["accounts"]:
            return error(f"no account {account_id!r}")
        self.data["accounts"][account_id] += amount
        self.data["log"].append(["deposit", account_id, amount])
        return {"account_id": account_id, "balance": self.data["accounts"][account_id]}

    def get_balance(self, account_id: str) -> Balance:
        """Read an account's balance.

        Args:
            account_id: The account to read.
        """
        if account_id not in self.data["accounts"]:
            return error(f"no account {account_id!r}")
        return {"account_id": account_id, "balance": self.data["accounts"][account_id]}

    def explode(self, reason: str = "bug") -> Balance:
        """A function with a bug: it raises.

        Args:
            reason: Text of the exception.
        """
        raise RuntimeError(reason)

    def sleep(self, seconds: float) -> Balance:
        """A function that takes a while.

        Args:
            seconds: How long to sleep.
        """
        time.sleep(seconds)
        return {"account_id": "none", "balance": 0.0}

    @function(name="close_account", description="Close an account for good.")
    def _close(self, account_id: str) -> Balance:
        """Args:
        account_id: The account to close.
        """
        return {"account_id": account_id, "balance": self.data["accounts"].pop(account_id, 0.0)}


@pytest.fixture
def piggy_class() -> type[Piggy]:
    """The toy toolkit class."""
    return Piggy


@pytest.fixture(scope="session")
def tiny_model_dir(tmp_path_factory) -> str:
    """A tiny random Qwen2 model with a real BPE tokenizer and the stock Qwen2.5 chat template (built offline)."""
    from magnet.testing import build_tiny_model

    return str(build_tiny_model(tmp_path_factory.mktemp("tiny-qwen")))
