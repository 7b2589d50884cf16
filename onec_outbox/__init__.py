"""The 1C-facing side: event contract v1, its JSON Schema, the HTTP ingest, the BSL module and a 1C simulator."""
