"""Browser tests of the web UI: one Chromium and one seeded service for the package, closed when it ends."""
