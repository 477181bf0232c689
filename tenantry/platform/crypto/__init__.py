"""Key providers and envelope encryption. Keys live apart from the data they protect."""


def init_app(app) -> None:
    """Tenant keys: the CLI, the sweep steps that resume stalled rotations and count again what
    still uses decrypt-only versions, and a previous master key that still opens keys while
    `keys rewrap` moves them to the new one."""
    from tenantry.platform import audit, cli, cron
    from tenantry.platform.crypto import cli as keys_cli
    from tenantry.platform.crypto import keyring, rewrap, rotation  # noqa: F401  (models belong to the schema)
    from tenantry.platform.crypto.providers import LocalKeyProvider

    settings = app.extensions["tenantry.settings"]
    previous = getattr(settings, "previous_master_key_file", None)
    if previous:
        app.extensions["tenantry.key_provider"] = rewrap.FallbackProvider(
            app.extensions["tenantry.key_provider"], LocalKeyProvider(previous)
        )
    cli.tenantry_cli.add_command(keys_cli.keys_cli)
    cron.register(app, "key-rotations", rotation.requeue_stale)
    cron.register(app, "key-usage", rotation.recheck)
    # The audit hash chain covers the SHA-256 of each event's sealed changes (audit_chain.py,
    # OPTIONAL_FIELDS): re-encrypting them would break it, so they keep their key version.
    rotation.register_pinned_column(audit.AuditEvent, audit.CHANGES_COLUMN, what="audit events")
