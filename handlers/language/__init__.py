"""Language: normalising residents' text, the intent rules, the emergency model, masking personal data."""
