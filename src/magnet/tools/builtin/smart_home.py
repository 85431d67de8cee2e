"""A smart home: lights, thermostats, door locks and plugs by room, scenes and energy use.

Outputs carry ``device_id`` and ``scene_id`` values that other functions take as inputs (list_devices ->
set_brightness, create_scene -> activate_scene), and ``temperature_c`` values shared with the weather toolkit.
"""

from __future__ import annotations

import random
from typing import Any, Literal, TypedDict

from magnet.tools.toolkit import Toolkit, error


class Device(TypedDict):
    """A connected device and its state.

    Attributes:
        device_id: Identifier of the device, e.g. 'dev-0003'.
        name: Name of the device.
        room: Room the device is in.
        kind: 'light', 'thermostat', 'lock' or 'plug'.
        is_on: Whether the device is switched on (locks are always on).
        brightness: Brightness in percent for lights, null for other kinds.
        temperature_c: Target temperature in degrees Celsius for thermostats, null for other kinds.
        locked: Whether the door is locked for locks, null for other kinds.
        power_watts: Power the device draws while on, in watts.
    """

    device_id: str
    name: str
    room: str
    kind: str
    is_on: bool
    brightness: int | None
    temperature_c: float | None
    locked: bool | None
    power_watts: float


class DeviceList(TypedDict):
    """Devices matching a query.

    Attributes:
        devices: The matching devices, by device_id.
    """

    devices: list[Device]


class Scene(TypedDict):
    """A scene: saved settings of several devices, applied together.

    Attributes:
        scene_id: Identifier of the scene, e.g. 'scn-0002'.
        name: Name of the scene.
        device_ids: Identifiers of the devices the scene sets.
    """

    scene_id: str
    name: str
    device_ids: list[str]


class SceneResult(TypedDict):
    """The outcome of activating a scene.

    Attributes:
        scene_id: The scene activated.
        name: Name of the scene.
        devices: The state of each device of the scene after activation.
    """

    scene_id: str
    name: str
    devices: list[Device]


class AwayMode(TypedDict):
    """What switching on away mode changed.

    Attributes:
        locked_device_ids: Identifiers of the locks that were locked.
        switched_off_device_ids: Identifiers of the lights and plugs that were switched off.
        thermostat_temperature_c: Temperature in degrees Celsius the thermostats were set back to.
    """

    locked_device_ids: list[str]
    switched_off_device_ids: list[str]
    thermostat_temperature_c: float


class EnergyUsage(TypedDict):
    """Energy used by a device today.

    Attributes:
        device_id: The device, or '' for the whole home.
        energy_kwh: Energy used today in kilowatt-hours.
        cost: Cost of that energy at the household tariff.
        currency: Currency of the cost, an ISO 4217 code.
    """

    device_id: str
    energy_kwh: float
    cost: float
    currency: str


KINDS = ("light", "thermostat", "lock", "plug")
SETTINGS = ("is_on", "brightness", "temperature_c", "locked")


def _device(device_id: str, name: str, room: str, kind: str, power: float, energy: float) -> dict[str, Any]:
    return {
        "device_id": device_id,
        "name": name,
        "room": room,
        "kind": kind,
        "is_on": kind == "lock",
        "brightness": 0 if kind == "light" else None,
        "temperature_c": 20.0 if kind == "thermostat" else None,
        "locked": True if kind == "lock" else None,
        "power_watts": power,
        "energy_kwh": energy,
    }


def _public(device: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in device.items() if k != "energy_kwh"}


class SmartHome(Toolkit):
    """A home automation hub."""

    category = "Home Automation"
    tool_class = "Smart home control tool"
    description = "Switch and adjust lights, thermostats, locks and plugs, run scenes and check energy use."

    @classmethod
    def default_state(cls) -> dict[str, Any]:
        devices = [
            _device("dev-0001", "Ceiling light", "Living room", "light", 12.0, 0.18),
            _device("dev-0002", "Reading lamp", "Living room", "light", 8.0, 0.05),
            _device("dev-0003", "Thermostat", "Living room", "thermostat", 1500.0, 6.4),
            _device("dev-0004", "Front door", "Hallway", "lock", 2.0, 0.05),
            _device("dev-0005", "Bedside lamp", "Bedroom", "light", 6.0, 0.02),
            _device("dev-0006", "Bedroom heater", "Bedroom", "thermostat", 1000.0, 2.1),
            _device("dev-0007", "Coffee machine", "Kitchen", "plug", 1200.0, 0.6),
            _device("dev-0008", "Back door", "Kitchen", "lock", 2.0, 0.05),
            _device("dev-0009", "Ceiling light", "Kitchen", "light", 12.0, 0.3),
            _device("dev-0010", "Ceiling light", "Bedroom", "light", 12.0, 0.1),
            _device("dev-0011", "Ceiling light", "Hallway", "light", 10.0, 0.08),
        ]
        devices[0].update(is_on=True, brightness=70)
        devices[2].update(is_on=True, temperature_c=21.0)
        return {
            "devices": {d["device_id"]: d for d in devices},
            "scenes": {},
            "tariff_per_kwh": 0.3,
            "currency": "USD",
            "next_scene": 1,
        }

    @classmethod
    def random_state(cls, rng: random.Random) -> dict[str, Any]:
        state = cls.default_state()
        extra = [
            ("Desk lamp", "Office", "light", 7.0),
            ("Office plug", "Office", "plug", 60.0),
            ("Garage door", "Garage", "lock", 3.0),
            ("Patio lights", "Garden", "light", 20.0),
            ("Nursery thermostat", "Nursery", "thermostat", 800.0),
            ("TV plug", "Living room", "plug", 90.0),
        ]
        number = len(state["devices"]) + 1
        for name, room, kind, power in rng.sample(extra, rng.randint(2, 4)):
            device_id = f"dev-{number:04d}"
            state["devices"][device_id] = _device(device_id, name, room, kind, power, round(rng.uniform(0, 3), 2))
            number += 1
        for device in state["devices"].values():
            if device["kind"] == "light" and rng.random() < 0.5:
                device.update(is_on=True, brightness=rng.choice([20, 40, 60, 80, 100]))
            elif device["kind"] == "thermostat":
                device["temperature_c"] = float(rng.randint(17, 23))
        return state

    # -- devices -------------------------------------------------------------------------------------------------

    def list_devices(
        self, room: str | None = None, kind: Literal["light", "thermostat", "lock", "plug"] | None = None
    ) -> DeviceList:
        """List the devices, optionally only those of a room or of a kind.

        Args:
            room: Only devices in this room (case-insensitive), e.g. 'Bedroom'.
            kind: Only devices of this kind.
        """
        found = [
            _public(d)
            for d in self.data["devices"].values()
            if (room is None or d["room"].lower() == room.lower().strip()) and (kind is None or d["kind"] == kind)
        ]
        return {"devices": sorted(found, key=lambda d: d["device_id"])}

    def get_device_status(self, device_id: str) -> Device:
        """Get the current state of one device.

        Args:
            device_id: Identifier of the device, e.g. 'dev-0003'.
        """
        device = self.data["devices"].get(device_id)
        if device is None:
            return error(f"no device with id {device_id!r}")
        return _public(device)

    def turn_on(self, device_id: str) -> Device:
        """Switch a light, thermostat or plug on (lights come on at full brightness if they were at 0%).

        Args:
            device_id: Identifier of the device.
        """
        device, problem = self._get(device_id, ("light", "thermostat", "plug"))
        if problem:
            return error(problem)
        device["is_on"] = True
        if device["kind"] == "light" and not device["brightness"]:
            device["brightness"] = 100
        return _public(device)

    def turn_off(self, device_id: str) -> Device:
        """Switch a light, thermostat or plug off.

        Args:
            device_id: Identifier of the device.
        """
        device, problem = self._get(device_id, ("light", "thermostat", "plug"))
        if problem:
            return error(problem)
        device["is_on"] = False
        return _public(device)

    def set_brightness(self, device_id: str, brightness: int) -> Device:
        """Set the brightness of a light; 0 switches it off, anything else switches it on.

        Args:
            device_id: Identifier of the light.
            brightness: Brightness in percent, from 0 to 100.
        """
        device, problem = self._get(device_id, ("light",))
        if problem:
            return error(problem)
        if not 0 <= brightness <= 100:
            return error(f"brightness must be from 0 to 100, got {brightness}")
        device.update(brightness=brightness, is_on=brightness > 0)
        return _public(device)

    def set_thermostat(self, device_id: str, temperature_c: float) -> Device:
        """Set the target temperature of a thermostat and switch it on.

        Args:
            device_id: Identifier of the thermostat.
            temperature_c: Target temperature in degrees Celsius, from 10 to 30.
        """
        device, problem = self._get(device_id, ("thermostat",))
        if problem:
            return error(problem)
        if not 10 <= temperature_c <= 30:
            return error(f"temperature_c must be from 10 to 30, got {temperature_c}")
        device.update(temperature_c=float(temperature_c), is_on=True)
        return _public(device)

    def lock_door(self, device_id: str) -> Device:
        """Lock a door lock.

        Args:
            device_id: Identifier of the lock.
        """
        device, problem = self._get(device_id, ("lock",))
        if problem:
            return error(problem)
        device["locked"] = True
        return _public(device)

    def unlock_door(self, device_id: str) -> Device:
        """Unlock a door lock.

        Args:
            device_id: Identifier of the lock.
        """
        device, problem = self._get(device_id, ("lock",))
        if problem:
            return error(problem)
        device["locked"] = False
        return _public(device)

    def get_energy_usage(self, device_id: str | None = None) -> EnergyUsage:
        """Get the energy a device, or the whole home, has used today and what it cost.

        Args:
            device_id: Identifier of the device; leave out for the whole home.
        """
        if device_id is None:
            energy = round(sum(d["energy_kwh"] for d in self.data["devices"].values()), 3)
        elif device_id in self.data["devices"]:
            energy = self.data["devices"][device_id]["energy_kwh"]
        else:
            return error(f"no device with id {device_id!r}")
        return {
            "device_id": device_id or "",
            "energy_kwh": energy,
            "cost": round(energy * self.data["tariff_per_kwh"], 2),
            "currency": self.data["currency"],
        }

    def set_away_mode(self, thermostat_temperature_c: float = 16.0) -> AwayMode:
        """Prepare the home for an absence: lock every door, switch off lights and plugs, set back thermostats.

        Args:
            thermostat_temperature_c: Temperature in degrees Celsius to set every thermostat to, from 10 to 30.
        """
        if not 10 <= thermostat_temperature_c <= 30:
            return error(f"thermostat_temperature_c must be from 10 to 30, got {thermostat_temperature_c}")
        locked, switched_off = [], []
        for device_id in sorted(self.data["devices"]):
            device = self.data["devices"][device_id]
            if device["kind"] == "lock" and not device["locked"]:
                device["locked"] = True
                locked.append(device_id)
            elif device["kind"] in ("light", "plug") and device["is_on"]:
                device["is_on"] = False
                switched_off.append(device_id)
            elif device["kind"] == "thermostat":
                device["temperature_c"] = float(thermostat_temperature_c)
        return {
            "locked_device_ids": locked,
            "switched_off_device_ids": switched_off,
            "thermostat_temperature_c": float(thermostat_temperature_c),
        }

    # -- scenes --------------------------------------------------------------------------------------------------

    def create_scene(self, name: str, device_ids: list[str]) -> Scene:
        """Save the current settings of some devices as a scene, to apply them all again later.

        Args:
            name: Name of the scene, e.g. 'Movie night'.
            device_ids: Identifiers of the devices whose current settings the scene saves.
        """
        if not name.strip():
            return error("name must not be empty")
        if not device_ids:
            return error("a scene needs at least one device")
        unknown = [d for d in device_ids if d not in self.data["devices"]]
        if unknown:
            return error(f"no device with id {unknown[0]!r}")
        scene_id = f"scn-{self.data['next_scene']:04d}"
        self.data["next_scene"] += 1
        ordered = list(dict.fromkeys(device_ids))
        self.data["scenes"][scene_id] = {
            "scene_id": scene_id,
            "name": name.strip(),
            "device_ids": ordered,
            "settings": [{k: self.data["devices"][d][k] for k in SETTINGS} for d in ordered],
        }
        return {"scene_id": scene_id, "name": name.strip(), "device_ids": list(ordered)}

    def activate_scene(self, scene_id: str) -> SceneResult:
        """Apply a scene: set each of its devices back to the settings saved in it.

        Args:
            scene_id: Identifier of the scene, e.g. 'scn-0001'.
        """
        scene = self.data["scenes"].get(scene_id)
        if scene is None:
            return error(f"no scene with id {scene_id!r}")
        applied = []
        for device_id, settings in zip(scene["device_ids"], scene["settings"], strict=False):
            device = self.data["devices"].get(device_id)
            if device is not None:
                device.update(settings)
                applied.append(_public(device))
        return {"scene_id": scene_id, "name": scene["name"], "devices": applied}

    # -- helpers -------------------------------------------------------------------------------------------------

    def _get(self, device_id: str, kinds: tuple[str, ...]) -> tuple[dict[str, Any], str]:
        device = self.data["devices"].get(device_id)
        if device is None:
            return {}, f"no device with id {device_id!r}"
        if device["kind"] not in kinds:
            return {}, f"device {device_id!r} is a {device['kind']}; this works only for a {' or '.join(kinds)}"
        return device, ""
