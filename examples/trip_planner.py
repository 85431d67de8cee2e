"""The README's own-tools example: a toolkit of two chained functions (``search_flights`` gives the ``flight_id``
that ``book_flight`` takes). From the shell: ``magnet synth --pool builtin,examples/trip_planner.py:TripPlanner``."""

from typing import TypedDict

import magnet


class Flight(TypedDict):
    """A flight on offer.

    Attributes:
        flight_id: Identifier of the flight, e.g. 'FL-101'.
        price: Ticket price in EUR.
    """

    flight_id: str
    price: float


class Flights(TypedDict):
    """Flights matching a search.

    Attributes:
        flights: The matching flights.
    """

    flights: list[Flight]


class Booking(TypedDict):
    """A booking just made.

    Attributes:
        booking_id: Identifier of the booking, e.g. 'BK-001'.
    """

    booking_id: str


class TripPlanner(magnet.Toolkit):  # your tools: public methods with type hints and docstrings
    """Flights for a small travel agency."""

    category = "travel"

    @classmethod
    def default_state(cls):
        return {
            "flights": [
                {"flight_id": "FL-100", "origin": "Berlin", "destination": "Lisbon", "price": 189.0},
                {"flight_id": "FL-101", "origin": "Berlin", "destination": "Lisbon", "price": 142.0},
                {"flight_id": "FL-200", "origin": "Lisbon", "destination": "Porto", "price": 59.0},
            ],
            "bookings": [],
        }

    def search_flights(self, origin: str, destination: str) -> Flights:
        """Find flights between two cities.

        Args:
            origin: City the flight leaves from, e.g. "Berlin".
            destination: City the flight arrives in.
        """
        found = [f for f in self.data["flights"] if (f["origin"], f["destination"]) == (origin, destination)]
        return {"flights": [{"flight_id": f["flight_id"], "price": f["price"]} for f in found]}

    def book_flight(self, flight_id: str, passenger: str) -> Booking:
        """Book a seat on a flight.

        Args:
            flight_id: The flight to book, from search_flights.
            passenger: Full name of the passenger.
        """
        if not any(f["flight_id"] == flight_id for f in self.data["flights"]):
            return magnet.error(f"no flight {flight_id}")
        self.data["bookings"].append({"flight_id": flight_id, "passenger": passenger})
        return {"booking_id": f"BK-{len(self.data['bookings']):03d}"}
