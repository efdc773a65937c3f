from validators.runtime import run
from validators.shacl import VERSION
from validators.shacl.validator import validate

raise SystemExit(run(validate, name="shacl", version=VERSION))
