"""The configuration reference is generated from the config dataclasses, and the README's copy is current."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from magnet.config_reference import readme_reference, reference_markdown, update_readme
from magnet.errors import MagnetError

README = Path(__file__).resolve().parents[1] / "README.md"


def test_the_readme_holds_the_current_reference():
    assert readme_reference(README) == reference_markdown(), "run `make docs` to regenerate it"


def test_every_synth_setting_is_in_the_reference_with_its_default():
    from magnet.synthesis.config import SynthConfig

    reference = reference_markdown()
    for field in dataclasses.fields(SynthConfig):
        section = field.default_factory() if field.default_factory is not dataclasses.MISSING else None
        if dataclasses.is_dataclass(section):
            for inner in dataclasses.fields(section):
                assert f"| `{field.name}.{inner.name}` |" in reference
        else:
            assert f"| `{field.name}` |" in reference
    assert "| `paths.p_merge` | `0.3` |" in reference and "| `mdpo_loss` | `sigmoid` |" in reference


def test_update_rewrites_only_between_the_markers(tmp_path):
    readme = tmp_path / "README.md"
    readme.write_text(README.read_text().replace("| `seed` | `0` |", "| `seed` | `stale` |"))
    assert update_readme(readme) is True
    assert readme.read_text() == README.read_text()
    assert update_readme(readme) is False
    (tmp_path / "plain.md").write_text("# no markers\n")
    with pytest.raises(MagnetError, match="no configuration reference markers"):
        update_readme(tmp_path / "plain.md")
