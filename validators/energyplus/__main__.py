from validators.energyplus import VERSION
from validators.energyplus.validator import validate
from validators.runtime import run

raise SystemExit(run(validate, name="energyplus", version=VERSION))
