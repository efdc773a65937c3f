"""examples/tank.py as an FMI 3.0 co-simulation FMU (pythonfmu3 builds it in the tests)."""

from pythonfmu3 import Float64, Fmi3Causality, Fmi3Slave, Fmi3Variability


class Tank3(Fmi3Slave):
    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.author = "Assay tests"
        self.description = "A tank filled at a rate (FMI 3.0 co-simulation)"
        self.time = 0.0
        self.rate = 1.0
        self.inflow = 0.0
        self.level = 0.0
        self.register_variable(
            Float64(
                "time", causality=Fmi3Causality.independent, variability=Fmi3Variability.continuous
            )
        )
        self.register_variable(
            Float64("rate", causality=Fmi3Causality.parameter, variability=Fmi3Variability.tunable)
        )
        self.register_variable(Float64("inflow", causality=Fmi3Causality.input))
        self.register_variable(Float64("level", causality=Fmi3Causality.output))

    def do_step(self, current_time, step_size):
        self.level += (self.rate + self.inflow) * step_size
        return True
