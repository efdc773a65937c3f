"""Which validators exist and what each accepts."""
