"""A staff directory: employees, managers and departments, time-off requests and open positions.

Outputs carry ``employee_id`` and ``request_id`` values that other functions take as inputs (find_employee ->
get_manager -> request_time_off -> approve_time_off), and ``email`` and ``city`` values shared with other
toolkits (calendar attendees, task assignees, restaurant and weather searches by city).
"""

from __future__ import annotations

import random
from datetime import datetime, timedelta
from typing import Any, TypedDict

from magnet.tools.toolkit import Toolkit, error


class Employee(TypedDict):
    """An employee.

    Attributes:
        employee_id: Identifier of the employee, e.g. 'emp-0004'.
        name: Full name of the employee.
        email: Work email address of the employee.
        department: Department the employee works in.
        title: Job title of the employee.
        manager_id: The employee_id of the employee's manager, or '' for the head of the company.
        city: City the employee works in.
    """

    employee_id: str
    name: str
    email: str
    department: str
    title: str
    manager_id: str
    city: str


class EmployeeList(TypedDict):
    """Employees matching a query.

    Attributes:
        employees: The matching employees, by name.
    """

    employees: list[Employee]


class TimeOffRequest(TypedDict):
    """A request for days off.

    Attributes:
        request_id: Identifier of the request, e.g. 'tor-0002'.
        employee_id: The employee asking for time off.
        start_date: First day off, 'YYYY-MM-DD'.
        end_date: Last day off, 'YYYY-MM-DD'.
        days: Number of working days (Monday to Friday) the request takes from the balance.
        status: 'pending', 'approved' or 'rejected'.
    """

    request_id: str
    employee_id: str
    start_date: str
    end_date: str
    days: int
    status: str


class TimeOffBalance(TypedDict):
    """Time-off days of an employee.

    Attributes:
        employee_id: The employee.
        days_remaining: Days off left this year, after approved requests.
        pending_days: Days asked for in requests not decided yet.
    """

    employee_id: str
    days_remaining: int
    pending_days: int


class Position(TypedDict):
    """An open position.

    Attributes:
        position_id: Identifier of the position, e.g. 'pos-0001'.
        title: Job title of the position.
        department: Department that is hiring.
        city: City the position is based in.
        manager_id: The employee_id of the hiring manager.
    """

    position_id: str
    title: str
    department: str
    city: str
    manager_id: str


class PositionList(TypedDict):
    """Open positions matching a query.

    Attributes:
        positions: The matching positions, by position_id.
    """

    positions: list[Position]


class OrgChart(TypedDict):
    """Where an employee sits in the organisation.

    Attributes:
        employee_id: The employee.
        name: Full name of the employee.
        management_chain: Identifiers of the employee's managers, from the direct manager up to the top.
        direct_reports: The employees who report directly to this employee.
    """

    employee_id: str
    name: str
    management_chain: list[str]
    direct_reports: list[Employee]


def _employee(employee_id: str, name: str, department: str, title: str, manager_id: str, city: str) -> dict[str, Any]:
    return {
        "employee_id": employee_id,
        "name": name,
        "email": name.lower().replace(" ", ".") + "@example.com",
        "department": department,
        "title": title,
        "manager_id": manager_id,
        "city": city,
    }


def _parse_day(value: str) -> datetime | None:
    try:
        return datetime.strptime(value, "%Y-%m-%d")
    except (TypeError, ValueError):
        return None


class HRDirectory(Toolkit):
    """A company's staff directory and time-off system."""

    category = "Business"
    tool_class = "Human resources tool"
    description = "Find employees and managers, browse departments, manage time off and list open positions."

    @classmethod
    def default_state(cls) -> dict[str, Any]:
        employees = [
            _employee("emp-0001", "Grace Turner", "Executive", "Chief Executive Officer", "", "Seattle"),
            _employee("emp-0002", "Maria Lopez", "Finance", "Head of Finance", "emp-0001", "Seattle"),
            _employee("emp-0003", "Chen Wei", "Engineering", "Engineering Manager", "emp-0001", "Portland"),
            _employee("emp-0004", "Amara Okafor", "Finance", "Accountant", "emp-0002", "London"),
            _employee("emp-0005", "Lukas Berg", "Engineering", "Software Engineer", "emp-0003", "Berlin"),
            _employee("emp-0006", "Sofia Rossi", "Engineering", "Software Engineer", "emp-0003", "Rome"),
            _employee("emp-0007", "David Park", "Sales", "Account Executive", "emp-0001", "Seattle"),
        ]
        return {
            "employees": {e["employee_id"]: e for e in employees},
            "balances": {e["employee_id"]: 25 for e in employees},
            "requests": {
                "tor-0001": {
                    "request_id": "tor-0001",
                    "employee_id": "emp-0005",
                    "start_date": "2026-03-09",
                    "end_date": "2026-03-13",
                    "days": 5,
                    "status": "pending",
                },
            },
            "positions": {
                "pos-0001": {
                    "position_id": "pos-0001",
                    "title": "Data Engineer",
                    "department": "Engineering",
                    "city": "Berlin",
                    "manager_id": "emp-0003",
                },
                "pos-0002": {
                    "position_id": "pos-0002",
                    "title": "Financial Analyst",
                    "department": "Finance",
                    "city": "London",
                    "manager_id": "emp-0002",
                },
                "pos-0003": {
                    "position_id": "pos-0003",
                    "title": "Sales Representative",
                    "department": "Sales",
                    "city": "Seattle",
                    "manager_id": "emp-0007",
                },
            },
            "next_employee": 8,
            "next_request": 2,
        }

    @classmethod
    def random_state(cls, rng: random.Random) -> dict[str, Any]:
        state = cls.default_state()
        first = ["Olivia", "Ethan", "Hana", "Mohammed", "Clara", "Diego", "Ava", "Felix", "Zara", "Leo"]
        last = ["Nguyen", "Schmidt", "Ali", "Dubois", "Santos", "Larsen", "Kowalski", "Ito"]
        roles = [
            ("Engineering", "Software Engineer", "emp-0003"),
            ("Finance", "Accountant", "emp-0002"),
            ("Sales", "Account Executive", "emp-0007"),
        ]
        cities = ["Seattle", "Portland", "London", "Berlin", "Rome"]
        for number in range(8, 8 + rng.randint(2, 5)):
            department, title, manager = rng.choice(roles)
            employee_id = f"emp-{number:04d}"
            employee = _employee(
                employee_id, f"{rng.choice(first)} {rng.choice(last)}", department, title, manager, rng.choice(cities)
            )
            employee["email"] = employee["email"].replace("@", f"{number}@")
            state["employees"][employee_id] = employee
            state["next_employee"] = number + 1
        state["balances"] = {e: rng.randint(5, 30) for e in sorted(state["employees"])}
        return state

    # -- people --------------------------------------------------------------------------------------------------

    def find_employee(self, name: str) -> EmployeeList:
        """Find employees whose name contains a text (case-insensitive).

        Args:
            name: Full or partial name, e.g. 'Chen'.
        """
        needle = name.lower().strip()
        found = [dict(e) for e in self.data["employees"].values() if needle in e["name"].lower()]
        return {"employees": sorted(found, key=lambda e: (e["name"], e["employee_id"]))}

    def find_employee_by_email(self, email: str) -> Employee:
        """Find the employee with a given work email address.

        Args:
            email: Work email address (case-insensitive).
        """
        for employee in self.data["employees"].values():
            if employee["email"].lower() == email.lower().strip():
                return dict(employee)
        return error(f"no employee with email {email!r}")

    def get_employee(self, employee_id: str) -> Employee:
        """Get the details of one employee.

        Args:
            employee_id: Identifier of the employee, e.g. 'emp-0004'.
        """
        employee = self.data["employees"].get(employee_id)
        if employee is None:
            return error(f"no employee with id {employee_id!r}")
        return dict(employee)

    def list_department(self, department: str) -> EmployeeList:
        """List the employees of a department.

        Args:
            department: Name of the department (case-insensitive), e.g. 'Engineering'.
        """
        found = [
            dict(e) for e in self.data["employees"].values() if e["department"].lower() == department.lower().strip()
        ]
        if not found:
            departments = sorted({e["department"] for e in self.data["employees"].values()})
            return error(f"no department named {department!r}; departments are {departments}")
        return {"employees": sorted(found, key=lambda e: (e["name"], e["employee_id"]))}

    def get_manager(self, employee_id: str) -> Employee:
        """Get the manager of an employee.

        Args:
            employee_id: Identifier of the employee.
        """
        employee = self.data["employees"].get(employee_id)
        if employee is None:
            return error(f"no employee with id {employee_id!r}")
        manager = self.data["employees"].get(employee["manager_id"])
        if manager is None:
            return error(f"employee {employee_id!r} has no manager")
        return dict(manager)

    def get_org_chart(self, employee_id: str) -> OrgChart:
        """Get an employee's chain of managers and direct reports.

        Args:
            employee_id: Identifier of the employee.
        """
        employee = self.data["employees"].get(employee_id)
        if employee is None:
            return error(f"no employee with id {employee_id!r}")
        chain: list[str] = []
        current = employee["manager_id"]
        while current and current in self.data["employees"] and current not in chain:
            chain.append(current)
            current = self.data["employees"][current]["manager_id"]
        reports = [dict(e) for e in self.data["employees"].values() if e["manager_id"] == employee_id]
        return {
            "employee_id": employee_id,
            "name": employee["name"],
            "management_chain": chain,
            "direct_reports": sorted(reports, key=lambda e: e["employee_id"]),
        }

    def update_title(self, employee_id: str, title: str) -> Employee:
        """Change the job title of an employee.

        Args:
            employee_id: Identifier of the employee.
            title: The new job title.
        """
        employee = self.data["employees"].get(employee_id)
        if employee is None:
            return error(f"no employee with id {employee_id!r}")
        if not title.strip():
            return error("title must not be empty")
        employee["title"] = title.strip()
        return dict(employee)

    def list_open_positions(self, department: str | None = None, city: str | None = None) -> PositionList:
        """List the open positions, optionally only those of a department or in a city.

        Args:
            department: Only positions of this department (case-insensitive).
            city: Only positions based in this city (case-insensitive).
        """
        found = [
            dict(p)
            for p in self.data["positions"].values()
            if (department is None or p["department"].lower() == department.lower().strip())
            and (city is None or p["city"].lower() == city.lower().strip())
        ]
        return {"positions": sorted(found, key=lambda p: p["position_id"])}

    # -- time off ------------------------------------------------------------------------------------------------

    def request_time_off(self, employee_id: str, start_date: str, end_date: str) -> TimeOffRequest:
        """Ask for days off; the request waits for the manager's approval.

        Args:
            employee_id: Identifier of the employee asking.
            start_date: First day off, 'YYYY-MM-DD'.
            end_date: Last day off, 'YYYY-MM-DD' (the same as start_date for a single day).
        """
        if employee_id not in self.data["employees"]:
            return error(f"no employee with id {employee_id!r}")
        first, last = _parse_day(start_date), _parse_day(end_date)
        if first is None:
            return error(f"start_date {start_date!r} is not a day in the format YYYY-MM-DD")
        if last is None:
            return error(f"end_date {end_date!r} is not a day in the format YYYY-MM-DD")
        if last < first:
            return error(f"end_date {end_date} is before start_date {start_date}")
        days = sum(1 for n in range((last - first).days + 1) if (first + timedelta(days=n)).weekday() < 5)
        if days == 0:
            return error(f"{start_date} to {end_date} contains no working days")
        balance = self._balance(employee_id)
        if days > balance["days_remaining"] - balance["pending_days"]:
            return error(
                f"employee {employee_id!r} has {balance['days_remaining']} day(s) left "
                f"({balance['pending_days']} pending), {days} requested"
            )
        request_id = f"tor-{self.data['next_request']:04d}"
        self.data["next_request"] += 1
        request = {
            "request_id": request_id,
            "employee_id": employee_id,
            "start_date": start_date,
            "end_date": end_date,
            "days": days,
            "status": "pending",
        }
        self.data["requests"][request_id] = request
        return dict(request)

    def approve_time_off(self, request_id: str) -> TimeOffRequest:
        """Approve a pending time-off request; its days are taken from the employee's balance.

        Args:
            request_id: Identifier of the request, e.g. 'tor-0001'.
        """
        request = self.data["requests"].get(request_id)
        if request is None:
            return error(f"no time-off request with id {request_id!r}")
        if request["status"] != "pending":
            return error(f"time-off request {request_id!r} is already {request['status']}")
        request["status"] = "approved"
        employee_id = request["employee_id"]
        self.data["balances"][employee_id] = self.data["balances"].get(employee_id, 0) - request["days"]
        return dict(request)

    def get_time_off_balance(self, employee_id: str) -> TimeOffBalance:
        """Get how many days off an employee has left and how many are pending approval.

        Args:
            employee_id: Identifier of the employee.
        """
        if employee_id not in self.data["employees"]:
            return error(f"no employee with id {employee_id!r}")
        return self._balance(employee_id)

    def _balance(self, employee_id: str) -> dict[str, Any]:
        pending = sum(
            r["days"]
            for r in self.data["requests"].values()
            if r["employee_id"] == employee_id and r["status"] == "pending"
        )
        return {
            "employee_id": employee_id,
            "days_remaining": self.data["balances"].get(employee_id, 0),
            "pending_days": pending,
        }
