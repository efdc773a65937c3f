from validators.fmu import VERSION
from validators.fmu.validator import validate
from validators.runtime import run

raise SystemExit(run(validate, name="fmu", version=VERSION))
