"""Weather and places: city coordinates, deterministic weather, forecasts, air quality, daylight and nearby places.

Weather values are derived from a SHA-256 digest of the inputs and a seasonal curve, never from a random
generator or the clock, so the same call always gives the same answer. Outputs carry ``city``, ``latitude``,
``longitude``, ``date``, ``temperature_c`` and ``place_id`` values that other functions (and other toolkits:
contacts' and restaurants' cities, restaurant coordinates, thermostat temperatures) take as inputs.
"""

from __future__ import annotations

import hashlib
import math
import random
from datetime import datetime, timedelta
from typing import Any, Literal, TypedDict

from magnet.tools.toolkit import Toolkit, error


class Coordinates(TypedDict):
    """Where a city is.

    Attributes:
        city: Name of the city.
        country: Country the city is in.
        latitude: Latitude of the city centre in degrees (north positive).
        longitude: Longitude of the city centre in degrees (east positive).
    """

    city: str
    country: str
    latitude: float
    longitude: float


class NearestCity(TypedDict):
    """The known city closest to a point.

    Attributes:
        city: Name of the city.
        country: Country the city is in.
        latitude: Latitude of the city centre in degrees.
        longitude: Longitude of the city centre in degrees.
        distance_km: Distance from the point to the city centre in kilometres.
    """

    city: str
    country: str
    latitude: float
    longitude: float
    distance_km: float


class Weather(TypedDict):
    """Current weather in a city.

    Attributes:
        city: The city.
        date: The day the observation is for, 'YYYY-MM-DD'.
        temperature_c: Air temperature in degrees Celsius.
        condition: Sky condition, e.g. 'sunny', 'cloudy', 'rain' or 'snow'.
        humidity: Relative humidity in percent.
        wind_kph: Wind speed in kilometres per hour.
    """

    city: str
    date: str
    temperature_c: float
    condition: str
    humidity: int
    wind_kph: float


class ForecastDay(TypedDict):
    """The forecast for one day.

    Attributes:
        date: The day, 'YYYY-MM-DD'.
        high_c: Highest temperature in degrees Celsius.
        low_c: Lowest temperature in degrees Celsius.
        condition: Expected sky condition, e.g. 'sunny' or 'rain'.
        precipitation_chance: Chance of rain or snow in percent.
    """

    date: str
    high_c: float
    low_c: float
    condition: str
    precipitation_chance: int


class Forecast(TypedDict):
    """A multi-day forecast for a city.

    Attributes:
        city: The city.
        days: One entry per day, starting today.
    """

    city: str
    days: list[ForecastDay]


class Temperature(TypedDict):
    """A temperature in another unit.

    Attributes:
        temperature_c: The temperature in degrees Celsius that was converted.
        value: The converted temperature.
        unit: Unit of the converted value: 'C', 'F' or 'K'.
    """

    temperature_c: float
    value: float
    unit: str


class AirQuality(TypedDict):
    """Air quality in a city today.

    Attributes:
        city: The city.
        date: The day, 'YYYY-MM-DD'.
        aqi: Air quality index (0 is best; above 150 is unhealthy).
        level: 'good', 'moderate', 'unhealthy for sensitive groups' or 'unhealthy'.
    """

    city: str
    date: str
    aqi: int
    level: str


class Daylight(TypedDict):
    """Sunrise and sunset of a city on one day, in local standard time.

    Attributes:
        city: The city.
        date: The day, 'YYYY-MM-DD'.
        sunrise: Time of sunrise, 'HH:MM'.
        sunset: Time of sunset, 'HH:MM'.
        day_length_minutes: Minutes between sunrise and sunset.
    """

    city: str
    date: str
    sunrise: str
    sunset: str
    day_length_minutes: int


class Distance(TypedDict):
    """Great-circle distance between two cities.

    Attributes:
        from_city: The first city.
        to_city: The second city.
        distance_km: Distance between the city centres in kilometres.
    """

    from_city: str
    to_city: str
    distance_km: float


class NearbyPlace(TypedDict):
    """A place near a point.

    Attributes:
        place_id: Identifier of the place, e.g. 'plc-0004'.
        name: Name of the place.
        kind: Kind of place, e.g. 'cafe'.
        distance_km: Distance from the point in kilometres.
    """

    place_id: str
    name: str
    kind: str
    distance_km: float


class NearbyPlaces(TypedDict):
    """Places near a point.

    Attributes:
        places: The places found, nearest first.
    """

    places: list[NearbyPlace]


class Place(TypedDict):
    """A place such as a cafe, park or museum.

    Attributes:
        place_id: Identifier of the place, e.g. 'plc-0004'.
        name: Name of the place.
        kind: Kind of place: 'cafe', 'park', 'museum', 'pharmacy', 'supermarket' or 'gym'.
        address: Street address of the place.
        city: City the place is in.
        latitude: Latitude of the place in degrees.
        longitude: Longitude of the place in degrees.
        rating: Average visitor rating from 1 to 5.
    """

    place_id: str
    name: str
    kind: str
    address: str
    city: str
    latitude: float
    longitude: float
    rating: float


class SavedPlaces(TypedDict):
    """The list of saved places.

    Attributes:
        place_id: The place just saved.
        saved_place_ids: Identifiers of all saved places, in the order they were saved.
    """

    place_id: str
    saved_place_ids: list[str]


PLACE_KINDS = ("cafe", "park", "museum", "pharmacy", "supermarket", "gym")
EARTH_RADIUS_KM = 6371.0


def _unit(*parts: Any) -> float:
    """A deterministic pseudo-random number in [0, 1) from the inputs."""
    digest = hashlib.sha256("|".join(str(p) for p in parts).encode("utf-8")).digest()
    return int.from_bytes(digest[:8], "big") / 2**64


def _haversine(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    phi1, phi2 = math.radians(lat1), math.radians(lat2)
    dphi, dlambda = math.radians(lat2 - lat1), math.radians(lon2 - lon1)
    a = math.sin(dphi / 2) ** 2 + math.cos(phi1) * math.cos(phi2) * math.sin(dlambda / 2) ** 2
    return 2 * EARTH_RADIUS_KM * math.asin(min(1.0, math.sqrt(a)))


def _parse_day(value: str) -> datetime | None:
    try:
        return datetime.strptime(value, "%Y-%m-%d")
    except (TypeError, ValueError):
        return None


def _clock(hours: float) -> str:
    minutes = round(hours * 60) % (24 * 60)
    return f"{minutes // 60:02d}:{minutes % 60:02d}"


def _city(name: str, country: str, lat: float, lon: float, offset: float, mean: float, swing: float) -> dict:
    return {
        "city": name,
        "country": country,
        "latitude": lat,
        "longitude": lon,
        "utc_offset_hours": offset,
        "mean_temperature_c": mean,
        "seasonal_swing_c": swing,
    }


class WeatherPlaces(Toolkit):
    """Weather reports and a directory of places."""

    category = "Weather"
    tool_class = "Weather condition tool"
    description = "Look up city coordinates, current weather, forecasts, air quality, daylight and nearby places."

    @classmethod
    def default_state(cls) -> dict[str, Any]:
        cities = [
            _city("Seattle", "United States", 47.6062, -122.3321, -8, 11.5, 7.0),
            _city("Portland", "United States", 45.5152, -122.6784, -8, 12.5, 8.0),
            _city("New York", "United States", 40.7128, -74.006, -5, 13.0, 12.0),
            _city("London", "United Kingdom", 51.5074, -0.1278, 0, 11.5, 6.5),
            _city("Paris", "France", 48.8566, 2.3522, 1, 12.5, 8.0),
            _city("Berlin", "Germany", 52.52, 13.405, 1, 10.0, 9.5),
            _city("Rome", "Italy", 41.9028, 12.4964, 1, 15.5, 8.5),
            _city("Madrid", "Spain", 40.4168, -3.7038, 1, 15.0, 10.0),
            _city("Tokyo", "Japan", 35.6762, 139.6503, 9, 16.0, 10.5),
            _city("Sydney", "Australia", -33.8688, 151.2093, 10, 18.0, 5.0),
        ]
        rows = [
            ("Morning Ritual", "cafe", "1520 Pike Pl", "Seattle", 47.6101, -122.3421, 4.5),
            ("Volunteer Park", "park", "1247 15th Ave E", "Seattle", 47.6302, -122.3153, 4.7),
            ("Harbor Pharmacy", "pharmacy", "300 1st Ave", "Seattle", 47.6035, -122.3345, 4.0),
            ("Museum of Flight", "museum", "9404 E Marginal Way", "Seattle", 47.518, -122.2964, 4.8),
            ("Rose Garden", "park", "400 SW Kingston Ave", "Portland", 45.5189, -122.7055, 4.8),
            ("Bean Counter", "cafe", "12 Alder St", "Portland", 45.5185, -122.679, 4.3),
            ("Covent Beans", "cafe", "22 Neal St", "London", 51.5142, -0.1257, 4.4),
            ("Hyde Park", "park", "Hyde Park", "London", 51.5073, -0.1657, 4.7),
            ("British Museum", "museum", "Great Russell St", "London", 51.5194, -0.127, 4.8),
            ("FitBox Soho", "gym", "5 Poland St", "London", 51.5145, -0.1366, 4.1),
            ("Tiergarten", "park", "Strasse des 17. Juni", "Berlin", 52.5145, 13.3501, 4.6),
            ("Kiez Markt", "supermarket", "44 Torstrasse", "Berlin", 52.5293, 13.4019, 3.9),
            ("Villa Borghese", "park", "Piazzale Napoleone I", "Rome", 41.9142, 12.4923, 4.7),
            ("Caffe Sant'Eustachio", "cafe", "82 Piazza di S. Eustachio", "Rome", 41.8983, 12.4755, 4.5),
        ]
        places = {
            f"plc-{n:04d}": {
                "place_id": f"plc-{n:04d}",
                "name": name,
                "kind": kind,
                "address": f"{address}, {city}",
                "city": city,
                "latitude": lat,
                "longitude": lon,
                "rating": rating,
            }
            for n, (name, kind, address, city, lat, lon, rating) in enumerate(rows, start=1)
        }
        return {
            "cities": {c["city"]: c for c in cities},
            "places": places,
            "saved_place_ids": [],
            "today": "2026-03-01",
            "next_place": len(rows) + 1,
        }

    @classmethod
    def random_state(cls, rng: random.Random) -> dict[str, Any]:
        state = cls.default_state()
        names = {
            "cafe": ["Daily Grind", "Corner Cup", "Brew Lab"],
            "park": ["Riverside Park", "Green Commons", "Hilltop Gardens"],
            "museum": ["City History Museum", "Modern Art Hall"],
            "pharmacy": ["Care Pharmacy", "Apotheke Mitte"],
            "supermarket": ["Fresh Basket", "Market Corner"],
            "gym": ["Pulse Fitness", "Iron Works Gym"],
        }
        for _ in range(rng.randint(3, 6)):
            city = state["cities"][rng.choice(sorted(state["cities"]))]
            kind = rng.choice(PLACE_KINDS)
            place_id = f"plc-{state['next_place']:04d}"
            state["next_place"] += 1
            state["places"][place_id] = {
                "place_id": place_id,
                "name": rng.choice(names[kind]),
                "kind": kind,
                "address": f"{rng.randint(1, 500)} Main St, {city['city']}",
                "city": city["city"],
                "latitude": round(city["latitude"] + rng.uniform(-0.03, 0.03), 4),
                "longitude": round(city["longitude"] + rng.uniform(-0.03, 0.03), 4),
                "rating": round(rng.uniform(3.0, 5.0), 1),
            }
        return state

    # -- geography -----------------------------------------------------------------------------------------------

    def get_coordinates(self, city: str) -> Coordinates:
        """Get the latitude and longitude of a city centre.

        Args:
            city: Name of the city (case-insensitive), e.g. 'Berlin'.
        """
        found = self._find_city(city)
        if found is None:
            return error(self._unknown_city(city))
        return {k: found[k] for k in ("city", "country", "latitude", "longitude")}

    def find_nearest_city(self, latitude: float, longitude: float) -> NearestCity:
        """Find the known city closest to a point.

        Args:
            latitude: Latitude of the point in degrees, from -90 to 90.
            longitude: Longitude of the point in degrees, from -180 to 180.
        """
        if not (-90 <= latitude <= 90 and -180 <= longitude <= 180):
            return error(f"({latitude}, {longitude}) is not a valid latitude/longitude pair")
        best = min(
            self.data["cities"].values(),
            key=lambda c: (_haversine(latitude, longitude, c["latitude"], c["longitude"]), c["city"]),
        )
        result = {k: best[k] for k in ("city", "country", "latitude", "longitude")}
        result["distance_km"] = round(_haversine(latitude, longitude, best["latitude"], best["longitude"]), 1)
        return result

    def get_distance(self, from_city: str, to_city: str) -> Distance:
        """Get the great-circle distance between two cities.

        Args:
            from_city: Name of the first city.
            to_city: Name of the second city.
        """
        first, second = self._find_city(from_city), self._find_city(to_city)
        if first is None:
            return error(self._unknown_city(from_city))
        if second is None:
            return error(self._unknown_city(to_city))
        distance = _haversine(first["latitude"], first["longitude"], second["latitude"], second["longitude"])
        return {"from_city": first["city"], "to_city": second["city"], "distance_km": round(distance, 1)}

    # -- weather -------------------------------------------------------------------------------------------------

    def get_current_weather(self, city: str) -> Weather:
        """Get the current weather in a city.

        Args:
            city: Name of the city (case-insensitive), e.g. 'London'.
        """
        found = self._find_city(city)
        if found is None:
            return error(self._unknown_city(city))
        day = self.data["today"]
        base = self._seasonal(found, day)
        temperature = round(base + (_unit(found["city"], day, "now") - 0.5) * 8, 1)
        wet = _unit(found["city"], day, "rain")
        return {
            "city": found["city"],
            "date": day,
            "temperature_c": temperature,
            "condition": self._condition(temperature, wet),
            "humidity": int(35 + wet * 60),
            "wind_kph": round(_unit(found["city"], day, "wind") * 40, 1),
        }

    def get_forecast(self, city: str, days: int = 3) -> Forecast:
        """Get the weather forecast of a city for the coming days, starting today.

        Args:
            city: Name of the city (case-insensitive).
            days: Number of days to forecast, from 1 to 7.
        """
        found = self._find_city(city)
        if found is None:
            return error(self._unknown_city(city))
        if not 1 <= days <= 7:
            return error(f"days must be from 1 to 7, got {days}")
        start = _parse_day(self.data["today"])
        forecast = []
        for offset in range(days):
            day = (start + timedelta(days=offset)).strftime("%Y-%m-%d")
            base = self._seasonal(found, day)
            middle = base + (_unit(found["city"], day, "now") - 0.5) * 8
            spread = 3 + _unit(found["city"], day, "spread") * 6
            wet = _unit(found["city"], day, "rain")
            forecast.append(
                {
                    "date": day,
                    "high_c": round(middle + spread / 2, 1),
                    "low_c": round(middle - spread / 2, 1),
                    "condition": self._condition(middle, wet),
                    "precipitation_chance": int(wet * 100),
                }
            )
        return {"city": found["city"], "days": forecast}

    def convert_temperature(self, temperature_c: float, to_unit: Literal["C", "F", "K"]) -> Temperature:
        """Convert a temperature in degrees Celsius to Fahrenheit or Kelvin.

        Args:
            temperature_c: The temperature in degrees Celsius.
            to_unit: Unit to convert to: 'C' (Celsius), 'F' (Fahrenheit) or 'K' (Kelvin).
        """
        if temperature_c < -273.15:
            return error(f"{temperature_c} °C is below absolute zero")
        converters = {"C": lambda t: t, "F": lambda t: t * 9 / 5 + 32, "K": lambda t: t + 273.15}
        convert = converters.get(to_unit)
        if convert is None:
            return error(f"unknown unit {to_unit!r}; use 'C', 'F' or 'K'")
        return {"temperature_c": temperature_c, "value": round(convert(temperature_c), 2), "unit": to_unit}

    def get_air_quality(self, city: str) -> AirQuality:
        """Get today's air quality index of a city.

        Args:
            city: Name of the city (case-insensitive).
        """
        found = self._find_city(city)
        if found is None:
            return error(self._unknown_city(city))
        aqi = int(10 + _unit(found["city"], self.data["today"], "aqi") * 160)
        if aqi <= 50:
            level = "good"
        elif aqi <= 100:
            level = "moderate"
        elif aqi <= 150:
            level = "unhealthy for sensitive groups"
        else:
            level = "unhealthy"
        return {"city": found["city"], "date": self.data["today"], "aqi": aqi, "level": level}

    def get_sunrise_sunset(self, city: str, date: str) -> Daylight:
        """Get the times of sunrise and sunset in a city on a day (local standard time).

        Args:
            city: Name of the city (case-insensitive).
            date: The day, 'YYYY-MM-DD'.
        """
        found = self._find_city(city)
        if found is None:
            return error(self._unknown_city(city))
        day = _parse_day(date)
        if day is None:
            return error(f"date {date!r} is not a day in the format YYYY-MM-DD")
        declination = math.radians(23.44) * math.sin(2 * math.pi * (284 + day.timetuple().tm_yday) / 365)
        cosine = -math.tan(math.radians(found["latitude"])) * math.tan(declination)
        half_day = math.degrees(math.acos(max(-1.0, min(1.0, cosine)))) / 15
        noon = 12 + found["utc_offset_hours"] - found["longitude"] / 15
        return {
            "city": found["city"],
            "date": date,
            "sunrise": _clock(noon - half_day),
            "sunset": _clock(noon + half_day),
            "day_length_minutes": round(half_day * 120),
        }

    # -- places --------------------------------------------------------------------------------------------------

    def find_places_nearby(
        self,
        latitude: float,
        longitude: float,
        kind: Literal["cafe", "park", "museum", "pharmacy", "supermarket", "gym"],
        radius_km: float = 5.0,
    ) -> NearbyPlaces:
        """Find places of one kind within a radius of a point.

        Args:
            latitude: Latitude of the point in degrees.
            longitude: Longitude of the point in degrees.
            kind: Kind of place to look for.
            radius_km: Search radius in kilometres.
        """
        if kind not in PLACE_KINDS:
            return error(f"unknown kind {kind!r}; use one of {list(PLACE_KINDS)}")
        if radius_km <= 0:
            return error(f"radius_km must be positive, got {radius_km}")
        found = []
        for place in self.data["places"].values():
            if place["kind"] != kind:
                continue
            distance = _haversine(latitude, longitude, place["latitude"], place["longitude"])
            if distance <= radius_km:
                found.append(
                    {
                        "place_id": place["place_id"],
                        "name": place["name"],
                        "kind": kind,
                        "distance_km": round(distance, 2),
                    }
                )
        return {"places": sorted(found, key=lambda p: (p["distance_km"], p["place_id"]))}

    def get_place_details(self, place_id: str) -> Place:
        """Get the address, city, coordinates and rating of a place.

        Args:
            place_id: Identifier of the place, e.g. 'plc-0004'.
        """
        place = self.data["places"].get(place_id)
        if place is None:
            return error(f"no place with id {place_id!r}")
        return dict(place)

    def save_place(self, place_id: str) -> SavedPlaces:
        """Add a place to the list of saved places.

        Args:
            place_id: Identifier of the place to save.
        """
        if place_id not in self.data["places"]:
            return error(f"no place with id {place_id!r}")
        if place_id not in self.data["saved_place_ids"]:
            self.data["saved_place_ids"].append(place_id)
        return {"place_id": place_id, "saved_place_ids": list(self.data["saved_place_ids"])}

    # -- helpers -------------------------------------------------------------------------------------------------

    def _find_city(self, name: str) -> dict[str, Any] | None:
        wanted = name.strip().lower()
        for city in self.data["cities"].values():
            if city["city"].lower() == wanted:
                return city
        return None

    def _unknown_city(self, name: str) -> str:
        return f"unknown city {name!r}; known cities are {sorted(self.data['cities'])}"

    def _seasonal(self, city: dict[str, Any], day: str) -> float:
        year_day = _parse_day(day).timetuple().tm_yday
        wave = math.cos(2 * math.pi * (year_day - 200) / 365)
        hemisphere = 1 if city["latitude"] >= 0 else -1
        return city["mean_temperature_c"] + hemisphere * city["seasonal_swing_c"] * wave

    @staticmethod
    def _condition(temperature: float, wet: float) -> str:
        if wet > 0.75:
            return "snow" if temperature < 1 else "rain"
        if wet > 0.55:
            return "cloudy"
        if wet > 0.3:
            return "partly cloudy"
        return "sunny"
