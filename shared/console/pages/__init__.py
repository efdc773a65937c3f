"""One module per area of the console; `app.URLS` names each page as `module.function`."""
