"""Search: the filter and order as plain data, and the `query:` text that parses into them."""
