"""Shared fixtures: toy toolkits small enough to reason about in a test, and real MCP servers with seed data."""

from __future__ import annotations

import os
import shutil
import sys
import time
from pathlib import Path
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


@pytest.fixture(scope="session")
def smollm2_dir(tmp_path_factory) -> str:
    """SmolLM2-135M-Instruct, a real pretrained model, written from its wheel once per session (about 30 s);
    ``MAGNET_SMOLLM2_DIR`` names a folder to keep it in between sessions."""
    from pathlib import Path

    from magnet.llm.smollm2 import write_smollm2

    kept = os.environ.get("MAGNET_SMOLLM2_DIR")
    return str(write_smollm2(Path(kept) if kept else tmp_path_factory.mktemp("smollm2") / "model"))


@pytest.fixture(scope="session")
def smollm2_server(smollm2_dir):
    """``transformers serve`` for SmolLM2 on 127.0.0.1 for the session: ``(base_url, served model name)``."""
    from magnet.testing import transformers_server

    with transformers_server(smollm2_dir) as base_url:
        yield base_url, smollm2_dir


# -- real MCP servers from the package index, for the MCP pool tests, each on seed data made here ---------------------
# mcp-server-git and mcp-server-time are installed with Magnet's dev extra (they speak the mcp SDK Magnet uses);
# mcp-server-sqlite (2025.4.25) still imports the SDK's 1.x server API, which 2.x removed, so `make install` puts it
# in a virtual environment of its own (.venv/mcp-sqlite), as uvx would: a stdio server is a separate program,
# whatever Python it runs on.

MCP_ROOT = Path(__file__).resolve().parents[1]
MCP_BIN = Path(sys.executable).parent


def _program(path: Path, how: str) -> str:
    if not path.exists():
        pytest.skip(f"{path} is not installed ({how})")
    return str(path)


@pytest.fixture(scope="session")
def sqlite_server() -> str:
    """The ``mcp-server-sqlite`` program."""
    return _program(MCP_ROOT / ".venv" / "mcp-sqlite" / "bin" / "mcp-server-sqlite", "make install puts it there")


@pytest.fixture(scope="session")
def git_server() -> str:
    """The ``mcp-server-git`` program."""
    return _program(MCP_BIN / "mcp-server-git", "the dev extra installs it")


@pytest.fixture(scope="session")
def time_server() -> str:
    """The ``mcp-server-time`` program."""
    return _program(MCP_BIN / "mcp-server-time", "the dev extra installs it")


@pytest.fixture(scope="session")
def shop_seed(tmp_path_factory) -> Path:
    """A folder holding ``shop.db``: customers and their orders."""
    from magnet.testing.mcp_seeds import write_shop_seed

    return write_shop_seed(tmp_path_factory.mktemp("shop-seed"))


@pytest.fixture(scope="session")
def repo_seed(tmp_path_factory) -> Path:
    """A git repository with one commit and one file changed since."""
    if shutil.which("git") is None:
        pytest.skip("git is not installed")
    from magnet.testing.mcp_seeds import write_repo_seed

    return write_repo_seed(tmp_path_factory.mktemp("repo-seed"))
