"""Framework loggers: `modelbox.integrations.lightning.ModelBoxLogger` and
`modelbox.integrations.transformers.ModelBoxCallback`. Each imports its framework only
when imported itself."""
