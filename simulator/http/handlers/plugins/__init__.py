"""Seed 004 tag Plugins: manage.py (the installed plugins: list, detail, config, documents,
enable, reload, uninstall), installs.py (install, update, the market, failed plugins) and
files.py (config files and extension routes)."""
