"""Read models and reports built from the store (pages, exports, the evidence pack)."""
