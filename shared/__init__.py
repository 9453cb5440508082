"""Code that two or more services really share: config, database, events, streams, logging, errors, health."""
