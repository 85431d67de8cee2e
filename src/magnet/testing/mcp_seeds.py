"""Seed folders for MCP servers from the package index, for the tests and the benchmarks: a shop database for
``mcp-server-sqlite`` and a git repository for ``mcp-server-git``, the same bytes on every machine (fixed dates and
authors), so that recorded outputs and replayed teacher answers match from run to run."""

from __future__ import annotations

import shutil
import sqlite3
import subprocess
from pathlib import Path

from magnet.errors import MagnetError

SHOP_SQL = """
CREATE TABLE customers (id INTEGER PRIMARY KEY, name TEXT, email TEXT);
CREATE TABLE orders (id INTEGER PRIMARY KEY, customer_id INTEGER, total REAL);
INSERT INTO customers VALUES (1, 'Ada', 'ada@example.com'), (2, 'Grace', 'grace@example.com');
INSERT INTO orders VALUES (10, 1, 25.5), (11, 2, 12.0);
"""


def write_shop_seed(folder: Path) -> Path:
    """``folder/shop.db``: two customers and their orders; returns ``folder``."""
    folder.mkdir(parents=True, exist_ok=True)
    db = sqlite3.connect(folder / "shop.db")
    try:
        db.executescript(SHOP_SQL)
    finally:
        db.close()
    return folder


def write_repo_seed(folder: Path) -> Path:
    """A git repository in ``folder``: one commit (fixed author and date, so a fixed hash) and one file changed
    since; returns ``folder``."""
    if shutil.which("git") is None:
        raise MagnetError("git is not installed: the repository seed needs it")
    folder.mkdir(parents=True, exist_ok=True)
    environment = {
        "GIT_AUTHOR_NAME": "Magnet",
        "GIT_AUTHOR_EMAIL": "magnet@example.com",
        "GIT_COMMITTER_NAME": "Magnet",
        "GIT_COMMITTER_EMAIL": "magnet@example.com",
        "GIT_AUTHOR_DATE": "2026-01-01T00:00:00",
        "GIT_COMMITTER_DATE": "2026-01-01T00:00:00",
        "HOME": str(folder),
        "PATH": "/usr/bin:/bin",
    }
    subprocess.run(["git", "init", "-q", "-b", "main", str(folder)], check=True, env=environment)
    (folder / "README.md").write_text("# Shop\n")
    subprocess.run(["git", "-C", str(folder), "add", "README.md"], check=True, env=environment)
    subprocess.run(["git", "-C", str(folder), "commit", "-qm", "First commit"], check=True, env=environment)
    (folder / "README.md").write_text("# Shop\n\nOrders and customers.\n")
    return folder
