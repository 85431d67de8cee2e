"""``magnet.llm.factory.make_teacher``: the one place a teacher or student is built from ``TeacherSettings``."""

from __future__ import annotations

import pytest

from magnet.errors import MagnetError
from magnet.llm.client import OpenAITeacher
from magnet.llm.factory import make_teacher
from magnet.llm.settings import TeacherSettings
from magnet.llm.usage import Price, UsageTracker
from magnet.synthesis.offline import OfflineTeacher


def test_an_endpoint_teacher_gets_its_cache_in_the_output_folder_and_its_price(tmp_path):
    usage = UsageTracker()
    settings = TeacherSettings(kind="openai", model="m", base_url="http://127.0.0.1:9/v1", price=[0.5, 2.0])
    teacher = make_teacher(settings, tmp_path, usage)
    assert isinstance(teacher, OpenAITeacher)
    assert teacher.cache is not None and (tmp_path / "cache.sqlite").exists()
    assert usage.prices == {"m": Price(0.5, 2.0)}
    assert teacher.cache_identity() == "m@http://127.0.0.1:9/v1"


def test_the_offline_backend_is_built_only_by_the_layer_that_owns_it(tmp_path):
    with pytest.raises(MagnetError, match="offline answers Magnet's synthesis prompts only"):
        make_teacher(TeacherSettings(), tmp_path, UsageTracker())
    teacher = make_teacher(TeacherSettings(style="json"), tmp_path, UsageTracker(), offline=OfflineTeacher)
    assert isinstance(teacher, OfflineTeacher) and teacher.style == "json"


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        (TeacherSettings(kind="openai"), "--teacher openai needs --model"),
        (TeacherSettings(kind="openai", model="m", style="chatty"), "teacher.style is for the offline backend only"),
        (TeacherSettings(kind="openai", model="m", price=[1.0]), "teacher.price is [prompt, completion]"),
        (TeacherSettings(tool_calls="sometimes"), "tool_calls must be one of"),  # built in Python, not checked yet
    ],
)
def test_settings_that_cannot_make_a_teacher_say_why(tmp_path, settings, message):
    with pytest.raises(MagnetError) as error:
        make_teacher(settings, tmp_path, UsageTracker(), offline=OfflineTeacher)
    assert message in str(error.value)
