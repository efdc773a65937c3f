from validators.runtime import run
from validators.xml_schema import VERSION
from validators.xml_schema.validator import validate

raise SystemExit(run(validate, name="xml-schema", version=VERSION))
