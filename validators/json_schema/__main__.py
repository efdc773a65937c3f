from validators.json_schema import VERSION
from validators.json_schema.validator import validate
from validators.runtime import run

raise SystemExit(run(validate, name="json-schema", version=VERSION))
