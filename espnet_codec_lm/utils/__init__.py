"""Small shared utilities: logging, seeding, atomic file I/O, progress bars."""
