"""The Qualiopi evidence: rows from the database, the pack (PDF, XLSX, CSV) and its charts."""
