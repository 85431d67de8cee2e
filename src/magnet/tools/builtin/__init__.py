"""The builtin training pool: executable toolkits whose functions chain within and across toolkits.

Each module defines one ``Toolkit`` subclass with a realistic default state, a seeded ``random_state`` and
functions whose outputs carry ids and values (``email``, ``city``, ``date``, ``amount``, ``latitude``, ...)
that other functions take as inputs under the same names. None of these domains overlaps the evaluation
benchmark's (file systems, messaging, social posting, support tickets, trading, travel, vehicles, math).
"""

from __future__ import annotations

from magnet.tools.builtin.bank import Bank
from magnet.tools.builtin.calendar import Calendar
from magnet.tools.builtin.contacts import Contacts
from magnet.tools.builtin.dining import Dining
from magnet.tools.builtin.hr import HRDirectory
from magnet.tools.builtin.media import MediaLibrary
from magnet.tools.builtin.recipes import Recipes
from magnet.tools.builtin.shop import Shop
from magnet.tools.builtin.smart_home import SmartHome
from magnet.tools.builtin.tasks import TaskBoard
from magnet.tools.builtin.weather import WeatherPlaces
from magnet.tools.toolkit import Toolkit

BUILTIN_TOOLKITS: tuple[type[Toolkit], ...] = (
    Calendar,
    Contacts,
    Shop,
    Bank,
    Dining,
    WeatherPlaces,
    TaskBoard,
    MediaLibrary,
    SmartHome,
    HRDirectory,
    Recipes,
)

__all__ = [
    "BUILTIN_TOOLKITS",
    "Bank",
    "Calendar",
    "Contacts",
    "Dining",
    "HRDirectory",
    "MediaLibrary",
    "Recipes",
    "Shop",
    "SmartHome",
    "TaskBoard",
    "WeatherPlaces",
]
