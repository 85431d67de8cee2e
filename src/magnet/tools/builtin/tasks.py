"""A task board with notes: tasks with due dates, priorities, projects and assignees, and notes attached to them.

Outputs carry ``task_id`` and ``note_id`` values that other functions take as inputs (create_task -> assign_task
-> complete_task, create_note -> attach_note_to_task), and ``email`` values shared with other toolkits
(contacts, the staff directory, calendar attendees).
"""

from __future__ import annotations

import copy
import random
from datetime import datetime
from typing import Any, Literal, TypedDict

from magnet.tools.toolkit import Toolkit, error


class Task(TypedDict):
    """A task on the board.

    Attributes:
        task_id: Identifier of the task, e.g. 'tsk-0003'.
        title: What has to be done.
        project: Project the task belongs to.
        due_date: Day the task is due, 'YYYY-MM-DD'.
        priority: 'low', 'medium' or 'high'.
        status: 'open', 'in_progress' or 'done'.
        email: Email address of the person the task is assigned to, or '' if it is unassigned.
        note_ids: Identifiers of the notes attached to the task.
    """

    task_id: str
    title: str
    project: str
    due_date: str
    priority: str
    status: str
    email: str
    note_ids: list[str]


class TaskList(TypedDict):
    """Tasks matching a query.

    Attributes:
        tasks: The matching tasks, earliest due first.
    """

    tasks: list[Task]


class Note(TypedDict):
    """A note.

    Attributes:
        note_id: Identifier of the note, e.g. 'nte-0002'.
        title: Title of the note.
        body: Text of the note.
        task_id: The task the note is attached to, or '' if it is attached to none.
    """

    note_id: str
    title: str
    body: str
    task_id: str


class NoteList(TypedDict):
    """Notes matching a query.

    Attributes:
        notes: The matching notes, by note_id.
    """

    notes: list[Note]


PRIORITIES = ("low", "medium", "high")
STATUSES = ("open", "in_progress", "done")


def _task(
    task_id: str, title: str, project: str, due_date: str, priority: str, status: str, email: str
) -> dict[str, Any]:
    return {
        "task_id": task_id,
        "title": title,
        "project": project,
        "due_date": due_date,
        "priority": priority,
        "status": status,
        "email": email,
        "note_ids": [],
    }


def _valid_day(value: str) -> bool:
    try:
        datetime.strptime(value, "%Y-%m-%d")
    except (TypeError, ValueError):
        return False
    return True


class TaskBoard(Toolkit):
    """A team task board with notes."""

    category = "Productivity"
    tool_class = "Task management tool"
    description = "Create, list, assign, reprioritise and complete tasks, and write notes attached to tasks."

    @classmethod
    def default_state(cls) -> dict[str, Any]:
        tasks = [
            _task(
                "tsk-0001",
                "Draft Q2 budget",
                "Planning",
                "2026-03-06",
                "high",
                "in_progress",
                "maria.lopez@example.com",
            ),
            _task("tsk-0002", "Book venue for offsite", "Planning", "2026-03-13", "medium", "open", ""),
            _task("tsk-0003", "Fix login timeout bug", "Website", "2026-03-03", "high", "open", "chen.wei@example.com"),
            _task("tsk-0004", "Update privacy page", "Website", "2026-03-20", "low", "open", ""),
            _task(
                "tsk-0005",
                "Send February invoices",
                "Finance",
                "2026-02-27",
                "medium",
                "done",
                "amara.okafor@example.com",
            ),
        ]
        notes = {
            "nte-0001": {
                "note_id": "nte-0001",
                "title": "Budget assumptions",
                "body": "Assume 5% growth in travel costs and two new hires.",
                "task_id": "tsk-0001",
            },
            "nte-0002": {
                "note_id": "nte-0002",
                "title": "Venue ideas",
                "body": "Lakeside Lodge or the Harbor Loft; both need a deposit.",
                "task_id": "",
            },
        }
        tasks[0]["note_ids"].append("nte-0001")
        return {
            "tasks": {t["task_id"]: t for t in tasks},
            "notes": notes,
            "next_task": 6,
            "next_note": 3,
        }

    @classmethod
    def random_state(cls, rng: random.Random) -> dict[str, Any]:
        state = cls.default_state()
        titles = [
            "Review pull request",
            "Prepare slides",
            "Call supplier",
            "Write release notes",
            "Order office supplies",
            "Clean up backlog",
            "Interview candidate",
        ]
        projects = ["Planning", "Website", "Finance", "Hiring"]
        people = ["", "maria.lopez@example.com", "chen.wei@example.com", "lukas.berg@example.com"]
        for number in range(6, 6 + rng.randint(2, 6)):
            task_id = f"tsk-{number:04d}"
            state["tasks"][task_id] = _task(
                task_id,
                rng.choice(titles),
                rng.choice(projects),
                f"2026-03-{rng.randint(1, 28):02d}",
                rng.choice(PRIORITIES),
                rng.choice(STATUSES),
                rng.choice(people),
            )
            state["next_task"] = number + 1
        return state

    # -- tasks ---------------------------------------------------------------------------------------------------

    def create_task(
        self,
        title: str,
        project: str,
        due_date: str,
        priority: Literal["low", "medium", "high"] = "medium",
        email: str | None = None,
    ) -> Task:
        """Create a new open task.

        Args:
            title: What has to be done.
            project: Project the task belongs to, e.g. 'Website'.
            due_date: Day the task is due, 'YYYY-MM-DD'.
            priority: 'low', 'medium' or 'high'.
            email: Email address of the person to assign the task to; leave out for an unassigned task.
        """
        if not title.strip():
            return error("title must not be empty")
        if not _valid_day(due_date):
            return error(f"due_date {due_date!r} is not a day in the format YYYY-MM-DD")
        if priority not in PRIORITIES:
            return error(f"priority must be one of {list(PRIORITIES)}, got {priority!r}")
        if email is not None and "@" not in email:
            return error(f"{email!r} is not an email address")
        task_id = f"tsk-{self.data['next_task']:04d}"
        self.data["next_task"] += 1
        task = _task(task_id, title.strip(), project.strip(), due_date, priority, "open", email or "")
        self.data["tasks"][task_id] = task
        return copy.deepcopy(task)

    def get_task(self, task_id: str) -> Task:
        """Get the details of one task.

        Args:
            task_id: Identifier of the task, e.g. 'tsk-0003'.
        """
        task = self.data["tasks"].get(task_id)
        if task is None:
            return error(f"no task with id {task_id!r}")
        return copy.deepcopy(task)

    def list_tasks(
        self,
        project: str | None = None,
        status: Literal["open", "in_progress", "done"] | None = None,
        email: str | None = None,
    ) -> TaskList:
        """List tasks, optionally only those of a project, with a status or assigned to a person.

        Args:
            project: Only tasks of this project (case-insensitive).
            status: Only tasks with this status.
            email: Only tasks assigned to this email address.
        """
        found = [
            copy.deepcopy(t)
            for t in self.data["tasks"].values()
            if (project is None or t["project"].lower() == project.lower().strip())
            and (status is None or t["status"] == status)
            and (email is None or t["email"].lower() == email.lower().strip())
        ]
        return {"tasks": sorted(found, key=lambda t: (t["due_date"], t["task_id"]))}

    def assign_task(self, task_id: str, email: str) -> Task:
        """Assign a task to a person.

        Args:
            task_id: Identifier of the task.
            email: Email address of the person to assign the task to.
        """
        task = self.data["tasks"].get(task_id)
        if task is None:
            return error(f"no task with id {task_id!r}")
        if "@" not in email:
            return error(f"{email!r} is not an email address")
        task["email"] = email.strip()
        return copy.deepcopy(task)

    def update_due_date(self, task_id: str, due_date: str) -> Task:
        """Move the due date of a task.

        Args:
            task_id: Identifier of the task.
            due_date: New due day, 'YYYY-MM-DD'.
        """
        task = self.data["tasks"].get(task_id)
        if task is None:
            return error(f"no task with id {task_id!r}")
        if not _valid_day(due_date):
            return error(f"due_date {due_date!r} is not a day in the format YYYY-MM-DD")
        task["due_date"] = due_date
        return copy.deepcopy(task)

    def set_priority(self, task_id: str, priority: Literal["low", "medium", "high"]) -> Task:
        """Change the priority of a task.

        Args:
            task_id: Identifier of the task.
            priority: 'low', 'medium' or 'high'.
        """
        task = self.data["tasks"].get(task_id)
        if task is None:
            return error(f"no task with id {task_id!r}")
        if priority not in PRIORITIES:
            return error(f"priority must be one of {list(PRIORITIES)}, got {priority!r}")
        task["priority"] = priority
        return copy.deepcopy(task)

    def start_task(self, task_id: str) -> Task:
        """Mark an open task as in progress.

        Args:
            task_id: Identifier of the task.
        """
        task = self.data["tasks"].get(task_id)
        if task is None:
            return error(f"no task with id {task_id!r}")
        if task["status"] != "open":
            return error(f"task {task_id!r} is {task['status']}, not open")
        task["status"] = "in_progress"
        return copy.deepcopy(task)

    def complete_task(self, task_id: str) -> Task:
        """Mark a task as done.

        Args:
            task_id: Identifier of the task.
        """
        task = self.data["tasks"].get(task_id)
        if task is None:
            return error(f"no task with id {task_id!r}")
        if task["status"] == "done":
            return error(f"task {task_id!r} is already done")
        task["status"] = "done"
        return copy.deepcopy(task)

    # -- notes ---------------------------------------------------------------------------------------------------

    def create_note(self, title: str, body: str) -> Note:
        """Write a new note, not yet attached to any task.

        Args:
            title: Title of the note.
            body: Text of the note.
        """
        if not title.strip() and not body.strip():
            return error("a note needs a title or a body")
        note_id = f"nte-{self.data['next_note']:04d}"
        self.data["next_note"] += 1
        note = {"note_id": note_id, "title": title.strip(), "body": body, "task_id": ""}
        self.data["notes"][note_id] = note
        return dict(note)

    def search_notes(self, keyword: str) -> NoteList:
        """Find notes whose title or body contains a keyword (case-insensitive).

        Args:
            keyword: Text to look for.
        """
        needle = keyword.lower().strip()
        found = [
            dict(n) for n in self.data["notes"].values() if needle in n["title"].lower() or needle in n["body"].lower()
        ]
        return {"notes": sorted(found, key=lambda n: n["note_id"])}

    def attach_note_to_task(self, note_id: str, task_id: str) -> Task:
        """Attach a note to a task (moving it off any task it was attached to before).

        Args:
            note_id: Identifier of the note, e.g. 'nte-0002'.
            task_id: Identifier of the task to attach it to.
        """
        note = self.data["notes"].get(note_id)
        if note is None:
            return error(f"no note with id {note_id!r}")
        task = self.data["tasks"].get(task_id)
        if task is None:
            return error(f"no task with id {task_id!r}")
        previous = self.data["tasks"].get(note["task_id"])
        if previous is not None and note_id in previous["note_ids"]:
            previous["note_ids"].remove(note_id)
        note["task_id"] = task_id
        if note_id not in task["note_ids"]:
            task["note_ids"].append(note_id)
        return copy.deepcopy(task)
