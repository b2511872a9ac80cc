"""Asset modules, one per domain; ``mosaic_assets.definitions`` loads every module listed here."""
