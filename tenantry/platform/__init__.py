"""The host every tenant runs on: configuration, database, tenancy, identity, keys, jobs, mail."""
