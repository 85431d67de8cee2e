"""An online shop: a product catalogue with stock, customer orders, discount codes and shipment tracking.

Outputs carry ``product_id`` and ``order_id`` values that other functions take as inputs (search_products ->
place_order -> track_shipment), and ``email``, ``amount`` and ``currency`` values shared with other toolkits
(contacts' emails, bank payments and currency conversion).
"""

from __future__ import annotations

import random
from datetime import date, timedelta
from typing import Any, TypedDict

from magnet.tools.toolkit import Toolkit, error


class Product(TypedDict):
    """A product of the catalogue.

    Attributes:
        product_id: Identifier of the product, e.g. 'prd-0003'.
        name: Name of the product.
        price: Unit price of the product.
        currency: Currency of the price, an ISO 4217 code such as 'USD'.
        stock: How many units are in stock.
        category: Category of the product, e.g. 'Kitchen'.
    """

    product_id: str
    name: str
    price: float
    currency: str
    stock: int
    category: str


class ProductList(TypedDict):
    """Products matching a query.

    Attributes:
        products: The matching products, cheapest first.
    """

    products: list[Product]


class StockInfo(TypedDict):
    """Stock level of a product.

    Attributes:
        product_id: The product.
        stock: How many units are in stock.
        in_stock: Whether at least one unit is in stock.
    """

    product_id: str
    stock: int
    in_stock: bool


class Order(TypedDict):
    """A customer order.

    Attributes:
        order_id: Identifier of the order, e.g. 'ord-0002'.
        product_id: The product ordered.
        quantity: How many units were ordered.
        email: Email address of the customer.
        unit_price: Price of one unit when the order was placed.
        amount: Total charged for the order, after any discount.
        currency: Currency of the amount, an ISO 4217 code such as 'USD'.
        status: 'placed', 'shipped', 'delivered' or 'cancelled'.
        shipping_address: Address the order is shipped to.
        discount_code: Discount code applied to the order, or '' if none.
        date: Day the order was placed, 'YYYY-MM-DD'.
    """

    order_id: str
    product_id: str
    quantity: int
    email: str
    unit_price: float
    amount: float
    currency: str
    status: str
    shipping_address: str
    discount_code: str
    date: str


class OrderList(TypedDict):
    """Orders of a customer.

    Attributes:
        orders: The orders, oldest first.
    """

    orders: list[Order]


class Shipment(TypedDict):
    """Where an order is on its way to the customer.

    Attributes:
        order_id: The order shipped.
        tracking_number: Tracking number given by the carrier, '' before the order ships.
        carrier: Name of the shipping company.
        status: 'awaiting shipment', 'in transit', 'delivered' or 'cancelled'.
        estimated_delivery: Expected delivery day, 'YYYY-MM-DD'.
    """

    order_id: str
    tracking_number: str
    carrier: str
    status: str
    estimated_delivery: str


DISCOUNTS = {"WELCOME10": 0.10, "SPRING15": 0.15, "VIP25": 0.25}
CARRIERS = ["ParcelGo", "SwiftShip", "Northline Freight"]


def _product(product_id: str, name: str, price: float, stock: int, category: str) -> dict[str, Any]:
    return {
        "product_id": product_id,
        "name": name,
        "price": price,
        "currency": "USD",
        "stock": stock,
        "category": category,
    }


def _order(
    order_id: str, product: dict[str, Any], quantity: int, email: str, address: str, status: str, day: str
) -> dict[str, Any]:
    return {
        "order_id": order_id,
        "product_id": product["product_id"],
        "quantity": quantity,
        "email": email,
        "unit_price": product["price"],
        "amount": round(product["price"] * quantity, 2),
        "currency": product["currency"],
        "status": status,
        "shipping_address": address,
        "discount_code": "",
        "date": day,
    }


class Shop(Toolkit):
    """An online shop."""

    category = "eCommerce"
    tool_class = "Online shopping tool"
    description = "Search products, check stock, place, change, cancel and track orders, and apply discount codes."

    @classmethod
    def default_state(cls) -> dict[str, Any]:
        products = [
            _product("prd-0001", "Chef's knife", 49.9, 12, "Kitchen"),
            _product("prd-0002", "Cast iron skillet", 34.5, 0, "Kitchen"),
            _product("prd-0003", "Wireless headphones", 89.0, 7, "Electronics"),
            _product("prd-0004", "USB-C charger", 19.99, 40, "Electronics"),
            _product("prd-0005", "Yoga mat", 25.0, 15, "Sports"),
            _product("prd-0006", "Running shoes", 120.0, 4, "Sports"),
            _product("prd-0007", "Espresso beans 1kg", 22.0, 30, "Groceries"),
        ]
        by_id = {p["product_id"]: p for p in products}
        orders = [
            _order(
                "ord-0001",
                by_id["prd-0003"],
                1,
                "maria.lopez@example.com",
                "12 Pine St, Seattle",
                "shipped",
                "2026-02-25",
            ),
            _order(
                "ord-0002", by_id["prd-0005"], 2, "chen.wei@example.com", "8 Oak Ave, Portland", "placed", "2026-02-28"
            ),
            _order(
                "ord-0003",
                by_id["prd-0007"],
                3,
                "maria.lopez@example.com",
                "12 Pine St, Seattle",
                "delivered",
                "2026-02-10",
            ),
        ]
        return {
            "products": by_id,
            "orders": {o["order_id"]: o for o in orders},
            "tracking": {"ord-0001": "PG100000001", "ord-0003": "SS100000003"},
            "today": "2026-03-01",
            "next_order": 4,
        }

    @classmethod
    def random_state(cls, rng: random.Random) -> dict[str, Any]:
        state = cls.default_state()
        names = {
            "Kitchen": ["Cutting board", "Measuring cups", "Kettle", "Salad bowl"],
            "Electronics": ["Phone stand", "Bluetooth speaker", "Power bank", "HDMI cable"],
            "Sports": ["Water bottle", "Jump rope", "Dumbbell set", "Tennis balls"],
            "Groceries": ["Green tea", "Olive oil 1l", "Dark chocolate", "Basmati rice 2kg"],
        }
        number = len(state["products"]) + 1
        for _ in range(rng.randint(2, 5)):
            kind = rng.choice(sorted(names))
            product_id = f"prd-{number:04d}"
            state["products"][product_id] = _product(
                product_id, rng.choice(names[kind]), round(rng.uniform(3, 150), 2), rng.randint(0, 25), kind
            )
            number += 1
        for product in state["products"].values():
            product["stock"] = max(0, product["stock"] + rng.randint(-3, 5))
        return state

    # -- products ------------------------------------------------------------------------------------------------

    def search_products(self, keyword: str, category: str | None = None, max_price: float | None = None) -> ProductList:
        """Find products whose name or category contains a keyword (case-insensitive).

        Args:
            keyword: Text to look for, e.g. 'knife'; '' matches every product.
            category: Only products of this category, e.g. 'Kitchen'.
            max_price: Only products whose unit price is at most this much.
        """
        needle = keyword.lower().strip()
        found = []
        for product in self.data["products"].values():
            if needle not in product["name"].lower() and needle not in product["category"].lower():
                continue
            if category is not None and product["category"].lower() != category.lower():
                continue
            if max_price is not None and product["price"] > max_price:
                continue
            found.append(dict(product))
        return {"products": sorted(found, key=lambda p: (p["price"], p["product_id"]))}

    def get_product(self, product_id: str) -> Product:
        """Get the details of one product.

        Args:
            product_id: Identifier of the product, e.g. 'prd-0003'.
        """
        product = self.data["products"].get(product_id)
        if product is None:
            return error(f"no product with id {product_id!r}")
        return dict(product)

    def check_inventory(self, product_id: str) -> StockInfo:
        """Check how many units of a product are in the warehouse.

        Args:
            product_id: Identifier of the product.
        """
        product = self.data["products"].get(product_id)
        if product is None:
            return error(f"no product with id {product_id!r}")
        return {"product_id": product_id, "stock": product["stock"], "in_stock": product["stock"] > 0}

    def add_inventory(self, product_id: str, quantity: int) -> StockInfo:
        """Add units of a product to the stock.

        Args:
            product_id: Identifier of the product.
            quantity: How many units arrived; must be positive.
        """
        product = self.data["products"].get(product_id)
        if product is None:
            return error(f"no product with id {product_id!r}")
        if quantity <= 0:
            return error(f"quantity must be positive, got {quantity}")
        product["stock"] += quantity
        return {"product_id": product_id, "stock": product["stock"], "in_stock": True}

    # -- orders --------------------------------------------------------------------------------------------------

    def place_order(self, product_id: str, quantity: int, email: str, shipping_address: str = "") -> Order:
        """Order units of a product for a customer; the units are taken from the stock.

        Args:
            product_id: Identifier of the product to order.
            quantity: How many units to order; must be positive.
            email: Email address of the customer.
            shipping_address: Address to ship the order to.
        """
        product = self.data["products"].get(product_id)
        if product is None:
            return error(f"no product with id {product_id!r}")
        if quantity <= 0:
            return error(f"quantity must be positive, got {quantity}")
        if "@" not in email:
            return error(f"{email!r} is not an email address")
        if product["stock"] < quantity:
            return error(f"only {product['stock']} unit(s) of {product_id!r} in stock, {quantity} requested")
        product["stock"] -= quantity
        order_id = f"ord-{self.data['next_order']:04d}"
        self.data["next_order"] += 1
        order = _order(order_id, product, quantity, email, shipping_address, "placed", self.data["today"])
        self.data["orders"][order_id] = order
        return dict(order)

    def get_order(self, order_id: str) -> Order:
        """Get the details of one order.

        Args:
            order_id: Identifier of the order, e.g. 'ord-0002'.
        """
        order = self.data["orders"].get(order_id)
        if order is None:
            return error(f"no order with id {order_id!r}")
        return dict(order)

    def list_orders(self, email: str) -> OrderList:
        """List the orders of a customer.

        Args:
            email: Email address of the customer (case-insensitive).
        """
        found = [dict(o) for o in self.data["orders"].values() if o["email"].lower() == email.lower().strip()]
        return {"orders": sorted(found, key=lambda o: (o["date"], o["order_id"]))}

    def cancel_order(self, order_id: str) -> Order:
        """Cancel an order that has not shipped yet; its units go back into stock.

        Args:
            order_id: Identifier of the order to cancel.
        """
        order = self.data["orders"].get(order_id)
        if order is None:
            return error(f"no order with id {order_id!r}")
        if order["status"] != "placed":
            return error(f"order {order_id!r} is {order['status']} and can no longer be cancelled")
        order["status"] = "cancelled"
        product = self.data["products"].get(order["product_id"])
        if product is not None:
            product["stock"] += order["quantity"]
        return dict(order)

    def update_shipping_address(self, order_id: str, shipping_address: str) -> Order:
        """Change where an order that has not shipped yet is shipped to.

        Args:
            order_id: Identifier of the order.
            shipping_address: The new shipping address.
        """
        order = self.data["orders"].get(order_id)
        if order is None:
            return error(f"no order with id {order_id!r}")
        if order["status"] != "placed":
            return error(f"order {order_id!r} is {order['status']}; its address can no longer be changed")
        if not shipping_address.strip():
            return error("shipping_address must not be empty")
        order["shipping_address"] = shipping_address.strip()
        return dict(order)

    def apply_discount_code(self, order_id: str, code: str) -> Order:
        """Apply a discount code to an order that has not shipped yet, lowering its amount.

        Args:
            order_id: Identifier of the order.
            code: The discount code, e.g. 'WELCOME10' (case-insensitive).
        """
        order = self.data["orders"].get(order_id)
        if order is None:
            return error(f"no order with id {order_id!r}")
        rate = DISCOUNTS.get(code.upper().strip())
        if rate is None:
            return error(f"{code!r} is not a valid discount code")
        if order["status"] != "placed":
            return error(f"order {order_id!r} is {order['status']}; discounts apply only to placed orders")
        if order["discount_code"]:
            return error(f"order {order_id!r} already has the discount code {order['discount_code']!r}")
        order["discount_code"] = code.upper().strip()
        order["amount"] = round(order["unit_price"] * order["quantity"] * (1 - rate), 2)
        return dict(order)

    def track_shipment(self, order_id: str) -> Shipment:
        """Find out where an order is: its tracking number, carrier, status and expected delivery day.

        Args:
            order_id: Identifier of the order.
        """
        order = self.data["orders"].get(order_id)
        if order is None:
            return error(f"no order with id {order_id!r}")
        number = int(order_id.rsplit("-", 1)[-1]) if order_id.rsplit("-", 1)[-1].isdigit() else len(order_id)
        placed = date.fromisoformat(order["date"])
        status = {"placed": "awaiting shipment", "shipped": "in transit"}.get(order["status"], order["status"])
        return {
            "order_id": order_id,
            "tracking_number": self.data["tracking"].get(order_id, ""),
            "carrier": CARRIERS[number % len(CARRIERS)],
            "status": status,
            "estimated_delivery": (placed + timedelta(days=3 + number % 4)).isoformat(),
        }
