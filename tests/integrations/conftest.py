"""The framework loggers' tests train real tiny models on the CPU; they need torch,
lightning and transformers (`make test-integrations` installs them)."""

from tests.client.conftest import server, user_env

__all__ = ["server", "user_env"]
