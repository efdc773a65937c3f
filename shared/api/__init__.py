"""HTTP in and out: request parsing, responses, views, the OpenAPI document, callers'
authentication."""
