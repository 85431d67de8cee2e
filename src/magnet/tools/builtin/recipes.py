"""Recipes and nutrition: search recipes, scale them, compute nutrition, build shopping lists and convert units.

Outputs carry ``recipe_id``, ``list_id``, ``ingredient``, ``amount`` and ``unit`` values that other functions take
as inputs (search_recipes -> scale_recipe -> create_shopping_list -> add_item_to_shopping_list).
"""

from __future__ import annotations

import copy
import random
from typing import Any, Literal, TypedDict

from magnet.tools.toolkit import Toolkit, error

Unit = Literal["g", "kg", "oz", "lb", "ml", "l", "tsp", "tbsp", "cup", "piece"]


class Ingredient(TypedDict):
    """An ingredient with its quantity.

    Attributes:
        ingredient: Name of the ingredient, e.g. 'tomato'.
        amount: Quantity of the ingredient, in the unit.
        unit: Unit of the amount: 'g', 'kg', 'oz', 'lb', 'ml', 'l', 'tsp', 'tbsp', 'cup' or 'piece'.
    """

    ingredient: str
    amount: float
    unit: str


class Recipe(TypedDict):
    """A recipe.

    Attributes:
        recipe_id: Identifier of the recipe, e.g. 'rcp-0002'.
        name: Name of the dish.
        cuisine: Cuisine of the dish, e.g. 'italian'.
        servings: Number of servings the quantities are for.
        prep_minutes: Preparation and cooking time in minutes.
        ingredients: The ingredients with their quantities.
        steps: The preparation steps, in order.
    """

    recipe_id: str
    name: str
    cuisine: str
    servings: int
    prep_minutes: int
    ingredients: list[Ingredient]
    steps: list[str]


class RecipeList(TypedDict):
    """Recipes matching a query.

    Attributes:
        recipes: The matching recipes, by recipe_id.
    """

    recipes: list[Recipe]


class Nutrition(TypedDict):
    """Nutrition facts of one serving of a recipe.

    Attributes:
        recipe_id: The recipe.
        servings: Number of servings the recipe makes.
        calories: Energy per serving in kilocalories.
        protein_g: Protein per serving in grams.
        carbs_g: Carbohydrates per serving in grams.
        fat_g: Fat per serving in grams.
    """

    recipe_id: str
    servings: int
    calories: float
    protein_g: float
    carbs_g: float
    fat_g: float


class ShoppingItem(TypedDict):
    """An item on a shopping list.

    Attributes:
        ingredient: Name of the ingredient to buy.
        amount: Quantity to buy, in the unit.
        unit: Unit of the amount.
        checked: Whether the item has been bought.
    """

    ingredient: str
    amount: float
    unit: str
    checked: bool


class ShoppingList(TypedDict):
    """A shopping list.

    Attributes:
        list_id: Identifier of the shopping list, e.g. 'shl-0001'.
        name: Name of the list.
        items: The items on the list.
    """

    list_id: str
    name: str
    items: list[ShoppingItem]


class Conversion(TypedDict):
    """A quantity in another unit.

    Attributes:
        amount: The converted quantity, rounded to 3 decimals.
        unit: The unit converted to.
        original_amount: The quantity before conversion.
        original_unit: The unit converted from.
    """

    amount: float
    unit: str
    original_amount: float
    original_unit: str


class Favorites(TypedDict):
    """The saved favourite recipes.

    Attributes:
        recipe_id: The recipe just saved.
        favorite_recipe_ids: Identifiers of all favourite recipes, in the order they were saved.
    """

    recipe_id: str
    favorite_recipe_ids: list[str]


# Size of each unit in its base unit: grams for mass, millilitres for volume, pieces for counts.
UNITS = {
    "g": ("mass", 1.0),
    "kg": ("mass", 1000.0),
    "oz": ("mass", 28.3495),
    "lb": ("mass", 453.592),
    "ml": ("volume", 1.0),
    "l": ("volume", 1000.0),
    "tsp": ("volume", 4.92892),
    "tbsp": ("volume", 14.7868),
    "cup": ("volume", 240.0),
    "piece": ("count", 1.0),
}

# Calories, protein, carbohydrates and fat per 100 g, per 100 ml or per piece.
NUTRITION = {
    "spaghetti": ("g", 371, 13, 75, 1.5),
    "garlic": ("piece", 4, 0.2, 1, 0),
    "olive oil": ("ml", 820, 0, 0, 91),
    "chili flakes": ("ml", 130, 5, 23, 6),
    "parsley": ("g", 36, 3, 6, 0.8),
    "chickpeas": ("g", 139, 7, 22, 2.4),
    "onion": ("piece", 44, 1.2, 10, 0.1),
    "tomato": ("g", 18, 0.9, 3.9, 0.2),
    "garam masala": ("ml", 150, 7, 25, 7),
    "rice": ("g", 360, 7, 79, 0.6),
    "cucumber": ("piece", 45, 2, 11, 0.3),
    "feta": ("g", 264, 14, 4, 21),
    "flour": ("g", 364, 10, 76, 1),
    "milk": ("ml", 64, 3.3, 4.8, 3.6),
    "egg": ("piece", 72, 6.3, 0.4, 4.8),
    "sugar": ("ml", 322, 0, 83, 0),
    "butter": ("g", 717, 0.9, 0.1, 81),
    "tofu": ("g", 76, 8, 1.9, 4.8),
    "miso paste": ("ml", 230, 13, 30, 7),
    "water": ("ml", 0, 0, 0, 0),
    "spring onion": ("piece", 5, 0.3, 1.1, 0),
    "chicken breast": ("g", 165, 31, 0, 3.6),
    "bell pepper": ("piece", 30, 1, 7, 0.3),
    "soy sauce": ("ml", 53, 8, 5, 0.6),
}


def _convert(amount: float, from_unit: str, to_unit: str) -> float | None:
    if from_unit not in UNITS or to_unit not in UNITS or UNITS[from_unit][0] != UNITS[to_unit][0]:
        return None
    return amount * UNITS[from_unit][1] / UNITS[to_unit][1]


def _recipe(recipe_id: str, name: str, cuisine: str, servings: int, minutes: int, items: list, steps: list) -> dict:
    return {
        "recipe_id": recipe_id,
        "name": name,
        "cuisine": cuisine,
        "servings": servings,
        "prep_minutes": minutes,
        "ingredients": [{"ingredient": i, "amount": float(a), "unit": u} for i, a, u in items],
        "steps": list(steps),
    }


class Recipes(Toolkit):
    """A recipe book with nutrition facts and shopping lists."""

    category = "Food"
    tool_class = "Recipe and nutrition tool"
    description = "Find and scale recipes, compute nutrition, build shopping lists, convert units and keep favourites."

    @classmethod
    def default_state(cls) -> dict[str, Any]:
        recipes = [
            _recipe(
                "rcp-0001",
                "Spaghetti aglio e olio",
                "italian",
                2,
                20,
                [
                    ("spaghetti", 200, "g"),
                    ("garlic", 4, "piece"),
                    ("olive oil", 4, "tbsp"),
                    ("chili flakes", 1, "tsp"),
                    ("parsley", 10, "g"),
                ],
                ["Boil the spaghetti.", "Fry sliced garlic and chili in the oil.", "Toss with pasta and parsley."],
            ),
            _recipe(
                "rcp-0002",
                "Chana masala",
                "indian",
                4,
                40,
                [
                    ("chickpeas", 800, "g"),
                    ("onion", 2, "piece"),
                    ("tomato", 400, "g"),
                    ("garlic", 3, "piece"),
                    ("garam masala", 2, "tsp"),
                    ("olive oil", 2, "tbsp"),
                    ("rice", 300, "g"),
                ],
                ["Cook the rice.", "Fry onion and garlic.", "Add spices, tomato and chickpeas; simmer 20 min."],
            ),
            _recipe(
                "rcp-0003",
                "Greek salad",
                "greek",
                2,
                15,
                [
                    ("tomato", 300, "g"),
                    ("cucumber", 1, "piece"),
                    ("feta", 150, "g"),
                    ("olive oil", 2, "tbsp"),
                    ("onion", 1, "piece"),
                ],
                ["Chop the vegetables.", "Top with feta and dress with oil."],
            ),
            _recipe(
                "rcp-0004",
                "Pancakes",
                "american",
                4,
                25,
                [
                    ("flour", 200, "g"),
                    ("milk", 300, "ml"),
                    ("egg", 2, "piece"),
                    ("sugar", 2, "tbsp"),
                    ("butter", 30, "g"),
                ],
                ["Whisk everything into a batter.", "Fry ladlefuls in butter until golden."],
            ),
            _recipe(
                "rcp-0005",
                "Miso soup",
                "japanese",
                2,
                15,
                [("tofu", 150, "g"), ("miso paste", 3, "tbsp"), ("water", 800, "ml"), ("spring onion", 2, "piece")],
                ["Heat the water.", "Dissolve the miso, add tofu and spring onion."],
            ),
            _recipe(
                "rcp-0006",
                "Chicken stir-fry",
                "chinese",
                3,
                30,
                [
                    ("chicken breast", 400, "g"),
                    ("bell pepper", 2, "piece"),
                    ("soy sauce", 3, "tbsp"),
                    ("rice", 250, "g"),
                    ("garlic", 2, "piece"),
                ],
                ["Cook the rice.", "Stir-fry chicken, then peppers and garlic.", "Add soy sauce and serve."],
            ),
        ]
        return {
            "recipes": {r["recipe_id"]: r for r in recipes},
            "shopping_lists": {},
            "favorite_recipe_ids": ["rcp-0003"],
            "next_recipe": 7,
            "next_list": 1,
        }

    @classmethod
    def random_state(cls, rng: random.Random) -> dict[str, Any]:
        state = cls.default_state()
        styles = [
            ("Rice bowl", "japanese"),
            ("Veggie curry", "indian"),
            ("Tomato pasta", "italian"),
            ("Omelette", "french"),
            ("Fried rice", "chinese"),
        ]
        pantry = [
            ("rice", "g", 100, 400),
            ("tomato", "g", 100, 500),
            ("egg", "piece", 1, 4),
            ("onion", "piece", 1, 3),
            ("garlic", "piece", 1, 4),
            ("olive oil", "tbsp", 1, 4),
            ("tofu", "g", 100, 300),
            ("spaghetti", "g", 150, 400),
            ("soy sauce", "tbsp", 1, 3),
        ]
        for number in range(7, 7 + rng.randint(2, 4)):
            name, cuisine = rng.choice(styles)
            items = [(i, rng.randint(low, high), u) for i, u, low, high in rng.sample(pantry, rng.randint(3, 5))]
            recipe_id = f"rcp-{number:04d}"
            state["recipes"][recipe_id] = _recipe(
                recipe_id,
                f"{name} #{number}",
                cuisine,
                rng.randint(1, 6),
                rng.choice([10, 20, 30, 45]),
                items,
                ["Prepare the ingredients.", "Cook and serve."],
            )
            state["next_recipe"] = number + 1
        return state

    # -- recipes -------------------------------------------------------------------------------------------------

    def search_recipes(
        self, ingredient: str | None = None, cuisine: str | None = None, max_minutes: int | None = None
    ) -> RecipeList:
        """Find recipes that use an ingredient, are of a cuisine or are quick enough.

        Args:
            ingredient: Only recipes using this ingredient (case-insensitive, partial names match), e.g. 'tomato'.
            cuisine: Only recipes of this cuisine (case-insensitive), e.g. 'italian'.
            max_minutes: Only recipes that take at most this many minutes.
        """
        found = []
        for recipe in self.data["recipes"].values():
            if ingredient is not None and not any(
                ingredient.lower().strip() in item["ingredient"] for item in recipe["ingredients"]
            ):
                continue
            if cuisine is not None and recipe["cuisine"] != cuisine.lower().strip():
                continue
            if max_minutes is not None and recipe["prep_minutes"] > max_minutes:
                continue
            found.append(copy.deepcopy(recipe))
        return {"recipes": sorted(found, key=lambda r: r["recipe_id"])}

    def get_recipe(self, recipe_id: str) -> Recipe:
        """Get one recipe with its ingredients and steps.

        Args:
            recipe_id: Identifier of the recipe, e.g. 'rcp-0002'.
        """
        recipe = self.data["recipes"].get(recipe_id)
        if recipe is None:
            return error(f"no recipe with id {recipe_id!r}")
        return copy.deepcopy(recipe)

    def scale_recipe(self, recipe_id: str, servings: int) -> Recipe:
        """Get a recipe with its quantities scaled to another number of servings (the stored recipe is unchanged).

        Args:
            recipe_id: Identifier of the recipe.
            servings: Number of servings wanted, from 1 to 50.
        """
        recipe = self.data["recipes"].get(recipe_id)
        if recipe is None:
            return error(f"no recipe with id {recipe_id!r}")
        if not 1 <= servings <= 50:
            return error(f"servings must be from 1 to 50, got {servings}")
        return self._scaled(recipe, servings)

    def get_nutrition(self, recipe_id: str) -> Nutrition:
        """Get the calories, protein, carbohydrates and fat of one serving of a recipe.

        Args:
            recipe_id: Identifier of the recipe.
        """
        recipe = self.data["recipes"].get(recipe_id)
        if recipe is None:
            return error(f"no recipe with id {recipe_id!r}")
        totals = [0.0, 0.0, 0.0, 0.0]
        for item in recipe["ingredients"]:
            facts = NUTRITION.get(item["ingredient"])
            if facts is None:
                continue
            basis = facts[0]
            quantity = _convert(item["amount"], item["unit"], basis)
            if quantity is None:
                continue
            factor = quantity if basis == "piece" else quantity / 100
            for index in range(4):
                totals[index] += facts[index + 1] * factor
        per = [round(total / recipe["servings"], 1) for total in totals]
        return {
            "recipe_id": recipe_id,
            "servings": recipe["servings"],
            "calories": per[0],
            "protein_g": per[1],
            "carbs_g": per[2],
            "fat_g": per[3],
        }

    def convert_units(self, amount: float, from_unit: Unit, to_unit: Unit) -> Conversion:
        """Convert a kitchen quantity between units of mass, or between units of volume.

        Args:
            amount: The quantity to convert.
            from_unit: Unit of the quantity.
            to_unit: Unit to convert to; must measure the same thing (mass or volume) as from_unit.
        """
        for unit in (from_unit, to_unit):
            if unit not in UNITS:
                return error(f"unknown unit {unit!r}; known units are {list(UNITS)}")
        converted = _convert(amount, from_unit, to_unit)
        if converted is None:
            return error(f"cannot convert {from_unit!r} ({UNITS[from_unit][0]}) to {to_unit!r} ({UNITS[to_unit][0]})")
        return {"amount": round(converted, 3), "unit": to_unit, "original_amount": amount, "original_unit": from_unit}

    def save_favorite(self, recipe_id: str) -> Favorites:
        """Add a recipe to the favourites.

        Args:
            recipe_id: Identifier of the recipe.
        """
        if recipe_id not in self.data["recipes"]:
            return error(f"no recipe with id {recipe_id!r}")
        if recipe_id not in self.data["favorite_recipe_ids"]:
            self.data["favorite_recipe_ids"].append(recipe_id)
        return {"recipe_id": recipe_id, "favorite_recipe_ids": list(self.data["favorite_recipe_ids"])}

    def list_favorites(self) -> RecipeList:
        """List the favourite recipes, in the order they were saved."""
        return {
            "recipes": [
                copy.deepcopy(self.data["recipes"][r])
                for r in self.data["favorite_recipe_ids"]
                if r in self.data["recipes"]
            ]
        }

    # -- shopping lists ------------------------------------------------------------------------------------------

    def create_shopping_list(self, recipe_id: str, servings: int | None = None) -> ShoppingList:
        """Start a shopping list with the ingredients of a recipe.

        Args:
            recipe_id: Identifier of the recipe to shop for.
            servings: Number of servings to shop for; leave out for the recipe's own number.
        """
        recipe = self.data["recipes"].get(recipe_id)
        if recipe is None:
            return error(f"no recipe with id {recipe_id!r}")
        if servings is not None and not 1 <= servings <= 50:
            return error(f"servings must be from 1 to 50, got {servings}")
        scaled = self._scaled(recipe, servings or recipe["servings"])
        list_id = f"shl-{self.data['next_list']:04d}"
        self.data["next_list"] += 1
        self.data["shopping_lists"][list_id] = {
            "list_id": list_id,
            "name": f"{recipe['name']} ({scaled['servings']} servings)",
            "items": [dict(item, checked=False) for item in scaled["ingredients"]],
        }
        return copy.deepcopy(self.data["shopping_lists"][list_id])

    def get_shopping_list(self, list_id: str) -> ShoppingList:
        """Get the items of a shopping list.

        Args:
            list_id: Identifier of the shopping list, e.g. 'shl-0001'.
        """
        shopping = self.data["shopping_lists"].get(list_id)
        if shopping is None:
            return error(f"no shopping list with id {list_id!r}")
        return copy.deepcopy(shopping)

    def add_item_to_shopping_list(self, list_id: str, ingredient: str, amount: float, unit: Unit) -> ShoppingList:
        """Add an item to a shopping list; an ingredient already on it in a compatible unit is topped up.

        Args:
            list_id: Identifier of the shopping list.
            ingredient: Name of the ingredient to buy, e.g. 'milk'.
            amount: Quantity to buy; must be positive.
            unit: Unit of the quantity.
        """
        shopping = self.data["shopping_lists"].get(list_id)
        if shopping is None:
            return error(f"no shopping list with id {list_id!r}")
        if unit not in UNITS:
            return error(f"unknown unit {unit!r}; known units are {list(UNITS)}")
        if amount <= 0:
            return error(f"amount must be positive, got {amount}")
        name = ingredient.lower().strip()
        if not name:
            return error("ingredient must not be empty")
        for item in shopping["items"]:
            if item["ingredient"] == name:
                extra = _convert(amount, unit, item["unit"])
                if extra is not None:
                    item["amount"] = round(item["amount"] + extra, 3)
                    item["checked"] = False
                    return copy.deepcopy(shopping)
        shopping["items"].append({"ingredient": name, "amount": float(amount), "unit": unit, "checked": False})
        return copy.deepcopy(shopping)

    def check_off_item(self, list_id: str, ingredient: str) -> ShoppingList:
        """Mark an item of a shopping list as bought.

        Args:
            list_id: Identifier of the shopping list.
            ingredient: Name of the ingredient bought (case-insensitive).
        """
        shopping = self.data["shopping_lists"].get(list_id)
        if shopping is None:
            return error(f"no shopping list with id {list_id!r}")
        matches = [item for item in shopping["items"] if item["ingredient"] == ingredient.lower().strip()]
        if not matches:
            return error(f"{ingredient!r} is not on shopping list {list_id!r}")
        for item in matches:
            item["checked"] = True
        return copy.deepcopy(shopping)

    @staticmethod
    def _scaled(recipe: dict[str, Any], servings: int) -> dict[str, Any]:
        scaled = copy.deepcopy(recipe)
        factor = servings / recipe["servings"]
        for item in scaled["ingredients"]:
            item["amount"] = round(item["amount"] * factor, 2)
        scaled["servings"] = servings
        return scaled
