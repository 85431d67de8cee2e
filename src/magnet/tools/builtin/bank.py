"""A bank: accounts with balances in several currencies, transfers, bill payments, budgets and card controls.

Outputs carry ``account_id`` and ``transaction_id`` values that other functions take as inputs, and ``amount``,
``currency`` and ``email`` values shared with other toolkits (shop order amounts, contacts' emails).
Currency conversion uses fixed rates, so the same call always gives the same result.
"""

from __future__ import annotations

import random
from typing import Any, Literal, TypedDict

from magnet.tools.toolkit import Toolkit, error


class Account(TypedDict):
    """A bank account.

    Attributes:
        account_id: Identifier of the account, e.g. 'acc-0002'.
        owner: Full name of the account holder.
        email: Email address of the account holder.
        balance: Current balance of the account.
        currency: Currency of the account, an ISO 4217 code such as 'EUR'.
        card_frozen: Whether the account's card is frozen (frozen accounts cannot pay or send money).
    """

    account_id: str
    owner: str
    email: str
    balance: float
    currency: str
    card_frozen: bool


class AccountList(TypedDict):
    """Accounts matching a query.

    Attributes:
        accounts: The matching accounts, by account_id.
    """

    accounts: list[Account]


class Balance(TypedDict):
    """The balance of an account.

    Attributes:
        account_id: The account.
        balance: Current balance of the account.
        currency: Currency of the balance, an ISO 4217 code.
    """

    account_id: str
    balance: float
    currency: str


class Transaction(TypedDict):
    """A movement of money on an account.

    Attributes:
        transaction_id: Identifier of the transaction, e.g. 'txn-0005'.
        account_id: The account the money moved on.
        counterparty: Who paid or was paid (a name, payee or another account_id).
        amount: Amount moved, in the account's currency; negative for money leaving the account.
        currency: Currency of the amount, an ISO 4217 code.
        category: Spending category, e.g. 'groceries', 'bills', 'transfer'.
        date: Day of the transaction, 'YYYY-MM-DD'.
        balance_after: Balance of the account right after the transaction.
    """

    transaction_id: str
    account_id: str
    counterparty: str
    amount: float
    currency: str
    category: str
    date: str
    balance_after: float


class TransactionList(TypedDict):
    """Transactions of an account.

    Attributes:
        transactions: The transactions, oldest first.
    """

    transactions: list[Transaction]


class Conversion(TypedDict):
    """An amount converted to another currency.

    Attributes:
        amount: The converted amount, rounded to cents.
        currency: The currency converted to, an ISO 4217 code.
        original_amount: The amount before conversion.
        original_currency: The currency converted from.
        rate: Units of the target currency per unit of the source currency.
    """

    amount: float
    currency: str
    original_amount: float
    original_currency: str
    rate: float


class BudgetStatus(TypedDict):
    """How much of a monthly budget has been spent.

    Attributes:
        account_id: The account the budget belongs to.
        category: Spending category of the budget, e.g. 'groceries'.
        limit: Monthly spending limit, in the account's currency.
        spent: Amount spent in the category so far this month.
        remaining: Limit minus spent (negative when the budget is exceeded).
        exceeded: Whether more than the limit has been spent.
    """

    account_id: str
    category: str
    limit: float
    spent: float
    remaining: float
    exceeded: bool


class CardStatus(TypedDict):
    """Whether an account's card is frozen.

    Attributes:
        account_id: The account.
        card_frozen: Whether the card is now frozen.
    """

    account_id: str
    card_frozen: bool


Currency = Literal["USD", "EUR", "GBP", "JPY", "CHF", "CAD", "INR"]

# Fixed value of one unit of each currency in US dollars.
USD_VALUE = {"USD": 1.0, "EUR": 1.08, "GBP": 1.27, "JPY": 0.0067, "CHF": 1.12, "CAD": 0.74, "INR": 0.012}


def _rate(from_currency: str, to_currency: str) -> float:
    return round(USD_VALUE[from_currency] / USD_VALUE[to_currency], 6)


def _account(account_id: str, owner: str, email: str, balance: float, currency: str) -> dict[str, Any]:
    return {
        "account_id": account_id,
        "owner": owner,
        "email": email,
        "balance": balance,
        "currency": currency,
        "card_frozen": False,
    }


class Bank(Toolkit):
    """A retail bank."""

    category = "Finance"
    tool_class = "Banking tool"
    description = "Check balances and transactions, send money, pay bills, convert currencies and manage budgets."

    @classmethod
    def default_state(cls) -> dict[str, Any]:
        accounts = [
            _account("acc-0001", "Maria Lopez", "maria.lopez@example.com", 2450.75, "USD"),
            _account("acc-0002", "Maria Lopez", "maria.lopez@example.com", 8000.0, "USD"),
            _account("acc-0003", "Chen Wei", "chen.wei@example.com", 1320.4, "USD"),
            _account("acc-0004", "Lukas Berg", "lukas.berg@example.com", 3100.0, "EUR"),
            _account("acc-0005", "Amara Okafor", "amara.okafor@example.com", 950.0, "GBP"),
        ]
        rows = [
            ("txn-0001", "acc-0001", "Fresh Market", -82.3, "groceries", "2026-02-20", 2533.05),
            ("txn-0002", "acc-0001", "City Power", -120.0, "bills", "2026-02-22", 2413.05),
            ("txn-0003", "acc-0001", "Northwind payroll", 3200.0, "salary", "2026-02-25", 5613.05),
            ("txn-0004", "acc-0001", "acc-0002", -3000.0, "transfer", "2026-02-26", 2613.05),
            ("txn-0005", "acc-0002", "acc-0001", 3000.0, "transfer", "2026-02-26", 8000.0),
            ("txn-0006", "acc-0001", "Fresh Market", -162.3, "groceries", "2026-02-27", 2450.75),
            ("txn-0007", "acc-0004", "Bäckerei Kurz", -14.2, "groceries", "2026-02-27", 3100.0),
        ]
        currencies = {a["account_id"]: a["currency"] for a in accounts}
        transactions = {
            row[0]: {
                "transaction_id": row[0],
                "account_id": row[1],
                "counterparty": row[2],
                "amount": row[3],
                "currency": currencies[row[1]],
                "category": row[4],
                "date": row[5],
                "balance_after": row[6],
            }
            for row in rows
        }
        return {
            "accounts": {a["account_id"]: a for a in accounts},
            "transactions": transactions,
            "budgets": {"acc-0001/groceries": {"account_id": "acc-0001", "category": "groceries", "limit": 400.0}},
            "today": "2026-02-28",
            "next_account": 6,
            "next_transaction": 8,
        }

    @classmethod
    def random_state(cls, rng: random.Random) -> dict[str, Any]:
        state = cls.default_state()
        owners = [("Noah Kim", "noah.kim"), ("Emma Novak", "emma.novak"), ("Yuki Tanaka", "yuki.tanaka")]
        for number in range(6, 6 + rng.randint(1, 3)):
            owner, handle = rng.choice(owners)
            account_id = f"acc-{number:04d}"
            state["accounts"][account_id] = _account(
                account_id,
                owner,
                f"{handle}@example.com",
                round(rng.uniform(50, 9000), 2),
                rng.choice(["USD", "EUR", "GBP", "CHF"]),
            )
            state["next_account"] = number + 1
        payees = [
            ("Fresh Market", "groceries"),
            ("City Power", "bills"),
            ("Cinema Uno", "entertainment"),
            ("Metro Card", "transport"),
            ("Pharma Plus", "health"),
        ]
        for number in range(8, 8 + rng.randint(2, 6)):
            account = state["accounts"][rng.choice(sorted(state["accounts"]))]
            payee, category = rng.choice(payees)
            amount = -round(rng.uniform(5, 150), 2)
            account["balance"] = round(account["balance"] + amount, 2)
            transaction_id = f"txn-{number:04d}"
            state["transactions"][transaction_id] = {
                "transaction_id": transaction_id,
                "account_id": account["account_id"],
                "counterparty": payee,
                "amount": amount,
                "currency": account["currency"],
                "category": category,
                "date": f"2026-02-{rng.randint(1, 28):02d}",
                "balance_after": account["balance"],
            }
            state["next_transaction"] = number + 1
        return state

    # -- accounts ------------------------------------------------------------------------------------------------

    def list_accounts(self, email: str) -> AccountList:
        """List the accounts held by a customer.

        Args:
            email: Email address of the account holder (case-insensitive).
        """
        found = [dict(a) for a in self.data["accounts"].values() if a["email"].lower() == email.lower().strip()]
        return {"accounts": sorted(found, key=lambda a: a["account_id"])}

    def get_balance(self, account_id: str) -> Balance:
        """Get the current balance of an account.

        Args:
            account_id: Identifier of the account, e.g. 'acc-0002'.
        """
        account = self.data["accounts"].get(account_id)
        if account is None:
            return error(f"no account with id {account_id!r}")
        return {"account_id": account_id, "balance": account["balance"], "currency": account["currency"]}

    def list_transactions(self, account_id: str, category: str | None = None) -> TransactionList:
        """List the transactions of an account.

        Args:
            account_id: Identifier of the account.
            category: Only transactions of this spending category, e.g. 'groceries'.
        """
        if account_id not in self.data["accounts"]:
            return error(f"no account with id {account_id!r}")
        found = [
            dict(t)
            for t in self.data["transactions"].values()
            if t["account_id"] == account_id and (category is None or t["category"] == category.lower())
        ]
        return {"transactions": sorted(found, key=lambda t: (t["date"], t["transaction_id"]))}

    def get_transaction(self, transaction_id: str) -> Transaction:
        """Get the details of one transaction.

        Args:
            transaction_id: Identifier of the transaction, e.g. 'txn-0005'.
        """
        transaction = self.data["transactions"].get(transaction_id)
        if transaction is None:
            return error(f"no transaction with id {transaction_id!r}")
        return dict(transaction)

    # -- money movements -----------------------------------------------------------------------------------------

    def transfer(self, from_account_id: str, to_account_id: str, amount: float) -> Transaction:
        """Send money from one account to another; the amount is converted if the currencies differ.

        Args:
            from_account_id: Identifier of the account the money leaves.
            to_account_id: Identifier of the account the money goes to.
            amount: Amount to send, in the currency of the sending account; must be positive.
        """
        source = self.data["accounts"].get(from_account_id)
        if source is None:
            return error(f"no account with id {from_account_id!r}")
        target = self.data["accounts"].get(to_account_id)
        if target is None:
            return error(f"no account with id {to_account_id!r}")
        if from_account_id == to_account_id:
            return error("from_account_id and to_account_id must be different accounts")
        problem = self._check_debit(source, amount)
        if problem:
            return error(problem)
        received = round(amount * _rate(source["currency"], target["currency"]), 2)
        debit = self._book(source, to_account_id, -amount, "transfer")
        self._book(target, from_account_id, received, "transfer")
        return debit

    def pay_bill(self, account_id: str, payee: str, amount: float, category: str = "bills") -> Transaction:
        """Pay a bill or a purchase from an account.

        Args:
            account_id: Identifier of the account to pay from.
            payee: Who is paid, e.g. 'City Power'.
            amount: Amount to pay, in the account's currency; must be positive.
            category: Spending category of the payment, e.g. 'bills', 'groceries', 'shopping'.
        """
        account = self.data["accounts"].get(account_id)
        if account is None:
            return error(f"no account with id {account_id!r}")
        if not payee.strip():
            return error("payee must not be empty")
        problem = self._check_debit(account, amount)
        if problem:
            return error(problem)
        return self._book(account, payee.strip(), -amount, category.lower().strip() or "bills")

    def convert_currency(self, amount: float, from_currency: Currency, to_currency: Currency) -> Conversion:
        """Convert an amount between currencies at the bank's fixed rates.

        Args:
            amount: The amount to convert.
            from_currency: Currency of the amount, an ISO 4217 code.
            to_currency: Currency to convert to, an ISO 4217 code.
        """
        source, target = from_currency.upper().strip(), to_currency.upper().strip()
        for code in (source, target):
            if code not in USD_VALUE:
                return error(f"unknown currency {code!r}; known currencies are {sorted(USD_VALUE)}")
        rate = _rate(source, target)
        return {
            "amount": round(amount * rate, 2),
            "currency": target,
            "original_amount": amount,
            "original_currency": source,
            "rate": rate,
        }

    # -- budgets and cards ---------------------------------------------------------------------------------------

    def set_budget_limit(self, account_id: str, category: str, amount: float) -> BudgetStatus:
        """Set the monthly spending limit of a category on an account.

        Args:
            account_id: Identifier of the account.
            category: Spending category, e.g. 'groceries'.
            amount: Monthly limit, in the account's currency; must be positive.
        """
        if account_id not in self.data["accounts"]:
            return error(f"no account with id {account_id!r}")
        if amount <= 0:
            return error(f"amount must be positive, got {amount}")
        key = f"{account_id}/{category.lower().strip()}"
        self.data["budgets"][key] = {"account_id": account_id, "category": category.lower().strip(), "limit": amount}
        return self._budget_status(account_id, category.lower().strip())

    def get_budget_status(self, account_id: str, category: str) -> BudgetStatus:
        """See how much of a category's monthly budget has been spent this month.

        Args:
            account_id: Identifier of the account.
            category: Spending category of the budget, e.g. 'groceries'.
        """
        if account_id not in self.data["accounts"]:
            return error(f"no account with id {account_id!r}")
        if f"{account_id}/{category.lower().strip()}" not in self.data["budgets"]:
            return error(f"account {account_id!r} has no budget for category {category!r}")
        return self._budget_status(account_id, category.lower().strip())

    def freeze_card(self, account_id: str) -> CardStatus:
        """Freeze the card of an account, blocking payments and transfers from it.

        Args:
            account_id: Identifier of the account.
        """
        return self._set_frozen(account_id, True)

    def unfreeze_card(self, account_id: str) -> CardStatus:
        """Unfreeze the card of an account, allowing payments and transfers again.

        Args:
            account_id: Identifier of the account.
        """
        return self._set_frozen(account_id, False)

    # -- helpers -------------------------------------------------------------------------------------------------

    def _check_debit(self, account: dict[str, Any], amount: float) -> str:
        if amount <= 0:
            return f"amount must be positive, got {amount}"
        if account["card_frozen"]:
            return f"the card of account {account['account_id']!r} is frozen"
        if amount > account["balance"]:
            return (
                f"insufficient funds: account {account['account_id']!r} has {account['balance']} "
                f"{account['currency']}, {amount} needed"
            )
        return ""

    def _book(self, account: dict[str, Any], counterparty: str, amount: float, category: str) -> dict[str, Any]:
        account["balance"] = round(account["balance"] + amount, 2)
        transaction_id = f"txn-{self.data['next_transaction']:04d}"
        self.data["next_transaction"] += 1
        transaction = {
            "transaction_id": transaction_id,
            "account_id": account["account_id"],
            "counterparty": counterparty,
            "amount": round(float(amount), 2),
            "currency": account["currency"],
            "category": category,
            "date": self.data["today"],
            "balance_after": account["balance"],
        }
        self.data["transactions"][transaction_id] = transaction
        return dict(transaction)

    def _budget_status(self, account_id: str, category: str) -> dict[str, Any]:
        limit = self.data["budgets"][f"{account_id}/{category}"]["limit"]
        month = self.data["today"][:7]
        spent = round(
            -sum(
                t["amount"]
                for t in self.data["transactions"].values()
                if t["account_id"] == account_id
                and t["category"] == category
                and t["amount"] < 0
                and t["date"].startswith(month)
            ),
            2,
        )
        return {
            "account_id": account_id,
            "category": category,
            "limit": limit,
            "spent": spent,
            "remaining": round(limit - spent, 2),
            "exceeded": spent > limit,
        }

    def _set_frozen(self, account_id: str, frozen: bool) -> dict[str, Any]:
        account = self.data["accounts"].get(account_id)
        if account is None:
            return error(f"no account with id {account_id!r}")
        account["card_frozen"] = frozen
        return {"account_id": account_id, "card_frozen": frozen}
