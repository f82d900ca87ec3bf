"""Parameters (one JSON schema for the trigger form, REST and the CLI), errors, file kinds, stage metering."""
