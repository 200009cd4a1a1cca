"""Repositories: MongoDB documents ⇄ domain objects. Nothing above this sees a `dict`."""
