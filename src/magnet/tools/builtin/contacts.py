"""An address book with a mailbox: contacts with emails, phones, companies and cities, and email messages.

Outputs carry ``contact_id``, ``email`` and ``city`` values that other functions (and other toolkits: calendar
attendees, restaurant searches by city, shop orders by customer email) take as inputs.
"""

from __future__ import annotations

import copy
import random
from typing import Any, TypedDict

from magnet.tools.toolkit import Toolkit, error


class Contact(TypedDict):
    """A person in the address book.

    Attributes:
        contact_id: Identifier of the contact, e.g. 'con-0002'.
        name: Full name of the person.
        email: Email address of the person.
        phone: Phone number of the person.
        company: Company the person works for.
        city: City the person lives in.
    """

    contact_id: str
    name: str
    email: str
    phone: str
    company: str
    city: str


class ContactList(TypedDict):
    """Contacts matching a query.

    Attributes:
        contacts: The matching contacts, sorted by name.
    """

    contacts: list[Contact]


class ContactStatus(TypedDict):
    """Outcome of a change to the address book.

    Attributes:
        status: 'ok' when the change was made.
        contact_id: The contact that changed.
    """

    status: str
    contact_id: str


class EmailMessage(TypedDict):
    """An email message in the mailbox.

    Attributes:
        email_id: Identifier of the message, e.g. 'eml-0004'.
        folder: 'inbox' for received messages, 'sent' for messages sent from this mailbox.
        email: Email address of the other party (the sender of a received message, the recipient of a sent one).
        subject: Subject line of the message.
        body: Text of the message.
        date: Day the message was sent, 'YYYY-MM-DD'.
        read: Whether the message has been read.
        in_reply_to: The email_id of the message this one answers, or '' if it answers none.
    """

    email_id: str
    folder: str
    email: str
    subject: str
    body: str
    date: str
    read: bool
    in_reply_to: str


class EmailList(TypedDict):
    """Messages of a mailbox folder.

    Attributes:
        messages: The messages, newest first.
        unread_count: How many messages of the folder are unread.
    """

    messages: list[EmailMessage]
    unread_count: int


def _contact(contact_id: str, name: str, email: str, phone: str, company: str, city: str) -> dict[str, Any]:
    return {"contact_id": contact_id, "name": name, "email": email, "phone": phone, "company": company, "city": city}


def _message(email_id: str, folder: str, email: str, subject: str, body: str, date: str, read: bool) -> dict[str, Any]:
    return {
        "email_id": email_id,
        "folder": folder,
        "email": email,
        "subject": subject,
        "body": body,
        "date": date,
        "read": read,
        "in_reply_to": "",
    }


class Contacts(Toolkit):
    """An address book and an email mailbox."""

    category = "Email"
    tool_class = "Contacts and email tool"
    description = "Look up, add, update and delete contacts, and send, read and answer email messages."

    @classmethod
    def default_state(cls) -> dict[str, Any]:
        contacts = [
            _contact("con-0001", "Maria Lopez", "maria.lopez@example.com", "+1-555-0101", "Northwind", "Seattle"),
            _contact("con-0002", "Chen Wei", "chen.wei@example.com", "+1-555-0102", "Northwind", "Portland"),
            _contact(
                "con-0003", "Amara Okafor", "amara.okafor@example.com", "+44-20-5550-0103", "Blue Harbor", "London"
            ),
            _contact("con-0004", "Lukas Berg", "lukas.berg@example.com", "+49-30-5550-0104", "Blue Harbor", "Berlin"),
            _contact("con-0005", "Sofia Rossi", "sofia.rossi@example.com", "+39-06-5550-0105", "Olive & Co", "Rome"),
        ]
        messages = [
            _message(
                "eml-0001",
                "inbox",
                "maria.lopez@example.com",
                "Planning agenda",
                "Could you send me the numbers before Monday's planning?",
                "2026-02-27",
                False,
            ),
            _message(
                "eml-0002",
                "inbox",
                "amara.okafor@example.com",
                "Dinner in London",
                "Are you free for dinner when you are in London next week?",
                "2026-02-28",
                True,
            ),
            _message(
                "eml-0003",
                "sent",
                "chen.wei@example.com",
                "Team lunch",
                "Lunch on Wednesday at Green Fork?",
                "2026-02-26",
                True,
            ),
        ]
        return {
            "contacts": {c["contact_id"]: c for c in contacts},
            "messages": {m["email_id"]: m for m in messages},
            "today": "2026-03-01",
            "next_contact": 6,
            "next_message": 4,
        }

    @classmethod
    def random_state(cls, rng: random.Random) -> dict[str, Any]:
        state = cls.default_state()
        first = ["Noah", "Emma", "Yuki", "Omar", "Lena", "Ravi", "Ines", "Jonas", "Priya", "Mateo"]
        last = ["Kim", "Novak", "Silva", "Haddad", "Moreau", "Tanaka", "Fischer", "Adeyemi", "Costa"]
        companies = ["Northwind", "Blue Harbor", "Olive & Co", "Redwood Labs", "Acme Foods"]
        cities = ["Seattle", "Portland", "London", "Berlin", "Rome", "Paris", "Tokyo", "Madrid"]
        for number in range(6, 6 + rng.randint(2, 6)):
            given, family = rng.choice(first), rng.choice(last)
            contact_id = f"con-{number:04d}"
            state["contacts"][contact_id] = _contact(
                contact_id,
                f"{given} {family}",
                f"{given.lower()}.{family.lower()}{number}@example.com",
                f"+1-555-{rng.randint(1000, 9999)}",
                rng.choice(companies),
                rng.choice(cities),
            )
            state["next_contact"] = number + 1
        subjects = ["Invoice", "Weekend plans", "Project update", "Quick question", "Photos"]
        for number in range(4, 4 + rng.randint(1, 3)):
            sender = rng.choice(sorted(state["contacts"]))
            email_id = f"eml-{number:04d}"
            state["messages"][email_id] = _message(
                email_id,
                "inbox",
                state["contacts"][sender]["email"],
                rng.choice(subjects),
                "See the details below and let me know what you think.",
                f"2026-02-{rng.randint(20, 28):02d}",
                rng.random() < 0.5,
            )
            state["next_message"] = number + 1
        return state

    # -- contacts ------------------------------------------------------------------------------------------------

    def search_contacts(self, query: str) -> ContactList:
        """Find contacts whose name, email, company or city contains a text (case-insensitive).

        Args:
            query: Text to look for, e.g. a first name or a company.
        """
        needle = query.lower().strip()
        found = [
            dict(c)
            for c in self.data["contacts"].values()
            if any(needle in c[key].lower() for key in ("name", "email", "company", "city"))
        ]
        return {"contacts": sorted(found, key=lambda c: (c["name"], c["contact_id"]))}

    def get_contact(self, contact_id: str) -> Contact:
        """Get the details of one contact.

        Args:
            contact_id: Identifier of the contact, e.g. 'con-0002'.
        """
        contact = self.data["contacts"].get(contact_id)
        if contact is None:
            return error(f"no contact with id {contact_id!r}")
        return dict(contact)

    def find_contact_by_email(self, email: str) -> Contact:
        """Find the contact that has a given email address.

        Args:
            email: Email address to look up (case-insensitive).
        """
        for contact in self.data["contacts"].values():
            if contact["email"].lower() == email.lower().strip():
                return dict(contact)
        return error(f"no contact with email {email!r}")

    def list_contacts_by_company(self, company: str) -> ContactList:
        """List the contacts who work for a company.

        Args:
            company: Name of the company (case-insensitive, exact match).
        """
        found = [dict(c) for c in self.data["contacts"].values() if c["company"].lower() == company.lower().strip()]
        return {"contacts": sorted(found, key=lambda c: (c["name"], c["contact_id"]))}

    def list_contacts_by_city(self, city: str) -> ContactList:
        """List the contacts who live in a city.

        Args:
            city: Name of the city (case-insensitive), e.g. 'London'.
        """
        found = [dict(c) for c in self.data["contacts"].values() if c["city"].lower() == city.lower().strip()]
        return {"contacts": sorted(found, key=lambda c: (c["name"], c["contact_id"]))}

    def add_contact(self, name: str, email: str, phone: str = "", company: str = "", city: str = "") -> Contact:
        """Add a new contact to the address book.

        Args:
            name: Full name of the person.
            email: Email address of the person; must not belong to another contact.
            phone: Phone number of the person.
            company: Company the person works for.
            city: City the person lives in.
        """
        if not name.strip():
            return error("name must not be empty")
        if "@" not in email:
            return error(f"{email!r} is not an email address")
        for contact in self.data["contacts"].values():
            if contact["email"].lower() == email.lower():
                return error(f"email {email!r} already belongs to contact {contact['contact_id']!r}")
        contact_id = f"con-{self.data['next_contact']:04d}"
        self.data["next_contact"] += 1
        contact = _contact(contact_id, name.strip(), email.strip(), phone, company, city)
        self.data["contacts"][contact_id] = contact
        return dict(contact)

    def update_contact_phone(self, contact_id: str, phone: str) -> Contact:
        """Change the phone number of a contact.

        Args:
            contact_id: Identifier of the contact.
            phone: The new phone number.
        """
        contact = self.data["contacts"].get(contact_id)
        if contact is None:
            return error(f"no contact with id {contact_id!r}")
        if not any(ch.isdigit() for ch in phone):
            return error(f"{phone!r} is not a phone number")
        contact["phone"] = phone
        return dict(contact)

    def delete_contact(self, contact_id: str) -> ContactStatus:
        """Delete a contact from the address book.

        Args:
            contact_id: Identifier of the contact to delete.
        """
        if self.data["contacts"].pop(contact_id, None) is None:
            return error(f"no contact with id {contact_id!r}")
        return {"status": "ok", "contact_id": contact_id}

    # -- email ---------------------------------------------------------------------------------------------------

    def send_email(self, email: str, subject: str, body: str) -> EmailMessage:
        """Send an email message.

        Args:
            email: Email address of the recipient.
            subject: Subject line of the message.
            body: Text of the message.
        """
        if "@" not in email:
            return error(f"{email!r} is not an email address")
        if not subject.strip() and not body.strip():
            return error("a message needs a subject or a body")
        return self._store("sent", email, subject, body, "")

    def list_inbox(self, unread_only: bool = False) -> EmailList:
        """List the received messages.

        Args:
            unread_only: Whether to list only the messages not read yet.
        """
        inbox = [m for m in self.data["messages"].values() if m["folder"] == "inbox"]
        shown = [dict(m) for m in inbox if not (unread_only and m["read"])]
        shown.sort(key=lambda m: (m["date"], m["email_id"]), reverse=True)
        return {"messages": shown, "unread_count": sum(1 for m in inbox if not m["read"])}

    def read_email(self, email_id: str) -> EmailMessage:
        """Open one message (received or sent) and mark it as read.

        Args:
            email_id: Identifier of the message, e.g. 'eml-0001'.
        """
        message = self.data["messages"].get(email_id)
        if message is None:
            return error(f"no email with id {email_id!r}")
        message["read"] = True
        return dict(message)

    def reply_email(self, email_id: str, body: str) -> EmailMessage:
        """Answer a received message; the reply goes to its sender with the subject prefixed by 'Re: '.

        Args:
            email_id: Identifier of the received message to answer.
            body: Text of the reply.
        """
        original = self.data["messages"].get(email_id)
        if original is None:
            return error(f"no email with id {email_id!r}")
        if original["folder"] != "inbox":
            return error(f"email {email_id!r} was sent from this mailbox; only received messages can be answered")
        if not body.strip():
            return error("body must not be empty")
        original["read"] = True
        subject = original["subject"] if original["subject"].startswith("Re: ") else f"Re: {original['subject']}"
        return self._store("sent", original["email"], subject, body, email_id)

    def _store(self, folder: str, email: str, subject: str, body: str, in_reply_to: str) -> dict[str, Any]:
        email_id = f"eml-{self.data['next_message']:04d}"
        self.data["next_message"] += 1
        message = _message(email_id, folder, email, subject, body, self.data["today"], True)
        message["in_reply_to"] = in_reply_to
        self.data["messages"][email_id] = message
        return copy.copy(message)
