"""Data protection building blocks: who a person is, consents, retention, the personal-data inventory."""
