"""Parameters (one JSON schema for the trigger form, REST and the CLI), errors, stage metering."""
