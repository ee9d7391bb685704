"""``void-remove`` sub-commands, one module each (thin layers over the library API)."""
