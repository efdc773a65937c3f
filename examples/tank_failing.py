"""A tank whose doStep fails once the simulation passes t = 1 (built by `make examples`)."""

from pythonfmu import Fmi2Causality, Fmi2Slave, Real


class TankFailing(Fmi2Slave):
    author = "Assay examples"
    description = "A tank that fails in doStep after t = 1"

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.level = 0.0
        self.register_variable(Real("level", causality=Fmi2Causality.output))

    def do_step(self, current_time, step_size):
        if current_time >= 1.0:
            raise RuntimeError("the tank overflowed")
        self.level += step_size
        return True
