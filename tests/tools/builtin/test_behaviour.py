"""Behaviour of the builtin training pool: chains within and across toolkits, errors, states and specs."""

from __future__ import annotations

import json
import random

import pytest

from magnet.tools.builtin import (
    BUILTIN_TOOLKITS,
    Bank,
    Calendar,
    Contacts,
    Dining,
    HRDirectory,
    MediaLibrary,
    Recipes,
    Shop,
    SmartHome,
    TaskBoard,
    WeatherPlaces,
)

IDS = [toolkit.__name__ for toolkit in BUILTIN_TOOLKITS]


def _properties(schema):
    """Every property name of a response schema, nested objects and array items included."""
    names = set()
    for name, child in (schema or {}).get("properties", {}).items():
        names.add(name)
        names |= _properties(child)
        names |= _properties(child.get("items", {}))
    return names


# -- pool-wide rules ---------------------------------------------------------------------------------------------


def test_pool_lists_all_toolkits_with_calendar_first():
    assert BUILTIN_TOOLKITS[0] is Calendar
    assert len(BUILTIN_TOOLKITS) == 11
    assert len({toolkit.__name__ for toolkit in BUILTIN_TOOLKITS}) == 11


def test_pool_has_at_least_110_functions_and_each_toolkit_9_to_12():
    counts = {toolkit.__name__: len(toolkit.specs()) for toolkit in BUILTIN_TOOLKITS}
    assert sum(counts.values()) >= 110, counts
    assert all(9 <= count <= 12 for count in counts.values()), counts


@pytest.mark.parametrize("toolkit", BUILTIN_TOOLKITS, ids=IDS)
def test_specs_are_fully_described(toolkit):
    assert toolkit.category != "misc" and toolkit.tool_class != "misc" and toolkit.description
    for spec in toolkit.specs():
        assert spec.description, spec.name
        assert spec.category == toolkit.category and spec.tool_class == toolkit.tool_class
        for name, schema in spec.properties.items():
            assert schema.get("description"), f"{spec.name}.{name}"
            assert schema.get("type") in ("string", "integer", "number", "boolean", "array"), f"{spec.name}.{name}"
        assert spec.response and spec.response.get("properties"), spec.name
        for name, schema in spec.response["properties"].items():
            assert schema.get("description"), f"{spec.name} -> {name}"


@pytest.mark.parametrize("toolkit", BUILTIN_TOOLKITS, ids=IDS)
def test_states_are_json_and_random_state_is_seeded(toolkit):
    default = toolkit.default_state()
    assert json.loads(json.dumps(default)) == default
    assert any(key.startswith("next_") for key in default)
    first = toolkit.random_state(random.Random(1))
    again = toolkit.random_state(random.Random(1))
    other = toolkit.random_state(random.Random(2))
    assert first == again
    assert first != other
    for state in (first, other):
        assert json.loads(json.dumps(state)) == state
        assert set(state) == set(default)
        instance = toolkit(state)
        assert instance.state() == state


def test_random_state_does_not_touch_the_global_random_generator():
    random.seed(1234)
    expected = random.random()
    random.seed(1234)
    for toolkit in BUILTIN_TOOLKITS:
        toolkit.random_state(random.Random(7))
    assert random.random() == expected


def test_outputs_chain_into_inputs_across_toolkits():
    outputs = {t.__name__: set().union(*(_properties(s.response) for s in t.specs())) for t in BUILTIN_TOOLKITS}
    inputs = {t.__name__: set().union(*(set(s.properties) for s in t.specs())) for t in BUILTIN_TOOLKITS}
    pairs = {
        (source, target, name)
        for source in outputs
        for target in inputs
        if source != target
        for name in outputs[source] & inputs[target]
    }
    for expected in [
        ("Contacts", "Dining", "city"),
        ("Contacts", "Calendar", "email"),
        ("HRDirectory", "Calendar", "email"),
        ("HRDirectory", "TaskBoard", "email"),
        ("Contacts", "Shop", "email"),
        ("Shop", "Bank", "amount"),
        ("WeatherPlaces", "Dining", "city"),
        ("Dining", "WeatherPlaces", "latitude"),
        ("Dining", "Calendar", "start"),
        ("Dining", "Calendar", "location"),
        ("WeatherPlaces", "SmartHome", "temperature_c"),
        ("HRDirectory", "WeatherPlaces", "city"),
    ]:
        assert expected in pairs, expected
    assert len(pairs) >= 40


# -- Calendar ----------------------------------------------------------------------------------------------------


def test_calendar_chain_and_error():
    calendar = Calendar()
    event = calendar.create_event("Review", "2026-03-05T10:00", 30)
    calendar.add_attendee(event["event_id"], "grace.turner@example.com")
    assert calendar.state()["events"][event["event_id"]]["attendees"] == ["grace.turner@example.com"]
    before = calendar.state()
    result = calendar.cancel_event("evt-0099")
    assert "evt-0099" in result["error"] and calendar.state() == before


# -- Contacts ----------------------------------------------------------------------------------------------------


def test_contacts_chain_search_then_email_then_reply():
    contacts = Contacts()
    found = contacts.search_contacts("amara")["contacts"]
    assert [c["contact_id"] for c in found] == ["con-0003"]
    sent = contacts.send_email(found[0]["email"], "Dinner", "Thursday works!")
    assert contacts.state()["messages"][sent["email_id"]]["email"] == "amara.okafor@example.com"
    inbox = contacts.list_inbox(unread_only=True)
    assert inbox["unread_count"] == 1
    first = inbox["messages"][0]["email_id"]
    reply = contacts.reply_email(first, "Sure, sending them now.")
    assert reply["in_reply_to"] == first and reply["subject"] == "Re: Planning agenda"
    assert contacts.list_inbox()["unread_count"] == 0


def test_contacts_update_and_delete_change_state():
    contacts = Contacts()
    added = contacts.add_contact("Noor Haddad", "noor@example.com", city="Rome")
    contacts.update_contact_phone(added["contact_id"], "+39 06 1234")
    assert contacts.get_contact(added["contact_id"])["phone"] == "+39 06 1234"
    assert {c["contact_id"] for c in contacts.list_contacts_by_city("Rome")["contacts"]} == {
        "con-0005",
        added["contact_id"],
    }
    assert contacts.delete_contact(added["contact_id"]) == {"status": "ok", "contact_id": added["contact_id"]}
    assert added["contact_id"] not in contacts.state()["contacts"]


def test_contacts_errors_name_the_bad_value_and_leave_state():
    contacts = Contacts()
    before = contacts.state()
    assert "con-0099" in contacts.update_contact_phone("con-0099", "123")["error"]
    assert "eml-0099" in contacts.reply_email("eml-0099", "hi")["error"]
    assert "maria.lopez@example.com" in contacts.add_contact("Maria", "maria.lopez@example.com")["error"]
    assert "not-an-address" in contacts.send_email("not-an-address", "x", "y")["error"]
    assert contacts.state() == before


def test_results_are_copies():
    contacts = Contacts()
    contact = contacts.get_contact("con-0001")
    contact["email"] = "changed@example.com"
    assert contacts.state()["contacts"]["con-0001"]["email"] == "maria.lopez@example.com"
    tasks = TaskBoard()
    task = tasks.get_task("tsk-0001")
    task["note_ids"].append("nte-9999")
    assert tasks.state()["tasks"]["tsk-0001"]["note_ids"] == ["nte-0001"]
    media = MediaLibrary()
    playlist = media.get_playlist("pls-0001")
    playlist["track_ids"].clear()
    assert media.state()["playlists"]["pls-0001"]["track_ids"] == ["trk-0001", "trk-0002"]
    recipes = Recipes()
    recipe = recipes.get_recipe("rcp-0001")
    recipe["ingredients"][0]["amount"] = 0
    assert recipes.state()["recipes"]["rcp-0001"]["ingredients"][0]["amount"] == 200


# -- Shop --------------------------------------------------------------------------------------------------------


def test_shop_chain_search_order_discount_track_cancel():
    shop = Shop()
    product = shop.search_products("knife")["products"][0]
    order = shop.place_order(product["product_id"], 2, "chen.wei@example.com", "8 Oak Ave, Portland")
    assert order["amount"] == pytest.approx(99.8)
    assert shop.check_inventory(product["product_id"])["stock"] == 10
    discounted = shop.apply_discount_code(order["order_id"], "welcome10")
    assert discounted["amount"] == pytest.approx(89.82)
    assert shop.track_shipment(order["order_id"])["status"] == "awaiting shipment"
    assert order["order_id"] in {o["order_id"] for o in shop.list_orders("chen.wei@example.com")["orders"]}
    cancelled = shop.cancel_order(order["order_id"])
    assert cancelled["status"] == "cancelled"
    assert shop.state()["products"][product["product_id"]]["stock"] == 12


def test_shop_errors():
    shop = Shop()
    before = shop.state()
    assert "ord-0099" in shop.track_shipment("ord-0099")["error"]
    assert "prd-0099" in shop.place_order("prd-0099", 1, "a@example.com")["error"]
    assert "prd-0002" in shop.place_order("prd-0002", 1, "a@example.com")["error"]  # out of stock
    assert "ord-0001" in shop.cancel_order("ord-0001")["error"]  # already shipped
    assert "BOGUS" in shop.apply_discount_code("ord-0002", "BOGUS")["error"]
    assert shop.state() == before


# -- Bank --------------------------------------------------------------------------------------------------------


def test_bank_chain_transfer_with_conversion_and_budget():
    bank = Bank()
    accounts = bank.list_accounts("maria.lopez@example.com")["accounts"]
    source = accounts[0]["account_id"]
    transaction = bank.transfer(source, "acc-0004", 108.0)
    assert bank.get_transaction(transaction["transaction_id"])["amount"] == -108.0
    assert bank.get_balance(source)["balance"] == pytest.approx(2450.75 - 108.0)
    assert bank.get_balance("acc-0004")["balance"] == pytest.approx(3100.0 + 100.0)
    converted = bank.convert_currency(100.0, "EUR", "USD")
    assert converted == {
        "amount": 108.0,
        "currency": "USD",
        "original_amount": 100.0,
        "original_currency": "EUR",
        "rate": 1.08,
    }
    bank.set_budget_limit(source, "groceries", 300.0)
    bank.pay_bill(source, "Fresh Market", converted["amount"], "groceries")
    status = bank.get_budget_status(source, "groceries")
    assert status["spent"] == pytest.approx(244.6 + 108.0) and status["exceeded"]


def test_bank_errors_and_frozen_card():
    bank = Bank()
    before = bank.state()
    assert "acc-0099" in bank.transfer("acc-0001", "acc-0099", 5)["error"]
    assert "XYZ" in bank.convert_currency(5, "XYZ", "USD")["error"]
    assert "insufficient" in bank.pay_bill("acc-0005", "Landlord", 5000)["error"]
    assert "txn-0099" in bank.get_transaction("txn-0099")["error"]
    assert bank.state() == before
    bank.freeze_card("acc-0003")
    frozen = bank.state()
    assert "frozen" in bank.pay_bill("acc-0003", "City Power", 10)["error"]
    assert bank.state() == frozen
    bank.unfreeze_card("acc-0003")
    assert "transaction_id" in bank.pay_bill("acc-0003", "City Power", 10)


# -- Dining ------------------------------------------------------------------------------------------------------


def test_dining_chain_search_availability_book_modify_cancel():
    dining = Dining()
    city = Contacts().get_contact("con-0003")["city"]
    restaurant = dining.search_restaurants(city, "indian")["restaurants"][0]
    available = dining.check_availability(restaurant["restaurant_id"], "2026-03-05", 4)
    assert available["open"] and "19:00" in available["times"]
    booking = dining.book_table(restaurant["restaurant_id"], "2026-03-05", "19:00", 4, "Amara Okafor")
    assert booking["start"] == "2026-03-05T19:00"
    changed = dining.modify_reservation(booking["reservation_id"], time="20:00", party_size=5)
    assert dining.state()["reservations"][booking["reservation_id"]]["time"] == "20:00"
    assert changed["party_size"] == 5
    dining.cancel_reservation(booking["reservation_id"])
    assert dining.get_reservation(booking["reservation_id"])["status"] == "cancelled"


def test_dining_full_slot_closed_day_and_errors():
    dining = Dining()
    assert "19:00" not in dining.check_availability("rst-0001", "2026-03-04", 2)["times"]
    before = dining.state()
    assert "no free table" in dining.book_table("rst-0001", "2026-03-04", "19:00", 2, "Sam")["error"]
    assert "closed" in dining.book_table("rst-0002", "2026-03-02", "19:00", 2, "Sam")["error"]
    assert "rst-0099" in dining.book_table("rst-0099", "2026-03-05", "19:00", 2, "Sam")["error"]
    assert "res-0099" in dining.cancel_reservation("res-0099")["error"]
    assert "2026-13-01" in dining.check_availability("rst-0001", "2026-13-01", 2)["error"]
    assert dining.state() == before


def test_dining_reservation_feeds_calendar():
    dining = Dining()
    booking = dining.book_table("rst-0003", "2026-03-06", "18:00", 2, "Chen Wei")
    calendar = Calendar()
    event = calendar.create_event("Dinner", booking["start"], 90, booking["location"])
    assert calendar.get_event(event["event_id"])["location"].startswith("Sakura House")


# -- WeatherPlaces -----------------------------------------------------------------------------------------------


def test_weather_chain_coordinates_places_details_save():
    weather = WeatherPlaces()
    point = weather.get_coordinates("London")
    places = weather.find_places_nearby(point["latitude"], point["longitude"], "museum")["places"]
    assert [p["name"] for p in places] == ["British Museum"]
    details = weather.get_place_details(places[0]["place_id"])
    assert details["city"] == "London"
    weather.save_place(details["place_id"])
    assert weather.state()["saved_place_ids"] == [details["place_id"]]


def test_weather_is_deterministic_and_consistent():
    first, second = WeatherPlaces(), WeatherPlaces()
    for city in ("Seattle", "Sydney", "Berlin"):
        assert first.get_current_weather(city) == second.get_current_weather(city)
        assert first.get_forecast(city, 5) == second.get_forecast(city, 5)
        for day in first.get_forecast(city, 5)["days"]:
            assert day["low_c"] <= day["high_c"]
    summer = first.get_sunrise_sunset("London", "2026-06-21")["day_length_minutes"]
    winter = first.get_sunrise_sunset("London", "2026-12-21")["day_length_minutes"]
    assert summer > 900 > 500 > winter
    assert 330 < first.get_distance("London", "Paris")["distance_km"] < 360
    assert first.convert_temperature(100.0, "F")["value"] == 212.0
    assert first.find_nearest_city(51.5, -0.1)["city"] == "London"


def test_weather_errors():
    weather = WeatherPlaces()
    before = weather.state()
    assert "Atlantis" in weather.get_current_weather("Atlantis")["error"]
    assert "plc-0099" in weather.save_place("plc-0099")["error"]
    assert "days" in weather.get_forecast("Rome", 30)["error"]
    assert weather.state() == before


def test_weather_and_restaurants_share_coordinates():
    restaurant = Dining().get_restaurant("rst-0004")
    cafes = WeatherPlaces().find_places_nearby(restaurant["latitude"], restaurant["longitude"], "cafe", 2.0)
    assert "Covent Beans" in [p["name"] for p in cafes["places"]]


# -- TaskBoard ---------------------------------------------------------------------------------------------------


def test_tasks_chain_create_assign_note_complete():
    board = TaskBoard()
    manager = HRDirectory().get_manager("emp-0005")
    task = board.create_task("Plan sprint", "Website", "2026-03-10", "high")
    board.assign_task(task["task_id"], manager["email"])
    note = board.create_note("Sprint goals", "Ship the login fix.")
    board.attach_note_to_task(note["note_id"], task["task_id"])
    stored = board.get_task(task["task_id"])
    assert stored["email"] == "chen.wei@example.com" and stored["note_ids"] == [note["note_id"]]
    assert board.state()["notes"][note["note_id"]]["task_id"] == task["task_id"]
    board.complete_task(task["task_id"])
    done = board.list_tasks(project="website", status="done")["tasks"]
    assert [t["task_id"] for t in done] == [task["task_id"]]
    assert [n["note_id"] for n in board.search_notes("login")["notes"]] == [note["note_id"]]


def test_tasks_errors():
    board = TaskBoard()
    before = board.state()
    assert "tsk-0099" in board.complete_task("tsk-0099")["error"]
    assert "nte-0099" in board.attach_note_to_task("nte-0099", "tsk-0001")["error"]
    assert "tomorrow" in board.update_due_date("tsk-0001", "tomorrow")["error"]
    assert "tsk-0005" in board.complete_task("tsk-0005")["error"]  # already done
    assert board.state() == before


# -- MediaLibrary ------------------------------------------------------------------------------------------------


def test_media_chain_search_playlist_recommend_play():
    media = MediaLibrary()
    track = media.search_tracks("night", genre="jazz")["tracks"][0]
    playlist = media.create_playlist("Late", [track["track_id"]])
    similar = media.recommend_similar(track["track_id"], 2)["tracks"]
    assert [t["artist"] for t in similar] == ["Nadia Reyes", "Nadia Reyes"]
    updated = media.add_to_playlist(playlist["playlist_id"], similar[0]["track_id"])
    assert updated["total_duration_seconds"] == track["duration_seconds"] + similar[0]["duration_seconds"]
    media.remove_from_playlist(playlist["playlist_id"], track["track_id"])
    assert media.state()["playlists"][playlist["playlist_id"]]["track_ids"] == [similar[0]["track_id"]]
    media.play_track(track["track_id"])
    media.rate_track(track["track_id"], 4)
    assert media.get_track(track["track_id"])["play_count"] == 1
    assert media.get_track(track["track_id"])["rating"] == 4
    albums = media.get_artist_albums(track["artist"])["albums"]
    assert [a["album"] for a in albums] == ["Tidal Hours", "City Lights"]


def test_media_errors():
    media = MediaLibrary()
    before = media.state()
    assert "trk-0099" in media.add_to_playlist("pls-0001", "trk-0099")["error"]
    assert "pls-0099" in media.get_playlist("pls-0099")["error"]
    assert "trk-0099" in media.create_playlist("Bad", ["trk-0099"])["error"]
    assert "trk-0001" in media.add_to_playlist("pls-0001", "trk-0001")["error"]  # already there
    assert media.state() == before


# -- SmartHome ---------------------------------------------------------------------------------------------------


def test_smart_home_chain_scene_roundtrip_and_weather_temperature():
    home = SmartHome()
    lights = home.list_devices(room="Living room", kind="light")["devices"]
    scene = home.create_scene("Evening", [d["device_id"] for d in lights])
    for light in lights:
        home.turn_off(light["device_id"])
    assert not home.get_device_status("dev-0001")["is_on"]
    result = home.activate_scene(scene["scene_id"])
    assert [d["brightness"] for d in result["devices"]] == [70, 0]
    assert home.state()["devices"]["dev-0001"]["is_on"]
    home.set_brightness("dev-0002", 35)
    assert home.get_device_status("dev-0002")["is_on"]
    outside = WeatherPlaces().get_current_weather("Seattle")["temperature_c"]
    target = min(30.0, max(10.0, outside + 15))
    assert home.set_thermostat("dev-0003", target)["temperature_c"] == target
    home.unlock_door("dev-0004")
    assert home.state()["devices"]["dev-0004"]["locked"] is False


def test_smart_home_errors():
    home = SmartHome()
    before = home.state()
    assert "dev-0099" in home.turn_on("dev-0099")["error"]
    assert "dev-0004" in home.set_brightness("dev-0004", 50)["error"]  # a lock
    assert "dev-0099" in home.create_scene("Bad", ["dev-0001", "dev-0099"])["error"]
    assert "scn-0099" in home.activate_scene("scn-0099")["error"]
    assert "temperature_c" in home.set_thermostat("dev-0003", 45)["error"]
    assert home.state() == before


# -- HRDirectory -------------------------------------------------------------------------------------------------


def test_hr_chain_find_manager_time_off_approve():
    hr = HRDirectory()
    employee = hr.find_employee("sofia")["employees"][0]
    manager = hr.get_manager(employee["employee_id"])
    assert manager["employee_id"] == "emp-0003"
    request = hr.request_time_off(employee["employee_id"], "2026-03-06", "2026-03-10")
    assert request["days"] == 3  # Friday, Monday, Tuesday
    assert hr.get_time_off_balance(employee["employee_id"])["pending_days"] == 3
    hr.approve_time_off(request["request_id"])
    balance = hr.get_time_off_balance(employee["employee_id"])
    assert balance == {"employee_id": employee["employee_id"], "days_remaining": 22, "pending_days": 0}
    chart = hr.get_org_chart(employee["employee_id"])
    assert chart["management_chain"] == ["emp-0003", "emp-0001"]
    calendar = Calendar()
    calendar.add_attendee("evt-0002", manager["email"])
    assert manager["email"] in calendar.state()["events"]["evt-0002"]["attendees"]


def test_hr_errors():
    hr = HRDirectory()
    before = hr.state()
    assert "emp-0099" in hr.get_manager("emp-0099")["error"]
    assert "emp-0001" in hr.get_manager("emp-0001")["error"]  # the CEO has no manager
    assert "tor-0099" in hr.approve_time_off("tor-0099")["error"]
    assert "2026-03-01" in hr.request_time_off("emp-0002", "2026-03-05", "2026-03-01")["error"]
    assert "Marketing" in hr.list_department("Marketing")["error"]
    assert hr.state() == before


# -- Recipes -----------------------------------------------------------------------------------------------------


def test_recipes_chain_search_scale_list_add_check():
    recipes = Recipes()
    recipe = recipes.search_recipes(ingredient="feta")["recipes"][0]
    scaled = recipes.scale_recipe(recipe["recipe_id"], 4)
    assert scaled["ingredients"][0] == {"ingredient": "tomato", "amount": 600.0, "unit": "g"}
    assert recipes.get_recipe(recipe["recipe_id"])["servings"] == 2
    shopping = recipes.create_shopping_list(recipe["recipe_id"], scaled["servings"])
    converted = recipes.convert_units(1.0, "kg", "g")
    updated = recipes.add_item_to_shopping_list(shopping["list_id"], "tomato", converted["amount"], converted["unit"])
    assert updated["items"][0]["amount"] == 1600.0
    recipes.check_off_item(shopping["list_id"], "feta")
    stored = recipes.state()["shopping_lists"][shopping["list_id"]]["items"]
    assert [i["checked"] for i in stored if i["ingredient"] == "feta"] == [True]
    nutrition = recipes.get_nutrition(recipe["recipe_id"])
    assert 300 < nutrition["calories"] < 600
    recipes.save_favorite("rcp-0001")
    assert [r["recipe_id"] for r in recipes.list_favorites()["recipes"]] == ["rcp-0003", "rcp-0001"]


def test_recipes_errors():
    recipes = Recipes()
    before = recipes.state()
    assert "rcp-0099" in recipes.create_shopping_list("rcp-0099")["error"]
    assert "shl-0099" in recipes.get_shopping_list("shl-0099")["error"]
    assert "'g'" in recipes.convert_units(1.0, "g", "ml")["error"]
    assert "rcp-0099" in recipes.save_favorite("rcp-0099")["error"]
    assert recipes.state() == before


# -- robustness --------------------------------------------------------------------------------------------------

_SAMPLES = {
    "string": ["", "zzz-0099", "2026-13-45", "2026-03-05", "19:00", "London", "a@example.com"],
    "integer": [-1, 0, 3, 1000],
    "number": [-5.0, 0.0, 21.5, 1e9],
    "boolean": [True, False],
    "array": [[], ["zzz-0099"]],
}


@pytest.mark.parametrize("toolkit", BUILTIN_TOOLKITS, ids=IDS)
def test_functions_never_raise_on_bad_values(toolkit):
    rng = random.Random(0)
    for spec in toolkit.specs():
        for _ in range(25):
            instance = toolkit()
            arguments = {}
            for name, schema in spec.properties.items():
                choices = schema.get("enum") or _SAMPLES[schema["type"]]
                arguments[name] = rng.choice(choices)
            result = instance.dispatch(spec.name)(**arguments)
            assert isinstance(result, dict), (spec.name, arguments)
            json.dumps(result)
            json.dumps(instance.state())


def test_restaurants_near_weather_coordinates():
    point = WeatherPlaces().get_coordinates("Seattle")
    found = Dining().search_restaurants_nearby(point["latitude"], point["longitude"], 2.0)["restaurants"]
    assert [r["restaurant_id"] for r in found] == ["rst-0002", "rst-0001"]
    assert found[0]["distance_km"] <= found[1]["distance_km"]
    assert "999" in Dining().search_restaurants_nearby(999.0, 0.0)["error"]


def test_smart_home_away_mode_and_whole_home_energy():
    home = SmartHome()
    home.unlock_door("dev-0008")
    home.turn_on("dev-0007")
    result = home.set_away_mode(15.0)
    assert result["locked_device_ids"] == ["dev-0008"]
    assert result["switched_off_device_ids"] == ["dev-0001", "dev-0007"]
    state = home.state()["devices"]
    assert state["dev-0008"]["locked"] and not state["dev-0001"]["is_on"]
    assert state["dev-0003"]["temperature_c"] == 15.0
    total = home.get_energy_usage()
    assert total["device_id"] == "" and total["energy_kwh"] == pytest.approx(
        sum(d["energy_kwh"] for d in state.values())
    )
    assert "dev-0099" in home.get_energy_usage("dev-0099")["error"]
