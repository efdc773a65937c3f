"""The web console: server-rendered pages for people signed in through IAP (decision
record 0071). A separate path from the API's keys: a browser session never reaches the
API, and a key never reaches the console."""
