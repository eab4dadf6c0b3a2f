"""The work behind the fields: access checks, validation, DataLoaders, live updates."""
