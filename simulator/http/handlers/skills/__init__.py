"""Seed 004 tag Skills: manage.py (local skills: upload, files, download, delete) and neo.py
(the Shipyard Neo candidates and releases)."""
