import gc

from tenantry import create_app

app = create_app()

# What start-up made (modules, the app, its caches: some 280,000 objects) lives as long as the
# process. Out of the collector's reach, a full collection walks only what requests made since:
# a list sorted by name over 27,000 contacts spent about as long in the collector as in its work.
gc.collect()
gc.freeze()
