"""A calendar: events with attendees, free-slot search and reminders.

Outputs carry ``event_id`` values and ISO times that other functions (and other toolkits: contacts' emails,
reservations' times) take as inputs.
"""

from __future__ import annotations

import random
from datetime import datetime, timedelta
from typing import Any, TypedDict

from magnet.tools.toolkit import Toolkit, error


class Event(TypedDict):
    """An event on the calendar.

    Attributes:
        event_id: Identifier of the event, e.g. 'evt-0003'.
        title: Title of the event.
        start: Start time, ISO 8601 'YYYY-MM-DDTHH:MM'.
        end: End time, ISO 8601 'YYYY-MM-DDTHH:MM'.
        location: Where the event takes place.
        attendees: Email addresses of the attendees.
    """

    event_id: str
    title: str
    start: str
    end: str
    location: str
    attendees: list[str]


class EventList(TypedDict):
    """Events matching a query.

    Attributes:
        events: The matching events, earliest first.
    """

    events: list[Event]


class FreeSlot(TypedDict):
    """A free time slot.

    Attributes:
        start: Start of the free slot, ISO 8601 'YYYY-MM-DDTHH:MM'.
        end: End of the free slot, ISO 8601 'YYYY-MM-DDTHH:MM'.
    """

    start: str
    end: str


class Reminder(TypedDict):
    """A reminder set on an event.

    Attributes:
        reminder_id: Identifier of the reminder.
        event_id: The event the reminder belongs to.
        minutes_before: How many minutes before the start it fires.
    """

    reminder_id: str
    event_id: str
    minutes_before: int


class Status(TypedDict):
    """Outcome of an update.

    Attributes:
        status: 'ok' when the change was made.
        event_id: The event that changed.
    """

    status: str
    event_id: str


TIME_FORMAT = "%Y-%m-%dT%H:%M"


def _parse_time(value: str) -> datetime | None:
    try:
        return datetime.strptime(value, TIME_FORMAT)
    except (TypeError, ValueError):
        return None


class Calendar(Toolkit):
    """A personal calendar."""

    category = "Productivity"
    tool_class = "Calendar tool"
    description = "Create, find, move and cancel calendar events, find free time and set reminders."

    @classmethod
    def default_state(cls) -> dict[str, Any]:
        return {
            "events": {
                "evt-0001": {
                    "event_id": "evt-0001",
                    "title": "Quarterly planning",
                    "start": "2026-03-02T09:00",
                    "end": "2026-03-02T10:30",
                    "location": "Room Atlas",
                    "attendees": ["maria.lopez@example.com", "chen.wei@example.com"],
                },
                "evt-0002": {
                    "event_id": "evt-0002",
                    "title": "Dentist",
                    "start": "2026-03-03T14:00",
                    "end": "2026-03-03T15:00",
                    "location": "Smile Clinic",
                    "attendees": [],
                },
                "evt-0003": {
                    "event_id": "evt-0003",
                    "title": "Team lunch",
                    "start": "2026-03-04T12:00",
                    "end": "2026-03-04T13:00",
                    "location": "Green Fork",
                    "attendees": ["chen.wei@example.com"],
                },
            },
            "reminders": {},
            "next_event": 4,
            "next_reminder": 1,
        }

    @classmethod
    def random_state(cls, rng: random.Random) -> dict[str, Any]:
        state = cls.default_state()
        titles = ["Budget review", "Yoga class", "Client call", "Design sync", "Parent meeting", "Code review"]
        day = datetime(2026, 3, 2, 8, 0)
        for number in range(4, 4 + rng.randint(2, 5)):
            start = day + timedelta(days=rng.randint(0, 6), hours=rng.randint(0, 9))
            event_id = f"evt-{number:04d}"
            state["events"][event_id] = {
                "event_id": event_id,
                "title": rng.choice(titles),
                "start": start.strftime(TIME_FORMAT),
                "end": (start + timedelta(minutes=rng.choice([30, 60, 90]))).strftime(TIME_FORMAT),
                "location": rng.choice(["Room Atlas", "Online", "Cafe Nord"]),
                "attendees": [],
            }
            state["next_event"] = number + 1
        return state

    def create_event(
        self, title: str, start: str, duration_minutes: int = 60, location: str = "", attendees: list[str] | None = None
    ) -> Event:
        """Create an event on the calendar.

        Args:
            title: Title of the event.
            start: Start time, ISO 8601 'YYYY-MM-DDTHH:MM'.
            duration_minutes: Length of the event in minutes.
            location: Where the event takes place.
            attendees: Email addresses of people to invite.
        """
        begin = _parse_time(start)
        if begin is None:
            return error(f"start {start!r} is not a time in the format YYYY-MM-DDTHH:MM")
        if duration_minutes <= 0:
            return error("duration_minutes must be positive")
        event_id = f"evt-{self.data['next_event']:04d}"
        self.data["next_event"] += 1
        event = {
            "event_id": event_id,
            "title": title,
            "start": start,
            "end": (begin + timedelta(minutes=duration_minutes)).strftime(TIME_FORMAT),
            "location": location,
            "attendees": list(attendees or []),
        }
        self.data["events"][event_id] = event
        return dict(event, attendees=list(event["attendees"]))

    def get_event(self, event_id: str) -> Event:
        """Get the details of one event.

        Args:
            event_id: Identifier of the event, e.g. 'evt-0003'.
        """
        event = self.data["events"].get(event_id)
        if event is None:
            return error(f"no event with id {event_id!r}")
        return dict(event, attendees=list(event["attendees"]))

    def list_events(self, date: str) -> EventList:
        """List the events of one day.

        Args:
            date: The day, 'YYYY-MM-DD'.
        """
        found = [
            dict(e, attendees=list(e["attendees"])) for e in self.data["events"].values() if e["start"].startswith(date)
        ]
        return {"events": sorted(found, key=lambda e: e["start"])}

    def search_events(self, keyword: str) -> EventList:
        """Find events whose title or location contains a keyword (case-insensitive).

        Args:
            keyword: Text to look for.
        """
        needle = keyword.lower()
        found = [
            dict(e, attendees=list(e["attendees"]))
            for e in self.data["events"].values()
            if needle in e["title"].lower() or needle in e["location"].lower()
        ]
        return {"events": sorted(found, key=lambda e: e["start"])}

    def reschedule_event(self, event_id: str, new_start: str) -> Event:
        """Move an event to a new start time, keeping its length.

        Args:
            event_id: Identifier of the event to move.
            new_start: New start time, ISO 8601 'YYYY-MM-DDTHH:MM'.
        """
        event = self.data["events"].get(event_id)
        if event is None:
            return error(f"no event with id {event_id!r}")
        begin = _parse_time(new_start)
        if begin is None:
            return error(f"new_start {new_start!r} is not a time in the format YYYY-MM-DDTHH:MM")
        length = _parse_time(event["end"]) - _parse_time(event["start"])
        event["start"] = new_start
        event["end"] = (begin + length).strftime(TIME_FORMAT)
        return dict(event, attendees=list(event["attendees"]))

    def cancel_event(self, event_id: str) -> Status:
        """Cancel (delete) an event and its reminders.

        Args:
            event_id: Identifier of the event to cancel.
        """
        if self.data["events"].pop(event_id, None) is None:
            return error(f"no event with id {event_id!r}")
        self.data["reminders"] = {k: r for k, r in self.data["reminders"].items() if r["event_id"] != event_id}
        return {"status": "ok", "event_id": event_id}

    def add_attendee(self, event_id: str, email: str) -> Event:
        """Invite one more person to an event.

        Args:
            event_id: Identifier of the event.
            email: Email address of the person to invite.
        """
        event = self.data["events"].get(event_id)
        if event is None:
            return error(f"no event with id {event_id!r}")
        if "@" not in email:
            return error(f"{email!r} is not an email address")
        if email not in event["attendees"]:
            event["attendees"].append(email)
        return dict(event, attendees=list(event["attendees"]))

    def find_free_slot(self, date: str, duration_minutes: int = 60) -> FreeSlot:
        """Find the earliest free slot of a given length between 08:00 and 18:00 on a day.

        Args:
            date: The day, 'YYYY-MM-DD'.
            duration_minutes: Length of the slot needed, in minutes.
        """
        day_start = _parse_time(f"{date}T08:00")
        if day_start is None:
            return error(f"date {date!r} is not a day in the format YYYY-MM-DD")
        busy = sorted(
            (_parse_time(e["start"]), _parse_time(e["end"]))
            for e in self.data["events"].values()
            if e["start"].startswith(date)
        )
        candidate = day_start
        for begin, end in busy:
            if begin - candidate >= timedelta(minutes=duration_minutes):
                break
            candidate = max(candidate, end)
        if candidate + timedelta(minutes=duration_minutes) > day_start.replace(hour=18):
            return error(f"no free slot of {duration_minutes} minutes on {date}")
        return {
            "start": candidate.strftime(TIME_FORMAT),
            "end": (candidate + timedelta(minutes=duration_minutes)).strftime(TIME_FORMAT),
        }

    def set_reminder(self, event_id: str, minutes_before: int = 15) -> Reminder:
        """Set a reminder that fires some minutes before an event starts.

        Args:
            event_id: Identifier of the event.
            minutes_before: How many minutes before the start the reminder fires.
        """
        if event_id not in self.data["events"]:
            return error(f"no event with id {event_id!r}")
        reminder_id = f"rem-{self.data['next_reminder']:04d}"
        self.data["next_reminder"] += 1
        reminder = {"reminder_id": reminder_id, "event_id": event_id, "minutes_before": minutes_before}
        self.data["reminders"][reminder_id] = reminder
        return dict(reminder)
