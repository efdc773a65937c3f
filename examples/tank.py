"""A tank filled at `rate`: the FMU examples/tank.fmu is built from this class by
`make examples` (pythonfmu). The failing variant refuses to step past `fail_after`."""

from pythonfmu import Fmi2Causality, Fmi2Slave, Real


class Tank(Fmi2Slave):
    author = "Assay examples"
    description = "A tank filled at a constant rate"

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.rate = 1.0
        self.inflow = 0.0
        self.level = 0.0
        self.register_variable(
            Real("rate", causality=Fmi2Causality.parameter, variability="tunable")
        )
        self.register_variable(Real("inflow", causality=Fmi2Causality.input))
        self.register_variable(Real("level", causality=Fmi2Causality.output))

    def do_step(self, current_time, step_size):
        self.level += (self.rate + self.inflow) * step_size
        return True
