"""Restaurant reservations: find restaurants by city and cuisine, check free tables, book, change and cancel.

Outputs carry ``restaurant_id`` and ``reservation_id`` values that other functions take as inputs
(search_restaurants -> check_availability -> book_table -> modify_reservation), and ``city``, ``date``,
``start``, ``location``, ``latitude`` and ``longitude`` values shared with other toolkits (contacts' cities,
calendar events, nearby places and weather).
"""

from __future__ import annotations

import copy
import math
import random
from datetime import datetime
from typing import Any, TypedDict

from magnet.tools.toolkit import Toolkit, error


class Restaurant(TypedDict):
    """A restaurant.

    Attributes:
        restaurant_id: Identifier of the restaurant, e.g. 'rst-0004'.
        name: Name of the restaurant.
        cuisine: Kind of food, e.g. 'italian'.
        city: City the restaurant is in.
        address: Street address of the restaurant.
        rating: Average guest rating from 1 to 5.
        price_level: Price level from 1 (cheap) to 4 (very expensive).
        latitude: Latitude of the restaurant in degrees.
        longitude: Longitude of the restaurant in degrees.
        opening_time: First bookable time of day, 'HH:MM'.
        closing_time: Closing time of day, 'HH:MM'; the last booking is one hour earlier.
        closed_weekday: Day of the week the restaurant is closed (e.g. 'Monday'), or '' if open every day.
    """

    restaurant_id: str
    name: str
    cuisine: str
    city: str
    address: str
    rating: float
    price_level: int
    latitude: float
    longitude: float
    opening_time: str
    closing_time: str
    closed_weekday: str


class RestaurantList(TypedDict):
    """Restaurants matching a search.

    Attributes:
        restaurants: The matching restaurants, best rated first.
    """

    restaurants: list[Restaurant]


class NearbyRestaurant(Restaurant):
    """A restaurant near a point.

    Attributes:
        distance_km: Distance from the point in kilometres.
    """

    distance_km: float


class NearbyRestaurantList(TypedDict):
    """Restaurants near a point.

    Attributes:
        restaurants: The restaurants found, nearest first.
    """

    restaurants: list[NearbyRestaurant]


class Availability(TypedDict):
    """Free tables of a restaurant on one day.

    Attributes:
        restaurant_id: The restaurant.
        date: The day, 'YYYY-MM-DD'.
        party_size: Number of guests the tables are for.
        open: Whether the restaurant is open that day.
        times: Times of day with a free table, 'HH:MM', earliest first.
    """

    restaurant_id: str
    date: str
    party_size: int
    open: bool
    times: list[str]


class Reservation(TypedDict):
    """A table reservation.

    Attributes:
        reservation_id: Identifier of the reservation, e.g. 'res-0003'.
        restaurant_id: The restaurant booked.
        date: Day of the reservation, 'YYYY-MM-DD'.
        time: Time of the reservation, 'HH:MM'.
        start: Date and time of the reservation, ISO 8601 'YYYY-MM-DDTHH:MM'.
        party_size: Number of guests.
        name: Name the table is booked under.
        location: Restaurant name and address, for a calendar entry.
        status: 'confirmed' or 'cancelled'.
    """

    reservation_id: str
    restaurant_id: str
    date: str
    time: str
    start: str
    party_size: int
    name: str
    location: str
    status: str


class ReservationList(TypedDict):
    """Reservations matching a query.

    Attributes:
        reservations: The reservations, earliest first.
    """

    reservations: list[Reservation]


class Dish(TypedDict):
    """A dish on a menu.

    Attributes:
        dish: Name of the dish.
        price: Price of the dish in the menu's currency.
        vegetarian: Whether the dish is vegetarian.
    """

    dish: str
    price: float
    vegetarian: bool


class Menu(TypedDict):
    """The menu of a restaurant.

    Attributes:
        restaurant_id: The restaurant.
        currency: Currency of the prices, an ISO 4217 code.
        dishes: The dishes on the menu.
    """

    restaurant_id: str
    currency: str
    dishes: list[Dish]


class Review(TypedDict):
    """A guest review.

    Attributes:
        review_id: Identifier of the review, e.g. 'rev-0002'.
        restaurant_id: The restaurant reviewed.
        rating: Stars given, from 1 to 5.
        text: Text of the review.
        new_average: Average rating of the restaurant including this review.
    """

    review_id: str
    restaurant_id: str
    rating: int
    text: str
    new_average: float


class ReviewList(TypedDict):
    """Reviews of a restaurant.

    Attributes:
        reviews: The reviews, oldest first.
    """

    reviews: list[Review]


WEEKDAYS = ["Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"]
MAX_PARTY_SIZE = 10


def _restaurant(
    restaurant_id: str,
    name: str,
    cuisine: str,
    city: str,
    address: str,
    rating: float,
    price_level: int,
    latitude: float,
    longitude: float,
    closed_weekday: str = "",
) -> dict[str, Any]:
    return {
        "restaurant_id": restaurant_id,
        "name": name,
        "cuisine": cuisine,
        "city": city,
        "address": address,
        "rating": rating,
        "price_level": price_level,
        "latitude": latitude,
        "longitude": longitude,
        "opening_time": "12:00",
        "closing_time": "23:00",
        "closed_weekday": closed_weekday,
    }


def _haversine(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    phi1, phi2 = math.radians(lat1), math.radians(lat2)
    dphi, dlambda = math.radians(lat2 - lat1), math.radians(lon2 - lon1)
    a = math.sin(dphi / 2) ** 2 + math.cos(phi1) * math.cos(phi2) * math.sin(dlambda / 2) ** 2
    return 2 * 6371.0 * math.asin(min(1.0, math.sqrt(a)))


def _parse_day(value: str) -> datetime | None:
    try:
        return datetime.strptime(value, "%Y-%m-%d")
    except (TypeError, ValueError):
        return None


def _slots(restaurant: dict[str, Any]) -> list[str]:
    first = int(restaurant["opening_time"][:2])
    last = int(restaurant["closing_time"][:2]) - 1
    return [f"{hour:02d}:00" for hour in range(first, last + 1)]


class Dining(Toolkit):
    """A restaurant booking service."""

    category = "Food"
    tool_class = "Restaurant reservation tool"
    description = "Find restaurants, read menus, check free tables and book, change or cancel reservations."

    @classmethod
    def default_state(cls) -> dict[str, Any]:
        restaurants = [
            _restaurant(
                "rst-0001", "Green Fork", "vegetarian", "Seattle", "410 Pike St, Seattle", 4.6, 2, 47.6097, -122.3405
            ),
            _restaurant(
                "rst-0002",
                "Trattoria Sole",
                "italian",
                "Seattle",
                "88 Union St, Seattle",
                4.3,
                3,
                47.6088,
                -122.3372,
                "Monday",
            ),
            _restaurant(
                "rst-0003",
                "Sakura House",
                "japanese",
                "Portland",
                "21 Burnside St, Portland",
                4.5,
                2,
                45.5231,
                -122.6765,
            ),
            _restaurant(
                "rst-0004", "The Crown Kitchen", "british", "London", "5 Fleet St, London", 4.1, 3, 51.5139, -0.1066
            ),
            _restaurant(
                "rst-0005", "Spice Route", "indian", "London", "77 Brick Ln, London", 4.7, 2, 51.5215, -0.0716, "Sunday"
            ),
            _restaurant(
                "rst-0006", "Osteria Roma", "italian", "Rome", "14 Via Giulia, Rome", 4.8, 3, 41.8967, 12.4696, "Monday"
            ),
            _restaurant("rst-0007", "Curry Haus", "indian", "Berlin", "9 Torstrasse, Berlin", 4.2, 1, 52.5291, 13.4013),
        ]
        menus = {
            "rst-0001": [("Lentil burger", 16.0, True), ("Harvest bowl", 14.5, True), ("Beet tartare", 12.0, True)],
            "rst-0002": [("Margherita pizza", 15.0, True), ("Lasagna", 19.0, False), ("Tiramisu", 8.5, True)],
            "rst-0003": [("Salmon nigiri", 12.0, False), ("Vegetable ramen", 15.5, True), ("Mochi", 6.0, True)],
            "rst-0004": [("Fish and chips", 18.0, False), ("Shepherd's pie", 17.0, False), ("Trifle", 7.5, True)],
            "rst-0005": [("Chicken tikka", 15.0, False), ("Chana masala", 12.5, True), ("Garlic naan", 3.5, True)],
            "rst-0006": [("Cacio e pepe", 16.0, True), ("Saltimbocca", 24.0, False), ("Panna cotta", 8.0, True)],
            "rst-0007": [("Butter chicken", 13.0, False), ("Palak paneer", 11.5, True), ("Mango lassi", 4.0, True)],
        }
        currencies = {"Seattle": "USD", "Portland": "USD", "London": "GBP", "Rome": "EUR", "Berlin": "EUR"}
        reservations = {}
        for number, (restaurant_id, day, time, size, name) in enumerate(
            [
                ("rst-0001", "2026-03-04", "19:00", 2, "Chen Wei"),
                ("rst-0001", "2026-03-04", "19:00", 4, "Maria Lopez"),
                ("rst-0005", "2026-03-06", "20:00", 3, "Amara Okafor"),
            ],
            start=1,
        ):
            restaurant = next(r for r in restaurants if r["restaurant_id"] == restaurant_id)
            reservation_id = f"res-{number:04d}"
            reservations[reservation_id] = {
                "reservation_id": reservation_id,
                "restaurant_id": restaurant_id,
                "date": day,
                "time": time,
                "start": f"{day}T{time}",
                "party_size": size,
                "name": name,
                "location": f"{restaurant['name']}, {restaurant['address']}",
                "status": "confirmed",
            }
        return {
            "restaurants": {r["restaurant_id"]: r for r in restaurants},
            "menus": {
                rid: {
                    "restaurant_id": rid,
                    "currency": currencies[next(r["city"] for r in restaurants if r["restaurant_id"] == rid)],
                    "dishes": [{"dish": d, "price": p, "vegetarian": v} for d, p, v in dishes],
                }
                for rid, dishes in menus.items()
            },
            "reservations": reservations,
            "reviews": {},
            "rating_counts": {r["restaurant_id"]: 20 for r in restaurants},
            "tables_per_slot": 2,
            "next_restaurant": 8,
            "next_reservation": 4,
            "next_review": 1,
        }

    @classmethod
    def random_state(cls, rng: random.Random) -> dict[str, Any]:
        state = cls.default_state()
        places = [
            ("Seattle", 47.61, -122.33, "USD"),
            ("London", 51.51, -0.13, "GBP"),
            ("Rome", 41.90, 12.50, "EUR"),
            ("Berlin", 52.52, 13.40, "EUR"),
            ("Portland", 45.52, -122.68, "USD"),
        ]
        kinds = [
            ("Taco Loco", "mexican"),
            ("Le Petit Bistro", "french"),
            ("Seoul Table", "korean"),
            ("Olive Tree", "greek"),
            ("Noodle Bar", "thai"),
        ]
        for number in range(8, 8 + rng.randint(2, 4)):
            city, lat, lon, currency = rng.choice(places)
            name, cuisine = rng.choice(kinds)
            restaurant_id = f"rst-{number:04d}"
            state["restaurants"][restaurant_id] = _restaurant(
                restaurant_id,
                name,
                cuisine,
                city,
                f"{rng.randint(1, 300)} Market St, {city}",
                round(rng.uniform(3.0, 5.0), 1),
                rng.randint(1, 4),
                round(lat + rng.uniform(-0.03, 0.03), 4),
                round(lon + rng.uniform(-0.03, 0.03), 4),
                rng.choice(["", "Monday", "Tuesday"]),
            )
            state["menus"][restaurant_id] = {
                "restaurant_id": restaurant_id,
                "currency": currency,
                "dishes": [
                    {"dish": f"House special {i}", "price": float(rng.randint(8, 30)), "vegetarian": i % 2 == 0}
                    for i in range(1, 4)
                ],
            }
            state["rating_counts"][restaurant_id] = rng.randint(3, 50)
            state["next_restaurant"] = number + 1
        state["tables_per_slot"] = rng.randint(1, 3)
        return state

    # -- restaurants ---------------------------------------------------------------------------------------------

    def search_restaurants(
        self, city: str, cuisine: str | None = None, max_price_level: int | None = None
    ) -> RestaurantList:
        """Find restaurants in a city, optionally of one cuisine and up to a price level.

        Args:
            city: City to search in (case-insensitive), e.g. 'London'.
            cuisine: Kind of food (case-insensitive), e.g. 'italian'.
            max_price_level: Highest acceptable price level, from 1 (cheap) to 4 (very expensive).
        """
        found = [
            dict(r)
            for r in self.data["restaurants"].values()
            if r["city"].lower() == city.lower().strip()
            and (cuisine is None or r["cuisine"] == cuisine.lower().strip())
            and (max_price_level is None or r["price_level"] <= max_price_level)
        ]
        return {"restaurants": sorted(found, key=lambda r: (-r["rating"], r["restaurant_id"]))}

    def search_restaurants_nearby(
        self, latitude: float, longitude: float, radius_km: float = 2.0, cuisine: str | None = None
    ) -> NearbyRestaurantList:
        """Find restaurants within a radius of a point, nearest first.

        Args:
            latitude: Latitude of the point in degrees, from -90 to 90.
            longitude: Longitude of the point in degrees, from -180 to 180.
            radius_km: Search radius in kilometres.
            cuisine: Only restaurants of this kind of food (case-insensitive), e.g. 'indian'.
        """
        if not (-90 <= latitude <= 90 and -180 <= longitude <= 180):
            return error(f"({latitude}, {longitude}) is not a valid latitude/longitude pair")
        if radius_km <= 0:
            return error(f"radius_km must be positive, got {radius_km}")
        found = []
        for restaurant in self.data["restaurants"].values():
            if cuisine is not None and restaurant["cuisine"] != cuisine.lower().strip():
                continue
            distance = _haversine(latitude, longitude, restaurant["latitude"], restaurant["longitude"])
            if distance <= radius_km:
                found.append(dict(restaurant, distance_km=round(distance, 2)))
        return {"restaurants": sorted(found, key=lambda r: (r["distance_km"], r["restaurant_id"]))}

    def get_restaurant(self, restaurant_id: str) -> Restaurant:
        """Get the details of one restaurant.

        Args:
            restaurant_id: Identifier of the restaurant, e.g. 'rst-0004'.
        """
        restaurant = self.data["restaurants"].get(restaurant_id)
        if restaurant is None:
            return error(f"no restaurant with id {restaurant_id!r}")
        return dict(restaurant)

    def get_menu(self, restaurant_id: str) -> Menu:
        """Get the menu of a restaurant.

        Args:
            restaurant_id: Identifier of the restaurant.
        """
        menu = self.data["menus"].get(restaurant_id)
        if menu is None:
            return error(f"no restaurant with id {restaurant_id!r}")
        return copy.deepcopy(menu)

    def check_availability(self, restaurant_id: str, date: str, party_size: int) -> Availability:
        """List the times a restaurant has a free table for a party on a day.

        Args:
            restaurant_id: Identifier of the restaurant.
            date: The day, 'YYYY-MM-DD'.
            party_size: Number of guests, from 1 to 10.
        """
        restaurant = self.data["restaurants"].get(restaurant_id)
        if restaurant is None:
            return error(f"no restaurant with id {restaurant_id!r}")
        problem = self._check_request(date, party_size)
        if problem:
            return error(problem)
        is_open = self._is_open(restaurant, date)
        times = [t for t in _slots(restaurant) if self._free(restaurant_id, date, t, "")] if is_open else []
        return {"restaurant_id": restaurant_id, "date": date, "party_size": party_size, "open": is_open, "times": times}

    # -- reservations --------------------------------------------------------------------------------------------

    def book_table(self, restaurant_id: str, date: str, time: str, party_size: int, name: str) -> Reservation:
        """Book a table at a restaurant.

        Args:
            restaurant_id: Identifier of the restaurant.
            date: Day of the reservation, 'YYYY-MM-DD'.
            time: Time of the reservation, 'HH:MM' on the hour (see check_availability).
            party_size: Number of guests, from 1 to 10.
            name: Name to book the table under.
        """
        restaurant = self.data["restaurants"].get(restaurant_id)
        if restaurant is None:
            return error(f"no restaurant with id {restaurant_id!r}")
        problem = self._check_request(date, party_size) or self._check_slot(restaurant, date, time, "")
        if problem:
            return error(problem)
        if not name.strip():
            return error("name must not be empty")
        reservation_id = f"res-{self.data['next_reservation']:04d}"
        self.data["next_reservation"] += 1
        reservation = {
            "reservation_id": reservation_id,
            "restaurant_id": restaurant_id,
            "date": date,
            "time": time,
            "start": f"{date}T{time}",
            "party_size": party_size,
            "name": name.strip(),
            "location": f"{restaurant['name']}, {restaurant['address']}",
            "status": "confirmed",
        }
        self.data["reservations"][reservation_id] = reservation
        return dict(reservation)

    def get_reservation(self, reservation_id: str) -> Reservation:
        """Get the details of one reservation.

        Args:
            reservation_id: Identifier of the reservation, e.g. 'res-0003'.
        """
        reservation = self.data["reservations"].get(reservation_id)
        if reservation is None:
            return error(f"no reservation with id {reservation_id!r}")
        return dict(reservation)

    def list_reservations(self, name: str) -> ReservationList:
        """List the confirmed reservations booked under a name.

        Args:
            name: Name the tables were booked under (case-insensitive).
        """
        found = [
            dict(r)
            for r in self.data["reservations"].values()
            if r["name"].lower() == name.lower().strip() and r["status"] == "confirmed"
        ]
        return {"reservations": sorted(found, key=lambda r: (r["start"], r["reservation_id"]))}

    def modify_reservation(
        self, reservation_id: str, date: str | None = None, time: str | None = None, party_size: int | None = None
    ) -> Reservation:
        """Change the day, time or party size of a confirmed reservation; unchanged fields keep their values.

        Args:
            reservation_id: Identifier of the reservation.
            date: New day, 'YYYY-MM-DD'.
            time: New time, 'HH:MM' on the hour.
            party_size: New number of guests, from 1 to 10.
        """
        reservation = self.data["reservations"].get(reservation_id)
        if reservation is None:
            return error(f"no reservation with id {reservation_id!r}")
        if reservation["status"] != "confirmed":
            return error(f"reservation {reservation_id!r} is {reservation['status']}")
        new_date = reservation["date"] if date is None else date
        new_time = reservation["time"] if time is None else time
        new_size = reservation["party_size"] if party_size is None else party_size
        restaurant = self.data["restaurants"][reservation["restaurant_id"]]
        problem = self._check_request(new_date, new_size) or self._check_slot(
            restaurant, new_date, new_time, reservation_id
        )
        if problem:
            return error(problem)
        reservation.update(date=new_date, time=new_time, party_size=new_size, start=f"{new_date}T{new_time}")
        return dict(reservation)

    def cancel_reservation(self, reservation_id: str) -> Reservation:
        """Cancel a reservation, freeing its table.

        Args:
            reservation_id: Identifier of the reservation to cancel.
        """
        reservation = self.data["reservations"].get(reservation_id)
        if reservation is None:
            return error(f"no reservation with id {reservation_id!r}")
        if reservation["status"] == "cancelled":
            return error(f"reservation {reservation_id!r} is already cancelled")
        reservation["status"] = "cancelled"
        return dict(reservation)

    # -- reviews -------------------------------------------------------------------------------------------------

    def leave_review(self, restaurant_id: str, rating: int, text: str = "") -> Review:
        """Review a restaurant; the rating is added to its average.

        Args:
            restaurant_id: Identifier of the restaurant.
            rating: Stars to give, from 1 to 5.
            text: Text of the review.
        """
        restaurant = self.data["restaurants"].get(restaurant_id)
        if restaurant is None:
            return error(f"no restaurant with id {restaurant_id!r}")
        if not 1 <= rating <= 5:
            return error(f"rating must be from 1 to 5, got {rating}")
        count = self.data["rating_counts"].get(restaurant_id, 0)
        restaurant["rating"] = round((restaurant["rating"] * count + rating) / (count + 1), 2)
        self.data["rating_counts"][restaurant_id] = count + 1
        review_id = f"rev-{self.data['next_review']:04d}"
        self.data["next_review"] += 1
        review = {
            "review_id": review_id,
            "restaurant_id": restaurant_id,
            "rating": rating,
            "text": text,
            "new_average": restaurant["rating"],
        }
        self.data["reviews"][review_id] = review
        return dict(review)

    def list_reviews(self, restaurant_id: str) -> ReviewList:
        """List the reviews written for a restaurant.

        Args:
            restaurant_id: Identifier of the restaurant.
        """
        if restaurant_id not in self.data["restaurants"]:
            return error(f"no restaurant with id {restaurant_id!r}")
        found = [dict(r) for r in self.data["reviews"].values() if r["restaurant_id"] == restaurant_id]
        return {"reviews": sorted(found, key=lambda r: r["review_id"])}

    # -- helpers -------------------------------------------------------------------------------------------------

    def _check_request(self, date: str, party_size: int) -> str:
        if _parse_day(date) is None:
            return f"date {date!r} is not a day in the format YYYY-MM-DD"
        if not 1 <= party_size <= MAX_PARTY_SIZE:
            return f"party_size must be from 1 to {MAX_PARTY_SIZE}, got {party_size}"
        return ""

    def _is_open(self, restaurant: dict[str, Any], date: str) -> bool:
        return WEEKDAYS[_parse_day(date).weekday()] != restaurant["closed_weekday"]

    def _free(self, restaurant_id: str, date: str, time: str, ignore: str) -> bool:
        taken = sum(
            1
            for r in self.data["reservations"].values()
            if r["restaurant_id"] == restaurant_id
            and r["date"] == date
            and r["time"] == time
            and r["status"] == "confirmed"
            and r["reservation_id"] != ignore
        )
        return taken < self.data["tables_per_slot"]

    def _check_slot(self, restaurant: dict[str, Any], date: str, time: str, ignore: str) -> str:
        if not self._is_open(restaurant, date):
            return f"{restaurant['name']} is closed on {restaurant['closed_weekday']}s ({date})"
        if time not in _slots(restaurant):
            slots = _slots(restaurant)
            return f"time {time!r} is not a booking time; bookings are on the hour from {slots[0]} to {slots[-1]}"
        if not self._free(restaurant["restaurant_id"], date, time, ignore):
            return f"no free table at {restaurant['name']} on {date} at {time}"
        return ""
