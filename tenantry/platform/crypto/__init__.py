"""Key providers and envelope encryption. Keys live apart from the data they protect."""
